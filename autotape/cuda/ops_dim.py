"""CUDA ops along dims, built from the reduction and window kernels: amax/amin/max/min (all,
or over dims, values only), softmax, log_softmax, logsumexp, slices (narrow, select, split,
chunk, unbind, ``x[i]``, ``x[a:b]``) and cat/stack. Each records one record; its VJP is a
few launches of the same kernels."""
import numpy as np

from ..grad_mode import is_grad_enabled
from ..tensor import _wrap
from . import kernels
from .array import CudaArray, empty
from .backward import CUDA_VJPS, current_tape


def _recording(*ts):
    return is_grad_enabled() and any(t._rg for t in ts)


def _kept(shape, dims):
    return tuple(1 if d in dims else s for d, s in enumerate(shape))


def _grad_target(grads, slot, shape, dtype):
    have = grads.get(slot)
    return (have, True) if have is not None else (empty(shape, dtype), False)


# -- max / min ------------------------------------------------------------------------------
def extreme(spec, input, dims, keepdim, op):
    """amax/amin/max()/min(): ``op`` "max" or "min" over ``dims``; ties share the gradient."""
    d = input._data
    kept = _kept(d.shape, dims)
    out_shape = kept if keepdim else tuple(s for i, s in enumerate(d.shape) if i not in dims)
    if d.dtype.kind != "f":  # (float64 holds these integers exactly below 2**53)
        y = kernels.sum_axes(kernels.cast(d, np.float64), dims, op=op)
        return _wrap(kernels.cast(y, d.dtype).reshape(out_shape))
    out = _wrap(kernels.sum_axes(d, dims, op=op).reshape(out_shape))
    if _recording(input):
        current_tape().record(spec, out, (input,), (input,), attrs=(dims, kept), save_output=True)
    return out


def _vjp_extreme(rec, g, grads):
    """As k_extreme: ties share the gradient; a NaN extreme gives amax/amin's row NaN, and
    max()/min()'s to the NaN elements."""
    dims, kept = rec.attrs
    x, y = rec.saved
    y, g = y.reshape(kept), g.reshape(kept)
    tie = "x == y or (y != y and x != x)" if rec.spec.name in ("max_all", "min_all") else "x == y"
    count = empty(kept, np.float64)  # how many elements tie for the extreme
    kernels.sum_axes(kernels.elementwise(f"1.0 if {tie} else 0.0", empty(x.shape, np.float64),
                                         [("x", x), ("y", y)], as_float=True), dims, out=count)
    target, acc = _grad_target(grads, rec.ins[0], x.shape, g.dtype)
    kernels.elementwise(f"math.nan if c == 0.0 else (g / c if {tie} else 0.0)", target,
                        [("g", g), ("c", count), ("x", x), ("y", y)], acc=acc, as_float=True)
    grads[rec.ins[0]] = target


for _name in ("amax", "amin", "max_all", "min_all", "norm_max", "norm_min"):
    CUDA_VJPS[_name] = _vjp_extreme


# -- softmax, log_softmax, logsumexp ---------------------------------------------------------
def _max_kept(x, dims):
    """The max over ``dims`` (kept as 1s), 0 where it is infinite (a row of -inf stays -inf)."""
    m = kernels.sum_axes(x, dims, op="max").reshape(_kept(x.shape, dims))
    return kernels.elementwise("x if abs(x) != math.inf else 0.0", empty(m.shape, m.dtype), [("x", m)],
                               as_float=True)


def _sum_exp_kept(x, m, dims):
    e = kernels.elementwise("math.exp(x - m)", empty(x.shape, np.float64), [("x", x), ("m", m)], as_float=True)
    return kernels.sum_axes(e, dims).reshape(m.shape)


def softmax(spec, input, axis, log):
    x = input._data
    dims = (axis,) if x.ndim else ()
    # shifted by the max itself (not 0 where it is infinite, as logsumexp): a row holding +inf,
    # or only -inf, is all NaN, as PyTorch's
    m = kernels.sum_axes(x, dims, op="max").reshape(_kept(x.shape, dims))
    s = _sum_exp_kept(x, m, dims)
    expr = "x - m - math.log(s)" if log else "math.exp(x - m) / s"
    out = _wrap(kernels.elementwise(expr, empty(x.shape, x.dtype), [("x", x), ("m", m), ("s", s)], as_float=True))
    if _recording(input):
        current_tape().record(spec, out, (input,), attrs=(dims, log), save_output=True)
    return out


def _vjp_softmax(rec, g, grads):
    dims, log = rec.attrs
    (y,) = rec.saved
    kept = _kept(y.shape, dims)
    target, acc = _grad_target(grads, rec.ins[0], y.shape, g.dtype)
    if log:  # g - exp(y) * sum(g)
        sg = kernels.sum_axes(g.reshape(y.shape), dims).reshape(kept)
        kernels.elementwise("g - math.exp(y) * s", target, [("g", g.reshape(y.shape)), ("y", y), ("s", sg)],
                            acc=acc, as_float=True)
    else:  # y * (g - sum(g * y))
        gy = kernels.elementwise("g * y", empty(y.shape, np.float64), [("g", g.reshape(y.shape)), ("y", y)],
                                 as_float=True)
        s = kernels.sum_axes(gy, dims).reshape(kept)
        kernels.elementwise("y * (g - s)", target, [("g", g.reshape(y.shape)), ("y", y), ("s", s)],
                            acc=acc, as_float=True)
    grads[rec.ins[0]] = target


CUDA_VJPS["softmax"] = CUDA_VJPS["log_softmax"] = _vjp_softmax


def logsumexp(spec, input, dims, keepdim):
    x = input._data
    kept = _kept(x.shape, dims)
    out_shape = kept if keepdim else tuple(s for i, s in enumerate(x.shape) if i not in dims)
    m = _max_kept(x, dims)
    s = _sum_exp_kept(x, m, dims)
    # (log(0) spelled out: -inf on a GPU, but the simulator's Python math raises)
    y = kernels.elementwise("m + (math.log(s) if s != 0.0 else -math.inf)", empty(kept, x.dtype),
                            [("m", m), ("s", s)], as_float=True)
    out = _wrap(y.reshape(out_shape))
    if _recording(input):
        current_tape().record(spec, out, (input,), (input,), attrs=(dims, kept), save_output=True)
    return out


def _vjp_logsumexp(rec, g, grads):
    dims, kept = rec.attrs
    x, y = rec.saved
    target, acc = _grad_target(grads, rec.ins[0], x.shape, g.dtype)
    kernels.elementwise("g * math.exp(x - y)", target, [("g", g.reshape(kept)), ("x", x), ("y", y.reshape(kept))],
                        acc=acc, as_float=True)
    grads[rec.ins[0]] = target


CUDA_VJPS["logsumexp"] = _vjp_logsumexp


# -- slices and joins ------------------------------------------------------------------------
def narrow(spec, x, dim, start, length, squeeze_dim):
    """``length`` elements of ``x`` from ``start`` along ``dim`` (a copy the CPU makes a view:
    ``copy_view``), the dim dropped for ``select``."""
    from .ops import copy_view

    part = kernels.window(x._data, dim, start, length)
    if squeeze_dim:
        part = part.reshape(x._data.shape[:dim] + x._data.shape[dim + 1:])
    out = copy_view(_wrap(part), x)
    if _recording(x):
        current_tape().record(spec, out, (x,), attrs=(dim, start, length))
    return out


def _vjp_narrow(rec, g, grads):
    dim, start, length = rec.attrs
    shape = rec.in_shapes[0]
    piece = list(shape)
    piece[dim] = length
    have = grads.get(rec.ins[0])
    if have is None:
        have = kernels.fill(empty(shape, g.dtype), 0.0)
        grads[rec.ins[0]] = have
    kernels.put_window(have, dim, start, g.reshape(piece), acc=True)


for _name in ("slice", "select", "split", "unbind"):
    CUDA_VJPS[_name] = _vjp_narrow


def join(spec, tensors, dim, stack):
    """cat (``stack`` False) or stack along ``dim``: each piece written into its window."""
    for t in tensors:
        if type(t._data) is not CudaArray:
            from .ops import mismatch

            raise mismatch("cuda:0", "cpu")
    datas = [t._data.reshape(t._data.shape[:dim] + (1,) + t._data.shape[dim:]) if stack else t._data
             for t in tensors]
    shape = list(datas[0].shape)
    shape[dim] = sum(d.shape[dim] for d in datas)
    for d in datas:
        if d.ndim != len(shape) or any(a != b for k, (a, b) in enumerate(zip(d.shape, shape)) if k != dim):
            raise RuntimeError(f"Sizes of tensors must match except in dimension {dim}; got shapes "
                               f"{[list(t._data.shape) for t in tensors]}")
    out_arr = empty(shape, datas[0].dtype)
    off, offsets = 0, []
    for d in datas:
        kernels.put_window(out_arr, dim, off, d)
        offsets.append(off)
        off += d.shape[dim]
    out = _wrap(out_arr)
    if _recording(*tensors):
        current_tape().record(spec, out, tuple(tensors),
                              attrs=(dim, tuple(offsets), tuple(d.shape[dim] for d in datas)))
    return out


def _vjp_join(rec, g, grads):
    dim, offsets, lengths = rec.attrs
    for slot, shape, off, n in zip(rec.ins, rec.in_shapes, offsets, lengths):
        if slot < 0:
            continue
        part = kernels.window(g.reshape(rec.out_shape), dim, off, n)
        have = grads.get(slot)
        if have is None:
            grads[slot] = part.reshape(shape)
        else:
            kernels.elementwise("x", have, [("x", part.reshape(have.shape))], acc=True)


CUDA_VJPS["cat"] = CUDA_VJPS["stack"] = _vjp_join


# -- norm, var, std --------------------------------------------------------------------------
def _out_shape(shape, dims, keepdim):
    return _kept(shape, dims) if keepdim else tuple(s for i, s in enumerate(shape) if i not in dims)


def norm(spec, input, dims, keepdim, p):
    x = input._data
    kept = _kept(x.shape, dims)
    # (p = 0: the number of nonzeros; p < 0: a zero's power is inf, the norm then 0)
    powered = kernels.elementwise("(x != 0.0) * 1.0 if a == 0.0 else (math.inf if (x == 0.0 and a < 0.0) else abs(x) ** a)",
                                  empty(x.shape, np.float64), [("x", x)], a=p, as_float=True)
    s = kernels.sum_axes(powered, dims).reshape(kept)
    y = kernels.elementwise("x ** a", empty(kept, x.dtype), [("x", s)], a=1.0 / p if p else 1.0, as_float=True)
    out = _wrap(y.reshape(_out_shape(x.shape, dims, keepdim)))
    if _recording(input):
        current_tape().record(spec, out, (input,), (input,), attrs=(p, kept), save_output=True)
    return out


def _vjp_norm(rec, g, grads):
    p, kept = rec.attrs
    x, y = rec.saved
    target, acc = _grad_target(grads, rec.ins[0], x.shape, g.dtype)
    kernels.elementwise(
        "0.0 if (a == 0.0 or y == 0.0 or x == 0.0) else g * (1.0 if x > 0.0 else -1.0) * (abs(x) / y) ** (a - 1.0)",
        target, [("g", g.reshape(kept)), ("x", x), ("y", y.reshape(kept))], a=p, acc=acc, as_float=True)
    grads[rec.ins[0]] = target


CUDA_VJPS["norm"] = _vjp_norm


def spread(spec, input, dims, keepdim, correction, std):
    """var (or std): the sum of squared deviations from the mean over ``dims``, over n - correction."""
    x = input._data
    kept = _kept(x.shape, dims)
    n = 1
    for d in dims:
        n *= x.shape[d]
    mean = kernels.sum_axes(x, dims, 1.0 / max(n, 1), out=empty(kept, np.float64)).reshape(kept)
    dof = n - correction
    sq = kernels.elementwise("(x - m) * (x - m)", empty(x.shape, np.float64), [("x", x), ("m", mean)], as_float=True)
    var = kernels.sum_axes(sq, dims, 1.0 / dof if dof > 0 else float("inf")).reshape(kept)
    y = kernels.elementwise("math.sqrt(x)" if std else "x", empty(kept, x.dtype), [("x", var)], as_float=True)
    out = _wrap(y.reshape(_out_shape(x.shape, dims, keepdim)))
    if _recording(input):
        current_tape().record(spec, out, (input,), (input,), attrs=(mean, dof, std, kept), save_output=True)
    return out


def _vjp_spread(rec, g, grads):
    mean, dof, std, kept = rec.attrs
    x, y = rec.saved
    target, acc = _grad_target(grads, rec.ins[0], x.shape, g.dtype)
    expr = "g * (x - m) / (a * y)" if std else "2.0 * g * (x - m) / a"
    kernels.elementwise(expr, target, [("g", g.reshape(kept)), ("x", x), ("m", mean), ("y", y.reshape(kept))],
                        a=float(dof), acc=acc, as_float=True)
    grads[rec.ins[0]] = target


CUDA_VJPS["var"] = CUDA_VJPS["std"] = _vjp_spread


# -- prod, cumsum, max(dim), min(dim) ------------------------------------------------------
def prod(spec, input, dims, keepdim):
    x = input._data
    kept = _kept(x.shape, dims)
    if x.dtype.kind != "f":
        y = kernels.sum_axes(kernels.cast(x, np.float64), dims, op="prod")
        return _wrap(kernels.cast(y, np.int64).reshape(_out_shape(x.shape, dims, keepdim)))
    out = _wrap(kernels.sum_axes(x, dims, op="prod").reshape(_out_shape(x.shape, dims, keepdim)))
    if _recording(input):
        current_tape().record(spec, out, (input,), (input,), attrs=(dims, kept), save_output=True)
    return out


def _vjp_prod(rec, g, grads):
    """The product of the other elements: y / x, or, at a zero, the product of the nonzero
    others when it is the only zero (0 otherwise)."""
    dims, kept = rec.attrs
    x, y = rec.saved
    zeros = kernels.sum_axes(kernels.elementwise("x == 0.0", empty(x.shape, np.float64), [("x", x)]), dims)
    nonzero = kernels.elementwise("1.0 if x == 0.0 else x", empty(x.shape, np.float64), [("x", x)], as_float=True)
    pnz = kernels.sum_axes(nonzero, dims, op="prod")
    target, acc = _grad_target(grads, rec.ins[0], x.shape, g.dtype)
    kernels.elementwise("g * (y / x if x != 0.0 else (p if z == 1.0 else 0.0))", target,
                        [("g", g.reshape(kept)), ("x", x), ("y", y.reshape(kept)), ("p", pnz.reshape(kept)),
                         ("z", zeros.reshape(kept))], acc=acc, as_float=True)
    grads[rec.ins[0]] = target


CUDA_VJPS["prod"] = CUDA_VJPS["prod_dim"] = _vjp_prod


def cumsum(spec, input, axis):
    x = input._data
    if x.ndim == 0:
        x = x.reshape(1)
    if x.dtype.kind != "f":
        return _wrap(kernels.cast(kernels.cumsum(kernels.cast(x, np.float64), axis), np.int64)
                     .reshape(input._data.shape))
    out = _wrap(kernels.cumsum(x, axis).reshape(input._data.shape))
    if _recording(input):
        current_tape().record(spec, out, (input,), attrs=(axis,))
    return out


def _vjp_cumsum(rec, g, grads):
    (axis,) = rec.attrs
    shape = rec.in_shapes[0] or (1,)
    rev = kernels.cumsum(g.reshape(shape), axis, reverse=True)  # each input adds into every later output
    have = grads.get(rec.ins[0])
    if have is None:
        grads[rec.ins[0]] = rev.reshape(rec.in_shapes[0])
    else:
        kernels.elementwise("x", have, [("x", rev.reshape(have.shape))], acc=True)


CUDA_VJPS["cumsum"] = _vjp_cumsum


def max_dim(spec, input, dim, keepdim, is_max):
    """``max(dim)``/``min(dim)``: (values, indices); the gradient goes to the index taken."""
    from ..ops.reduce import values_indices

    x = input._data
    if x.ndim == 0:
        x = x.reshape(1)
    val, idx = kernels.arg_extreme(x, dim, is_max)
    shape = x.shape[:dim] + ((1,) if keepdim else ()) + x.shape[dim + 1:]
    if input._data.ndim == 0:
        shape = ()
    values, indices = _wrap(val.reshape(shape)), _wrap(idx.reshape(shape))
    if x.dtype.kind == "f" and _recording(input):
        current_tape().record(spec, values, (input,), attrs=(dim, idx, x.shape))
    return values_indices(values, indices)


def _vjp_max_dim(rec, g, grads):
    dim, idx, shape = rec.attrs
    have = grads.get(rec.ins[0])
    if have is None:
        have = kernels.fill(empty(rec.in_shapes[0], g.dtype), 0.0)
        grads[rec.ins[0]] = have
    kernels.pick_add(have.reshape(shape), dim, g.reshape(idx.shape), idx)


CUDA_VJPS["max_dim"] = CUDA_VJPS["min_dim"] = _vjp_max_dim


# -- indexing with masks, integer arrays, steps, None -------------------------------------------
def _host_key(k):
    """An index key with its CUDA tensors copied to the host (a mask's positions are found there,
    as PyTorch also waits for a mask)."""
    from ..tensor import Tensor

    if isinstance(k, tuple):
        return tuple(_host_key(v) for v in k)
    if isinstance(k, Tensor):
        return k._data.host() if type(k._data) is CudaArray else k._data
    if isinstance(k, list):
        arr = np.asarray([_host_key(v) for v in k])
        return arr if arr.size else arr.astype(np.int64)
    return k


def _positions(x, key):
    """The flat positions ``key`` picks from ``x``, on the host, and whether the CPU's result
    would be a view (basic indexing: NumPy's result then shares the positions' memory)."""
    positions = np.arange(x.size, dtype=np.int64).reshape(x.shape)
    try:
        flat = positions[_host_key(key)]
    except IndexError as e:
        raise IndexError(f"{e} (tensor of shape {list(x.shape)})") from None
    return flat, bool(flat.size) and np.shares_memory(flat, positions)


def index(spec, input, key):
    """``x[key]`` for the keys that are not one int or one plain slice: the flat positions
    worked out on the host, then one gather kernel. Always a copy (``copy_view`` where the CPU
    would make a view)."""
    from .array import to_device

    flat, is_view = _positions(input._data, key)
    idx = to_device(np.ascontiguousarray(flat))
    out = _wrap(kernels.gather(input._data, idx))
    if is_view:
        from .ops import copy_view

        copy_view(out, input)
    if _recording(input):
        current_tape().record(spec, out, (input,), attrs=(idx,))
    return out


def setitem(input, key, value):
    """``x[key] = value`` on a CUDA tensor, written on the device: the positions found as
    ``index`` finds them, the value broadcast over them, one scatter kernel."""
    from ..tape import bump_inplace_epoch
    from ..tensor import Tensor
    from .array import to_device
    from .ops import broadcasts_to, check_no_stale_copy, mismatch

    if is_grad_enabled() and (input._rg or isinstance(value, Tensor) and value._rg):
        raise NotImplementedError(
            "x[key] = value on a CUDA tensor that requires grad (or with a value that does) is not implemented yet; "
            "build the result with torch.where(mask, value, x) or torch.cat, or assign under torch.no_grad()")
    check_no_stale_copy(input)
    x = input._data
    flat, _ = _positions(x, key)
    v = value._data if isinstance(value, Tensor) else value
    if type(v) is not CudaArray:
        if np.ndim(v):
            raise mismatch("cuda:0", "cpu")
        vals = kernels.fill(empty(flat.shape, x.dtype), float(np.asarray(v)))
    else:
        if not broadcasts_to(v.shape, flat.shape):
            raise RuntimeError(f"shape mismatch: value tensor of shape {list(v.shape)} cannot be broadcast to "
                               f"indexing result of shape {list(flat.shape)}")
        vals = kernels.expand(v if v.dtype == x.dtype else kernels.cast(v, x.dtype), flat.shape)
    kernels.scatter_set(x, to_device(np.ascontiguousarray(flat)), vals)
    input._vc[0] += 1
    bump_inplace_epoch()
    return input


def _vjp_index(rec, g, grads):
    (idx,) = rec.attrs
    have = grads.get(rec.ins[0])
    if have is None:
        have = kernels.fill(empty(rec.in_shapes[0], g.dtype), 0.0)
        grads[rec.ins[0]] = have
    kernels.scatter_add(have, idx, g)


for _name in ("index", "index_as_select", "index_as_slice", "index_as_unsqueeze", "index_as_alias"):
    CUDA_VJPS[_name] = _vjp_index


def all_any(input, dim, keepdim, is_all):
    """``all``/``any``: the min (max) of ``x != 0``, over ``dim`` or everything; not recorded."""
    x = input._data
    dims = tuple(range(x.ndim)) if dim is None else ((dim % max(x.ndim, 1),) if x.ndim else ())
    nz = kernels.elementwise("x != 0", empty(x.shape, np.float64), [("x", x)])
    y = kernels.sum_axes(nz, dims, op="min" if is_all else "max")
    shape = _out_shape(x.shape, dims, keepdim) if dim is not None else ()
    from .ops import taint

    return taint(_wrap(kernels.cast(y, np.bool_).reshape(shape)), input)


def argmax(input, dim, keepdim, is_max):
    x = input._data if dim is not None else input._data.reshape(-1)
    d = 0 if dim is None else dim % max(x.ndim, 1)
    _, idx = kernels.arg_extreme(x if x.ndim else x.reshape(1), d, is_max)
    shape = () if dim is None or x.ndim == 0 else x.shape[:d] + ((1,) if keepdim else ()) + x.shape[d + 1:]
    from .ops import taint

    return taint(_wrap(idx.reshape(shape)), input)
