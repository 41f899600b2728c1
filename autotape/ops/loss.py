"""The losses' own ops: mse_loss's squared error and the two binary cross entropies as
elementwise ops (PyTorch's formulas and gradients: stable for large logits, logs clamped at
-100), and, per loss that PyTorch shows as one node, aliases of ``sum`` and of ``x * a``
(``table.alias``: the same kernels) that a loss made of several ops records last, so that its
``grad_fn`` has the loss's name."""
import math

import numpy as np

from ..cuda.array import CudaArray
from ..grad_mode import _state as _grad_state
from ..tape import current_tape
from ..tensor import _wrap, note_unrecorded
from . import elementwise as ew, reduce as red
from .apply import cuda_ops, unary
from .reduce import SUM
from .table import alias, defop


def _quiet(f):
    def g(*args):
        with np.errstate(all="ignore"):
            return f(*args)
    return g


def _bce_logits(x, t):
    return (1 - t) * x + (np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x))))


def _bce(p, t):
    return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))


_SIGMOID = "(1.0 / (1.0 + math.exp(-x1)) if x1 >= 0.0 else math.exp(x1) / (1.0 + math.exp(x1)))"
_LOG = "(max(math.log(x1), -100.0) if x1 > 0.0 else -100.0)"
_LOG1M = "(max(math.log1p(-x1), -100.0) if x1 < 1.0 else -100.0)"

BCE_LOGITS = defop(
    "bce_logits", "BinaryCrossEntropyWithLogitsBackward0", "ew2", (f"g * ({_SIGMOID} - x2)", "-g * x1"),
    _quiet(_bce_logits), fwd="(1.0 - x2) * x1 + max(-x1, 0.0) + math.log1p(math.exp(-abs(x1)))",
)
BCE = defop(
    "bce", "BinaryCrossEntropyBackward0", "ew2",
    ("g * (x1 - x2) / max((1.0 - x1) * x1, 1e-12)", f"g * ({_LOG1M} - {_LOG})"),
    _quiet(_bce), fwd=f"-(x2 * {_LOG} + (1.0 - x2) * {_LOG1M})",
)


def _squared_error(x1, x2):
    d = np.subtract(x1, x2)
    return np.multiply(d, d, out=d) if type(d) is np.ndarray else d * d


# mse_loss's terms, one op (not a difference and its square): named as PyTorch's one node, which
# the loss's sum (an alias of SUM named the same) then shows as itself (autograd/node.py)
SQUARED_ERROR = defop(
    "squared_error", "MseLossBackward0", "ew2", ("2.0 * g * (x1 - x2)", "-2.0 * g * (x1 - x2)"),
    _squared_error, fwd="(x1 - x2) * (x1 - x2)",
)

_NAMES = ("MseLossBackward0", "BinaryCrossEntropyWithLogitsBackward0", "BinaryCrossEntropyBackward0",
          "NllLossBackward0", "NllLoss2DBackward0")
SUMS = {name: alias(SUM, name) for name in _NAMES}  # a loss's final sum or mean
SCALES = {name: alias(ew.MUL_SCALAR, name) for name in _NAMES}  # its last op where nothing is reduced
DIV_BY_NUMBER = alias(ew.DIV_SCALAR, "DivBackward1")  # PyTorch's C++ composites' ``tensor / number``


def loss_sum(spec, x, scale, dim=None):
    """``scale * x.sum(dim)`` recorded as ``spec`` (one of ``SUMS``); a mean is ``scale`` 1/count."""
    data = x._data
    if dim is None and type(data) is np.ndarray:  # the loss, every step: sum's own fast path
        out = _wrap(np.asarray(np.add.reduce(data, None) * data.dtype.type(scale)))
        if x._rg and _grad_state.enabled:
            current_tape().record1(spec, out, x, ints=(1, data.size, 0, 0), f=scale)
        else:
            note_unrecorded(out, x)
        return out
    dims = red._dims(dim, data.ndim)
    if type(data) is CudaArray:
        return cuda_ops().sum(spec, x, dims, False, scale)
    y = np.add.reduce(data, axis=red._axis(dims, data.ndim)) * data.dtype.type(scale)
    return red._reduce(spec, x, dims, y, f=scale)


def reduce_loss(name, x, reduction, count=None):
    """A loss's elementwise terms ``x`` reduced as ``reduction`` says (a mean divides by
    ``count``, by default the number of terms: NaN where it is 0, as PyTorch's), its last
    record named ``name``."""
    if reduction == "none":
        return x if x.grad_fn is None or x.grad_fn.name() == name else unary(SCALES[name], x, 1.0)
    if reduction == "sum":
        return loss_sum(SUMS[name], x, 1.0)
    count = x._data.size if count is None else count
    return loss_sum(SUMS[name], x, 1.0 / count if count else math.nan)
