"""Tensor: a NumPy array plus what autograd needs (requires_grad, grad, its slot on a tape)."""
import math
import threading

import numpy as np

from . import dtypes
from .grad_mode import _state as _grad_state, is_grad_enabled
from .tape import bump_inplace_epoch, current_tape
from .ops import elementwise as ew


class _Trace(threading.local):
    """``recorder`` is set by ``autotape.compile`` while it records a function on this thread:
    reading a traced value into Python (``item()``, ``bool()``, ...) is reported to it."""
    recorder = None


_trace = _Trace()


class Tensor:
    """A value and its autograd state. Non-leaves hold the tape that produced them."""

    __slots__ = ("_data", "_rg", "grad", "_tape", "_slot", "_lserial", "_vc", "_hooks", "_retains", "_addr",
                 "__weakref__")
    __array_priority__ = 1000  # so ndarray <op> Tensor defers to Tensor

    def __init__(self, data=None, *, dtype=None, requires_grad=False):
        arr = _to_array(data if data is not None else [], dtype)
        _init(self, arr, False)
        if requires_grad:
            self.requires_grad_(True)

    # -- autograd state -------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        if self._tape is not None and not requires_grad:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if requires_grad and self._data.dtype.kind not in "f":
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients (got {self.dtype}); "
                "convert first, e.g. x.float().requires_grad_()"
            )
        self._rg = bool(requires_grad)
        self._lserial = -1
        return self

    @property
    def is_leaf(self):
        return self._tape is None

    @property
    def grad_fn(self):
        if self._tape is None:
            return None
        from .autograd.node import node_for

        return node_for(self._tape, self._slot)

    @property
    def data(self):
        out = _wrap(self._data)
        if _trace.recorder is not None:
            _trace.recorder.derived(out, self)
        return out

    @data.setter
    def data(self, value):
        data = value._data if isinstance(value, Tensor) else _to_array(value, None)
        if self._rg and data.dtype.kind != "f":
            raise RuntimeError(
                f"data set to a tensor that requires gradients must be floating point (got {data.dtype}); "
                "convert the new value with .float() first"
            )
        self._data = data
        self._lserial, self._addr = -1, 0  # its address on any tape is stale now

    def detach(self):
        """The same values, cut from the graph (shares memory and version counter)."""
        out = _wrap(self._data)
        out._vc = self._vc
        if _trace.recorder is not None:
            _trace.recorder.derived(out, self)
        return out

    def detach_(self):
        if self._tape is not None:
            self._tape = None
        self._rg = False
        return self

    def retain_grad(self):
        if self._tape is None:
            return
        if self._retains is None:
            self._retains = True
            self._tape.retained.append((self._slot, self))

    @property
    def retains_grad(self):
        return bool(self._retains)

    def register_hook(self, hook):
        """``hook(grad)`` runs when this tensor's gradient is computed; it may return a new one."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._tape is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
            hooks = self._hooks
        else:
            hooks = self._tape.hooks.setdefault(self._slot, [])
            hooks.append(hook)
        return _HookHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        _engine_backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs)

    # -- shape and conversions ---------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_dim(dim, self._data.ndim)]

    def dim(self):
        return self._data.ndim

    ndim = property(dim)

    def numel(self):
        return self._data.size

    nelement = numel

    @property
    def dtype(self):
        return dtypes.from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        return "cpu"

    @property
    def is_cuda(self):
        return False

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def item(self):
        if _trace.recorder is not None:
            _trace.recorder.on_read(self, "item()")
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar; "
                "use .tolist() or index one element first"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        if _trace.recorder is not None:
            _trace.recorder.on_read(self, "tolist()")
        return self._data.tolist()

    def numpy(self, *, force=False):
        if _trace.recorder is not None:
            _trace.recorder.on_read(self, "numpy()")
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)

    def __float__(self):
        if _trace.recorder is not None:
            _trace.recorder.on_read(self, "float()")
        return float(self.item())

    def __int__(self):
        if _trace.recorder is not None:
            _trace.recorder.on_read(self, "int()")
        return int(self.item())

    def __index__(self):
        if _trace.recorder is not None:
            _trace.recorder.on_read(self, "an index")
        if self._data.dtype.kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if _trace.recorder is not None:
            _trace.recorder.on_read(self, "bool()")
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self._data.size} values is ambiguous; use .any() or .all()"
            )
        return bool(self._data.reshape(()).item())

    def __hash__(self):
        return id(self)

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        for arg in args:
            if isinstance(arg, (dtypes.dtype, type)) or hasattr(arg, "kind"):
                dtype = arg
            elif isinstance(arg, Tensor):
                dtype = arg.dtype
            else:
                device = arg
        _check_device(device)
        target = dtypes.to_numpy_dtype(dtype) if dtype is not None else self._data.dtype
        if target == self._data.dtype:
            return self.clone() if copy else self
        return cast(self, target)

    def cpu(self):
        return self

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool_)

    def type(self, dtype=None):
        if dtype is None:
            return {"float32": "torch.FloatTensor", "float64": "torch.DoubleTensor", "int64": "torch.LongTensor",
                    "int32": "torch.IntTensor", "bool": "torch.BoolTensor"}[self.dtype.name]
        return self.to(dtype)

    def clone(self, *, memory_format=None):
        return unary(ew.CLONE, self)

    def __repr__(self):
        from .printing import tensor_repr

        return tensor_repr(self)

    def _repr_html_(self):
        from .printing import tensor_html

        return tensor_html(self)

    def __reduce__(self):
        return (_rebuild, (self._data, self._rg))

    def __deepcopy__(self, memo):
        out = _wrap(self._data.copy(), self._rg and self._tape is None)
        if self.grad is not None:
            out.grad = _wrap(self.grad._data.copy())
        memo[id(self)] = out
        return out


def _engine_backward(*args):
    """The autograd engine's ``backward``, imported on first use (the engine imports this module)."""
    global _engine_backward
    from .autograd.engine import backward as _engine_backward

    _engine_backward(*args)


def _rebuild(data, rg):
    return _wrap(data, rg)


class Size(tuple):
    """A shape, as PyTorch prints it."""

    def __repr__(self):
        return f"autotape.Size([{', '.join(map(str, self))}])"

    def numel(self):
        return math.prod(self)


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _init(t, data, rg):
    t._data, t._rg, t.grad, t._tape, t._slot = data, rg, None, None, -1
    t._lserial, t._vc, t._hooks, t._retains, t._addr = -1, [0], None, None, 0


_new = object.__new__


def _wrap(data, rg=False):
    """A new tensor over ``data`` (an ndarray), bypassing argument checks (``_init`` inlined:
    this runs once per op)."""
    t = _new(Tensor)
    t._data, t._rg, t.grad, t._tape, t._slot = data, rg, None, None, -1
    t._lserial, t._vc, t._hooks, t._retains, t._addr = -1, [0], None, None, 0
    return t


def _check_device(device):
    if device is None:
        return
    name = str(device)
    if name.split(":")[0] != "cpu":
        raise RuntimeError(
            f"device {name!r} is not available: this build of autotape runs on the CPU only (device='cpu')"
        )


def _to_array(data, dtype):
    np_dtype = dtypes.to_numpy_dtype(dtype)
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) for v in _flat(data)):
        arr = np.array([_to_array(v, None) for v in data])
    else:
        arr = np.asarray(data)
    if arr.dtype.kind == "O" or arr.dtype.kind in "USV":
        raise TypeError(f"can't make a tensor from {type(data).__name__} holding {arr.dtype} values: numbers only")
    if np_dtype is None:
        if arr.dtype.kind == "f":
            # Python floats become the default dtype; NumPy arrays keep theirs, as PyTorch does
            # (NumPy scalars too, as in PyTorch; in one of our dtypes: float16 widens, big-endian becomes native)
            np_dtype = dtypes.from_numpy_dtype(arr.dtype).np if isinstance(data, (np.ndarray, np.generic)) \
                else dtypes.get_default_dtype().np
        elif arr.dtype.kind in "iu":
            np_dtype = np.dtype(np.int64) if not isinstance(data, (np.ndarray, np.generic)) \
                else dtypes.from_numpy_dtype(arr.dtype).np
        else:
            np_dtype = arr.dtype
    return np.array(arr, dtype=np_dtype, copy=True, order="C")


def _flat(data):
    for v in data:
        if isinstance(v, (list, tuple)):
            yield from _flat(v)
        else:
            yield v


def _dim(dim, ndim):
    """Normalize a possibly negative dim, with PyTorch's error."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def as_tensor_arg(x, like=None):
    """A Tensor for ``x`` (a Tensor, number, list or array) for use beside tensor ``like``."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"unsupported operand: expected a Tensor or a number, got {type(x).__name__}")
    if like is not None and arr.dtype.kind in "fiub" and not isinstance(x, np.ndarray):
        arr = arr.astype(dtypes.result_type(like._data, x if np.ndim(x) == 0 else arr), copy=False)
    elif arr.dtype.kind == "f" and not isinstance(x, np.ndarray):
        arr = arr.astype(dtypes.get_default_dtype().np)
    return _wrap(arr)


def _recording(*tensors):
    if not is_grad_enabled():
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


def unary(spec, x, a=0.0, b=0.0):
    """Apply an elementwise one-input op (float result), recording it if ``x`` requires grad."""
    out = _wrap(_array(spec.forward(_float_data(x), a, b)))
    if x._rg and _grad_state.enabled:
        current_tape().record1(spec, out, x, floats=(a, b))
    return out


def cast(x, np_dtype):
    out = _wrap(x._data.astype(np_dtype))
    if x._rg and np_dtype.kind == "f" and is_grad_enabled():
        current_tape().record1(ew.TO_COPY, out, x)
    elif _trace.recorder is not None:
        _trace.recorder.derived(out, x)
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
    from .ops.shape import expand

    return expand(x, shape, materialize=True)


def binary(spec, x1, x2):
    """Apply an elementwise two-input op, promoting dtypes and broadcasting as PyTorch does."""
    if not isinstance(x1, Tensor):
        x1 = as_tensor_arg(x1, x2)
    if not isinstance(x2, Tensor):
        x2 = as_tensor_arg(x2, x1)
    d1, d2 = x1._data, x2._data
    if d1.dtype != d2.dtype:
        rt = dtypes.result_type(d1, d2)
        x1, x2 = promote(x1, rt), promote(x2, rt)
        d1, d2 = x1._data, x2._data
    try:
        y = spec.forward(d1, d2)
    except ValueError:
        broadcast_shape(d1.shape, d2.shape)
        raise
    out = _wrap(y if type(y) is np.ndarray else np.asarray(y))
    if (x1._rg or x2._rg) and _grad_state.enabled:
        n = out._data.size
        if d1.size != n or d2.size != n:
            shape = out._data.shape
            x1, x2 = expand_for(x1, shape, n), expand_for(x2, shape, n)
        current_tape().record2(spec, out, x1, x2)
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
    if result._tape is not None:
        t._tape, t._slot, t._rg = result._tape, result._slot, True
    return t
