"""``autotape.autograd.functional``: ``vjp`` and ``jacobian`` as PyTorch's, by reverse mode.

``jacobian`` runs one backward per output element over one recorded graph (PyTorch's
``vectorize=False``), so it suits functions with few outputs. The forward-mode and second-order
functions (``jvp``, ``hessian``, ``hvp``, ``vhp``) need ``create_graph=True``, which autotape does
not have yet: they raise ``NotImplementedError``."""
import numpy as np

from ..factories import zeros_like
from ..grad_mode import enable_grad
from ..tensor import Tensor, _wrap
from .engine import _check_create_graph, grad


def _as_tuple(x, what):
    is_tuple = isinstance(x, tuple)
    items = x if is_tuple else (x,)
    for k, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"The {what} given to the function must be either a Tensor or a tuple of Tensors but "
                            f"the value at index {k} has type {type(t).__name__}.")
    return is_tuple, items


def _run(func, inputs):
    """``func`` on detached copies of ``inputs`` that require grad: (copies, is-tuple, outputs)."""
    is_tuple, inputs = _as_tuple(inputs, "inputs")
    leaves = tuple(t.detach().requires_grad_(t.is_floating_point()) for t in inputs)
    with enable_grad():
        out = func(*leaves)
    out_tuple, outs = _as_tuple(out, "outputs of the user-provided function")
    return leaves, is_tuple, out_tuple, outs


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), v^T J)``: the outputs (detached) and the vector-Jacobian product."""
    _check_create_graph(create_graph)
    leaves, is_tuple, out_tuple, outs = _run(func, inputs)
    if v is None:
        if len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the user-provided function returns a single "
                               "Tensor with a single element.")
    else:
        _, v = _as_tuple(v, "v")
        if len(v) != len(outs):
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(outs)} but got {len(v)}.")
    if any(o.requires_grad for o in outs):
        grads = grad(outs, leaves, v, allow_unused=True, materialize_grads=True)
    else:  # (outputs that do not depend on the inputs)
        grads = tuple(zeros_like(t) for t in leaves)
    detached = tuple(o.detach() for o in outs)
    return (detached if out_tuple else detached[0]), (grads if is_tuple else grads[0])


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: a tensor of shape ``output.shape + input.shape``,
    or tuples of them (per output, then per input) as PyTorch nests them."""
    _check_create_graph(create_graph)
    if strategy != "reverse-mode":
        raise NotImplementedError("jacobian(strategy='forward-mode') needs forward-mode AD, which autotape does not "
                                  "have: use strategy='reverse-mode'")
    leaves, is_tuple, out_tuple, outs = _run(func, inputs)
    rows = []
    for out in outs:
        n = out.numel()
        blocks = [np.zeros((n,) + tuple(t.shape)) for t in leaves]
        flat = out.reshape(-1)
        for i in range(n if out.requires_grad else 0):
            grads = grad(flat[i], leaves, retain_graph=True, allow_unused=True)
            for block, g in zip(blocks, grads):
                if g is not None:
                    block[i] = g.numpy(force=True)
        per_input = []
        for block, t in zip(blocks, leaves):
            j = _wrap(block.reshape(tuple(out.shape) + tuple(t.shape)).astype(t._data.dtype))
            per_input.append(j.to(t.device))
        rows.append(tuple(per_input) if is_tuple else per_input[0])
    return tuple(rows) if out_tuple else rows[0]


def _needs_create_graph(name):
    def unsupported(*args, **kwargs):
        raise NotImplementedError(f"autograd.functional.{name} needs create_graph=True (higher-order or "
                                  "forward-mode derivatives), which autotape does not support yet; use jacobian or "
                                  "vjp, or finite differences of jacobian")
    unsupported.__name__ = name
    return unsupported


jvp, hessian, hvp, vhp = (_needs_create_graph(n) for n in ("jvp", "hessian", "hvp", "vhp"))
