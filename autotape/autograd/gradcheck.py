"""Finite differences against our backward, as ``torch.autograd.gradcheck``."""
import numpy as np

from ..grad_mode import no_grad


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(func, inputs):
    from ..tensor import Tensor

    return [o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor) and o._data.dtype.kind == "f"]


def jacobians(func, inputs, eps):
    """(analytical, numerical) Jacobians, one (output numel x input numel) pair per
    (output, differentiable input)."""
    from ..tensor import Tensor, _wrap
    from .engine import grad

    diff = [t for t in inputs if isinstance(t, Tensor) and t._rg]
    outs = _outputs(func, inputs)
    analytical = [[np.zeros((o._data.size, t._data.size)) for t in diff] for o in outs]
    for i, o in enumerate(outs):
        if not o._rg:
            continue
        for j in range(o._data.size):
            seed = np.zeros(o._data.size)
            seed[j] = 1.0
            gs = grad(o, diff, _wrap(seed.reshape(o._data.shape)), retain_graph=True, allow_unused=True)
            for k, g in enumerate(gs):
                if g is not None:
                    analytical[i][k][j] = g._data.reshape(-1)
    numerical = [[np.zeros((o._data.size, t._data.size)) for t in diff] for o in outs]
    with no_grad():
        for k, t in enumerate(diff):
            flat = t._data.reshape(-1)  # a view: perturbing it perturbs the input
            for e in range(flat.size):
                orig = flat[e]
                flat[e] = orig + eps
                plus = [o._data.astype(np.float64).reshape(-1) for o in _outputs(func, inputs)]
                flat[e] = orig - eps
                minus = [o._data.astype(np.float64).reshape(-1) for o in _outputs(func, inputs)]
                flat[e] = orig
                for i in range(len(outs)):
                    numerical[i][k][:, e] = (plus[i] - minus[i]) / (2 * eps)
    return analytical, numerical


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **unused):
    """True if analytical and numerical gradients agree: |a - n| <= atol + rtol * |n|."""
    from ..tensor import Tensor

    inputs = _as_tuple(inputs)
    diff = [t for t in inputs if isinstance(t, Tensor) and t._rg]
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    analytical, numerical = jacobians(func, inputs, eps)
    worst = None
    for i, (arow, nrow) in enumerate(zip(analytical, numerical)):
        for k, (a, n) in enumerate(zip(arow, nrow)):
            excess = np.abs(a - n) - (atol + rtol * np.abs(n))
            if excess.size and (worst is None or np.nanmax(excess) > worst[0]) or np.isnan(excess).any():
                at = np.unravel_index(np.nanargmax(np.where(np.isnan(excess), np.inf, excess)), excess.shape)
                worst = (np.inf if np.isnan(excess).any() else float(excess[at]), i, k, at, a[at], n[at])
    if worst is None or worst[0] <= 0:
        return True
    _, i, k, at, a, n = worst
    msg = (f"Jacobian mismatch for output {i} with respect to input {k}: at (output element {at[0]}, input "
           f"element {at[1]}) analytical {a:.8g} vs numerical {n:.8g} (atol={atol}, rtol={rtol})")
    if raise_exception:
        raise GradcheckError(msg)
    return False
