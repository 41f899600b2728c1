"""Tensor methods and operators, bound to the functions of ``ops``: one definition each."""
import numpy as np

from . import factories
from .ops import compare, composite, gather, linalg, pointwise as pw, reduce as red, shape as sh
from .tape import _inplace_epoch, bump_inplace_epoch
from .grad_mode import _state as _grad_state, is_grad_enabled
from .cuda.array import CudaArray
from .ops.apply import assign_inplace, broadcast_shape, check_inplace, cuda_ops
from .tensor import Tensor, _recordings, _wrap, note_write


def _swap(fn):
    return lambda self, other: fn(other, self)


_SAME_NAME = {
    pw: "add sub mul div true_divide divide pow neg negative square abs sign exp log log1p sqrt rsqrt sin cos "
        "tan tanh sigmoid relu softplus clamp clip clamp_min clamp_max minimum maximum "
        "log2 log10 exp2 expm1 sinh cosh asin acos atan asinh acosh atanh arcsin arccos arctan arcsinh arccosh "
        "arctanh reciprocal erf erfc floor ceil trunc fix round frac atan2 arctan2 hypot logaddexp xlogy",
    compare: "eq ne lt le gt ge greater greater_equal less less_equal not_equal logical_not isnan isfinite equal "
             "allclose isclose",
    red: "sum mean prod amax amin max min argmax argmin norm var std logsumexp softmax log_softmax cumsum all any",
    sh: "reshape view flatten unsqueeze squeeze transpose swapaxes swapdims permute t expand expand_as "
        "broadcast_to narrow select unbind split chunk flip repeat",
    linalg: "matmul mm bmm mv dot outer ger",
    gather: "gather index_select take_along_dim masked_fill sort argsort topk",
    composite: "tril triu diag diagonal trace roll tile movedim moveaxis ravel cumprod addmm",
}
for module, names in _SAME_NAME.items():
    for name in names.split():
        setattr(Tensor, name, getattr(module, name))

Tensor.__add__ = Tensor.__radd__ = pw.add
Tensor.__sub__, Tensor.__rsub__ = pw.sub, _swap(pw.sub)
Tensor.__mul__ = Tensor.__rmul__ = pw.mul
Tensor.__truediv__, Tensor.__rtruediv__ = pw.div, _swap(pw.div)
Tensor.__pow__, Tensor.__rpow__ = pw.pow, _swap(pw.pow)
Tensor.__matmul__, Tensor.__rmatmul__ = linalg.matmul, _swap(linalg.matmul)
Tensor.__neg__ = pw.neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = pw.abs
Tensor.__eq__, Tensor.__ne__ = compare.eq, compare.ne
Tensor.__lt__, Tensor.__le__, Tensor.__gt__, Tensor.__ge__ = compare.lt, compare.le, compare.gt, compare.ge
Tensor.__getitem__ = sh.getitem
Tensor.__setitem__ = sh.setitem
Tensor.__invert__ = lambda self: _wrap(np.invert(self._data))
Tensor.__and__ = Tensor.__rand__ = Tensor.bitwise_and = pw.bitwise_and
Tensor.__or__ = Tensor.__ror__ = Tensor.bitwise_or = pw.bitwise_or
Tensor.__xor__ = Tensor.__rxor__ = Tensor.bitwise_xor = pw.bitwise_xor
Tensor.__floordiv__, Tensor.__rfloordiv__ = pw.floor_divide, _swap(pw.floor_divide)
Tensor.floor_divide = pw.floor_divide
Tensor.__mod__, Tensor.__rmod__ = pw.remainder, _swap(pw.remainder)
Tensor.remainder = pw.remainder
Tensor.T = property(lambda self: sh.permute(self, tuple(reversed(range(self._data.ndim)))))
Tensor.mT = property(lambda self: sh.transpose(self, -2, -1))
Tensor.H = Tensor.T
Tensor.is_contiguous = lambda self, memory_format=None: bool(self._data.flags.c_contiguous)
# PyTorch's: itself when already contiguous, else a copy that gradients flow through
Tensor.contiguous = lambda self, memory_format=None: self if self._data.flags.c_contiguous else self.clone()
Tensor.view_as = lambda self, other: sh.view(self, other._data.shape)
Tensor.reshape_as = lambda self, other: sh.reshape(self, other._data.shape)
Tensor.type_as = lambda self, other: self.to(other.dtype)
Tensor.new_tensor, Tensor.new_zeros, Tensor.new_ones, Tensor.new_empty, Tensor.new_full = (
    factories.new_tensor, factories.new_zeros, factories.new_ones, factories.new_empty, factories.new_full)


def _inplace(fn, ufunc=None):
    """``x.op_(y)``: compute out of place, then write into x's own memory (recording if needed).
    With nothing to record (the optimizer's ``p -= lr * p.grad`` under no_grad) a NumPy ufunc
    writes in place directly."""

    def method(self, *args, **kwargs):
        if type(self._data) is CudaArray:
            return cuda_ops().inplace(fn, self, args, kwargs)
        if ufunc is not None and not kwargs and len(args) == 1 and not (self._rg and is_grad_enabled()):
            other = args[0]
            if isinstance(other, Tensor):
                other = None if other._rg and is_grad_enabled() else other._data
            d = self._data
            if other is not None and (getattr(other, "dtype", None) == d.dtype or np.can_cast(
                    np.result_type(d, other), d.dtype, "same_kind")):
                one = pw.ONE_ELEMENT_OPS.get(fn.__name__) if d.size == 1 and d.dtype.kind == "f" else None
                if (one is not None and type(other) is np.ndarray and other.size == 1 and other.dtype.kind == "f"
                        and other.ndim <= d.ndim and d.flags.writeable):
                    d[()] = one(d.item(), other.item())
                else:
                    try:
                        ufunc(d, other, out=d)
                    except TypeError:  # NumPy refused the cast (int.div_(2)): PyTorch's error
                        _check_inplace_cast(fn(self, args[0])._data.dtype, d.dtype)
                        raise
                    except ValueError:
                        check_inplace(self)  # a read-only buffer raises with advice
                        shape = broadcast_shape(d.shape, np.shape(other))  # shapes that don't broadcast, too
                        if shape != d.shape:
                            raise RuntimeError(f"output with shape {list(d.shape)} doesn't match the broadcast "
                                               f"shape {list(shape)}") from None
                        raise
                self._vc[0] += 1
                bump_inplace_epoch()
                if _recordings[0]:
                    note_write(self)
                return self
        src = self
        if is_grad_enabled() and (self._rg or any(isinstance(a, Tensor) and a._rg for a in args)) \
                and not (fn.__name__ in _READS_NO_VALUES or (fn.__name__ in _SCALAR_READS_NO_VALUES and not kwargs
                                                             and all(type(a) in (int, float) for a in args))):
            check_inplace(self)
            # the op saves self's value for backward (mul_, log_): give it a copy, since the
            # result is written into self's own buffer (PyTorch saves the original self too)
            src = self.clone()
        result = fn(src, *args, **kwargs)
        if result._data.dtype != self._data.dtype:
            _check_inplace_cast(result._data.dtype, self._data.dtype)
        return assign_inplace(self, result)

    method.__name__ = fn.__name__ + "_"
    return method


_TORCH_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "bool": "Bool"}
_CATEGORY = {"b": 0, "i": 1, "u": 1, "f": 2}


def _check_inplace_cast(result, out):
    """PyTorch's rule for in-place ops: the result may narrow within its category (float64 into
    float32) but not cross to a lower one (a float result into an int tensor is refused, not
    truncated)."""
    if _CATEGORY.get(result.kind, 3) > _CATEGORY.get(out.kind, 3):
        r, o = (_TORCH_NAMES.get(str(d), str(d)) for d in (result, out))
        raise RuntimeError(f"result type {r} can't be cast to the desired output type {o}: use the out-of-place "
                           f"op (x = x * 1.5) or convert the tensor first (x = x.float())")


_UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}
# In-place ops whose VJP reads no input value (always, or with a Python number as argument):
# they need no copy of self saved before self is overwritten.
_READS_NO_VALUES = {"add", "sub", "neg"}
_SCALAR_READS_NO_VALUES = {"mul", "div"}


for _name in ("add sub mul div pow clamp exp log sqrt neg abs sigmoid tanh relu clamp_min clamp_max log2 log10 exp2 "
              "expm1 sinh cosh asin acos atan asinh acosh atanh reciprocal erf erfc floor ceil trunc round frac atan2 hypot "
              "xlogy").split():
    setattr(Tensor, _name + "_", _inplace(getattr(pw, _name), _UFUNCS.get(_name)))
Tensor.masked_fill_ = _inplace(gather.masked_fill)


def _operator(method, one):
    """``x -= y`` and the like: ``method`` (``x.sub_``), with the tutorials' update of a
    one-element parameter, ``p -= lr * p.grad`` under no_grad, done first in Python floats
    (``one``: the op's ``scalar``; the double result rounded to float32 is float32's own)."""

    def op(self, other):
        d = self._data
        if type(other) is Tensor and type(d) is np.ndarray and d.size == 1:
            o = other._data
            if (type(o) is np.ndarray and o.size == 1 and o.dtype is d.dtype and d.dtype.kind == "f"
                    and o.ndim <= d.ndim and not ((self._rg or other._rg) and _grad_state.enabled)):
                try:
                    d[()] = one(d.item(), o.item())
                except ValueError:  # read-only memory: the method raises PyTorch's error
                    return method(self, other)
                self._vc[0] += 1
                _inplace_epoch[0] += 1
                if _recordings[0]:
                    note_write(self)
                return self
        return method(self, other)

    op.__name__ = "__i" + method.__name__[:-1] + "__"
    return op


Tensor.__iadd__ = _operator(Tensor.add_, pw.ONE_ELEMENT_OPS["add"])
Tensor.__isub__ = _operator(Tensor.sub_, pw.ONE_ELEMENT_OPS["sub"])
Tensor.__imul__ = _operator(Tensor.mul_, pw.ONE_ELEMENT_OPS["mul"])
Tensor.__itruediv__ = Tensor.div_


def _fill(self, value):
    if isinstance(value, Tensor) and value._data.ndim:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value._data.ndim} "
                           "dimensions.")
    if type(self._data) is CudaArray:
        return cuda_ops().fill_(self, value)
    check_inplace(self)
    if self._tape is not None:
        return assign_inplace(self, _wrap(np.full_like(self._data, getattr(value, "_data", value))))
    self._data[...] = getattr(value, "_data", value)
    self._vc[0] += 1
    bump_inplace_epoch()
    note_write(self)
    return self


def _zero(self):
    return _fill(self, 0)


def _copy(self, src, non_blocking=False):
    if type(self._data) is CudaArray or type(getattr(src, "_data", None)) is CudaArray:
        return cuda_ops().copy_(self, src)
    if not isinstance(src, Tensor):
        src = Tensor(src)
    try:
        shaped = sh.expand(src, self._data.shape) if src._data.shape != self._data.shape else src
    except RuntimeError:
        raise RuntimeError(
            f"copy_: the source of shape {list(src._data.shape)} cannot be broadcast to {list(self._data.shape)}"
        ) from None
    if shaped._rg or self._tape is not None:
        return assign_inplace(self, shaped.to(self.dtype) + 0 if shaped._rg else shaped)
    check_inplace(self)
    np.copyto(self._data, shaped._data, casting="unsafe")
    self._vc[0] += 1
    bump_inplace_epoch()
    note_write(self)
    return self


Tensor.fill_ = _fill
Tensor.zero_ = _zero
Tensor.copy_ = _copy
