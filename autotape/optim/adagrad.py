"""Adagrad and Adamax, with PyTorch's update arithmetic (kernels in ``_kernels_more``)."""
import numpy as np

from . import _kernels, _kernels_more
from .optimizer import Optimizer, _check, _check_betas
from ..tensor import _wrap


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check(lr, "learning rate")
        _check(lr_decay, "lr_decay value")
        _check(weight_decay, "weight_decay value")
        _check(initial_accumulator_value, "initial_accumulator_value value")
        _check(eps, "epsilon value")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))

    def _state_columns(self, group):
        return ((_kernels.S1, "sum"),)

    def _init_state(self, group, p, state):
        if not state:
            state["step"] = self._step_tensor()
            state["sum"] = _wrap(np.full(p._data.shape, group["initial_accumulator_value"], p._data.dtype))
        return False

    def _hyper(self, group):
        return (group["lr"], group["lr_decay"], group["eps"], group["weight_decay"], group["maximize"])

    def _kernel_args(self, group, table, g):
        hp = np.array((group["weight_decay"], group["eps"]), g.dtype)
        hp64 = np.array((float(group["lr"]), float(group["lr_decay"])))
        return _kernels_more.adagrad, (table, g, hp, hp64, bool(group["maximize"]), np.empty(1, g.dtype))


class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check(lr, "learning rate")
        _check(eps, "epsilon value")
        _check_betas(betas)
        _check(weight_decay, "weight_decay value")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _state_columns(self, group):
        return ((_kernels.S1, "exp_avg"), (_kernels.S2, "exp_inf"))

    def _init_state(self, group, p, state):
        if not state:
            state["step"] = self._step_tensor()
            state["exp_avg"] = self._zeros_like(p)
            state["exp_inf"] = self._zeros_like(p)
        return False

    def _hyper(self, group):
        return (group["lr"], *group["betas"], group["eps"], group["weight_decay"], group["maximize"])

    def _kernel_args(self, group, table, g):
        beta1, beta2 = group["betas"]
        hp = np.array((1 - beta1, beta2, group["eps"], group["weight_decay"], 1.0), g.dtype)
        hp64 = np.array((float(group["lr"]), beta1))
        return _kernels_more.adamax, (table, g, hp, hp64, bool(group["maximize"]), np.empty(1, g.dtype))
