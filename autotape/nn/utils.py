"""``nn.utils``: gradient clipping and parameters as one vector, as PyTorch's."""
import math

import numpy as np

from ..grad_mode import no_grad
from ..ops.shape import cat
from ..tensor import Tensor, _wrap


def _with_grads(parameters):
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients in place so that their joint ``norm_type``-norm (that of the vector of
    every gradient's norm) is at most ``max_norm``; returns that norm before clipping."""
    params = _with_grads(parameters)
    norm_type = float(norm_type)
    if not params:
        return _wrap(np.zeros((), np.float32))
    grads = [p.grad._data for p in params]
    if type(grads[0]) is not np.ndarray:  # CUDA gradients: their norms on the device, then on the host
        grads = [p.grad.detach().cpu()._data for p in params]
    if math.isinf(norm_type):
        norms = [np.max(np.abs(g)) if g.size else 0.0 for g in grads]
        total = max(norms) if norm_type > 0 else min(norms)
    else:
        norms = [np.sum(np.abs(g.astype(np.float64)) ** norm_type) ** (1.0 / norm_type) for g in grads]
        total = float(np.sum(np.asarray(norms) ** norm_type) ** (1.0 / norm_type))
    total = float(total)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    coef = min(float(max_norm) / (total + 1e-6), 1.0)  # (PyTorch scales by the clamped coefficient always)
    with no_grad():
        for p in params:
            p.grad.mul_(coef)
    return _wrap(np.asarray(total, grads[0].dtype))


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient in place to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _with_grads(parameters):
            p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters):
    """The parameters flattened and concatenated (differentiable, as PyTorch's)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive pieces of ``vec`` into the parameters' data."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    at = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[at: at + n].reshape(p.shape))
            at += n
