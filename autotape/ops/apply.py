"""How an op runs on tensors: Python values made tensors, dtypes promoted and shapes broadcast as
PyTorch does, the NumPy forward, and the one record on the thread's tape when an input
requires grad; plus the rules of in-place ops (leaves, read-only memory, shared storage)."""
import struct

import numpy as np

from .. import dtypes
from ..grad_mode import _state as _grad_state, is_grad_enabled
from ..tape import _local, bump_inplace_epoch, current_tape
from ..tensor import Tensor, _recordings, _trace, _wrap, note_write
from ..cuda.array import CudaArray
from . import elementwise as ew

_cuda_ops = None


def cuda_ops():
    """``autotape.cuda.ops``, imported when the first CUDA tensor meets an op."""
    global _cuda_ops
    if _cuda_ops is None:
        from ..cuda import ops as _cuda_ops
    return _cuda_ops


def as_tensor_arg(x, like=None):
    """A Tensor for ``x`` (a Tensor, number, list or array) for use beside tensor ``like``."""
    if isinstance(x, Tensor):
        return x
    if like is not None and type(like._data) is CudaArray:
        return cuda_ops().on_device(x, like)
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"unsupported operand: expected a Tensor or a number, got {type(x).__name__}")
    if like is not None and arr.dtype.kind in "fiub" and not isinstance(x, np.ndarray):
        arr = arr.astype(dtypes.result_type(like._data, x if np.ndim(x) == 0 else arr), copy=False)
    elif arr.dtype.kind == "f" and not isinstance(x, np.ndarray):
        arr = arr.astype(dtypes.get_default_dtype().np)
    return _wrap(arr)


_ndarray = np.ndarray
_MUL = ew.MUL


def _recording(*tensors):
    if not _grad_state.enabled:
        return False
    for t in tensors:
        if t is not None and t._rg:
            return True
    return False


def _array(y):
    return y if type(y) is np.ndarray else np.asarray(y)


def _float_data(x):
    d = x._data
    return d if d.dtype.kind == "f" else d.astype(dtypes.get_default_dtype().np)


def not_tensor(name, x):
    """PyTorch's TypeError for a function given a Python value where it takes a tensor."""
    return TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")


_F32 = struct.Struct("f")
_F32_MAX = 3.4028234663852886e38
_as_float32 = {}  # number -> the float32 nearest to it: the few attributes a program uses


def float32_of(v):
    """Python float ``v`` as float32 holds it (struct's round trip costs a third of NumPy's)."""
    if not v:
        return v  # (zeros first: 0.0 and -0.0 are one key)
    r = _as_float32.get(v)
    if r is None:
        try:
            r = _F32.unpack(_F32.pack(v))[0]
        except OverflowError:  # finite but beyond float32: NumPy makes it inf
            with np.errstate(over="ignore"):
                r = float(np.float32(v))
        if len(_as_float32) < 256:
            _as_float32[v] = r
    return r


def one_element(y, d):
    """``y``, an op's result on the one element of ``d`` in Python floats (or None: declined),
    as an array of ``d``'s dtype and shape. None where float32 would overflow: NumPy's path then
    warns as it always does."""
    if y is None or (d.itemsize == 4 and not -_F32_MAX <= y <= _F32_MAX and y == y):
        return None
    out = np.array(y, d.dtype)
    return out.reshape(d.shape) if d.ndim else out


def _unary_one(fn, d, a, b):
    """``fn`` (an op's ``scalar``) on the one element of ``d`` with attributes ``a``, ``b`` in
    ``d``'s dtype, as ``one_element`` makes it (``one_element`` inlined: the tutorials' update
    ``lr * p.grad`` comes here for every parameter)."""
    try:
        if d.itemsize == 4:
            y = fn(d.item(), float32_of(a), float32_of(b) if b else b)
            if y is None or (not -_F32_MAX <= y <= _F32_MAX and y == y):
                return None
        else:
            y = fn(d.item(), a, b)
            if y is None:
                return None
    except (ArithmeticError, ValueError):  # (a division by zero, a math domain error): NumPy's path
        return None
    out = np.array(y, d.dtype)
    return out.reshape(d.shape) if d.ndim else out


def unary(spec, x, a=0.0, b=0.0):
    """Apply an elementwise one-input op (float result), recording it if ``x`` requires grad."""
    try:
        d = x._data
        if d.dtype.kind != "f":
            d = d.astype(dtypes.get_default_dtype().np)
    except AttributeError:  # (a try costs nothing until it raises)
        raise not_tensor(spec.name, x) from None
    if type(d) is CudaArray:
        return cuda_ops().unary(spec, x, a, b)
    y = _unary_one(spec.scalar, d, a, b) if d.size == 1 and spec.scalar is not None else None
    if y is None:
        y = spec.forward(d, a, b)
        if type(y) is not _ndarray:
            y = np.asarray(y)
    out = _wrap(y)
    if x._rg and _grad_state.enabled:
        ref = _local.tape  # (current_tape, its common case inlined)
        tape = ref() if ref is not None else None
        (current_tape() if tape is None else tape).record_ew1(spec, out, x, a, b)
    elif _recordings[0] and _trace.recorder is not None:
        _trace.recorder.derived(out, x, op=(spec, a, b))
    return out


def cast(x, np_dtype):
    if type(x._data) is CudaArray:
        return cuda_ops().cast(x, np_dtype)
    out = _wrap(x._data.astype(np_dtype))
    if x._rg and np_dtype.kind == "f" and is_grad_enabled():
        current_tape().record_ew1(ew.TO_COPY, out, x)
    elif _recordings[0] and _trace.recorder is not None:
        _trace.recorder.derived(out, x, op=(ew.TO_COPY, 0.0, 0.0))
    return out


def promote(x, np_dtype):
    return x if x._data.dtype == np_dtype else cast(x, np_dtype)


def broadcast_shape(s1, s2):
    """NumPy's broadcast of two shapes, in plain Python (``np.broadcast_shapes`` costs 4 us),
    with PyTorch's error naming both shapes."""
    if s1 == s2:
        return tuple(s1)
    n1, n2 = len(s1), len(s2)
    out = []
    for k in range(max(n1, n2), 0, -1):
        d1 = s1[n1 - k] if k <= n1 else 1
        d2 = s2[n2 - k] if k <= n2 else 1
        if d1 != d2 and d1 != 1 and d2 != 1:
            raise RuntimeError(
                f"The size of tensor a ({d1}) must match the size of tensor b ({d2}) at non-singleton "
                f"dimension {max(n1, n2) - k} (shapes {list(s1)} and {list(s2)})"
            )
        out.append(d2 if d1 == 1 else d1)
    return tuple(out)


def expand_for(x, shape, size):
    """``x`` broadcast to ``shape`` as a real array, when the elementwise loop can't stride it
    (the replay handles inputs of the output's size or of size 1 directly)."""
    n = x._data.size
    if n == size or n == 1:
        return x
    from .shape import expand

    return expand(x, shape, materialize=True)


def _forward2_error(spec, d1, d2, e):
    """Raise PyTorch's error for a two-input forward that NumPy refused with ``e``."""
    if isinstance(e, ValueError):
        broadcast_shape(d1.shape, d2.shape)
    elif spec is ew.SUB and d1.dtype.kind == "b":
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
                           "or `logical_xor()` operator instead.") from None


def binary(spec, x1, x2):
    """Apply an elementwise two-input op, promoting dtypes and broadcasting as PyTorch does."""
    if not isinstance(x1, Tensor):
        x1 = as_tensor_arg(x1, x2)
    if not isinstance(x2, Tensor):
        x2 = as_tensor_arg(x2, x1)
    d1, d2 = x1._data, x2._data
    if type(d1) is not _ndarray or type(d2) is not _ndarray or d1.dtype is not d2.dtype:  # (CUDA, mixed dtypes)
        if type(d1) is CudaArray or type(d2) is CudaArray:
            return cuda_ops().binary(spec, x1, x2)
        if d1.dtype != d2.dtype:
            rt = dtypes.result_type(d1, d2)
            x1, x2 = promote(x1, rt), promote(x2, rt)
            d1, d2 = x1._data, x2._data
    y = None
    if not d1.ndim and not d2.ndim and spec.scalar is not None and d1.dtype.kind == "f":
        try:  # two scalars: in Python floats
            y = one_element(spec.scalar(d1.item(), d2.item()), d1)
        except ArithmeticError:
            pass
    if y is None:
        try:
            y = spec.forward(d1, d2)
        except (ValueError, TypeError) as e:
            _forward2_error(spec, d1, d2, e)
            raise
        if type(y) is not _ndarray:
            y = np.asarray(y)
        n = y.size
        n1, n2 = d1.size, d2.size
        if ((n1 != n and n1 != 1) or (n2 != n and n2 != 1)) and (x1._rg or x2._rg) and _grad_state.enabled:
            # (replay reads inputs of the output's size, or of size 1 at stride 0)
            x1, x2 = expand_for(x1, y.shape, n), expand_for(x2, y.shape, n)
    out = _wrap(y)
    if (x1._rg or x2._rg) and _grad_state.enabled:
        ref = _local.tape  # (current_tape, its common case inlined)
        tape = ref() if ref is not None else None
        if tape is None:
            tape = current_tape()
        if spec is _MUL:  # its VJP reads each input only for the other's gradient: saved only where
            # that one requires grad, as PyTorch saves them (weights * data keeps no copy of the weight)
            tape.record_ew2(spec, out, x1, x2, x2._rg, x1._rg)
        else:
            v = spec.value_inputs
            tape.record_ew2(spec, out, x1, x2, v[0], v[1])
    elif _recordings[0] and _trace.recorder is not None:
        _trace.recorder.derived(out, x1, x2, op=(spec, 0.0, 0.0))
    return out


def check_inplace(t):
    """PyTorch's rule: no in-place change to a leaf that requires grad while grad is on; and no
    write into read-only memory (an expanded view, a read-only NumPy array)."""
    if t._rg and t._tape is None and is_grad_enabled():
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation. "
            "Wrap the update in `with torch.no_grad():` (or use .data)."
        )
    if not t._data.flags.writeable:
        raise RuntimeError(
            "unsupported operation: this tensor's memory is read-only (more than one element may refer to a "
            "single memory location, as after expand(), or it wraps a read-only NumPy array). Please clone() "
            "the tensor before performing the operation."
        )


def share_storage(view, base):
    """``view`` reads ``base``'s memory: they share one version counter, marked as shared."""
    vc = base._vc
    if len(vc) == 1:
        vc.append(True)
    view._vc = vc


def assign_inplace(t, result):
    """Make ``t`` hold ``result`` (a Tensor): same buffer, new version, and the result's history."""
    check_inplace(t)
    if result._tape is None and t._tape is not None and is_grad_enabled():
        # a value that needs no grad replaces one with a history (zero_, fill_, copy_ of a constant):
        # the history is cut, as in PyTorch. Record where(False, t, value): the value's numbers,
        # still requiring grad, with a zero gradient to t's old history.
        from .pointwise import where

        if result._data.shape != t._data.shape:
            raise RuntimeError(
                f"output with shape {list(t._data.shape)} doesn't match the broadcast shape "
                f"{list(result._data.shape)}"
            )
        if result._data.dtype != t._data.dtype:
            result = _wrap(result._data.astype(t._data.dtype))
        result = where(_wrap(np.zeros(t._data.shape, dtype=bool)), t, result)
    if result._tape is not None and len(t._vc) > 1:
        # the other tensors on this memory would keep their old history: wrong gradients
        raise RuntimeError(
            "an in-place operation that is recorded for autograd on a view, or on a tensor that has views, "
            "is not supported by autotape yet (the views' gradients would be wrong). Make the change out of "
            "place (h = h * 10, torch.cat, torch.where), or .clone() the tensor before viewing it."
        )
    if result._data.shape != t._data.shape:
        raise RuntimeError(
            f"output with shape {list(t._data.shape)} doesn't match the broadcast shape {list(result._data.shape)}"
        )
    np.copyto(t._data, result._data, casting="unsafe")
    t._vc[0] += 1
    bump_inplace_epoch()
    note_write(t)
    if result._tape is not None:
        t._tape, t._slot, t._rg = result._tape, result._slot, True
    return t
