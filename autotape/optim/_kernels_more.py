"""Numba kernels of Adagrad and Adamax, laid out as ``_kernels``' (one table row per parameter,
the gradients in one flat array) and following PyTorch's single-tensor update op for op."""
import numpy as np
from numba import njit

from ._kernels import ADDR, S1, S2, SIZE, STEP, _fma, _ptr, _ptr_f32


@njit(cache=True)
def adagrad(table, g, hp, hp64, maximize, scratch):
    """hp: weight_decay, eps; hp64: lr, lr_decay in float64. S1: sum."""
    wd, eps = hp[0], hp[1]
    off = 0
    for k in range(table.shape[0]):
        n = table[k, SIZE]
        w = _ptr(g, table[k, ADDR])
        s = _ptr(g, table[k, S1])
        sp = _ptr_f32(table[k, STEP])
        sp[0] = sp[0] + np.float32(1.0)
        step = np.float64(sp[0])
        scratch[0] = -(hp64[0] / (1.0 + (step - 1.0) * hp64[1]))  # -clr, rounded as addcdiv_'s value
        neg_clr = scratch[0]
        for i in range(n):
            d = g[off + i]
            if maximize:
                d = -d
            if wd != 0:
                d = _fma(wd, w[i], d)  # grad.add(param, alpha=weight_decay)
            si = _fma(d, d, s[i])  # state_sum.addcmul_(grad, grad, value=1)
            s[i] = si
            w[i] = w[i] + neg_clr * d / (np.sqrt(si) + eps)  # param.addcdiv_(grad, std, value=-clr)
        off += n


@njit(cache=True)
def adamax(table, g, hp, hp64, maximize, scratch):
    """hp: 1 - beta1, beta2, eps, weight_decay, 1; hp64: lr, beta1. S1: exp_avg, S2: exp_inf."""
    wgt, beta2, eps, wd = hp[0], hp[1], hp[2], hp[3]
    omw = hp[4] - wgt  # in the parameter dtype, as lerp computes it
    off = 0
    for k in range(table.shape[0]):
        n = table[k, SIZE]
        w = _ptr(g, table[k, ADDR])
        m = _ptr(g, table[k, S1])
        u = _ptr(g, table[k, S2])
        sp = _ptr_f32(table[k, STEP])
        sp[0] = sp[0] + np.float32(1.0)
        scratch[0] = -(hp64[0] / (1.0 - hp64[1] ** np.float64(sp[0])))  # -clr
        neg_clr = scratch[0]
        for i in range(n):
            d = g[off + i]
            if maximize:
                d = -d
            if wd != 0:
                d = _fma(wd, w[i], d)
            diff = d - m[i]
            mi = _fma(wgt, diff, m[i]) if wgt < 0.5 else _fma(-omw, diff, d)  # exp_avg.lerp_(grad, 1 - beta1)
            m[i] = mi
            ui = max(u[i] * beta2, abs(d) + eps)  # maximum(exp_inf.mul_(beta2), grad.abs().add_(eps))
            u[i] = ui
            w[i] = w[i] + neg_clr * mi / ui  # param.addcdiv_(exp_avg, exp_inf, value=-clr)
        off += n
