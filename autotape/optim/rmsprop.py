"""RMSprop, with PyTorch's smoothing constant, momentum and centered variant."""
import numpy as np

from . import _kernels
from .optimizer import Optimizer, _check


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check(lr, "learning rate")
        _check(eps, "epsilon value")
        _check(momentum, "momentum value")
        _check(weight_decay, "weight_decay value")
        _check(alpha, "alpha value")
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _layout_key(self, group):
        return (group["momentum"] > 0, bool(group["centered"]))

    def _state_columns(self, group):
        cols = ((_kernels.S1, "square_avg"),)
        if group["momentum"] > 0:
            cols += ((_kernels.S2, "momentum_buffer"),)
        if group["centered"]:
            cols += ((_kernels.S3, "grad_avg"),)
        return cols

    def _init_state(self, group, p, state):
        if not state:
            state["step"] = self._step_tensor()
            state["square_avg"] = self._zeros_like(p)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = self._zeros_like(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = self._zeros_like(p)
        return False

    def _hyper(self, group):
        return (group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"],
                group["centered"], group["maximize"])

    def _kernel_args(self, group, table, g):
        alpha = group["alpha"]
        hp = np.array((group["lr"], alpha, 1 - alpha, group["eps"], group["weight_decay"], group["momentum"], 1.0),
                      g.dtype)
        return _kernels.rmsprop, (table, g, hp, bool(group["centered"]), bool(group["maximize"]))
