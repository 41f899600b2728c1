"""Reductions and ops along one dim (softmax, cumsum). Each record views its input as
(outer, red, inner) and reduces or scans the middle axis; reducing several dims that are not
adjacent first permutes them to the end."""
import builtins
import collections
import contextlib
import math
import warnings

import numpy as np

from .. import dtypes
from ..grad_mode import _state as _grad_state
from ..tensor import Tensor, _dim, _recordings, _trace, _wrap, note_unrecorded
from ..cuda.array import CudaArray
from .apply import _array, _float_data, _ndarray, _recording, cuda_ops, not_tensor
from ..tape import current_tape
from .table import defop

SUM = defop("sum", "SumBackward0", "kernel", "k_sum", uses=())
SUM_DIM = defop("sum_dim", "SumBackward1", "kernel", "k_sum", uses=())
MEAN = defop("mean", "MeanBackward0", "kernel", "k_sum", uses=())
MEAN_DIM = defop("mean_dim", "MeanBackward1", "kernel", "k_sum", uses=())
PROD = defop("prod", "ProdBackward0", "kernel", "k_prod", uses={"x"})
PROD_DIM = defop("prod_dim", "ProdBackward1", "kernel", "k_prod", uses={"x"})
AMAX = defop("amax", "AmaxBackward0", "kernel", "k_extreme", uses={"x", "y"})
AMIN = defop("amin", "AminBackward0", "kernel", "k_extreme", uses={"x", "y"})
MAX_ALL = defop("max_all", "MaxBackward1", "kernel", "k_extreme", uses={"x", "y"})
MIN_ALL = defop("min_all", "MinBackward1", "kernel", "k_extreme", uses={"x", "y"})
MAX_DIM = defop("max_dim", "MaxBackward0", "kernel", "k_extreme", uses={"x", "y"})
MIN_DIM = defop("min_dim", "MinBackward0", "kernel", "k_extreme", uses={"x", "y"})
NORM = defop("norm", "LinalgVectorNormBackward0", "kernel", "k_norm", uses={"x", "y"})
# the inf-norms: amax / amin of |x|, as PyTorch names them
NORM_MAX = defop("norm_max", "LinalgVectorNormBackward0", "kernel", "k_extreme", uses={"x", "y"})
NORM_MIN = defop("norm_min", "LinalgVectorNormBackward0", "kernel", "k_extreme", uses={"x", "y"})
VAR = defop("var", "VarBackward0", "kernel", "k_var", uses={"x", "y"})
STD = defop("std", "StdBackward0", "kernel", "k_var", uses={"x", "y"})
LOGSUMEXP = defop("logsumexp", "LogsumexpBackward0", "kernel", "k_logsumexp", uses={"x", "y"})
SOFTMAX = defop("softmax", "SoftmaxBackward0", "kernel", "k_softmax", uses={"y"})
LOG_SOFTMAX = defop("log_softmax", "LogSoftmaxBackward0", "kernel", "k_softmax", uses={"y"})
CUMSUM = defop("cumsum", "CumsumBackward0", "kernel", "k_cumsum", uses=())

_NOTHING = contextlib.nullcontext()
values_indices = collections.namedtuple("values_indices", ["values", "indices"])


def _dims(dim, ndim):
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    if isinstance(dim, (tuple, list)):
        dims = sorted(_dim(d, ndim) for d in dim)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"dim {tuple(dim)} appears multiple times in the list of dims")
        return tuple(dims)
    d = _dim(dim, ndim)  # checked on a 0-d tensor too: only dim 0 or -1 is valid there
    return (d,) if ndim else ()


def _layout(x, dims):
    """(tensor to record, outer, red) with the reduced dims adjacent in the recorded tensor."""
    shape = x._data.shape
    if dims and dims != tuple(range(dims[0], dims[-1] + 1)):
        from .shape import permute

        keep = [d for d in range(len(shape)) if d not in dims]
        x = permute(x, keep + list(dims))
        shape = x._data.shape
        dims = tuple(range(len(keep), len(shape)))
    if not dims:
        return x, math.prod(shape), 1
    return x, math.prod(shape[: dims[0]]), math.prod(shape[dims[0]: dims[-1] + 1])


def _torch_name(np_dtype):
    """A dtype as PyTorch's messages name it (Long, Int, Bool, Float, Double)."""
    return {"int64": "Long", "int32": "Int", "bool": "Bool", "float32": "Float", "float64": "Double"}.get(
        np_dtype.name, np_dtype.name)


def _data_of(x, name):
    try:
        return x._data
    except AttributeError:
        raise not_tensor(name, x) from None


def _numpy_spelling(name, dim, keepdim, axis, keepdims, unset=None):
    """PyTorch's argument parser also takes NumPy's ``axis=`` for ``dim=`` and ``keepdims=`` for
    ``keepdim=`` (one spelling at a time)."""
    if axis is not None:
        if dim is not unset:
            raise TypeError(f"{name}() got an unexpected keyword argument 'axis'")
        dim = axis
    return dim, keepdim if keepdims is None else keepdims


def _reduce(spec, x, dims, y, mode=0, f=0.0):
    out = _wrap(_array(y))
    if _recording(x):
        src, outer, red = _layout(x, dims)
        current_tape().record1(spec, out, src, (outer, red, mode, 0), f)
    else:
        note_unrecorded(out, x)
    return out


def _axis(dims, ndim):
    return dims if ndim else None


def sum(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # (NumPy's spellings: off the loss's fast path below)
        return sum(input, *_numpy_spelling("sum", dim, keepdim, axis, keepdims), dtype=dtype)
    try:
        data = input._data
    except AttributeError:
        raise not_tensor("sum", input) from None
    if type(data) is CudaArray:
        input = input if dtype is None else input.to(dtype)
        return cuda_ops().sum(SUM if dim is None else SUM_DIM, input, _dims(dim, data.ndim), keepdim, 1.0)
    if dim is None and dtype is None and not keepdim and data.dtype.kind == "f":  # the loss, every step
        y = np.add.reduce(data, None)  # (a NumPy scalar: made a 0-d array)
        out = _wrap(y if type(y) is _ndarray else np.asarray(y))
        if input._rg and _grad_state.enabled:
            current_tape().record1(SUM, out, input, (1, data.size, 0, 0), 1.0)
        else:
            note_unrecorded(out, input)
        return out
    if dtype is not None:
        data = data.astype(dtypes.to_numpy_dtype(dtype))
        input = input.to(dtype) if input._rg else _wrap(data)
    dims = _dims(dim, data.ndim)
    if data.dtype.kind in "biu":
        return _wrap(_array(np.add.reduce(data, axis=_axis(dims, data.ndim), keepdims=keepdim, dtype=np.int64)))
    y = np.add.reduce(data, axis=_axis(dims, data.ndim), keepdims=keepdim)
    return _reduce(SUM if dim is None else SUM_DIM, input, dims, y, f=1.0)


def mean(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("mean", dim, keepdim, axis, keepdims)
    try:
        if dtype is not None:
            input = input.to(dtype)
        data = input._data
    except AttributeError:
        raise not_tensor("mean", input) from None
    if data.dtype.kind != "f":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point or complex "
            f"dtype. Got: {_torch_name(data.dtype)}; call .float() first"
        )
    dims = _dims(dim, data.ndim)
    red = math.prod([data.shape[d] for d in dims]) if data.ndim else 1
    if type(data) is CudaArray:
        # (the mean of nothing is 0 * nan: NaN, as on the CPU and in PyTorch)
        return cuda_ops().sum(MEAN if dim is None else MEAN_DIM, input, dims, keepdim, 1.0 / red if red else math.nan)
    if red == 0:  # NaN, as PyTorch's, without NumPy's "Mean of empty slice"
        y = np.full([1 if d in dims else s for d, s in enumerate(data.shape) if keepdim or d not in dims], np.nan,
                    data.dtype)
    else:
        y = np.mean(data, axis=_axis(dims, data.ndim), keepdims=keepdim)
    return _reduce(MEAN if dim is None else MEAN_DIM, input, dims, y, f=1.0 / builtins.max(red, 1))


def prod(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("prod", dim, keepdim, axis, keepdims)
    _data_of(input, "prod")
    data = input._data if dtype is None else input._data.astype(dtypes.to_numpy_dtype(dtype))
    dims = _dims(dim, data.ndim)
    if type(data) is CudaArray:
        return cuda_ops().prod(PROD if dim is None else PROD_DIM, input if dtype is None else _wrap(data), dims,
                               keepdim)
    y = np.prod(data, axis=_axis(dims, data.ndim), keepdims=keepdim)
    if data.dtype.kind != "f":
        return _wrap(_array(y))
    return _reduce(PROD if dim is None else PROD_DIM, input, dims, y)


def _extreme(spec, np_fn, input, dim, keepdim, mode=0):
    data = _data_of(input, spec.name.split("_")[0])
    dims = _dims(dim, data.ndim)
    empty = [d for d in dims if data.shape[d] == 0]
    name = spec.name.split("_")[0]  # max_all -> max
    if empty and len(dims) == data.ndim:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                           "Specify the reduction dim with the 'dim' argument.")
    if empty:
        raise IndexError(f"{name}(): Expected reduction dim {empty[0]} to have non-zero size.")
    if type(data) is CudaArray:
        return cuda_ops().extreme(spec, input, dims, keepdim, "max" if np_fn is np.max else "min")
    y = np_fn(data, axis=_axis(dims, data.ndim), keepdims=keepdim)
    if data.dtype.kind != "f":
        return _wrap(_array(y))
    return _reduce(spec, input, dims, y, mode=mode)  # (the gradient's rule: see k_extreme)


def amax(input, dim=(), keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("amax", dim, keepdim, axis, keepdims, ())
    return _extreme(AMAX, np.max, input, dim, keepdim)


def amin(input, dim=(), keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("amin", dim, keepdim, axis, keepdims, ())
    return _extreme(AMIN, np.min, input, dim, keepdim)


def _max_or_min(input, dim, keepdim, other, is_max):
    _data_of(input, "max" if is_max else "min")
    from .pointwise import maximum, minimum

    if isinstance(dim, Tensor):
        other, dim = dim, None
    if other is not None:
        return maximum(input, other) if is_max else minimum(input, other)
    if dim is None:
        return _extreme(MAX_ALL if is_max else MIN_ALL, np.max if is_max else np.min, input, None, False, mode=2)
    data = input._data
    d = _dim(dim, data.ndim)
    if type(data) is CudaArray:
        return cuda_ops().max_dim(MAX_DIM if is_max else MIN_DIM, input, d, keepdim, is_max)
    axis = d if data.ndim else None
    _check_arg_dim(data, axis, "max" if is_max else "min")
    idx = (np.argmax if is_max else np.argmin)(data, axis=axis, keepdims=keepdim)
    y = (np.max if is_max else np.min)(data, axis=axis, keepdims=keepdim)
    if data.dtype.kind == "f":
        values = _reduce(MAX_DIM if is_max else MIN_DIM, input, _dims(d, data.ndim), y, mode=1)
    else:
        values = _wrap(_array(y))
    indices = _wrap(_array(idx).astype(np.int64))
    note_unrecorded(indices, input)  # (autotape.compile: the indices are data, not recorded)
    return values_indices(values, indices)


def max(input, dim=None, keepdim=False, *, other=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("max", dim, keepdim, axis, keepdims)
    return _max_or_min(input, dim, keepdim, other, True)


def min(input, dim=None, keepdim=False, *, other=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("min", dim, keepdim, axis, keepdims)
    return _max_or_min(input, dim, keepdim, other, False)


def _check_arg_dim(data, axis, name):
    """PyTorch's errors where NumPy's argmax would raise its own."""
    if data.size == 0:
        if axis is None:  # (argmax, argmin: max and min raise their RuntimeError before)
            raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
        if data.shape[axis] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")


def _arg_extreme(np_fn, name, input, dim, keepdim):
    _data_of(input, name)
    if _recordings[0] and _trace.recorder is not None:
        _trace.recorder.on_read(input, f"{name}()")  # the index is data the tape does not record
    data = input._data
    if type(data) is CudaArray:
        return cuda_ops().argmax(input, dim, keepdim, np_fn is np.argmax)
    axis = None if dim is None else _dim(dim, data.ndim)
    if axis is not None and data.ndim == 0:
        axis = None
    _check_arg_dim(data, axis, name)
    if axis is None:
        out = np.asarray(np_fn(data), dtype=np.int64)
        return _wrap(out.reshape((1,) * data.ndim) if keepdim else out)
    return _wrap(_array(np_fn(data, axis=axis, keepdims=keepdim)).astype(np.int64))


def argmax(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("argmax", dim, keepdim, axis, keepdims)
    return _arg_extreme(np.argmax, "argmax", input, dim, keepdim)


def argmin(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("argmin", dim, keepdim, axis, keepdims)
    return _arg_extreme(np.argmin, "argmin", input, dim, keepdim)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    if dtype is not None:  # computed in ``dtype``, with PyTorch's checks of it
        from ..linalg import _input

        input = _input(input, "linalg.vector_norm", dtype)
    if _data_of(input, "norm").dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {_torch_name(input._data.dtype)}")
    if p in ("fro", None):
        p = 2.0
    elif isinstance(p, str):
        if p == "nuc":
            raise NotImplementedError("norm(p='nuc') (the nuclear norm) is not supported by autotape; the sum of "
                                      "the singular values needs an SVD")
        raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
    if p in (math.inf, -math.inf):
        from .pointwise import abs as _abs

        return _extreme(NORM_MAX if p > 0 else NORM_MIN, np.max if p > 0 else np.min, _abs(input),
                        () if dim is None else dim, keepdim)
    p = float(p)
    data = _float_data(input)
    dims = _dims(dim, data.ndim)
    if type(data) is CudaArray:
        return cuda_ops().norm(NORM, input if input._data is data else _wrap(data), dims, keepdim, p)
    axis = _axis(dims, data.ndim)
    absx = np.abs(data)
    if p == 2.0:
        y = np.sqrt(np.sum(absx * absx, axis=axis, keepdims=keepdim))
    elif p == 1.0:
        y = np.sum(absx, axis=axis, keepdims=keepdim)
    elif p == 0.0:  # the number of nonzeros (NaN counts), as PyTorch's
        y = np.sum(absx != 0, axis=axis, keepdims=keepdim).astype(data.dtype)
    else:
        with np.errstate(divide="ignore"):  # (p < 0: a zero makes the sum inf and the norm 0)
            y = np.sum(absx ** p, axis=axis, keepdims=keepdim) ** (1.0 / p)
    return _reduce(NORM, input, dims, y, f=p)


def _correction(unbiased, correction):
    if correction is not None:
        return float(correction)
    return 1.0 if unbiased in (None, True) else 0.0


def _spread(spec, np_fn, input, dim, unbiased, keepdim, correction):
    """var or std: the record's mode tells the kernel which (0 var, 1 std)."""
    _data_of(input, spec.name)
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    corr = _correction(unbiased, correction)
    data = input._data
    if data.dtype.kind != "f":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dims = _dims(dim, data.ndim)
    no_dof = math.prod([data.shape[d] for d in dims]) - corr <= 0
    if no_dof:
        warnings.warn(f"{spec.name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
                      "reduction factor (input numel divided by output numel).", UserWarning, stacklevel=3)
    if type(data) is CudaArray:
        return cuda_ops().spread(spec, input if input._data is data else _wrap(data), dims, keepdim, corr, spec is STD)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings() if no_dof else _NOTHING:
        if no_dof:  # (PyTorch's warning above, not NumPy's as well)
            warnings.simplefilter("ignore", RuntimeWarning)
        y = np_fn(data, axis=_axis(dims, data.ndim), ddof=corr, keepdims=keepdim)
    return _reduce(spec, input, dims, y, mode=int(spec is STD), f=corr)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("var", dim, keepdim, axis, keepdims)
    return _spread(VAR, np.var, input, dim, unbiased, keepdim, correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("std", dim, keepdim, axis, keepdims)
    return _spread(STD, np.std, input, dim, unbiased, keepdim, correction)


def _shifted(data, axis):
    """``data`` minus its max along ``axis``, and the max (0 where the max is infinite, so a row
    of -inf has logsumexp -inf and one with +inf has +inf, as PyTorch's). Ufunc reductions:
    np.max's Python wrapper costs more than the arithmetic on the small inputs these ops see most."""
    if data.size == 0:
        return data.copy(), data
    m = np.maximum.reduce(data, axis=axis, keepdims=True)
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, 0)
    return data - m, m


def _softmax_np(data, axis, log):
    """Softmax (or log_softmax) by NumPy, shifted by the row's max itself: a row holding +inf
    (inf - inf) or only -inf (-inf + inf) comes out all NaN, as PyTorch's."""
    if data.size == 0:
        return data.copy()
    m = np.maximum.reduce(data, axis=axis, keepdims=True)
    if np.isfinite(m).all():
        return _normalized(data - m, axis, log)
    with np.errstate(invalid="ignore"):  # (NaN rows: PyTorch warns of none)
        return _normalized(data - m, axis, log)


def _normalized(shifted, axis, log):
    e = np.exp(shifted)
    if log:
        return shifted - np.log(np.add.reduce(e, axis=axis, keepdims=True))
    return e / np.add.reduce(e, axis=axis, keepdims=True)


def logsumexp(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("logsumexp", dim, keepdim, axis, keepdims)
    if dim is None:
        raise TypeError('logsumexp() missing 1 required positional arguments: "dim"')
    _data_of(input, "logsumexp")
    data = _float_data(input)
    dims = _dims(dim, data.ndim)
    if type(data) is CudaArray and data.size:
        return cuda_ops().logsumexp(LOGSUMEXP, input if input._data is data else _wrap(data), dims, keepdim)
    if data.size == 0:
        shape = [1 if d in dims else s for d, s in enumerate(data.shape)] if keepdim else \
            [s for d, s in enumerate(data.shape) if d not in dims]
        y = np.full(shape, -np.inf, data.dtype)
        return _reduce(LOGSUMEXP, input, dims, y)
    axis = _axis(dims, data.ndim)
    shifted, m = _shifted(data, axis)
    with np.errstate(divide="ignore"):
        y = np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True)) + m
    if not keepdim:
        y = y.reshape([s for d, s in enumerate(data.shape) if d not in dims])
    return _reduce(LOGSUMEXP, input, dims, y.astype(data.dtype, copy=False))


def _along(spec, input, dim, y, mode):
    out = _wrap(_array(y))
    if input._rg and _grad_state.enabled:
        shape = input._data.shape
        if len(shape) == 1:  # (a vector: the common case, spelled out)
            outer, red = 1, shape[0]
        else:
            d = _dim(dim, len(shape)) if shape else 0  # (dim checked by the caller)
            outer = math.prod(shape[:d]) if shape else 1
            red = shape[d] if shape else 1
        current_tape().record1(spec, out, input, (outer, red, mode, 0))
    else:
        note_unrecorded(out, input)
    return out


def _softmax_input(input, dim, dtype, name):
    _data_of(input, name)
    if dtype is not None:
        input = input.to(dtype)
    data = input._data
    if data.dtype.kind != "f":  # (PyTorch's: no integer softmax unless told a dtype)
        raise NotImplementedError(f"{name}(): not implemented for '{_torch_name(data.dtype)}' tensors; pass "
                                  "dtype=autotape.float32, or call .float() first")
    if dim is None:
        raise TypeError("softmax() missing required argument 'dim' (int): name the dimension to normalize over "
                        "(autotape.nn.functional.softmax picks one, as PyTorch's does, with a warning)")
    axis = _dim(dim, data.ndim)
    return input, data, dim, (axis if data.ndim else None)


_SMALL_ROW = 16  # elements: up to this many, Python floats beat NumPy's six ufunc calls


def _small_row(data):
    """A short vector's values as Python floats, their max, the exps of the values shifted by
    it (they cannot overflow) and the sum of those; None where NumPy's path keeps the corners (a
    NaN or an infinity, as in softmax of inf), or the vector is not short."""
    if data.ndim != 1 or not 0 < data.size <= _SMALL_ROW:
        return None
    vals = data.tolist()
    total = builtins.sum(vals)
    if total - total != 0.0:  # NaN or infinite: some value is
        return None
    m = builtins.max(vals)
    exps = [_exp(v - m) for v in vals]
    return vals, m, exps, builtins.sum(exps)


_exp = math.exp


def softmax(input, dim=None, dtype=None, *, _stacklevel=3, axis=None):
    if axis is not None:
        dim = _numpy_spelling("softmax", dim, 0, axis, None)[0]
    input, data, dim, axis = _softmax_input(input, dim, dtype, "softmax")
    if type(data) is CudaArray:
        return cuda_ops().softmax(SOFTMAX, input if input._data is data else _wrap(data), axis or 0, False)
    row = _small_row(data)
    if row is not None:  # (in double, rounded once: as the compiled replay computes it)
        total = row[3]
        y = np.array([e / total for e in row[2]], data.dtype)
    else:
        y = _softmax_np(data, axis, False)
    return _along(SOFTMAX, input, dim, y, 0)


def log_softmax(input, dim=None, dtype=None, *, _stacklevel=3, axis=None):
    if axis is not None:
        dim = _numpy_spelling("log_softmax", dim, 0, axis, None)[0]
    input, data, dim, axis = _softmax_input(input, dim, dtype, "log_softmax")
    if type(data) is CudaArray:
        return cuda_ops().softmax(LOG_SOFTMAX, input if input._data is data else _wrap(data), axis or 0, True)
    row = _small_row(data)
    if row is not None:
        vals, m, _, total = row
        lse = math.log(total)
        y = np.array([v - m - lse for v in vals], data.dtype)
    else:
        y = _softmax_np(data, axis, True)
    return _along(LOG_SOFTMAX, input, dim, y, 1)


def cumsum(input, dim=None, *, dtype=None, axis=None):
    dim = _numpy_spelling("cumsum", dim, 0, axis, None)[0]
    if dim is None:
        raise TypeError('cumsum() missing 1 required positional arguments: "dim"')
    _data_of(input, "cumsum")
    if dtype is not None:
        input = input.to(dtype)
    data = input._data
    axis = _dim(dim, data.ndim)
    if type(data) is CudaArray:
        return cuda_ops().cumsum(CUMSUM, input, axis)
    y = np.cumsum(data, axis=axis) if data.ndim else data.copy()
    if data.dtype.kind != "f":
        return _wrap(y.astype(np.int64))
    return _along(CUMSUM, input, dim, y, 0)


def _bool_axis(dim, ndim):
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        axes = tuple(_dim(d, ndim) for d in dim)
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"dim {list(dim)} appears multiple times in the list of dims")
        return axes if ndim else None
    return _dim(dim, ndim)


def _all_or_any(is_all, input, dim, keepdim):
    try:
        data = input._data
    except AttributeError:
        raise not_tensor("all" if is_all else "any", input) from None
    if type(data) is CudaArray:
        return cuda_ops().all_any(input, dim, keepdim, is_all)
    out = _wrap(_array((np.all if is_all else np.any)(data, axis=_bool_axis(dim, data.ndim), keepdims=keepdim)))
    if _recordings[0] and _trace.recorder is not None:  # (autotape.compile: a value computed from traced ones)
        _trace.recorder.derived(out, input)
    return out


def all(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("all", dim, keepdim, axis, keepdims)
    return _all_or_any(True, input, dim, keepdim)


def any(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:
        dim, keepdim = _numpy_spelling("any", dim, keepdim, axis, keepdims)
    return _all_or_any(False, input, dim, keepdim)
