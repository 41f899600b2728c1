"""Shape ops and indexing. Views share their base's version counter, as in PyTorch, so an
in-place change through a view is seen by the records that saved the base."""
import math

import numpy as np

from .. import dtypes
from ..grad_mode import _state as _grad_state
from ..tensor import Tensor, _dim, _recordings, _trace, _wrap, contiguous, note_unrecorded, note_write
from ..cuda.array import CudaArray
from .apply import _array, _recording, check_inplace, cuda_ops, share_storage
from ..tape import ZERO_INTS, bump_inplace_epoch, current_tape
from . import elementwise as ew
from .table import defop

EXPAND = defop("expand", "ExpandBackward0", "kernel", "k_expand", uses=())
PERMUTE = defop("permute", "PermuteBackward0", "kernel", "k_permute", uses=())
TRANSPOSE = defop("transpose", "TransposeBackward0", "kernel", "k_permute", uses=())
T = defop("t", "TBackward0", "kernel", "k_permute", uses=())
SLICE = defop("slice", "SliceBackward0", "kernel", "k_narrow", uses=())
SELECT = defop("select", "SelectBackward0", "kernel", "k_narrow", uses=())
SPLIT = defop("split", "SplitBackward0", "kernel", "k_narrow", uses=())
UNBIND = defop("unbind", "UnbindBackward0", "kernel", "k_narrow", uses=())
CAT = defop("cat", "CatBackward0", "kernel", "k_cat_piece", uses=())
STACK = defop("stack", "StackBackward0", "kernel", "k_stack", uses=())  # five pieces a record
INDEX = defop("index", "IndexBackward0", "kernel", "k_gather", uses=())
# x[key] for a key of ints, slices, None and ...: one gather, named as PyTorch's last step
INDEX_AS = {kind: defop(f"index_as_{kind.lower()}", f"{kind}Backward0", "kernel", "k_gather", uses=())
            for kind in ("Select", "Slice", "Unsqueeze", "Alias")}


def _view(spec, x, data, ints=ZERO_INTS, copy_spec=None, is_view=False):
    """A result sharing ``x``'s memory when NumPy could make it a view (else recorded as
    ``copy_spec``, where given); ``is_view``: the caller knows it is one."""
    if type(data) is CudaArray:
        return cuda_ops().view(spec, x, data)
    out = _wrap(data)
    # (may_share_memory, a bounds check, is exact here: a view overlaps its base, a copy doesn't)
    if is_view or (np.may_share_memory(data, x._data) if data.size and x._data.size else False):
        share_storage(out, x)
    elif copy_spec is not None and data.size:
        spec = copy_spec
    if x._rg and _grad_state.enabled:
        current_tape().record1(spec, out, x, ints)
    else:
        note_unrecorded(out, x)
    return out


def _numpy_axis(name, dim, axis, unset=None):
    """``dim``, or NumPy's ``axis=`` that PyTorch's parser takes for it (one of the two)."""
    if axis is not None:
        if dim is not unset:
            raise TypeError(f"{name}() got an unexpected keyword argument 'axis'")
        return axis
    if dim is None and unset is None:
        raise TypeError(f'{name}() missing 1 required positional arguments: "dim"')
    return dim


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(map(int, shape))


def reshape(input, *shapes, shape=None):
    return _reshaped(input, _shape_arg(shapes if shape is None else (shape,)))


def _reshaped(input, shape):
    """``input`` reshaped to ``shape`` (a tuple of ints)."""
    try:
        data = input._data.reshape(shape)
    except ValueError:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {input._data.size}") from None
    if input._data.flags.c_contiguous:  # (NumPy reshapes C-contiguous memory without a copy)
        return _view(ew.VIEW, input, data, is_view=type(data) is np.ndarray)
    return _view(ew.RESHAPE_ALIAS, input, data, copy_spec=ew.RESHAPE)


def view(input, *shape, size=None):
    shape = shape if size is None else (size,)
    if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
        raise NotImplementedError("view(dtype) is not supported; use .to(dtype)")
    shape = _shape_arg(shape)
    if not input._data.flags.c_contiguous and input._data.size > 1:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one dimension spans "
            "across two contiguous subspaces). Use .reshape(...) instead."
        )
    try:
        data = input._data.reshape(shape)
    except ValueError:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {input._data.size}") from None
    return _view(ew.VIEW, input, data)


def flatten(input, start_dim=0, end_dim=-1):
    shape = input._data.shape
    if not shape:
        return reshape(input, 1)
    s, e = _dim(start_dim, len(shape)), _dim(end_dim, len(shape))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input  # (PyTorch's: itself, no new record)
    new = shape[:s] + (math.prod(shape[s: e + 1]),) + shape[e + 1:]
    return _reshaped(input, new)


def unsqueeze(input, dim=None, *, axis=None):
    if dim is None:
        dim = _numpy_axis("unsqueeze", dim, axis)
    d = _dim(dim, input._data.ndim + 1)
    return _view(ew.UNSQUEEZE, input, input._data[(slice(None),) * d + (None,)])  # np.expand_dims: 4 us


def squeeze(input, dim=None, *, axis=None):
    if axis is not None:
        dim = _numpy_axis("squeeze", dim, axis)
    shape = input._data.shape
    if dim is None:
        spec, dims = ew.SQUEEZE, tuple(d for d, s in enumerate(shape) if s == 1)
    else:
        spec = ew.SQUEEZE_DIMS if isinstance(dim, (tuple, list)) else ew.SQUEEZE_DIM
        dims = tuple(_dim(d, len(shape)) for d in (dim if isinstance(dim, (tuple, list)) else (dim,)))
        dims = tuple(d for d in dims if shape and shape[d] == 1)
    if not dims:
        return _view(spec, input, input._data.view())
    return _view(spec, input, np.squeeze(input._data, axis=dims))


def repeat(input, *repeats):
    """PyTorch's ``x.repeat``: tiles of ``x`` along each dim (leading repeats add dims): an expand
    of ``x`` viewed as (1, s0, 1, s1, ...) to (r0, s0, r1, s1, ...), copied as (r0 * s0, ...)."""
    if not repeats:
        raise TypeError('repeat() missing 1 required positional arguments: "repeats"')
    if len(repeats) == 1 and isinstance(repeats[0], (tuple, list)):
        repeats = tuple(repeats[0])
    if not all(type(r) is int or isinstance(r, np.integer) for r in repeats):
        raise TypeError(f"repeat(): argument 'repeats' must be tuple of ints, but got {repeats}")
    repeats = tuple(map(int, repeats))
    shape = input._data.shape
    if len(repeats) < len(shape):
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    pad = (1,) * (len(repeats) - len(shape)) + tuple(shape)
    out = tuple(r * s for r, s in zip(repeats, pad))
    if min(repeats) < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(out)}: {list(out)}")
    tiles = expand(reshape(input, tuple(v for s in pad for v in (1, s))),
                   tuple(v for r, s in zip(repeats, pad) for v in (r, s)))
    data = tiles._data.reshape(out)
    if type(data) is not CudaArray and np.may_share_memory(data, input._data):
        data = data.copy()  # (all repeats 1: a copy still, as PyTorch's)
    return _view(ew.REPEAT, tiles, data)


def _permuted(spec, input, perm):
    if type(input._data) is CudaArray:
        return cuda_ops().permute(spec, input, perm)
    data = input._data.transpose(perm)
    out = _wrap(data)
    share_storage(out, input)
    if _recording(input):
        tape = current_tape()
        tape.record1(spec, out, input, (tape.shape_id(tuple(perm)), 0, 0, 0))
    else:
        note_unrecorded(out, input)
    return out


def permute(input, *perm, dims=None):
    if not perm and dims is None:
        raise TypeError('permute() missing 1 required positional arguments: "dims"')
    dims = _shape_arg(perm if dims is None else (dims,))
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() = {nd} "
                           f"is not equal to len(dims) = {len(dims)}")
    perm = tuple(_dim(d, nd) for d in dims)
    if sorted(perm) != list(range(nd)):
        raise RuntimeError(f"permute(): dims {dims} are not a permutation of the tensor's {nd} dims")
    return _permuted(PERMUTE, input, perm)


def transpose(input, dim0, dim1):
    nd = input._data.ndim
    if nd == 0:
        return _view(ew.VIEW, input, input._data.view())
    perm = list(range(nd))
    a, b = _dim(dim0, nd), _dim(dim1, nd)
    perm[a], perm[b] = perm[b], perm[a]
    return _permuted(TRANSPOSE, input, tuple(perm))


swapaxes = swapdims = transpose


def t(input):
    if input._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input._data.ndim}D")
    return _permuted(T, input, (1, 0)) if input._data.ndim == 2 else input


def expand(input, *sizes, size=None, materialize=False):
    sizes = _shape_arg(sizes if size is None else (size,))
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand(): the number of sizes provided ({len(sizes)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({len(shape)})"
        )
    pad = (1,) * (len(sizes) - len(shape)) + shape
    target = tuple(p if s == -1 else s for s, p in zip(sizes, pad))
    if type(input._data) is CudaArray:
        return cuda_ops().expand(EXPAND, input, target, pad)
    try:
        data = np.broadcast_to(input._data, target)
    except ValueError:
        raise RuntimeError(
            f"The expanded size of the tensor ({list(target)}) must match the existing size ({list(shape)}) "
            "at non-singleton dimensions"
        ) from None
    if materialize:
        data = contiguous(data)
    out = _wrap(data)
    if _recording(input):
        current_tape().record1(EXPAND, out, input)
    else:
        note_unrecorded(out, input)
    return out


def expand_as(input, other):
    return expand(input, other._data.shape)


def broadcast_to(input, size):
    return expand(input, size)


def _narrow(spec, x, dim, start, length, squeeze_dim=False):
    if type(x._data) is CudaArray:
        return cuda_ops().narrow(spec, x, dim, start, length, squeeze_dim)
    shape = x._data.shape
    index = (slice(None),) * dim + ((start if squeeze_dim else slice(start, start + length)), Ellipsis)
    out = _wrap(x._data[index])
    share_storage(out, x)
    if x._rg and _grad_state.enabled:
        outer = math.prod(shape[:dim])
        current_tape().record1(spec, out, x, (outer, shape[dim], start, length))
    else:
        note_unrecorded(out, x)
    return out


def narrow(input, dim, start, length):
    if input._data.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = _dim(dim, input._data.ndim)
    n = input._data.shape[d]
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    start = start % n if start < 0 else start
    if length < 0 or start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return _narrow(SLICE, input, d, start, length)


def select(input, dim, index):
    if input._data.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor; use .item() for its value")
    d = _dim(dim, input._data.ndim)
    n = input._data.shape[d]
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of bounds for dimension {d} with size {n}")
    return _narrow(SELECT, input, d, index % n, 1, squeeze_dim=True)


def unbind(input, dim=0):
    """The slices along ``dim``, as views; one setup for all of them (iterating a tensor, as
    ``[*x]`` and ``sum(x)`` do, comes here)."""
    data = input._data
    if data.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = _dim(dim, data.ndim)
    if type(data) is CudaArray:
        return tuple(cuda_ops().narrow(UNBIND, input, d, i, 1, True) for i in range(data.shape[d]))
    if d == 0:  # (iterating a tensor)
        outs = [_wrap(data[i, ...]) for i in range(data.shape[0])]
    else:
        lead = (slice(None),) * d
        outs = [_wrap(data[lead + (i, Ellipsis)]) for i in range(data.shape[d])]
    vc = input._vc  # (share_storage, once for all)
    if len(vc) == 1:
        vc.append(True)
    for out in outs:
        out._vc = vc
    if input._rg and _grad_state.enabled:
        current_tape().record_slices(UNBIND, outs, input, math.prod(data.shape[:d]) if d else 1, data.shape[d])
    else:
        for out in outs:
            note_unrecorded(out, input)
    return tuple(outs)


def split(tensor, split_size_or_sections, dim=0):
    if tensor._data.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = _dim(dim, tensor._data.ndim)
    n = tensor._data.shape[d]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise RuntimeError("split expects split_size be non-negative, but got split_size=0")
        sizes = [min(split_size_or_sections, n - s) for s in range(0, n, split_size_or_sections)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension "
                f"{d}), but got split_sizes={sizes}"
            )
    starts = np.cumsum([0] + sizes[:-1])
    return tuple(_narrow(SPLIT, tensor, d, int(s), int(k)) for s, k in zip(starts, sizes))


def flip(input, *dims):
    """``input`` reversed along each of ``dims``: one gather per dim, whose gradient scatters back."""
    if not dims:
        raise TypeError('flip() missing 1 required positional arguments: "dims"')
    dims = _shape_arg(dims)
    axes = [_dim(d, input._data.ndim) for d in dims]
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"dim {axes[0]} appears multiple times in the list of dims")
    out = input
    for d in axes:
        reverse = _wrap(np.arange(input._data.shape[d] - 1, -1, -1, dtype=np.int64))
        out = getitem(out, (slice(None),) * d + (reverse,))
    return out


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if input._data.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    n = input._data.shape[_dim(dim, input._data.ndim)]
    return split(input, max(-(-n // chunks), 1), dim)


def _join(spec, tensors, data, sizes, d):
    out = _wrap(data)
    if any(t._rg for t in tensors) and _recording(*tensors):
        tape = current_tape()
        outer = math.prod(data.shape[:d])
        total, off = data.shape[d], 0
        for t, k in zip(tensors, sizes):
            if t._rg:
                tape.record1(spec, out, t, (outer, total, off, k))
            elif _recordings[0] and _trace.recorder is not None:  # its piece of ``out`` is a constant of the replay
                _trace.recorder.baked(t)
            off += k
    else:
        note_unrecorded(out, *tensors)
    return out


def _same_dtype(tensors, op):
    """``tensors`` (a list) as Tensors of one dtype: PyTorch's promotion of them."""
    if not tensors:  # (PyTorch's two errors)
        if op == "stack":
            raise RuntimeError("stack expects a non-empty TensorList")
        raise ValueError(f"torch.{op}(): expected a non-empty list of Tensors")
    if isinstance(tensors[0], Tensor):  # the common case, in one loop
        rt = tensors[0]._data.dtype
        for t in tensors:
            if not isinstance(t, Tensor) or t._data.dtype != rt:
                break
        else:
            return tensors
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {k} in argument 0, but got {type(t).__name__}")
    rt = tensors[0]._data.dtype
    if all(t._data.dtype == rt for t in tensors):
        return tensors
    for t in tensors[1:]:
        rt = dtypes.result_type(np.empty(1, rt), t._data.reshape(-1)[:1] if t._data.ndim else np.empty(1, t._data.dtype))
    return [t if t._data.dtype == rt else t.to(dtypes.from_numpy_dtype(rt)) for t in tensors]


def _tensor_list(tensors, op):
    if type(tensors) is list:
        return tensors  # (never changed in place: ``_same_dtype`` makes a new list to promote)
    if type(tensors) is not tuple:
        raise TypeError(f"{op}(): argument 'tensors' (position 1) must be tuple of Tensors, not "
                        f"{type(tensors).__name__}")
    return list(tensors)


def stack(tensors, dim=0, *, axis=None):
    if axis is not None:
        dim = _numpy_axis("stack", dim, axis, unset=0)
    tensors = _same_dtype(_tensor_list(tensors, "stack"), "stack")
    datas = [t._data for t in tensors]
    shape = datas[0].shape
    rg = False
    for t in tensors:
        if t._data.shape != shape:
            k = next(k for k, a in enumerate(datas) if a.shape != shape)
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 and "
                f"{list(datas[k].shape)} at entry {k}"
            )
        rg = rg or t._rg
    d = _dim(dim, len(shape) + 1)
    if type(datas[0]) is CudaArray:
        return cuda_ops().join(STACK, tensors, d, True)
    # scalars: np.array builds the vector several times faster than np.stack
    out = _wrap(np.stack(datas, axis=d) if shape else np.array(datas))
    if not (rg and _grad_state.enabled):
        note_unrecorded(out, *tensors)
        return out
    tape, outer = current_tape(), math.prod(shape[:d]) if d else 1
    for first in range(0, len(tensors), 5):
        tape.record_pieces(STACK, out, tensors[first: first + 5], first, outer)
    if _recordings[0] and _trace.recorder is not None:
        for t in tensors:
            if not t._rg:  # its piece of ``out`` is a constant of the replay
                _trace.recorder.baked(t)
    return out


def cat(tensors, dim=0, *, axis=None):
    if axis is not None:
        dim = _numpy_axis("cat", dim, axis, unset=0)
    tensors = _tensor_list(tensors, "cat")
    tensors = [t for t in _same_dtype(tensors, "cat") if t._data.shape != (0,)] or tensors[:1]
    nd = tensors[0]._data.ndim
    if nd == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = _dim(dim, nd)
    if type(tensors[0]._data) is CudaArray:
        return cuda_ops().join(CAT, tensors, d, False)
    try:
        data = np.concatenate([t._data for t in tensors], axis=d)
    except ValueError:
        shapes = [list(t._data.shape) for t in tensors]
        raise RuntimeError(f"Sizes of tensors must match except in dimension {d}; got shapes {shapes}") from None
    return _join(CAT, tensors, data=data, sizes=[t._data.shape[d] for t in tensors], d=d)


concat = concatenate = cat


def _index_key(key):
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    if isinstance(key, slice) and key.step is not None and key.step <= 0:
        raise ValueError(f"step must be greater than zero (slice with step {key.step}): PyTorch has no negative "
                         "steps; reverse with x.flip(dim) instead")
    if isinstance(key, Tensor):
        if _recordings[0] and _trace.recorder is not None:
            _trace.recorder.on_read(key, "an index tensor")
        return key._data
    if isinstance(key, list):
        arr = np.asarray([_index_key(k) for k in key])
        return arr if arr.size else arr.astype(np.int64)  # x[[]]: an empty integer index, not a float one
    return key


def _index_spec(key):
    """INDEX for a key with a tensor, list or bool; else PyTorch's last step that changes anything
    (it skips a ``:`` within a tuple, and ``...``)."""
    kind = "Alias"
    for k in key if isinstance(key, tuple) else (key,):
        if k is None:
            kind = "Unsqueeze"
        elif type(k) is int:
            kind = "Select"
        elif type(k) is slice:
            kind = kind if k == slice(None) else "Slice"
        elif k is not Ellipsis:
            return INDEX
    return INDEX_AS[kind]


def getitem(input, key):
    data = input._data
    if isinstance(key, int) and not isinstance(key, bool) and data.ndim:
        return select(input, 0, key)
    if isinstance(key, slice) and key.step in (None, 1) and data.ndim:
        start, stop, _ = key.indices(data.shape[0])
        return _narrow(SLICE, input, 0, start, max(stop - start, 0))
    if type(data) is CudaArray:
        return cuda_ops().index(_index_spec(key), input, key)
    return indexed(input, _index_key(key), _index_spec(key))


def indexed(input, npkey, spec):
    """``input[npkey]`` (a key of NumPy values), recorded as ``spec`` (INDEX or an alias)."""
    data = input._data
    if type(data) is CudaArray:
        return cuda_ops().index(spec, input, npkey)
    try:
        y = data[npkey]
    except IndexError as e:
        raise IndexError(f"{e} (tensor of shape {list(data.shape)})") from None
    y = _array(y)
    shared = np.shares_memory(y, data) if y.size else False
    if not shared and not y.flags.c_contiguous:
        y = np.ascontiguousarray(y)  # NumPy may lay a gathered copy out in F order; PyTorch's is contiguous
    out = _wrap(y)
    if shared:
        share_storage(out, input)
    if _recording(input):
        flat_index = contiguous(np.arange(data.size, dtype=np.int64).reshape(data.shape)[npkey])
        tape = current_tape()
        tape.record1(spec, out, input, (tape.const_slot(flat_index), 0, 0, 0))
    else:
        note_unrecorded(out, input)
    return out


def _set(data, key, v):
    """``data[key] = v``, with PyTorch's error where the value's shape doesn't fit."""
    try:
        data[key] = v
    except ValueError:
        try:
            target = list(data[key].shape)
        except (IndexError, ValueError):
            raise
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(np.shape(v))} cannot be broadcast to "
                           f"indexing result of shape {target}") from None


def setitem(input, key, value):
    """``x[key] = value`` in place. Gradients flow to the kept part of ``x``, not into ``value``."""
    check_inplace(input)
    if type(input._data) is CudaArray:
        return cuda_ops().setitem(input, key, value)
    v = value._data if isinstance(value, Tensor) else value
    if isinstance(value, Tensor) and value._rg and _recording(value):
        raise NotImplementedError(
            "x[key] = value with a value that requires grad is not supported yet; build the result with "
            "autotape.where(mask, value, x) or autotape.cat instead"
        )
    if _recording(input):
        from .pointwise import where

        mask = np.zeros(input._data.shape, dtype=bool)
        mask[_index_key(key)] = True
        filled = input._data.copy()
        _set(filled, _index_key(key), v)
        result = where(_wrap(mask), _wrap(filled), input)
        from .apply import assign_inplace

        return assign_inplace(input, result)
    _set(input._data, _index_key(key), v)
    input._vc[0] += 1
    bump_inplace_epoch()
    note_write(input)
    return input
