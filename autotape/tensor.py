"""Tensor: a NumPy array plus what autograd needs (requires_grad, grad, its slot on a tape)."""
import math
import threading
import warnings

import numpy as np

from . import dtypes
from .cuda.array import CudaArray
from .devices import CPU, CUDA0, parse as _parse_device
from .ops import elementwise as ew


class _Trace(threading.local):
    """``recorder`` is set by ``autotape.compile`` while it records a function on this thread:
    reading a traced value into Python (``item()``, ``bool()``, ...) is reported to it."""
    recorder = None


_trace = _Trace()
# How many recordings run, in any thread: while none does (nearly always), ``_recordings[0]``
# (a list read, ~20 ns) spares every op the thread-local lookup of ``_trace.recorder`` (~110 ns).
_recordings = [0]


def note_write(t):
    """An in-place write into ``t``. While ``autotape.compile`` records, a write into a tensor
    from outside the function is refused: a replay would not repeat it."""
    if _recordings[0]:
        recorder = _trace.recorder
        if recorder is not None:
            recorder.on_write(t)


def note_unrecorded(out, *inputs):
    """``out`` was computed from ``inputs`` by an op the tape does not record (no input requires
    grad): while ``autotape.compile`` records, it notes where such constants came from, so that
    a replay can tell when a captured tensor they were computed from has changed."""
    if _recordings[0]:
        recorder = _trace.recorder
        if recorder is not None:
            recorder.derived(out, *inputs)


_NON_LEAF_GRAD = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute won't be "
    "populated during autograd.backward(). If you indeed want the .grad field to be populated for a non-leaf "
    "Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you "
    "access the leaf Tensor instead.")


class Tensor:
    """A value and its autograd state. Non-leaves hold the tape that produced them."""

    __slots__ = ("_data", "_rg", "_grad", "_tape", "_slot", "_lserial", "_vc", "_hooks", "_retains", "_addr",
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
    def grad(self):
        g = self._grad
        if g is None and self._tape is not None and not self._retains:
            warnings.warn(_NON_LEAF_GRAD, UserWarning, stacklevel=2)
        return g

    @grad.setter
    def grad(self, value):
        if value is not None:  # (PyTorch's checks, when assigned rather than at the next backward)
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(f"assigned grad has data of a different type ({value.dtype}; the tensor is "
                                   f"{self.dtype}): convert it with .to(dtype) first")
            if value._data.shape != self._data.shape:
                raise RuntimeError(f"assigned grad has data of a different size ({list(value._data.shape)}; the "
                                   f"tensor has {list(self._data.shape)})")
            if type(value._data) is not type(self._data):
                raise RuntimeError("assigned grad has data located on a different device: move it to the "
                                   "tensor's device first")
        self._grad = value

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
        if _recordings[0] and _trace.recorder is not None:
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
        if _recordings[0] and _trace.recorder is not None:
            _trace.recorder.derived(out, self)
        return out

    def detach_(self):
        if self._tape is not None:
            self._tape = None
        self._rg = False
        return self

    def retain_grad(self):
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False: it has no gradient")
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
        return CUDA0 if type(self._data) is CudaArray else CPU

    @property
    def is_cuda(self):
        return type(self._data) is CudaArray

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
        if _recordings[0] and _trace.recorder is not None:
            _trace.recorder.on_read(self, "item()")
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar; "
                "use .tolist() or index one element first"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        if _recordings[0] and _trace.recorder is not None:
            _trace.recorder.on_read(self, "tolist()")
        return self._data.tolist()

    def numpy(self, *, force=False):
        if _recordings[0] and _trace.recorder is not None:
            _trace.recorder.on_read(self, "numpy()")
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if type(self._data) is CudaArray:
            if force:  # (PyTorch: force=True is detach().cpu().numpy())
                return self._data.host()
            return self.__array__()  # (raises)
        return self._data

    def __array__(self, dtype=None, copy=None):
        if _recordings[0] and _trace.recorder is not None:
            _trace.recorder.on_read(self, "np.asarray() of a tensor")
        data = self._data
        if type(data) is CudaArray:
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                            "to host memory first.")
        return data if dtype is None else data.astype(dtype)

    def __float__(self):
        if _recordings[0] and _trace.recorder is not None:
            _trace.recorder.on_read(self, "float()")
        return float(self._one_element("float"))

    def __int__(self):
        if _recordings[0] and _trace.recorder is not None:
            _trace.recorder.on_read(self, "int()")
        return int(self._one_element("int"))

    def _one_element(self, what):
        if self._data.size != 1:  # (PyTorch raises ValueError here, RuntimeError in item())
            raise ValueError(f"only one element tensors can be converted to Python scalars: {what}() of a tensor "
                             f"of {self._data.size} elements; index one element or use .tolist()")
        return self.item()

    def __format__(self, spec):
        """A 0-d tensor formats as its number (f"{loss:.4f}"), as in PyTorch."""
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __index__(self):
        if _recordings[0] and _trace.recorder is not None:
            _trace.recorder.on_read(self, "an index")
        if self._data.dtype.kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if _recordings[0] and _trace.recorder is not None:
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
                dtype, device = arg.dtype, arg.device
            else:
                device = arg
        t = self
        if device is not None:
            t = _to_device(self, _parse_device(device))
            copy = copy and t is self
        target = dtypes.to_numpy_dtype(dtype) if dtype is not None else t._data.dtype
        if target == t._data.dtype:
            return t.clone() if copy else t
        return cast(t, target)

    def cpu(self, memory_format=None):
        return self.to(CPU) if type(self._data) is CudaArray else self

    def cuda(self, device=None, non_blocking=False, memory_format=None):
        return self.to(CUDA0 if device is None else _parse_device(device))

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
        if self._data.dtype.kind != "f":  # (integers and bools keep their dtype; they never require grad)
            out = _wrap(self._data.copy())
            note_unrecorded(out, self)
            return out
        return unary(ew.CLONE, self)

    def __repr__(self):
        from .printing import tensor_repr

        return tensor_repr(self)

    def _repr_html_(self):
        from .printing import tensor_html

        return tensor_html(self)

    def __reduce__(self):
        if type(self._data) is CudaArray:  # its values, and the device they go back to (serialization.py)
            from .serialization import _rebuild_on

            return (_rebuild_on, (self._data.host(), self._rg, str(self.device), False))
        return (_rebuild, (self._data, self._rg))

    def __deepcopy__(self, memo):
        out = _wrap(self._data.copy(), self._rg and self._tape is None)
        if self._grad is not None:
            out._grad = _wrap(self._grad._data.copy())
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
    t._data = data
    t._rg = rg
    t._grad = t._tape = t._hooks = t._retains = None
    t._slot = t._lserial = -1
    t._vc = [0]
    t._addr = 0


_new = object.__new__


def _wrap(data, rg=False):
    """A new tensor over ``data`` (an ndarray), bypassing argument checks (``_init`` inlined:
    this runs once per op)."""
    t = _new(Tensor)
    # one assignment a statement: a, b, c, d, e = ... builds and unpacks a tuple (2.4x slower here)
    t._data = data
    t._rg = rg
    t._grad = t._tape = t._hooks = t._retains = None
    t._slot = t._lserial = -1
    t._vc = [0]
    t._addr = 0
    return t


def _check_device(device):
    """Raise unless ``device`` (None, a name or a device) can be used."""
    if device is not None:
        _placed(np.empty(0), _parse_device(device))


def _placed(data, device):
    """``data`` (a NumPy or CUDA array) on ``device`` (a device): copied across if it is not there."""
    if device is None:
        return data
    if device.type == "cuda":
        if device.index not in (None, 0):
            raise RuntimeError(f"CUDA error: invalid device ordinal (device {device}: autotape uses cuda:0 only)")
        if type(data) is CudaArray:
            return data
        from . import cuda

        cuda.require()
        from .cuda.array import to_device

        return to_device(data)
    return data.host() if type(data) is CudaArray else data


def _to_device(t, device):
    """``t`` on ``device``: itself, or a copy there. A copy of a tensor that requires grad is
    recorded (``ToCopyBackward0``) on the destination's tape, so backward carries the gradient
    back across (``autograd/engine.py`` runs the tapes of both devices in one order)."""
    if (type(t._data) is CudaArray) == (device.type == "cuda"):
        _placed(t._data, device)  # (checks the index)
        return t
    out = _wrap(_placed(t._data, device))
    if t._rg:
        from .grad_mode import is_grad_enabled

        if is_grad_enabled():
            if _recordings[0] and _trace.recorder is not None:
                _trace.recorder.violate("copies a tensor that requires grad between devices",
                                        "Move the data to its device before calling the compiled function")
            from .tape import record_device_copy

            record_device_copy(ew.TO_COPY, out, t)
    return out


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


def contiguous(a):
    """``a`` as a C-contiguous array, copied only if it must be (``np.ascontiguousarray`` alone
    makes a 0-d array 1-d)."""
    if type(a) is not np.ndarray:
        if type(a) is CudaArray:
            return a  # always contiguous
        a = np.asarray(a)  # a NumPy scalar, as indexing returns
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _flat(data):
    for v in data:
        if isinstance(v, (list, tuple)):
            yield from _flat(v)
        else:
            yield v


def _dim(dim, ndim):
    """Normalize a possibly negative dim, with PyTorch's error."""
    n = ndim if ndim > 0 else 1  # (max() costs 0.15 us in Python 3.11)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


# (at the end: the op helpers need Tensor defined)
from .ops.apply import cast, unary  # noqa: E402
