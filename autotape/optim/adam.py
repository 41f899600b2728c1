"""Adam (and AdamW: decoupled weight decay), with PyTorch's bias correction and AMSGrad."""
import numpy as np

from . import _kernels
from .optimizer import Optimizer, _check, _check_betas


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check(lr, "learning rate")
        _check(eps, "epsilon value")
        _check_betas(betas)
        _check(weight_decay, "weight_decay value")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _layout_key(self, group):
        return (bool(group["amsgrad"]),)

    def _state_columns(self, group):
        cols = ((_kernels.S1, "exp_avg"), (_kernels.S2, "exp_avg_sq"))
        return cols + ((_kernels.S3, "max_exp_avg_sq"),) if group["amsgrad"] else cols

    def _init_state(self, group, p, state):
        if not state:
            state["step"] = self._step_tensor()
            state["exp_avg"] = self._zeros_like(p)
            state["exp_avg_sq"] = self._zeros_like(p)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = self._zeros_like(p)
        return False

    def _hyper(self, group):
        return (group["lr"], *group["betas"], group["eps"], group["weight_decay"], group["amsgrad"],
                group["decoupled_weight_decay"], group["maximize"])

    def _kernel_args(self, group, table, g):
        lr, (beta1, beta2), wd = float(group["lr"]), group["betas"], float(group["weight_decay"])
        hp = np.array((lr, 1 - beta1, beta2, 1 - beta2, group["eps"], wd, 1 - lr * wd, 1.0), g.dtype)
        return _kernels.adam, (table, g, hp, np.array((lr, beta1, beta2)), bool(group["amsgrad"]),
                               bool(group["decoupled_weight_decay"]), bool(group["maximize"]), np.empty(2, g.dtype))


class AdamW(Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
