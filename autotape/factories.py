"""Tensor factories, with PyTorch's names, defaults and keywords."""
import math

import numpy as np
from numba import njit

from . import dtypes
from .devices import parse as _parse_device
from .tensor import Tensor, _placed, _to_array, _recordings, _trace, _wrap, contiguous

_rng = [np.random.default_rng()]


def manual_seed(seed):
    """Seed autotape's generator (rand, randn, nn init). Returns nothing useful, as a Generator would."""
    _rng[0] = np.random.default_rng(int(seed))
    return _rng[0]


def seed():
    _rng[0] = np.random.default_rng()


def _random():
    """The generator. While ``autotape.compile`` records, drawing from it is refused: a replay
    would reuse the recorded sample rather than draw new numbers."""
    if _recordings[0] and _trace.recorder is not None:
        _trace.recorder.violate("draws random numbers (rand, randn, randint, randperm)",
                                "A replay would reuse the numbers drawn while recording. Draw them outside and "
                                "pass them in as an argument")
    return _rng[0]


def _make(data, dtype, device, requires_grad):
    t = _wrap(data if device is None else _placed(data, _parse_device(device)))
    if requires_grad:
        t.requires_grad_(True)
    if _recordings[0] and _trace.recorder is not None:  # (a tensor of the function's own)
        _trace.recorder.made(t)
    return t


def _np_dtype(dtype):
    return dtypes.to_numpy_dtype(dtype) if dtype is not None else dtypes.get_default_dtype().np


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a sequence of ints, got {size!r}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return tuple(int(s) for s in size)


def tensor(data, *, dtype=None, device=None, requires_grad=False):
    if isinstance(data, Tensor):
        data = data._data
    return _make(_to_array(data, dtype), dtype, device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data if device is None else data.to(device)
    if isinstance(data, np.ndarray) and data.dtype in dtypes._BY_NP and (
            dtype is None or dtypes.to_numpy_dtype(dtype) == data.dtype):
        return _make(contiguous(data), dtype, device, False)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(ndarray):
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype not in dtypes._BY_NP:  # shared memory must already be in a dtype we compute in
        dtypes.from_numpy_dtype(ndarray.dtype)  # raises for the kinds we cannot convert at all
        raise TypeError(
            f"can't share memory with a NumPy array of type {ndarray.dtype.str} ({ndarray.dtype}): from_numpy "
            "takes native-byte-order float64, float32, int64, int32 or bool arrays; copy and convert it with "
            "autotape.tensor(array) instead"
        )
    return _wrap(ndarray)  # shares memory, as in PyTorch


def _filled(fill, size, dtype, device, requires_grad):
    return _make(fill(_size(size), _np_dtype(dtype)), dtype, device, requires_grad)


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _filled(np.zeros, _sizes("zeros", sizes, size), dtype, device, requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _filled(np.ones, _sizes("ones", sizes, size), dtype, device, requires_grad)


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _filled(np.empty, _sizes("empty", sizes, size), dtype, device, requires_grad)


def _check_fill(name, fill_value):
    if not isinstance(fill_value, (bool, int, float, np.number)) and not (
            isinstance(fill_value, Tensor) and fill_value._data.ndim == 0):
        raise TypeError(f"{name}(): argument 'fill_value' (position 2) must be Number, not {type(fill_value).__name__}")


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    _check_fill("full", fill_value)
    if dtype is None:
        kind = "b" if isinstance(fill_value, bool) else "i" if isinstance(fill_value, int) else "f"
        dtype = {"b": dtypes.bool_, "i": dtypes.int64, "f": dtypes.get_default_dtype()}[kind]
    return _make(np.full(_size((size,) if isinstance(size, int) else size), fill_value, _np_dtype(dtype)),
                 dtype, device, requires_grad)


# -- Tensor.new_*: the dtype and device of ``self`` unless told otherwise; no gradient by default
def _new(self, data, dtype, device, requires_grad):
    return _make(data, dtype, self.device if device is None else device, requires_grad)


def _new_dtype(self, dtype):
    return self._data.dtype if dtype is None else dtypes.to_numpy_dtype(dtype)


def _sizes(name, sizes, size):
    """The shape given as ints, one sequence, or PyTorch's keyword ``size=``."""
    if size is not None:
        if sizes:
            raise TypeError(f"{name}() got multiple values for argument 'size'")
        sizes = (size,)
    return sizes


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    if isinstance(data, Tensor):
        import warnings

        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
                      "sourceTensor.detach().clone().requires_grad_(True), rather than "
                      "tensor.new_tensor(sourceTensor).", UserWarning, stacklevel=2)
    return _new(self, _to_array(data, self.dtype if dtype is None else dtype), dtype, device, requires_grad)


def new_zeros(self, *sizes, size=None, dtype=None, device=None, requires_grad=False):
    sizes = _sizes("new_zeros", sizes, size)
    if not sizes:
        raise TypeError('new_zeros() missing 1 required positional arguments: "size"')
    return _new(self, np.zeros(_size(sizes), _new_dtype(self, dtype)), dtype, device, requires_grad)


def new_ones(self, *sizes, size=None, dtype=None, device=None, requires_grad=False):
    sizes = _sizes("new_ones", sizes, size)
    if not sizes:
        raise TypeError('new_ones() missing 1 required positional arguments: "size"')
    return _new(self, np.ones(_size(sizes), _new_dtype(self, dtype)), dtype, device, requires_grad)


def new_empty(self, *sizes, size=None, dtype=None, device=None, requires_grad=False):
    sizes = _sizes("new_empty", sizes, size)
    if not sizes:
        raise TypeError('new_empty() missing 1 required positional arguments: "size"')
    return _new(self, np.empty(_size(sizes), _new_dtype(self, dtype)), dtype, device, requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"new_full(): argument 'size' (position 1) must be tuple of ints, not {type(size).__name__}")
    _check_fill("new_full", fill_value)
    return _new(self, np.full(_size(size), fill_value, _new_dtype(self, dtype)), dtype, device, requires_grad)


def _like(fill, input, dtype, device, requires_grad):
    np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else input._data.dtype
    # on input's device unless told otherwise, as in PyTorch
    return _make(fill(input._data.shape, np_dtype), dtype, input.device if device is None else device, requires_grad)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    return _like(np.zeros, input, dtype, device, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    return _like(np.ones, input, dtype, device, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False):
    return _like(np.empty, input, dtype, device, requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    return _like(lambda s, d: np.full(s, fill_value, d), input, dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    return _make(_random().random(_size(size)).astype(_np_dtype(dtype)), dtype, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    return _make(_random().standard_normal(_size(size)).astype(_np_dtype(dtype)), dtype, device, requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False):
    return rand(*input._data.shape, dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False):
    return randn(*input._data.shape, dtype=dtype or input.dtype, device=device or input.device,
                 requires_grad=requires_grad)


def randint(low, high=None, size=(), *, dtype=None, device=None):
    if high is None:
        low, high = 0, low
    return _make(_random().integers(low, high, size=_size(size)).astype(_np_dtype(dtype or dtypes.int64)),
                 dtype, device, False)


def randperm(n, *, dtype=None, device=None):
    return _make(_random().permutation(n).astype(_np_dtype(dtype or dtypes.int64)), dtype, device, False)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"upper bound and lower bound inconsistent with step sign: arange({start}, {end}, {step}) "
                           "would be empty; swap the bounds or negate the step")
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    np_dtype = dtypes.to_numpy_dtype(dtype)
    n = max(int(math.ceil((end - start) / step)), 0)
    data = (start + step * np.arange(n, dtype=np.float64)).astype(np_dtype)
    return _make(data, dtype, device, requires_grad)


@njit(cache=True, fastmath={"contract"})
def _linspace_into(out, index, start, end, step):
    # ATen's kernel: the first half counts up from start, the second down from end, each value one
    # fused multiply-add (ATen's build contracts it; "contract" makes LLVM do the same here)
    n = out.size
    half = n // 2
    for i in range(half):
        out[i] = start + step * index[i]
    for i in range(half, n):
        out[i] = end - step * index[n - i - 1]


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    np_dtype, steps = _np_dtype(dtype), int(steps)
    # PyTorch's values bit for bit (the tutorials' x): start, end and the step in the dtype (for
    # an integer dtype: the bounds truncated, the step and values in float64, truncated at the end)
    t = np_dtype.type if np_dtype.kind == "f" else np.float64
    first, last = t(float(start)), t(float(end))
    if np_dtype.kind != "f":
        first, last = t(math.trunc(first)), t(math.trunc(last))
    data = np.empty(steps, t)
    if steps == 1:
        data[0] = first
    elif steps > 1:
        _linspace_into(data, np.arange(steps, dtype=t), first, last, t((last - first) / t(steps - 1)))
    return _make(data.astype(np_dtype, copy=False), dtype, device, requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    for name, v in (("n", n), ("m", m)):
        if v is not None and v < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {v}")
    return _make(np.eye(n, m, dtype=_np_dtype(dtype)), dtype, device, requires_grad)
