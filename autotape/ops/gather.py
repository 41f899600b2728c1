"""Selection by index tensors: gather, index_select, masked_fill, sort, argsort, topk. Each is
an indexing (its gradient scattered back) with indices NumPy computes, recorded as an alias of
``index`` or of ``where``, named as PyTorch's node (``table.alias``: the same kernels)."""
import numpy as np

from ..autograd.node import composite
from ..tensor import Tensor, _dim, _wrap
from .elementwise import WHERE
from .pointwise import where
from .shape import INDEX, indexed
from .table import alias

GATHER = alias(INDEX, "GatherBackward0")
INDEX_SELECT = alias(INDEX, "IndexSelectBackward0")
SORT = alias(INDEX, "SortBackward0")
TOPK = alias(INDEX, "TopkBackward0")
MASKED_FILL = alias(WHERE, "MaskedFillBackward0")


def _host(t):
    """A tensor's values as a NumPy array (a CUDA tensor's copied over)."""
    return t._data if type(t._data) is np.ndarray else t.detach().cpu()._data


def _index_array(name, index):
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}")
    data = _host(index)
    if data.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): Expected dtype int64 for index, got {index.dtype}; convert it with .long()")
    return data


def _out_of_range(data, size):
    """The first index of ``data`` outside [0, size), or None (PyTorch takes no negative ones here)."""
    if data.size and (data.min() < 0 or data.max() >= size):
        return data.min() if data.min() < 0 else data.max()
    return None


def gather(input, dim, index, *, sparse_grad=False):
    """``out[i][j] = input[index[i][j]][j]`` (dim 0), as PyTorch's gather: ``index`` has
    ``input``'s number of dims and is no larger than it on the other dims."""
    return _gathered(GATHER, input, dim, index)


def _gathered(spec, input, dim, index):
    idx = _index_array("gather", index)
    shape = input._data.shape
    d = _dim(dim, max(len(shape), 1))
    if idx.ndim != len(shape):
        raise RuntimeError("gather(): Index tensor must have the same number of dimensions as input tensor")
    for k, (n, m) in enumerate(zip(idx.shape, shape)):
        if k != d and n > m:
            raise RuntimeError(f"gather(): Size does not match at dimension {k}: expected index {list(idx.shape)} "
                               f"to be no larger than self {list(shape)} apart from dimension {d}")
    bad = _out_of_range(idx, shape[d] if shape else 1)
    if bad is not None:
        raise RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {shape[d] if shape else 1}")
    if not shape:
        return input.clone()
    key = tuple(idx if k == d else np.arange(n).reshape([-1 if j == k else 1 for j in range(idx.ndim)])
                for k, n in enumerate(idx.shape))
    return indexed(input, key, spec)


def take_along_dim(input, indices, dim=None):
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    return gather(input, dim, indices)


def index_select(input, dim, index):
    """The entries of ``index`` (1-D) along ``dim``."""
    idx = _index_array("index_select", index)
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    shape = input._data.shape
    d = _dim(dim, max(len(shape), 1))
    if _out_of_range(idx, shape[d] if shape else 1) is not None:
        raise IndexError("index out of range in self")
    if not shape:
        return input.clone()
    return indexed(input, (slice(None),) * d + (idx.reshape(-1),), INDEX_SELECT)


def masked_fill(input, mask, value):
    """``value`` where ``mask`` (bool, broadcast to ``input``'s shape) is True, else ``input``."""
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype {got}")
    if isinstance(value, Tensor) and value._data.ndim:
        raise RuntimeError("masked_fill only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value._data.ndim} dimension(s).")
    if not isinstance(value, Tensor):  # (PyTorch's grad_fn then lists the input alone)
        return composite(where(mask, _wrap(np.asarray(value, input._data.dtype)), input, _spec=MASKED_FILL), input)
    return composite(where(mask, value, input, _spec=MASKED_FILL), input, value)


def _sorted_indices(data, dim, descending):
    """The stable sorting order along ``dim``, NaN counted as the largest (as PyTorch's)."""
    if descending:  # negated keys (ties keep their order), NaN as -inf, then NaN moved before a real -inf
        keyed = np.where(np.isnan(data), -np.inf, -data) if data.dtype.kind == "f" else -data.astype(np.int64)
        order = np.argsort(keyed, axis=dim, kind="stable")
        if data.dtype.kind == "f":
            nan_first = np.argsort(~np.isnan(np.take_along_axis(data, order, dim)), axis=dim, kind="stable")
            order = np.take_along_axis(order, nan_first, dim)
        return order
    return np.argsort(data, axis=dim, kind="stable")  # (NumPy puts NaN last)


class _Sorted(tuple):
    """(values, indices), also by name, as PyTorch's sort and topk return them."""

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


def sort(input, dim=-1, descending=False, stable=False):
    """(values, indices) along ``dim``; always stable here (PyTorch's default may order ties
    differently, its ``stable=True`` does not); NaN counts as the largest, as in PyTorch."""
    data = _host(input)
    if not data.ndim:
        return _Sorted((input.clone(), _wrap(np.zeros((), np.int64))))
    d = _dim(dim, data.ndim)
    order = _sorted_indices(data, d, descending)
    return _Sorted((_gathered(SORT, input, d, _wrap(order)), _wrap(order)))


def argsort(input, dim=-1, descending=False, stable=False):
    return sort(input, dim, descending, stable)[1]


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) entries along ``dim``, in order, and where they were."""
    data = _host(input)
    d = _dim(dim, max(data.ndim, 1))
    size = data.shape[d] if data.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"selected index k out of range (k = {k}, size of dim {d} = {size})")
    if not data.ndim:
        return _Sorted((input.clone(), _wrap(np.zeros((), np.int64))))
    order = np.take(_sorted_indices(data, d, largest), np.arange(k), axis=d)
    return _Sorted((_gathered(TOPK, input, d, _wrap(order)), _wrap(order)))
