"""The ops on CUDA tensors: each runs its kernels on the device and appends a record to the
thread's CUDA tape when an input requires grad. The CPU op functions hand a CUDA tensor over
to these with one type test (``type(x._data) is CudaArray``), after their own argument checks.

Shape ops: CUDA tensors are always contiguous, so ``reshape``/``view``/``unsqueeze``/
``squeeze``/``flatten`` are views (same device buffer) but slicing, ``select``, ``unbind``,
``split``, ``permute``/``transpose``, ``expand`` and basic indexing write a contiguous copy where
PyTorch returns a strided view. An in-place change of such a copy, or of what it was taken from,
while the other lives would leave the other stale: it raises instead (``copy_view``)."""
import math
import weakref

import numpy as np

from .. import dtypes
from ..grad_mode import is_grad_enabled
from ..ops import elementwise as ew
from ..ops.apply import broadcast_shape, check_inplace, share_storage
from ..ops.shape import EXPAND
from ..tape import bump_inplace_epoch
from ..tensor import Tensor, _recordings, _trace, _wrap
from . import kernels
from .array import CudaArray, empty, to_device
from .backward import CUDA_VJPS, current_tape


def _recording(*ts):
    return is_grad_enabled() and any(t is not None and t._rg for t in ts)


def taint(out, *inputs, made_by=None):
    """While ``autotape.compile`` records: ``out``, computed without a record, depends on a value
    that requires grad (a mask from a comparison), so a replay must not reuse it; or, made from
    constants by elementwise op ``made_by`` = (spec, attrs), the fused kernel can recompute it
    rather than read it (``x ** 2`` of a captured ``x``). See cuda/fuse.py."""
    rec = _trace.recorder
    if rec is None:
        return out
    if any(isinstance(t, Tensor) and (t._rg or id(t) in rec.tainted) for t in inputs):
        rec.tainted.add(id(out))
        rec.keep.append(out)
    elif made_by is not None:
        if not hasattr(rec, "cuda_made"):
            rec.cuda_made = {}
        rec.cuda_made[id(out)] = made_by + (inputs,)
        rec.keep.append(out)  # (so that its id is not reused while recording)
    return out


def mismatch(*devices):
    return RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                        f"{devices[0]} and {devices[1]}!")


def on_device(x, like):
    """``x`` (a Tensor, number or list) as a CUDA tensor beside CUDA tensor ``like``: a CPU tensor
    must be 0-d (PyTorch passes those to CUDA kernels as numbers), anything else raises."""
    if isinstance(x, Tensor):
        if type(x._data) is CudaArray:
            return x
        if x._data.ndim:
            raise mismatch("cuda:0", "cpu")
        return x.cuda()  # (recorded when x requires grad: its gradient goes back to the CPU)
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"unsupported operand: expected a Tensor or a number, got {type(x).__name__}")
    if arr.ndim:
        raise TypeError("a list operand beside a CUDA tensor: make it a tensor on the device first "
                        "(autotape.tensor(..., device='cuda'))")
    if like is not None and not isinstance(x, np.ndarray):
        arr = arr.astype(dtypes.result_type(_like(like._data), x), copy=False)
    elif arr.dtype.kind == "f":
        arr = arr.astype(dtypes.get_default_dtype().np)
    return _wrap(to_device(arr))


def _like(d):
    """A NumPy stand-in of ``d``'s dtype and rank (what ``dtypes.result_type`` reads)."""
    return np.empty((0,) if d.ndim else (), d.dtype)


def _float(x):
    d = x._data
    if d.dtype.kind != "f":
        return _wrap(kernels.cast(d, dtypes.get_default_dtype().np))
    return x


# -- elementwise ------------------------------------------------------------------------------
def unary(spec, x, a=0.0, b=0.0):
    if spec.fwd is None:
        raise NotImplementedError(f"{spec.name} is not implemented on CUDA yet")
    x = _float(x)
    d = x._data
    out = _wrap(kernels.elementwise(spec.fwd, empty(d.shape, d.dtype), [("x", d)], a, b, as_float=True))
    if x._rg and is_grad_enabled():
        current_tape().record(spec, out, (x,), (x,) if spec.value_inputs[0] else (), (a, b), spec.uses_output)
    elif _recordings[0] and _trace.recorder is not None:
        taint(out, x, made_by=(spec, (a, b)))
    return out


def _promoted(x1, x2):
    if not isinstance(x1, Tensor) or type(x1._data) is not CudaArray:
        x1 = on_device(x1, x2 if isinstance(x2, Tensor) else None)
    if not isinstance(x2, Tensor) or type(x2._data) is not CudaArray:
        x2 = on_device(x2, x1)
    d1, d2 = x1._data, x2._data
    if d1.dtype != d2.dtype:
        rt = dtypes.result_type(_like(d1), _like(d2))
        x1 = x1 if d1.dtype == rt else cast(x1, rt)
        x2 = x2 if d2.dtype == rt else cast(x2, rt)
    return x1, x2


def binary(spec, x1, x2):
    if spec.fwd is None:
        raise NotImplementedError(f"{spec.name} is not implemented on CUDA yet")
    x1, x2 = _promoted(x1, x2)
    d1, d2 = x1._data, x2._data
    shape = broadcast_shape(d1.shape, d2.shape)
    out = _wrap(kernels.elementwise(spec.fwd, empty(shape, d1.dtype), [("x1", d1), ("x2", d2)],
                                    as_float=d1.dtype.kind == "f"))
    if _recording(x1, x2):
        saved = tuple(t for t, v in zip((x1, x2), spec.value_inputs) if v)
        current_tape().record(spec, out, (x1, x2), saved, (0.0, 0.0), spec.uses_output)
    elif _recordings[0] and _trace.recorder is not None:
        taint(out, x1, x2, made_by=(spec, (0.0, 0.0)))
    return out


def where(cond, x1, x2, spec=ew.WHERE):
    if not isinstance(x1, Tensor) or type(x1._data) is not CudaArray:
        x1 = on_device(x1, x2 if isinstance(x2, Tensor) else None)
    x1, x2 = _promoted(x1, x2)
    c = cond._data if isinstance(cond, Tensor) else None
    if type(c) is not CudaArray:
        raise mismatch("cuda:0", "cpu")
    if c.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {c.dtype}")
    d1, d2 = x1._data, x2._data
    shape = broadcast_shape(broadcast_shape(c.shape, d1.shape), d2.shape)
    cf = taint(_wrap(kernels.cast(c, d1.dtype)), cond)  # the condition read as a value of the result's dtype
    out = _wrap(kernels.elementwise(ew.WHERE.fwd, empty(shape, d1.dtype), [("c", cf._data), ("x1", d1), ("x2", d2)],
                                    as_float=True))
    if _recording(x1, x2):
        current_tape().record(spec, out, (cf, x1, x2), (cf,), (0.0, 0.0))
    return taint(out, cf, x1, x2) if _recordings[0] and _trace.recorder is not None and not out._rg else out


_COMPARE = {"equal": "x1 == x2", "not_equal": "x1 != x2", "less": "x1 < x2", "less_equal": "x1 <= x2",
            "greater": "x1 > x2", "greater_equal": "x1 >= x2"}


def compare(name, x1, x2):
    """A comparison: a bool tensor, not recorded."""
    x1, x2 = _promoted(x1, x2)
    d1, d2 = x1._data, x2._data
    shape = broadcast_shape(d1.shape, d2.shape)
    return taint(_wrap(kernels.elementwise(_COMPARE[name], empty(shape, np.bool_), [("x1", d1), ("x2", d2)])), x1, x2)


def cast(x, np_dtype):
    out = _wrap(kernels.cast(x._data, np.dtype(np_dtype)))
    if x._rg and np.dtype(np_dtype).kind == "f" and is_grad_enabled():
        current_tape().record(ew.TO_COPY, out, (x,), attrs=(x._data.dtype,))
    elif _recordings[0] and _trace.recorder is not None:
        taint(out, x)
    return out


def _vjp_to_copy(rec, g, grads):
    _add_into(grads, rec.ins[0], g, rec.in_shapes[0], rec.attrs[0])


def _add_into(grads, slot, g, shape, dtype):
    """Add ``g`` (already of ``shape``'s size) into the gradient of ``slot``."""
    have = grads.get(slot)
    if have is None:
        grads[slot] = g.reshape(shape) if g.dtype == dtype else kernels.cast(g, dtype).reshape(shape)
    else:
        kernels.elementwise("x", have, [("x", g.reshape(have.shape))], acc=True)


CUDA_VJPS["to_copy"] = _vjp_to_copy


# -- reductions -------------------------------------------------------------------------------
def _reduced(input, dims, keepdim):
    shape = input._data.shape
    kept = tuple(1 if d in dims else s for d, s in enumerate(shape))
    return kept, (kept if keepdim else tuple(s for d, s in enumerate(shape) if d not in dims))


def sum(spec, input, dims, keepdim, scale):
    """sum or mean (``scale`` 1/count) over ``dims`` (normalized, sorted)."""
    d = input._data
    kept, out_shape = _reduced(input, dims, keepdim)
    if d.dtype.kind in "biu":
        y = kernels.sum_axes(kernels.cast(d, np.float64), dims)  # (float64 sums: exact below 2**53)
        return _wrap(kernels.cast(y, np.int64).reshape(out_shape))
    out = _wrap(kernels.sum_axes(d, dims, scale).reshape(out_shape))
    if input._rg and is_grad_enabled():
        current_tape().record(spec, out, (input,), attrs=(scale, kept))
    return out


def _vjp_sum(rec, g, grads):
    scale, kept = rec.attrs
    slot, shape = rec.ins[0], rec.in_shapes[0]
    have = grads.get(slot)
    target = have if have is not None else empty(shape, g.dtype)
    kernels.elementwise("x * a", target, [("x", g.reshape(kept))], a=scale, acc=have is not None)
    grads[slot] = target


for _name in ("sum", "sum_dim", "mean", "mean_dim"):
    CUDA_VJPS[_name] = _vjp_sum


# -- shapes -----------------------------------------------------------------------------------
def copy_view(out, base):
    """``out``, a copy of part of ``base`` that the CPU makes a view of: it joins ``base``'s
    storage group as a view does (one version counter), and the counter carries weak references
    to the group's tensors, which ``check_no_stale_copy`` reads before a write in place."""
    vc = base._vc
    if len(vc) < 3:
        if len(vc) == 1:
            vc.append(True)  # (the CPU's mark of shared storage)
        vc.append([weakref.ref(base)])
    members = vc[2]
    if len(members) > 32:  # the dead ones go now and then
        members[:] = [r for r in members if r() is not None]
    members.append(weakref.ref(out))
    out._vc = vc
    return out


def check_no_stale_copy(t):
    """Before ``t`` is written in place: no live tensor of its storage group has a buffer of its own."""
    vc = t._vc
    if len(vc) < 3:
        return
    buf = t._data.a
    for r in vc[2]:
        m = r()
        if m is not None and m is not t and type(m._data) is CudaArray and m._data.a is not buf:
            raise RuntimeError(
                "in-place operation on a CUDA tensor that is, or has, a view made by slicing, indexing, select, "
                "unbind, split, transpose/permute or expand: on CUDA such a view is a copy, so the change would not "
                f"show through the other tensor of shape {list(m._data.shape)} as it does on the CPU. Make the change "
                "out of place (torch.where, torch.cat), or .clone() the view before changing it.")


def view(spec, x, data):
    """A reshape of ``x`` (``data``: its CudaArray reshaped): shares the device buffer."""
    out = _wrap(data)
    share_storage(out, x)
    if len(x._vc) > 2:  # a member of a group with copies: the writes above must see it
        x._vc[2].append(weakref.ref(out))
    if _recording(x):
        current_tape().record(spec, out, (x,))
    return out


def _vjp_view(rec, g, grads):
    _add_into(grads, rec.ins[0], g, rec.in_shapes[0], g.dtype)


for _name in ("view", "reshape", "reshape_alias", "unsqueeze", "squeeze", "squeeze_dim", "squeeze_dims", "repeat"):
    CUDA_VJPS[_name] = _vjp_view


def permute(spec, x, perm):
    out = copy_view(_wrap(kernels.permute(x._data, perm)), x)
    if _recording(x):
        current_tape().record(spec, out, (x,), attrs=(tuple(perm),))
    return out


def _vjp_permute(rec, g, grads):
    perm = rec.attrs[0]
    inverse = tuple(perm.index(d) for d in range(len(perm)))
    _add_into(grads, rec.ins[0], kernels.permute(g.reshape(rec.out_shape), inverse), rec.in_shapes[0], g.dtype)


CUDA_VJPS["permute"] = CUDA_VJPS["transpose"] = CUDA_VJPS["t"] = _vjp_permute


def expand(spec, x, shape, padded):
    if any(p != s and p != 1 for p, s in zip(padded, shape)):
        raise RuntimeError(f"The expanded size of the tensor ({list(shape)}) must match the existing size "
                           f"({list(x._data.shape)}) at non-singleton dimensions")
    out = copy_view(_wrap(kernels.expand(x._data, shape)), x)
    if _recording(x):
        current_tape().record(spec, out, (x,))
    return out


def _vjp_expand(rec, g, grads):
    slot, shape = rec.ins[0], rec.in_shapes[0]
    have = grads.get(slot)
    if have is None:
        grads[slot] = kernels.sum_to_shape(g.reshape(rec.out_shape), shape)
    else:
        kernels.sum_to_shape(g.reshape(rec.out_shape), shape, out=have, acc=True)


CUDA_VJPS["expand"] = _vjp_expand


# -- matmul -----------------------------------------------------------------------------------
def matmul(input, other):
    from ..ops import linalg

    for t in (input, other):
        if not isinstance(t, Tensor):
            raise TypeError(f"matmul(): argument must be Tensor, not {type(t).__name__}")
    if type(input._data) is not CudaArray or type(other._data) is not CudaArray:
        raise mismatch("cuda:0", "cpu")
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D")
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {input.dtype.name} != "
                           f"{other.dtype.name}; convert one with .to(dtype)")
    m = 1 if a.ndim == 1 else a.shape[-2]
    k = a.shape[-1]
    kb, n = (b.shape[0], 1) if b.ndim == 1 else (b.shape[-2], b.shape[-1])
    if k != kb:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {kb}x{n})")
    batch = broadcast_shape(a.shape[:-2], b.shape[:-2])
    nb, na, nbb = math.prod(batch), math.prod(a.shape[:-2]), math.prod(b.shape[:-2])
    if na not in (1, nb):  # batch dims broadcast partly: expand to the full batch first
        input = expand(EXPAND, input, batch + a.shape[-2:], (1,) * (len(batch) + 2 - a.ndim) + a.shape)
        a, na = input._data, nb
    if nbb not in (1, nb):
        other = expand(EXPAND, other, batch + b.shape[-2:], (1,) * (len(batch) + 2 - b.ndim) + b.shape)
        b, nbb = other._data, nb
    out_shape = batch + (() if a.ndim == 1 else (m,)) + (() if b.ndim == 1 else (n,))
    c = empty((nb, m, n), a.dtype)
    sa = (m * k if na > 1 else 0, k, 1)
    sb = (k * n if nbb > 1 else 0, n, 1)
    kernels.matmul(a, b, c, nb, m, k, n, sa, sb)
    out = _wrap(c.reshape(out_shape))
    if _recording(input, other):
        if a.ndim == b.ndim == 1:
            spec = linalg.DOT
        elif a.ndim <= 2 and b.ndim <= 2:
            spec = linalg.MM if b.ndim == 2 else linalg.MV
        else:
            spec = linalg.BMM
        current_tape().record(spec, out, (input, other), (input, other), attrs=(nb, na, nbb, m, k, n))
    return out


def _vjp_matmul(rec, g, grads):
    nb, na, nbb, m, k, n = rec.attrs
    a, b = rec.saved
    for pos, (slot, shape) in enumerate(zip(rec.ins, rec.in_shapes)):
        if slot < 0:
            continue
        have = grads.get(slot)
        shared = (na if pos == 0 else nbb) == 1 and nb > 1  # one matrix used by every batch
        if pos == 0:  # dA = dC @ B^T: (M, N) @ (N, K)
            dst = empty((nb, m, k), g.dtype) if shared or have is None else have
            kernels.matmul(g, b, dst, nb, m, n, k, (m * n, n, 1), (k * n if nbb > 1 else 0, 1, n),
                           acc=have is not None and not shared)
        else:  # dB = A^T @ dC: (K, M) @ (M, N)
            dst = empty((nb, k, n), g.dtype) if shared or have is None else have
            kernels.matmul(a, g, dst, nb, k, m, n, (m * k if na > 1 else 0, 1, k), (m * n, n, 1),
                           acc=have is not None and not shared)
        if shared:
            red = kernels.sum_axes(dst, [0])
            if have is None:
                grads[slot] = red.reshape(shape)
            else:
                kernels.elementwise("x", have, [("x", red.reshape(have.shape))], acc=True)
        else:
            grads[slot] = dst.reshape(shape)


for _name in ("mm", "mv", "dot", "bmm"):
    CUDA_VJPS[_name] = _vjp_matmul


def linear(spec, input, weight, bias):
    """``x @ w.T + b`` (x (m, k), w (n, k), b (n,)) as one record of ``spec``, as on the CPU
    (ops/linalg.py)."""
    x, w, b = input._data, weight._data, bias._data  # (all CUDA arrays, 2-D, 2-D, 1-D, of one dtype)
    (m, k), n = x.shape, w.shape[0]
    y = empty((m, n), x.dtype)
    kernels.matmul(x, w, y, 1, m, k, n, (0, k, 1), (0, 1, k))  # w read as its transpose (k, n)
    kernels.elementwise("x1 + x2", y, [("x1", y), ("x2", b)])
    out = _wrap(y)
    if _recording(input, weight, bias):
        saved = (input, weight) if spec.uses else ()
        current_tape().record(spec, out, (input, weight, bias), saved, attrs=(m, k, n))
    return out


def _vjp_linear(rec, g, grads):
    m, k, n = rec.attrs
    x, w = rec.saved or (None, None)  # (nothing saved where only the bias needs a gradient)
    sx, sw, sb = rec.ins
    if sx >= 0:  # dx = dy @ w: (m, n) @ (n, k)
        have = grads.get(sx)
        dst = empty((m, k), g.dtype) if have is None else have
        kernels.matmul(g, w, dst, 1, m, n, k, (0, n, 1), (0, k, 1), acc=have is not None)
        grads[sx] = dst
    if sw >= 0:  # dw = dy.T @ x: (n, m) @ (m, k)
        have = grads.get(sw)
        dst = empty((n, k), g.dtype) if have is None else have
        kernels.matmul(g, x, dst, 1, n, m, k, (0, 1, n), (0, k, 1), acc=have is not None)
        grads[sw] = dst
    if sb >= 0:  # db = the column sums of dy
        have = grads.get(sb)
        if have is None:
            grads[sb] = kernels.sum_to_shape(g.reshape((m, n)), (n,))
        else:
            kernels.sum_to_shape(g.reshape((m, n)), (n,), out=have, acc=True)


CUDA_VJPS["linear"] = _vjp_linear


# -- in place ---------------------------------------------------------------------------------
def inplace(fn, self, args, kwargs):
    """``x.op_(...)`` on a CUDA tensor: the op out of place, then written into x's buffer."""
    check_no_stale_copy(self)
    if is_grad_enabled() and (self._rg or any(isinstance(a, Tensor) and a._rg for a in args)):
        check_inplace(self)
        if len(self._vc) > 1:
            raise RuntimeError("an in-place operation that is recorded for autograd on a view, or on a tensor "
                               "that has views, is not supported by autotape yet; make the change out of place")
        result = fn(self.clone(), *args, **kwargs)  # the record reads the clone, not the overwritten buffer
        _write(self, result)
        self._tape, self._slot, self._rg = result._tape, result._slot, True
    elif not _direct(fn.__name__, self, args, kwargs):
        result = fn(self, *args, **kwargs)
        _write(self, result)
    return self


_DIRECT = {"add": (ew.ADD, ew.ADD_SCALAR), "sub": (ew.SUB, ew.SUB_SCALAR), "mul": (ew.MUL, ew.MUL_SCALAR),
           "div": (ew.DIV, ew.DIV_SCALAR)}


def _direct(name, t, args, kwargs):
    """``t += other`` (- * /) with nothing to record, written straight into t's buffer (the
    optimizer's update by hand: one launch, not an op and a copy). False when it does not apply."""
    specs = _DIRECT.get(name)
    d = t._data
    if specs is None or kwargs or len(args) != 1 or d.dtype.kind != "f":
        return False
    other = args[0]
    if isinstance(other, (int, float)) and not isinstance(other, bool):
        kernels.elementwise(specs[1].fwd, d, [("x", d)], a=float(other), as_float=True)
    elif isinstance(other, Tensor) and type(other._data) is CudaArray \
            and broadcast_shape(d.shape, other._data.shape) == tuple(d.shape):
        kernels.elementwise(specs[0].fwd, d, [("x1", d), ("x2", other._data)], as_float=True)
    else:
        return False
    t._vc[0] += 1
    bump_inplace_epoch()
    return True


def _write(t, result):
    d, r = t._data, result._data
    if r.shape != d.shape:
        raise RuntimeError(f"output with shape {list(d.shape)} doesn't match the broadcast shape {list(r.shape)}")
    if type(r) is not CudaArray:
        raise mismatch("cuda:0", "cpu")
    kernels.elementwise("x", d, [("x", r)])
    t._vc[0] += 1
    bump_inplace_epoch()


def broadcasts_to(shape, target):
    """Whether an array of ``shape`` broadcasts to ``target`` (a write's source to its destination)."""
    try:
        return broadcast_shape(shape, target) == tuple(target)
    except RuntimeError:
        return False


def fill_(t, value):
    check_inplace(t)
    check_no_stale_copy(t)
    if t._tape is not None:
        raise NotImplementedError("fill_/zero_ of a CUDA tensor that has a grad_fn is not implemented yet")
    v = value.item() if isinstance(value, Tensor) else value
    kernels.fill(t._data, float(v))
    t._vc[0] += 1
    bump_inplace_epoch()
    return t


def copy_(t, src):
    """``t.copy_(src)`` with either side on the device (a host side is copied across)."""
    check_inplace(t)
    if type(t._data) is CudaArray:
        check_no_stale_copy(t)
    if isinstance(src, Tensor) and src._rg and is_grad_enabled() or t._tape is not None:
        raise NotImplementedError("a recorded copy_ is not implemented on CUDA yet")
    s = src._data if isinstance(src, Tensor) else np.asarray(src)
    d = t._data
    if type(d) is CudaArray:
        s = s if type(s) is CudaArray else to_device(np.asarray(s))
        if not broadcasts_to(s.shape, d.shape):
            raise RuntimeError(f"copy_: the source of shape {list(s.shape)} cannot be broadcast to {list(d.shape)}")
        kernels.elementwise("x", d, [("x", s)])
    else:
        np.copyto(d, np.broadcast_to(s.host(), d.shape), casting="unsafe")
    t._vc[0] += 1
    bump_inplace_epoch()
    return t


from .ops_dim import (  # noqa: E402,F401  (the CPU ops hand over to these)
    all_any, argmax, cumsum, extreme, index, join, logsumexp, max_dim, narrow, norm, prod, setitem, softmax,
    spread,
)
