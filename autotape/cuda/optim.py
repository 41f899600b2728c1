"""Optimizer steps for CUDA parameters (SGD, Adam, AdamW, RMSprop): one kernel launch per parameter, the state (momentum
buffers, Adam's moments) kept on the device beside it. The arithmetic is PyTorch's
single-tensor update; its scalars are float64 kernel arguments (the CPU kernels round them
to the parameter's dtype first, so the two differ in the last bits)."""
import math

import numpy as np

from ..tensor import _wrap
from . import kernels
from .array import CudaArray, empty

_SGD = """def k(w, g, buf, n, lr, momentum, keep, wd, nesterov, maximize, first):
    i = cuda.grid(1)
    if i < n:
        d = -g[i] if maximize else g[i]
        if wd != 0.0:
            d = d + wd * w[i]
        if momentum != 0.0:
            b = d if first else buf[i] * momentum + keep * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        w[i] = w[i] - lr * d
"""

_ADAM = """def k(w, g, m, v, vmax, n, lr, beta1, beta2, eps, wd, decoupled, amsgrad, maximize, step_size, bc2_sqrt):
    i = cuda.grid(1)
    if i < n:
        d = -g[i] if maximize else g[i]
        p = w[i]
        if wd != 0.0:
            if decoupled:
                p = p * (1.0 - lr * wd)
            else:
                d = d + wd * p
        mi = m[i] + (1.0 - beta1) * (d - m[i])
        vi = v[i] * beta2 + (1.0 - beta2) * d * d
        m[i] = mi
        v[i] = vi
        if amsgrad:
            if vi > vmax[i]:
                vmax[i] = vi
            vi = vmax[i]
        w[i] = p - step_size * mi / (math.sqrt(vi) / bc2_sqrt + eps)
"""


_RMSPROP = """def k(w, g, sq, buf, gavg, n, lr, alpha, eps, wd, momentum, centered, maximize):
    i = cuda.grid(1)
    if i < n:
        d = -g[i] if maximize else g[i]
        if wd != 0.0:
            d = d + wd * w[i]
        s = sq[i] * alpha + (1.0 - alpha) * d * d
        sq[i] = s
        if centered:
            ga = gavg[i] + (1.0 - alpha) * (d - gavg[i])
            gavg[i] = ga
            avg = math.sqrt(s - ga * ga) + eps
        else:
            avg = math.sqrt(s) + eps
        if momentum > 0.0:
            b = buf[i] * momentum + d / avg
            buf[i] = b
            w[i] = w[i] - lr * b
        else:
            w[i] = w[i] - lr * d / avg
"""


def _zeros(p):
    return _wrap(kernels.fill(empty(p._data.shape, p._data.dtype), 0.0))


def _grad(p):
    g = p._grad._data
    if type(g) is not CudaArray:
        raise RuntimeError("a CUDA parameter's .grad is on the CPU: set it to None or move it to the device")
    if g.size != p._data.size or g.dtype != p._data.dtype:
        raise RuntimeError("a parameter's .grad does not match its shape or dtype")
    return g.a


def step(opt, group, ps):
    """One step of SGD or Adam (AdamW) over the CUDA parameters ``ps`` of ``group``."""
    from ..optim.adam import Adam
    from ..optim.rmsprop import RMSprop
    from ..optim.sgd import SGD

    from .ops import check_no_stale_copy

    for p in ps:
        if type(p._data) is not CudaArray:
            raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                               "cuda:0 and cpu! (one optimizer group holds CUDA and CPU parameters)")
        check_no_stale_copy(p)  # (a kept w.T, say, would not see the update)
    if isinstance(opt, SGD):
        _sgd(opt, group, ps)
    elif isinstance(opt, Adam):
        _adam(opt, group, ps)
    elif isinstance(opt, RMSprop):
        _rmsprop(opt, group, ps)
    else:
        raise NotImplementedError(f"{type(opt).__name__} is not implemented on CUDA yet (SGD, Adam, AdamW and "
                                  "RMSprop are)")
    for p in ps:
        p._vc[0] += 1


def _launch(src, key, n, *args):
    kernels._compile((key,), src)
    grid, tpb = kernels._blocks(n)
    kernels.launch((key,), grid, tpb, *args)


def _sgd(opt, group, ps):
    lr, momentum, dampening = float(group["lr"]), float(group["momentum"]), float(group["dampening"])
    wd = float(group["weight_decay"])
    for p in ps:
        state = opt.state[p]
        first = False
        if momentum != 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = _zeros(p)
            first = True  # the buffer starts as the first gradient, as in PyTorch
        buf = state["momentum_buffer"]._data.a if momentum != 0 else p._data.a
        if not state:
            del opt.state[p]
        n = p._data.size
        _launch(_SGD, "sgd", n, p._data.a, _grad(p), buf, n, lr, momentum, 1.0 - dampening, wd,
                bool(group["nesterov"]), bool(group["maximize"]), first)


def _adam(opt, group, ps):
    lr, (beta1, beta2), eps = float(group["lr"]), group["betas"], float(group["eps"])
    wd, amsgrad = float(group["weight_decay"]), bool(group["amsgrad"])
    for p in ps:
        state = opt.state[p]
        if not state:
            state["step"] = _wrap(np.zeros((), np.float32))  # on the host, as PyTorch keeps it
            state["exp_avg"] = _zeros(p)
            state["exp_avg_sq"] = _zeros(p)
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = _zeros(p)
        state["step"]._data[()] += 1
        step_t = float(state["step"]._data)
        bc1, bc2 = 1 - beta1 ** step_t, 1 - beta2 ** step_t
        vmax = state["max_exp_avg_sq"]._data.a if amsgrad else p._data.a
        n = p._data.size
        _launch(_ADAM, "adam", n, p._data.a, _grad(p), state["exp_avg"]._data.a, state["exp_avg_sq"]._data.a, vmax,
                n, lr, float(beta1), float(beta2), eps, wd, bool(group["decoupled_weight_decay"]), amsgrad,
                bool(group["maximize"]), lr / bc1, math.sqrt(bc2))



def _rmsprop(opt, group, ps):
    momentum, centered = float(group["momentum"]), bool(group["centered"])
    for p in ps:
        state = opt.state[p]
        if not state:
            state["step"] = _wrap(np.zeros((), np.float32))
            state["square_avg"] = _zeros(p)
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = _zeros(p)
        if centered and "grad_avg" not in state:
            state["grad_avg"] = _zeros(p)
        state["step"]._data[()] += 1
        buf = state["momentum_buffer"]._data.a if momentum > 0 else p._data.a
        gavg = state["grad_avg"]._data.a if centered else p._data.a
        n = p._data.size
        _launch(_RMSPROP, "rmsprop", n, p._data.a, _grad(p), state["square_avg"]._data.a, buf, gavg, n,
                float(group["lr"]), float(group["alpha"]), float(group["eps"]), float(group["weight_decay"]),
                momentum, centered, bool(group["maximize"]))
