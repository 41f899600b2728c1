"""dtype objects named as PyTorch names them, mapped onto NumPy dtypes, and promotion."""
import numpy as np

from .cuda.array import CudaArray


class dtype:
    """A PyTorch-style dtype: prints as ``torch.float32`` does, wraps a NumPy dtype."""

    __slots__ = ("name", "np", "is_floating_point", "itemsize")

    def __init__(self, name, np_dtype, is_floating_point):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = is_floating_point
        self.itemsize = self.np.itemsize

    def __repr__(self):
        return "autotape." + self.name

    def __reduce__(self):
        return (from_numpy_dtype, (self.np.str,))


float32 = dtype("float32", np.float32, True)
float64 = dtype("float64", np.float64, True)
int64 = dtype("int64", np.int64, False)
int32 = dtype("int32", np.int32, False)
bool_ = dtype("bool", np.bool_, False)
ALL = (float32, float64, int64, int32, bool_)
_BY_NP = {d.np: d for d in ALL}


_default = [float32]


def get_default_dtype():
    return _default[0]


def set_default_dtype(d):
    if not (isinstance(d, dtype) and d.is_floating_point):
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default[0] = d


def from_numpy_dtype(np_dtype):
    d = np.dtype(np_dtype)
    found = _BY_NP.get(d)
    if found is not None:
        return found
    if d.kind == "f":
        return float64 if d.itemsize > 4 else float32
    if d.kind in "iu":
        return int64
    raise TypeError(f"can't convert NumPy array of type {d}: only float32, float64, int64, int32 and bool are supported")


def to_numpy_dtype(d):
    """Accept an autotape dtype, a NumPy dtype, or Python's float/int/bool."""
    if d is None:
        return None
    if isinstance(d, dtype):
        return d.np
    if d is float:
        return float64.np
    if d is int:
        return int64.np
    if d is bool:
        return bool_.np
    try:
        return from_numpy_dtype(d).np
    except TypeError:
        raise TypeError(f"dtype must be an autotape dtype such as autotape.float32, got {d!r}") from None


_RANK = {"b": 0, "i": 1, "u": 1, "f": 2}


def result_type(a, b):
    """PyTorch promotion for two operands, each an ndarray (a tensor) or a Python scalar.

    PyTorch's rule, not NumPy's: categories rank bool < integer < float; a dimensioned tensor
    outranks a 0-d one, which outranks a Python number. The operand of the higher category
    decides when it also has the higher rank (or the same), else the lower-ranked one's
    category wins: float32 tensor + int64 tensor is float32, int tensor * 2.5 is the default
    float dtype, int32 tensor % 0-d int64 tensor stays int32.
    """
    a_arr = isinstance(a, (np.ndarray, CudaArray))
    b_arr = isinstance(b, (np.ndarray, CudaArray))
    if a_arr and b_arr:
        da, db = a.dtype, b.dtype
        if da == db:
            return da
        ca, cb = _RANK.get(da.kind, 3), _RANK.get(db.kind, 3)  # (other kinds are refused later)
        if (a.ndim > 0) != (b.ndim > 0) or ca != cb:
            # one operand decides: the higher category, or the same one at a higher rank
            if ca == cb:
                return da if a.ndim > 0 else db
            return da if ca > cb else db
        return np.promote_types(da, db)
    arr, scalar = (a, b) if a_arr else (b, a)
    d = arr.dtype
    if isinstance(scalar, bool):
        return d
    if isinstance(scalar, (int, np.integer)):
        return d if d.kind != "b" else int64.np
    if d.kind == "f":
        return d
    return _default[0].np
