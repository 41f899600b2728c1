"""Comparisons and logical tests, elementwise: bool results that carry no gradient (not recorded:
a result is data, which ``autotape.compile`` is told about)."""
import numpy as np

from ..tensor import Tensor, _recordings, _trace, _wrap
from ..cuda.array import CudaArray
from .apply import broadcast_shape, cuda_ops

__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal",
           "logical_not", "isnan", "isfinite", "equal", "allclose", "isclose"]  # (not its imports)


def _compare(np_fn):
    def fn(input, other):
        a = input._data if isinstance(input, Tensor) else input
        b = other._data if isinstance(other, Tensor) else other
        if type(a) is CudaArray or type(b) is CudaArray:
            return cuda_ops().compare(np_fn.__name__, input, other)
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            broadcast_shape(a.shape, b.shape)
        out = _wrap(np.asarray(np_fn(a, b)))
        if _recordings[0] and _trace.recorder is not None:  # a comparison is not recorded: its result is data
            _trace.recorder.derived(out, input, other)
        return out

    fn.__name__ = np_fn.__name__
    return fn


eq = _compare(np.equal)
ne = _compare(np.not_equal)
lt = _compare(np.less)
le = _compare(np.less_equal)
gt = _compare(np.greater)
ge = _compare(np.greater_equal)
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def logical_not(input):
    return _wrap(np.logical_not(input._data))


def isnan(input):
    return _wrap(np.isnan(input._data))


def isfinite(input):
    return _wrap(np.isfinite(input._data))


def equal(input, other):
    return input._data.shape == other._data.shape and bool(np.array_equal(input._data, other._data))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.allclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _wrap(np.isclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))
