"""Stochastic gradient descent, with PyTorch's momentum, dampening, Nesterov and weight decay."""
import numpy as np

from . import _kernels
from .optimizer import Optimizer, _check


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check(lr, "learning rate")
        _check(momentum, "momentum value")
        _check(weight_decay, "weight_decay value")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _layout_key(self, group):
        return (group["momentum"] != 0,)

    def _state_columns(self, group):
        return ((_kernels.S1, "momentum_buffer"),) if group["momentum"] != 0 else ()

    def _init_state(self, group, p, state):
        if group["momentum"] != 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = self._zeros_like(p)
            return True  # the kernel starts the buffer from the first gradient, as PyTorch does
        return False

    def _hyper(self, group):
        return (group["lr"], group["momentum"], group["dampening"], group["weight_decay"], group["nesterov"],
                group["maximize"])

    def _kernel_args(self, group, table, g):
        hp = np.array((group["lr"], group["momentum"], 1 - group["dampening"], group["weight_decay"]), g.dtype)
        return _kernels.sgd, (table, g, hp, bool(group["nesterov"]), bool(group["maximize"]))
