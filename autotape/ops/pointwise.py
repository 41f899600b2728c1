"""Public elementwise functions: ``autotape.exp(x)``, ``x + y``, comparisons, ``where``."""
import math
import numbers

import numpy as np

from .. import dtypes
from ..tensor import Tensor, _recordings, _trace, _wrap, note_unrecorded
from ..cuda.array import CudaArray
from .apply import as_tensor_arg, binary, broadcast_shape, cuda_ops, expand_for, not_tensor, unary, _recording
from ..tape import current_tape
from . import elementwise as ew


def _is_scalar(v):
    t = type(v)
    if t is float or t is int:
        return True
    return t is not Tensor and isinstance(v, numbers.Number)


# One element, + - * in Python floats (see ``ew.ADD.scalar``): the tutorials' update of scalar
# parameters, ``p -= lr * p.grad``, in place (methods.py); ``/`` is left out (Python raises on 0).
ONE_ELEMENT_OPS = {spec.name: spec.scalar for spec in (ew.ADD, ew.SUB, ew.MUL)}


def _scalar_op(x, s, spec):
    """Tensor (op) Python number: one-input op with the number as attribute."""
    d = x._data
    if d.dtype.kind != "f":
        rt = dtypes.result_type(d, s)
        if rt.kind != "f":
            return None  # integer arithmetic: let NumPy do it with no record
        x = _wrap(d.astype(rt))
    return unary(spec, x, float(s))


def _times_alpha(input, other, alpha):
    if isinstance(alpha, float) and not any(
            isinstance(v, float) or (isinstance(v, Tensor) and v._data.dtype.kind == "f") for v in (input, other)):
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
    return other * alpha if _is_scalar(other) else mul(other, alpha)


# The common cases first: two tensors; a float tensor and a Python number (``lr * p.grad``, the
# 0 that Python's sum() starts from).
def add(input, other, *, alpha=1):
    if type(input) is Tensor and alpha == 1:
        if type(other) is Tensor:
            return binary(ew.ADD, input, other)
        if (type(other) is float or type(other) is int) and input._data.dtype.kind == "f":
            return unary(ew.ADD_SCALAR, input, float(other))
    if alpha != 1:
        other = _times_alpha(input, other, alpha)
    if _is_scalar(other) and isinstance(input, Tensor):
        out = _scalar_op(input, other, ew.ADD_SCALAR)
        if out is not None:
            return out
    return binary(ew.ADD, input, other)


def sub(input, other, *, alpha=1):
    if type(input) is Tensor and alpha == 1:
        if type(other) is Tensor:
            return binary(ew.SUB, input, other)
        if (type(other) is float or type(other) is int) and input._data.dtype.kind == "f":
            return unary(ew.SUB_SCALAR, input, float(other))
    if alpha != 1:
        other = _times_alpha(input, other, alpha)
    if _is_scalar(other) and isinstance(input, Tensor):
        out = _scalar_op(input, other, ew.SUB_SCALAR)
        if out is not None:
            return out
    if _is_scalar(input) and isinstance(other, Tensor):
        out = _scalar_op(other, input, ew.RSUB_SCALAR)
        if out is not None:
            return out
    return binary(ew.SUB, input, other)


def mul(input, other):
    if type(input) is Tensor:
        if type(other) is Tensor:
            return binary(ew.MUL, input, other)
        if (type(other) is float or type(other) is int) and input._data.dtype.kind == "f":
            return unary(ew.MUL_SCALAR, input, float(other))
    if _is_scalar(other) and isinstance(input, Tensor):
        input, other = other, input
    if _is_scalar(input) and isinstance(other, Tensor):
        out = _scalar_op(other, input, ew.MUL_SCALAR)
        if out is not None:
            return out
    return binary(ew.MUL, input, other)


def _report_reads(what, *tensors):
    """An op the tape does not record read these values: ``autotape.compile`` must know."""
    recorder = _trace.recorder
    if recorder is not None:
        for t in tensors:
            if isinstance(t, Tensor):
                recorder.on_read(t, what)


def _promoted(input, other, name):
    """The two operands as NumPy values of PyTorch's result dtype, and that dtype."""
    a = input._data if isinstance(input, Tensor) else input
    b = other._data if isinstance(other, Tensor) else other
    for v in (a, b):
        if not isinstance(v, np.ndarray) and not _is_scalar(v):
            raise TypeError(f"{name}(): expected a Tensor or a number, got {type(v).__name__}")
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        broadcast_shape(a.shape, b.shape)
    rt = dtypes.result_type(a, b) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) \
        else np.result_type(a, b)
    return np.asarray(a, dtype=rt), np.asarray(b, dtype=rt), rt


def _zero_grad_through(out, *inputs):
    """``out`` (computed without a record) requires grad with a zero gradient to the float inputs
    that do, as PyTorch's rounded division and remainder of a float tensor do."""
    for t in inputs:
        if isinstance(t, Tensor) and t._rg and out._data.dtype.kind == "f" and _recording(t):
            out = where(_wrap(np.zeros(out._data.shape, dtype=bool)), t, out)
    return out


def _int_div(a, b, rounding_mode):
    if np.any(b == 0):
        raise RuntimeError("ZeroDivisionError: integer division by zero")
    if rounding_mode == "floor":
        return np.floor_divide(a, b)
    return np.sign(a) * np.sign(b) * np.floor_divide(np.abs(a), np.abs(b))


def _div_rounded(input, other, rounding_mode):
    if rounding_mode not in ("floor", "trunc"):
        raise RuntimeError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
        )
    _report_reads(f"div(..., rounding_mode={rounding_mode!r})", input, other)
    a, b, rt = _promoted(input, other, "div")
    if rt.kind == "b":
        a, b, rt = a.astype(np.int64), b.astype(np.int64), np.dtype(np.int64)
    if rt.kind == "f":
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.true_divide(a, b)
            q = (np.floor if rounding_mode == "floor" else np.trunc)(q)
    else:
        q = _int_div(a, b, rounding_mode)
    return _zero_grad_through(_wrap(np.asarray(q, dtype=rt)), input, other)


def floor_divide(input, other):
    return _div_rounded(input, other, "floor")


def remainder(input, other):
    """Python's ``%``: the sign of the divisor (NumPy's mod, PyTorch's remainder)."""
    _report_reads("% (remainder)", input, other)
    a, b, rt = _promoted(input, other, "remainder")
    if rt.kind == "b":
        a, b, rt = a.astype(np.int64), b.astype(np.int64), np.dtype(np.int64)
    if rt.kind != "f" and np.any(b == 0):
        raise RuntimeError("ZeroDivisionError: integer division by zero")
    if rt.kind == "f" and _recording(*(t for t in (input, other) if isinstance(t, Tensor))):
        # PyTorch's gradient: 1 to input, -floor(input / other) to other; record x - other * q
        # with q = floor(x / other) a constant
        with np.errstate(divide="ignore", invalid="ignore"):
            q = _wrap(np.asarray(np.floor(np.true_divide(a, b)), dtype=rt))
        return sub(input, mul(other, q))
    with np.errstate(divide="ignore", invalid="ignore"):
        return _wrap(np.asarray(np.mod(a, b), dtype=rt))


def _bitwise(np_fn, name):
    def fn(input, other):
        a, b, rt = _promoted(input, other, name)
        if rt.kind == "f":
            raise NotImplementedError(f"\"{name}\" not implemented for floating-point tensors: it works on integer and "
                               "bool tensors (compare first, e.g. (x > 0) & (y > 0))")
        out = _wrap(np.asarray(np_fn(a, b), dtype=rt))  # bool tensors: logical, integers: bitwise
        note_unrecorded(out, input, other)
        return out

    fn.__name__ = name
    return fn


bitwise_and = _bitwise(np.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(np.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor")


def div(input, other, *, rounding_mode=None):
    if rounding_mode is not None:
        return _div_rounded(input, other, rounding_mode)
    if isinstance(input, Tensor) and input._data.dtype.kind != "f" and not _recording(input):
        input = input.to(dtypes.get_default_dtype())
    if _is_scalar(other) and isinstance(input, Tensor):
        return unary(ew.DIV_SCALAR, input, float(other))
    if _is_scalar(input) and isinstance(other, Tensor):
        return unary(ew.RDIV_SCALAR, other, float(input))
    if isinstance(other, Tensor) and other._data.dtype.kind != "f":
        other = other.to(dtypes.get_default_dtype())
    return binary(ew.DIV, input, other)


true_divide = divide = div


def pow(input, exponent):
    if type(input) is Tensor and (type(exponent) is int or type(exponent) is float) and input._data.dtype.kind == "f":
        return unary(ew.POW_SCALAR, input, float(exponent))  # x ** 2, the common case, first
    if _is_scalar(exponent) and isinstance(input, Tensor):
        if input._data.dtype.kind != "f" and not isinstance(exponent, float):
            if exponent < 0:
                raise RuntimeError("Integers to negative integer powers are not allowed.")
            return _wrap(np.power(input._data.astype(np.int64) if input._data.dtype.kind == "b" else input._data,
                                  exponent))
        return unary(ew.POW_SCALAR, input, float(exponent))
    if _is_scalar(input) and isinstance(exponent, Tensor):
        if exponent._data.dtype.kind in "iu" and isinstance(input, int) and not isinstance(input, bool):
            return _int_rpow(input, exponent)
        return unary(ew.RPOW, exponent, float(input))
    if isinstance(input, Tensor) and isinstance(exponent, Tensor) and exponent._data.dtype.kind != "f":
        if input._data.dtype.kind == "f":
            exponent = exponent.to(input.dtype)
        elif input._data.dtype.kind == "b" and exponent._data.dtype.kind == "b":
            raise NotImplementedError("\"pow\" not implemented for 'Bool': convert first, e.g. x.long() ** y.long()")
    return binary(ew.POW, input, exponent)


def _int_rpow(base, exponent):
    """int ** int tensor stays an integer tensor, as in PyTorch: a negative exponent gives 0
    (1 and -1 keep their powers)."""
    e = exponent._data
    out = np.power(np.asarray(base, dtype=e.dtype), np.maximum(e, 0))
    if base not in (1, -1):
        out = np.where(e < 0, 0, out)
    elif base == -1:
        out = np.where(e < 0, np.where(e % 2 == 0, 1, -1), out)
    out = _wrap(np.asarray(out, dtype=e.dtype))
    note_unrecorded(out, exponent)
    return out


def neg(input):
    try:
        kind = input._data.dtype.kind
    except AttributeError:
        raise not_tensor("neg", input) from None
    if kind == "f":
        return unary(ew.NEG, input)
    if kind == "b":
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
                           "invert a mask, use the `~` or `logical_not()` operator instead.")
    return _wrap(np.negative(input._data))


negative = neg


def square(input):
    try:
        kind = input._data.dtype.kind
    except AttributeError:
        raise not_tensor("square", input) from None
    if kind != "f":
        return _wrap(np.square(input._data.astype(np.int64) if input._data.dtype.kind == "b" else input._data))
    return unary(ew.SQUARE, input)


def abs(input):
    try:
        kind = input._data.dtype.kind
    except AttributeError:
        raise not_tensor("abs", input) from None
    return unary(ew.ABS, input) if kind == "f" else _wrap(np.abs(input._data))


def sign(input):
    try:
        kind = input._data.dtype.kind
    except AttributeError:
        raise not_tensor("sign", input) from None
    return unary(ew.SIGN, input) if kind == "f" else _wrap(np.sign(input._data))


def _float_unary(spec):
    def fn(input):
        return unary(spec, input)

    fn.__name__ = spec.name
    fn.__doc__ = f"Elementwise {spec.name}; its gradient is recorded as {spec.grad_fn}."
    return fn


exp = _float_unary(ew.EXP)
log = _float_unary(ew.LOG)
log1p = _float_unary(ew.LOG1P)
sqrt = _float_unary(ew.SQRT)
rsqrt = _float_unary(ew.RSQRT)
sin = _float_unary(ew.SIN)
cos = _float_unary(ew.COS)
tan = _float_unary(ew.TAN)
tanh = _float_unary(ew.TANH)
sigmoid = _float_unary(ew.SIGMOID)
log2 = _float_unary(ew.LOG2)
log10 = _float_unary(ew.LOG10)
exp2 = _float_unary(ew.EXP2)
expm1 = _float_unary(ew.EXPM1)
sinh = _float_unary(ew.SINH)
cosh = _float_unary(ew.COSH)
asin = arcsin = _float_unary(ew.ASIN)
acos = arccos = _float_unary(ew.ACOS)
atan = arctan = _float_unary(ew.ATAN)
asinh = arcsinh = _float_unary(ew.ASINH)
acosh = arccosh = _float_unary(ew.ACOSH)
atanh = arctanh = _float_unary(ew.ATANH)
reciprocal = _float_unary(ew.RECIPROCAL)
erf = _float_unary(ew.ERF)
erfc = _float_unary(ew.ERFC)


def _rounding(spec):
    """floor, ceil, trunc: of an integer tensor, a copy (PyTorch's); of a bool tensor, its error."""
    def fn(input):
        try:
            kind = input._data.dtype.kind
        except AttributeError:
            raise not_tensor(spec.name, input) from None
        if kind == "f":
            return unary(spec, input)
        if kind == "b":
            raise NotImplementedError(f"\"{spec.name}_vml_cpu\" not implemented for 'Bool'")
        out = _wrap(input._data.copy())
        note_unrecorded(out, input)
        return out

    fn.__name__ = spec.name
    fn.__doc__ = f"Elementwise {spec.name}; a zero gradient, recorded as {spec.grad_fn}."
    return fn


floor = _rounding(ew.FLOOR)
ceil = _rounding(ew.CEIL)
trunc = fix = _rounding(ew.TRUNC)
_round = _rounding(ew.ROUND)


def round(input, *, decimals=0):
    """Half to even, as PyTorch's."""
    if decimals != 0:
        raise NotImplementedError(f"round(decimals={decimals}) is not implemented by autotape (decimals=0 only)")
    return _round(input)


def frac(input):
    if isinstance(input, Tensor) and input._data.dtype.kind != "f":
        from .reduce import _torch_name

        raise NotImplementedError(f"\"frac_cpu\" not implemented for '{_torch_name(input._data.dtype)}'")
    return unary(ew.FRAC, input)


def relu(input):
    try:
        kind = input._data.dtype.kind
    except AttributeError:
        raise not_tensor("relu", input) from None
    if kind != "f":
        return _wrap(np.maximum(input._data, 0))
    return unary(ew.RELU, input)


def softplus(input, beta=1.0, threshold=20.0):
    return unary(ew.SOFTPLUS, input, float(beta), float(threshold))


def _clamp_by_tensors(input, min, max):
    """clamp with tensor bounds and PyTorch's gradient: 1 to ``input`` where min <= x <= max (ties
    included), the rest to the bound that was hit (maximum/minimum alone would split ties 0.5/0.5).
    The mask is computed by recorded ops (1 + sign(x - min) is 0 exactly where x < min), so a
    compiled replay recomputes it from new values."""
    if not isinstance(input, Tensor):
        raise not_tensor("clamp", input)
    out = input
    if min is not None:
        out = maximum(out, min)
    if max is not None:
        out = minimum(out, max)
    if not _recording(*(t for t in (input, min, max) if isinstance(t, Tensor))):
        return out
    inside = None
    for lo, hi in ((min, input), (input, max)):
        if lo is None or hi is None:
            continue
        with np.errstate(invalid="ignore"):  # (inf - inf: NaN, which keeps x, as it should)
            ok = add(sign(sub(hi, lo)), 1)  # 0 where hi < lo, else 1 or 2 (or NaN: keeps x's NaN)
        inside = ok if inside is None else mul(inside, ok)
    return where_by_value(inside, input, out)


def where_by_value(c, input, other):
    """``where(c != 0, input, other)`` for a float tensor ``c`` of the result's shape and dtype that
    may itself be recorded (so a replay recomputes it); gradients flow to input and other."""
    shape = other._data.shape
    if input._data.dtype != other._data.dtype:
        input = input.to(other.dtype)
    out = _wrap(np.where(c._data != 0, input._data, other._data))
    size = out._data.size
    current_tape().record_ew3(ew.WHERE, out, expand_for(c, shape, size), expand_for(input, shape, size),
                              expand_for(other, shape, size))
    return out


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_by_tensors(input, min, max)
    lo = -np.inf if min is None else float(min)
    hi = np.inf if max is None else float(max)
    if input._data.dtype.kind != "f":
        if not (isinstance(min, float) or isinstance(max, float)):
            return _wrap(np.clip(input._data, min, max))
        input = input.to(dtypes.get_default_dtype())  # an int tensor clamped by floats: PyTorch's default float
    return unary(ew.CLAMP, input, lo, hi)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def _is_float(v):
    return isinstance(v, float) or (isinstance(v, Tensor) and v._data.dtype.kind == "f")


def _float_binary(spec, kernel=None, numbers=False):
    """A two-input op of float results: integer inputs are cast to the default float dtype, or
    (``kernel``: PyTorch has no integer kernel) refused with PyTorch's error; Python numbers are
    refused unless ``numbers``, as in PyTorch."""
    def fn(input, other):
        for k, (arg, v) in enumerate((("input", input), ("other", other))):
            if not isinstance(v, Tensor) and not (numbers and _is_scalar(v)):
                raise TypeError(f"{spec.name}(): argument '{arg}' (position {k + 1}) must be Tensor, not "
                                f"{type(v).__name__}")
        if not (_is_float(input) or _is_float(other)):
            if kernel is not None:
                from .reduce import _torch_name

                d = (input if isinstance(input, Tensor) else other)._data.dtype
                raise NotImplementedError(f"\"{kernel}\" not implemented for '{_torch_name(d)}'")
            input, other = (v.to(dtypes.get_default_dtype()) if isinstance(v, Tensor) else float(v)
                            for v in (input, other))
        return binary(spec, input, other)

    fn.__name__ = spec.name
    fn.__doc__ = f"Elementwise {spec.name}; its gradient is recorded as {spec.grad_fn}."
    return fn


atan2 = arctan2 = _float_binary(ew.ATAN2)
hypot = _float_binary(ew.HYPOT, "hypot_cpu")
logaddexp = _float_binary(ew.LOGADDEXP, "logaddexp_cpu")
xlogy = _float_binary(ew.XLOGY, numbers=True)


def minimum(input, other):
    return binary(ew.MINIMUM, input, other)


def maximum(input, other):
    return binary(ew.MAXIMUM, input, other)


def where(condition, input=None, other=None, *, _spec=ew.WHERE):
    """``where(cond, a, b)``: a where cond holds, else b; gradients flow to a and b. (``_spec``:
    the record's op, ``where`` or an alias of it named as another PyTorch node.)"""
    if _recordings[0] and _trace.recorder is not None and isinstance(condition, Tensor):
        _trace.recorder.on_read(condition, "a where() condition")
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if type(cond) is CudaArray or type(getattr(input, "_data", None)) is CudaArray:
        if input is None and other is None:
            raise NotImplementedError("where(condition) (nonzero) is not implemented on CUDA yet")
        return cuda_ops().where(condition, input, other, _spec)
    if input is None and other is None:
        return tuple(_wrap(i) for i in np.nonzero(cond))
    if cond.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {cond.dtype}")
    if not isinstance(input, Tensor):
        input = as_tensor_arg(input, other if isinstance(other, Tensor) else None)
    if not isinstance(other, Tensor):
        other = as_tensor_arg(other, input)
    if input._data.dtype != other._data.dtype:
        rt = dtypes.result_type(input._data, other._data)
        input, other = input.to(dtypes.from_numpy_dtype(rt)), other.to(dtypes.from_numpy_dtype(rt))
    shape = broadcast_shape(broadcast_shape(cond.shape, input._data.shape), other._data.shape)
    out = _wrap(np.where(cond, input._data, other._data))
    if _recording(input, other):
        tape = current_tape()
        size = math.prod(shape)
        x1, x2 = expand_for(input, shape, size), expand_for(other, shape, size)
        # the condition is read as a value of the record's own float dtype
        c = _wrap(np.array(np.broadcast_to(cond, shape), dtype=out._data.dtype, order="C"))
        tape.record_ew3(_spec, out, c, x1, x2)
    else:
        note_unrecorded(out, input, other)
    return out
