"""Elementwise ops: forward in NumPy, VJP as one expression each (see ``table.py``)."""
import math
import operator

import numpy as np
from numba import njit

from .table import alias, defop


def _softplus(x, beta, threshold):
    # logaddexp(0, t) = log(1 + e^t) without overflow, in one ufunc
    bx = x * x.dtype.type(beta) if beta != 1.0 else x
    soft = np.logaddexp(x.dtype.type(0), bx)
    if beta != 1.0:
        soft = soft / x.dtype.type(beta)
    return np.where(bx > threshold, x, soft)


def _softplus_one(x, beta, threshold):
    """One element (beta and threshold already in the tensor's dtype, as PyTorch takes them)."""
    if beta != 1.0:
        return None  # x * beta is rounded to the tensor's dtype before the comparison: NumPy's path
    if x > threshold:
        return x
    # (not max(x, 0.0): that costs 0.15 us in Python 3.11; a NaN x makes the log1p term NaN)
    return (x if x > 0.0 else 0.0) + math.log1p(math.exp(-abs(x)))


# GELU (a: 0.0 exact, 1.0 tanh approximation) as PyTorch's kernels compute it, in float64. NumPy
# has no erf and math.erf per element costs ~0.1 us in Python: a compiled loop (compiled on first
# use, then cached on disk).
_GELU = ("x * 0.5 * (1.0 + math.erf(x * 0.7071067811865476)) if a == 0.0 else "
         "0.5 * x * (1.0 + math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))")
# its derivative: cdf + x * pdf; the tanh form's product rule
_GELU_VJP = ("g * (0.5 * (1.0 + math.erf(x * 0.7071067811865476)) + x * (0.3989422804014327 * math.exp(x * x * -0.5)))"
             " if a == 0.0 else g * (0.5 * (1.0 + math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))"
             " + 0.5 * x * (1.0 - math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)) ** 2)"
             " * (0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x)))")


@njit(cache=True)
def _gelu_loop(flat, a, out):
    for i in range(flat.size):
        x = np.float64(flat[i])
        out[i] = (x * 0.5 * (1.0 + math.erf(x * 0.7071067811865476)) if a == 0.0 else
                  0.5 * x * (1.0 + math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))))  # (_GELU)


@njit(cache=True)
def _erf_loop(flat, a, out):  # (a: 0.0 erf, 1.0 erfc)
    for i in range(flat.size):
        x = np.float64(flat[i])
        out[i] = math.erf(x) if a == 0.0 else math.erfc(x)


def _looped(loop):
    """A forward by one of the compiled loops above, in float64, rounded to the tensor's dtype."""
    def forward(x, a, b):
        out = np.empty(x.shape, x.dtype)
        loop(np.ascontiguousarray(x).reshape(-1), a, out.reshape(-1))
        return out

    return forward


_gelu = _looped(_gelu_loop)
_erf = _looped(_erf_loop)


def _sigmoid(x, a, b):
    # exp of a negative argument only, so large |x| never overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _rsqrt(x, a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 / np.sqrt(x)


def _clamp(x, lo, hi):
    return np.minimum(np.maximum(x, x.dtype.type(lo)), x.dtype.type(hi))


def _pow_scalar(x, p, b):
    # NumPy's general power is ~30x slower than a multiply; the tutorials' exponents are small
    if p == 2.0:
        return x * x
    if p == 3.0:
        y = x * x
        return np.multiply(y, x, out=y) if x.ndim else y * x  # (the second product in place: one array less)
    if p == 1.0:
        return x.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.power(x, x.dtype.type(p))


def _silu(x, a, b):
    return x * _sigmoid(x, a, b)


def _as_integer(f):
    """The ``fwd`` of floor, ceil, trunc, round: ``f`` (Python's, an integer in Numba, a float in
    CUDA) as a float with x's sign (floor(-0.0) is -0.0, ceil(-0.5) too); NaN, infinities and
    |x| >= 2**52 (integers already, beyond int64's reach as floats may be) are themselves."""
    return f"(x if (x != x or abs(x) >= 4503599627370496.0) else math.copysign(float({f}), x))"


# sigmoid(x) and softplus(x) = log(1 + e^x) as expressions that never overflow
_SIG = "(1.0 / (1.0 + math.exp(-x)) if x >= 0.0 else math.exp(x) / (1.0 + math.exp(x)))"
_SOFTPLUS = "((x if x > 0.0 else 0.0) + math.log1p(math.exp(-abs(x))))"
_MISH_T = f"math.tanh({_SOFTPLUS})"


def _rpow(x, base, b):
    with np.errstate(over="ignore"):
        return np.power(x.dtype.type(base), x)


def _quiet(f):
    def run(*args):  # (PyTorch's forwards warn of no division by zero, NaN or overflow)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return f(*args)

    return run


# One-input ops: forward(x, a, b); VJP in x, y, g, a, b. A ``scalar`` (see ``table.py``) gets a
# and b in the tensor's dtype, as NumPy's forward uses them (x.dtype.type(a)). For + - * / the
# double result rounded to float32 is float32's own (double rounding is innocuous for them); a
# division by zero raises in Python and so is left to NumPy.
NEG = defop("neg", "NegBackward0", "ew1", "-g", lambda x, a, b: np.negative(x), fwd='-x',
            scalar=lambda x, a, b: -x)
EXP = defop("exp", "ExpBackward0", "ew1", "g * y", lambda x, a, b: np.exp(x), fwd='math.exp(x)')
LOG = defop("log", "LogBackward0", "ew1", "g / x", _quiet(lambda x, a, b: np.log(x)), fwd='math.log(x) if x > 0.0 else (-math.inf if x == 0.0 else math.nan)')
LOG1P = defop("log1p", "Log1PBackward0", "ew1", "g / (1.0 + x)", _quiet(lambda x, a, b: np.log1p(x)), fwd='math.log1p(x) if x > -1.0 else (-math.inf if x == -1.0 else math.nan)')
SQRT = defop("sqrt", "SqrtBackward0", "ew1", "g / (2.0 * y)", _quiet(lambda x, a, b: np.sqrt(x)), fwd='math.sqrt(x) if x >= 0.0 else math.nan')
RSQRT = defop("rsqrt", "RsqrtBackward0", "ew1", "-0.5 * g * y * y * y", _rsqrt, fwd='1.0 / math.sqrt(x) if x > 0.0 else (math.inf if x == 0.0 else math.nan)')
SQUARE = defop("square", "PowBackward0", "ew1", "2.0 * g * x", lambda x, a, b: np.square(x), fwd='x * x')
ABS = defop("abs", "AbsBackward0", "ew1", "g * ((x > 0.0) - (x < 0.0))", lambda x, a, b: np.abs(x), fwd='abs(x)')
SIGN = defop("sign", "SignBackward0", "ew1", "0.0 * g", lambda x, a, b: np.nan_to_num(np.sign(x)),
             fwd='1.0 if x > 0.0 else (-1.0 if x < 0.0 else (0.0 if x != x else x * 0.0))')  # sign(nan) is 0, as in PyTorch
SIN = defop("sin", "SinBackward0", "ew1", "g * math.cos(x)", lambda x, a, b: np.sin(x), fwd='math.sin(x)')
COS = defop("cos", "CosBackward0", "ew1", "-g * math.sin(x)", lambda x, a, b: np.cos(x), fwd='math.cos(x)')
TAN = defop("tan", "TanBackward0", "ew1", "g * (1.0 + y * y)", lambda x, a, b: np.tan(x), fwd='math.tan(x)')
LOG2 = defop("log2", "Log2Backward0", "ew1", "g / (x * 0.6931471805599453)", _quiet(lambda x, a, b: np.log2(x)),
             fwd='math.log2(x) if x > 0.0 else (-math.inf if x == 0.0 else math.nan)')
LOG10 = defop("log10", "Log10Backward0", "ew1", "g / (x * 2.302585092994046)", _quiet(lambda x, a, b: np.log10(x)),
              fwd='math.log10(x) if x > 0.0 else (-math.inf if x == 0.0 else math.nan)')
EXP2 = defop("exp2", "Exp2Backward0", "ew1", "g * y * 0.6931471805599453", _quiet(lambda x, a, b: np.exp2(x)),
             fwd='math.inf if x >= 1024.0 else 2.0 ** x')
EXPM1 = defop("expm1", "Expm1Backward0", "ew1", "g * (y + 1.0)", _quiet(lambda x, a, b: np.expm1(x)), fwd='math.expm1(x)')
SINH = defop("sinh", "SinhBackward0", "ew1", "g * math.cosh(x)", _quiet(lambda x, a, b: np.sinh(x)), fwd='math.sinh(x)')
COSH = defop("cosh", "CoshBackward0", "ew1", "g * math.sinh(x)", _quiet(lambda x, a, b: np.cosh(x)), fwd='math.cosh(x)')
# (PyTorch's gradients: g * rsqrt(1 - x * x) and the like, inf where the root is 0, NaN where negative)
ASIN = defop("asin", "AsinBackward0", "ew1",
             "g / math.sqrt(1.0 - x * x) if x * x < 1.0 else g * (math.inf if x * x == 1.0 else math.nan)",
             _quiet(lambda x, a, b: np.arcsin(x)), fwd='math.asin(x) if abs(x) <= 1.0 else math.nan')
ACOS = defop("acos", "AcosBackward0", "ew1",
             "-g / math.sqrt(1.0 - x * x) if x * x < 1.0 else -g * (math.inf if x * x == 1.0 else math.nan)",
             _quiet(lambda x, a, b: np.arccos(x)), fwd='math.acos(x) if abs(x) <= 1.0 else math.nan')
ATAN = defop("atan", "AtanBackward0", "ew1", "g / (x * x + 1.0)", lambda x, a, b: np.arctan(x), fwd='math.atan(x)')
ASINH = defop("asinh", "AsinhBackward0", "ew1", "g / math.sqrt(x * x + 1.0)", lambda x, a, b: np.arcsinh(x),
              fwd='math.asinh(x)')
ACOSH = defop("acosh", "AcoshBackward0", "ew1",
              "g / math.sqrt(x * x - 1.0) if x * x > 1.0 else g * (math.inf if x * x == 1.0 else math.nan)",
              _quiet(lambda x, a, b: np.arccosh(x)), fwd='math.acosh(x) if x >= 1.0 else math.nan')
ATANH = defop("atanh", "AtanhBackward0", "ew1", "g / (1.0 - x * x) if x * x != 1.0 else g * math.inf",
              _quiet(lambda x, a, b: np.arctanh(x)),
              fwd='math.atanh(x) if abs(x) < 1.0 else (math.copysign(math.inf, x) if abs(x) == 1.0 else math.nan)')
RECIPROCAL = defop("reciprocal", "ReciprocalBackward0", "ew1", "-g * (y * y)", _quiet(lambda x, a, b: np.reciprocal(x)),
                   fwd='1.0 / x if x != 0.0 else math.copysign(math.inf, x)')
# (a: 0.0 erf, 1.0 erfc; 2 / sqrt(pi) * exp(-x * x) is erf's derivative)
ERF = defop("erf", "ErfBackward0", "ew1", "g * 1.1283791670955126 * math.exp(-x * x)", _erf, fwd='math.erf(x)')
ERFC = defop("erfc", "ErfcBackward0", "ew1", "-g * 1.1283791670955126 * math.exp(-x * x)",
             lambda x, a, b: _erf(x, 1.0, b), fwd='math.erfc(x)')
# Roundings: a zero gradient, as PyTorch's; round is half to even, as NumPy's and PyTorch's.
FLOOR = defop("floor", "FloorBackward0", "ew1", "0.0", lambda x, a, b: np.floor(x), fwd=_as_integer("math.floor(x)"))
CEIL = defop("ceil", "CeilBackward0", "ew1", "0.0", lambda x, a, b: np.ceil(x), fwd=_as_integer("math.ceil(x)"))
TRUNC = defop("trunc", "TruncBackward0", "ew1", "0.0", lambda x, a, b: np.trunc(x), fwd=_as_integer("math.trunc(x)"))
ROUND = defop("round", "RoundBackward0", "ew1", "0.0", lambda x, a, b: np.round(x), fwd=_as_integer("round(x)"))
FRAC = defop("frac", "FracBackward0", "ew1", "g", _quiet(lambda x, a, b: x - np.trunc(x)),
             fwd=f"x - {_as_integer('math.trunc(x)')}")
TANH = defop("tanh", "TanhBackward0", "ew1", "g * (1.0 - y * y)", lambda x, a, b: np.tanh(x), fwd='math.tanh(x)')
SIGMOID = defop("sigmoid", "SigmoidBackward0", "ew1", "g * y * (1.0 - y)", _sigmoid, fwd='1.0 / (1.0 + math.exp(-x)) if x >= 0.0 else math.exp(x) / (1.0 + math.exp(x))')
RELU = defop("relu", "ReluBackward0", "ew1", "0.0 if y <= 0.0 else g", lambda x, a, b: np.maximum(x, 0), fwd='0.0 if x < 0.0 else x')
# (a: negative_slope; at 0 the gradient is the slope's, as PyTorch's ``x > 0``)
LEAKY_RELU = defop("leaky_relu", "LeakyReluBackward0", "ew1", "g if x > 0.0 else g * a",
                   lambda x, a, b: np.where(x > 0, x, x * a), fwd='x if x > 0.0 else x * a')
LEAKY_RELU_INPLACE = alias(LEAKY_RELU, "LeakyReluBackward1")  # (PyTorch's leaky_relu_)
GELU = defop("gelu", "GeluBackward0", "ew1", _GELU_VJP, _gelu, fwd=_GELU)
SILU = defop("silu", "SiluBackward0", "ew1", f"g * {_SIG} * (1.0 + x * (1.0 - {_SIG}))", _quiet(_silu),
             fwd=f"x * {_SIG}")
# (a: alpha; a NaN takes the positive side's gradient, as PyTorch's ``x <= 0`` test)
ELU = defop("elu", "EluBackward0", "ew1", "g * a * math.exp(x) if x <= 0.0 else g",
            lambda x, a, b: np.where(x > 0, x, x.dtype.type(a) * np.expm1(np.minimum(x, 0))),
            fwd="a * math.expm1(x) if x <= 0.0 else x")
ELU_INPLACE = alias(ELU, "EluBackward1")  # (PyTorch's elu_: its gradient from the result, the same numbers)
MISH = defop("mish", "MishBackward0", "ew1", f"g * ({_MISH_T} + x * {_SIG} * (1.0 - {_MISH_T} ** 2))",
             _quiet(lambda x, a, b: x * np.tanh(np.logaddexp(x.dtype.type(0), x))), fwd=f"x * {_MISH_T}")
# (a, b: min_val, max_val; PyTorch's gradient is 0 at the bounds and passes a NaN x's through)
HARDTANH = defop("hardtanh", "HardtanhBackward0", "ew1", "0.0 if (x <= a or x >= b) else g", _clamp,
                 fwd="min(max(x, a), b) if x == x else x")
LOGSIGMOID = defop(
    "logsigmoid", "LogSigmoidBackward0", "ew1",
    "g * (1.0 / (1.0 + math.exp(x)) if x < 0.0 else math.exp(-x) / (1.0 + math.exp(-x)))",  # g * sigmoid(-x)
    lambda x, a, b: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))),
    fwd="(x if x < 0.0 else 0.0) - math.log1p(math.exp(-abs(x)))",
)
# (PyTorch's gradient is g * float32(1 / 6), in float64 too)
HARDSIGMOID = defop("hardsigmoid", "HardsigmoidBackward0", "ew1",
                    "g * 0.1666666716337204 if (x > -3.0 and x < 3.0) else 0.0",
                    lambda x, a, b: np.minimum(np.maximum(x + 3, 0), 6) / 6, fwd="min(max(x + 3.0, 0.0), 6.0) / 6.0")
# (PyTorch's gradient passes a NaN x's through)
HARDSWISH = defop("hardswish", "HardswishBackward0", "ew1",
                  "0.0 if x <= -3.0 else (g * (x / 3.0 + 0.5) if x < 3.0 else g)",
                  _quiet(lambda x, a, b: x * np.minimum(np.maximum(x + 3, 0), 6) / 6),
                  fwd="x * min(max(x + 3.0, 0.0), 6.0) / 6.0")
SOFTPLUS = defop(
    "softplus", "SoftplusBackward0", "ew1",
    "g if x * a > b else g / (1.0 + math.exp(-x * a))", _softplus,
    fwd='x if x * a > b else (max(x * a, 0.0) + math.log1p(math.exp(-abs(x * a)))) / a',
    scalar=_softplus_one,
)
CLAMP = defop("clamp", "ClampBackward1", "ew1", "g if (x >= a and x <= b) else 0.0", _clamp, fwd='min(max(x, a), b) if x == x else x')
POW_SCALAR = defop(
    "pow_scalar", "PowBackward0", "ew1", "0.0 if a == 0.0 else g * a * (x if a == 2.0 else (x * x if a == 3.0 else x ** (a - 1.0)))", _pow_scalar,
    fwd='x * x if a == 2.0 else (x * x * x if a == 3.0 else (x if a == 1.0 else x ** a))',
)
RPOW = defop(
    "rpow", "PowBackward2", "ew1", "0.0 if (a == 0.0 and x >= 0.0) else g * y * math.log(a)", _rpow,
    fwd='a ** x',
)
ADD_SCALAR = defop("add_scalar", "AddBackward0", "ew1", "g", lambda x, a, b: x + x.dtype.type(a), fwd='x + a',
                    scalar=lambda x, a, b: x + a)
SUB_SCALAR = defop("sub_scalar", "SubBackward0", "ew1", "g", lambda x, a, b: x - x.dtype.type(a), fwd='x - a',
                    scalar=lambda x, a, b: x - a)
RSUB_SCALAR = defop("rsub_scalar", "RsubBackward1", "ew1", "-g", lambda x, a, b: x.dtype.type(a) - x, fwd='a - x',
                     scalar=lambda x, a, b: a - x)
MUL_SCALAR = defop("mul_scalar", "MulBackward0", "ew1", "g * a", lambda x, a, b: x * x.dtype.type(a), fwd='x * a',
                    scalar=lambda x, a, b: x * a)
DIV_SCALAR = defop("div_scalar", "DivBackward0", "ew1", "g / a", _quiet(lambda x, a, b: x / x.dtype.type(a)),
                   fwd='x / a', scalar=lambda x, a, b: x / a)
RDIV_SCALAR = defop(  # (PyTorch's 2 / x is 2 * reciprocal(x): a MulBackward0)
    "rdiv_scalar", "MulBackward0", "ew1", "-g * y / x", _quiet(lambda x, a, b: x.dtype.type(a) / x),
    fwd='a / x', scalar=lambda x, a, b: a / x,
)
# Ops that move no numbers: the gradient passes through unchanged on the flat layout.
TO_COPY = defop("to_copy", "ToCopyBackward0", "ew1", "g", lambda x, a, b: x.copy())
CLONE = defop("clone", "CloneBackward0", "ew1", "g", lambda x, a, b: x.copy(), fwd='x')
VIEW = defop("view", "ViewBackward0", "ew1", "g", lambda x, a, b: x, fwd='x')
# PyTorch's reshape: a view of a contiguous tensor; an alias of another it can view; an "unsafe
# view" of the copy where it cannot
RESHAPE = defop("reshape", "UnsafeViewBackward0", "ew1", "g", lambda x, a, b: x, fwd='x')
RESHAPE_ALIAS = defop("reshape_alias", "ReshapeAliasBackward0", "ew1", "g", lambda x, a, b: x, fwd='x')
UNSQUEEZE = defop("unsqueeze", "UnsqueezeBackward0", "ew1", "g", lambda x, a, b: x, fwd='x')
# PyTorch's three squeezes: of every size-1 dim, of one dim, of a tuple of dims
SQUEEZE = defop("squeeze", "SqueezeBackward0", "ew1", "g", lambda x, a, b: x, fwd='x')
SQUEEZE_DIM = defop("squeeze_dim", "SqueezeBackward1", "ew1", "g", lambda x, a, b: x, fwd='x')
SQUEEZE_DIMS = defop("squeeze_dims", "SqueezeBackward2", "ew1", "g", lambda x, a, b: x, fwd='x')
# (the last step of x.repeat: the copy of an expanded view; the expand's VJP sums the copies back)
REPEAT = defop("repeat", "RepeatBackward0", "ew1", "g", lambda x, a, b: x, fwd='x')

# Two-input ops of one shape (or one side of size 1): forward(x1, x2); VJPs in x1, x2, y, g.
ADD = defop("add", "AddBackward0", "ew2", ("g", "g"), np.add, fwd='x1 + x2', scalar=operator.add)
SUB = defop("sub", "SubBackward0", "ew2", ("g", "-g"), np.subtract, fwd='x1 - x2', scalar=operator.sub)
MUL = defop("mul", "MulBackward0", "ew2", ("g * x2", "g * x1"), np.multiply, fwd='x1 * x2', scalar=operator.mul)
DIV = defop("div", "DivBackward0", "ew2", ("g / x2", "-g * x1 / (x2 * x2)"), _quiet(np.divide), fwd='x1 / x2',
             scalar=operator.truediv)
POW = defop(
    "pow", "PowBackward1", "ew2",
    ("0.0 if x2 == 0.0 else g * x2 * x1 ** (x2 - 1.0)",
     "0.0 if (x1 == 0.0 and x2 >= 0.0) else g * y * math.log(x1)"),
    _quiet(np.power),
    fwd='x1 ** x2',
)
# (PyTorch's atan2 gradient is 0 where x1 * x1 + x2 * x2 is)
ATAN2 = defop(
    "atan2", "Atan2Backward0", "ew2",
    ("g * x2 / (x1 * x1 + x2 * x2) if x1 * x1 + x2 * x2 != 0.0 else g * x2 * 0.0",
     "-g * x1 / (x1 * x1 + x2 * x2) if x1 * x1 + x2 * x2 != 0.0 else -g * x1 * 0.0"),
    np.arctan2, fwd='math.atan2(x1, x2)',
)
HYPOT = defop("hypot", "HypotBackward0", "ew2",
              ("g * x1 / y if y != 0.0 else math.nan", "g * x2 / y if y != 0.0 else math.nan"),
              _quiet(np.hypot), fwd='math.hypot(x1, x2)')
# (d/dx1 = sigmoid(x1 - x2), without overflow)
LOGADDEXP = defop(
    "logaddexp", "LogaddexpBackward0", "ew2",
    ("g * (1.0 / (1.0 + math.exp(x2 - x1)) if x1 >= x2 else math.exp(x1 - x2) / (1.0 + math.exp(x1 - x2)))",
     "g * (1.0 / (1.0 + math.exp(x1 - x2)) if x2 >= x1 else math.exp(x2 - x1) / (1.0 + math.exp(x2 - x1)))"),
    _quiet(np.logaddexp),
    fwd='x1 if (x1 == x2 and math.isinf(x1)) else (x1 if x1 > x2 else x2) + math.log1p(math.exp(-abs(x1 - x2)))',
)
_LOG_X2 = "(math.log(x2) if x2 > 0.0 else (-math.inf if x2 == 0.0 else math.nan))"
# x1 * log(x2), 0 where x1 is (unless x2 is NaN); PyTorch's gradients: xlogy(g, x2), 0 where
# x1 == 0 and x2 <= 0; and g * x1 / x2
XLOGY = defop(
    "xlogy", "XlogyBackward0", "ew2",
    (f"0.0 if ((x1 == 0.0 and x2 <= 0.0) or (g == 0.0 and x2 == x2)) else g * {_LOG_X2}",
     "g * x1 / x2 if x2 != 0.0 else g * x1 * math.copysign(math.inf, x2)"),
    _quiet(lambda x1, x2: np.where((x1 == 0) & (x2 == x2), x1.dtype.type(0), x1 * np.log(x2))),
    fwd=f"0.0 if (x1 == 0.0 and x2 == x2) else x1 * {_LOG_X2}",
)
# Ties share the gradient equally, as PyTorch does; where a NaN makes every comparison false,
# both inputs get it (PyTorch zeroes only the side that is strictly beaten).
MINIMUM = defop(
    "minimum", "MinimumBackward0", "ew2",
    ("0.5 * g if x1 == x2 else (0.0 if x1 > x2 else g)", "0.5 * g if x1 == x2 else (0.0 if x2 > x1 else g)"),
    np.minimum,
    fwd='x1 if (x1 < x2 or x1 != x1) else x2',
)
MAXIMUM = defop(
    "maximum", "MaximumBackward0", "ew2",
    ("0.5 * g if x1 == x2 else (0.0 if x1 < x2 else g)", "0.5 * g if x1 == x2 else (0.0 if x2 < x1 else g)"),
    np.maximum,
    fwd='x1 if (x1 > x2 or x1 != x1) else x2',
)
# where(c, x1, x2): the condition c is a third, non-differentiable input.
WHERE = defop(
    "where", "WhereBackward0", "ew3", ("g if c != 0.0 else 0.0", "0.0 if c != 0.0 else g"),
    lambda c, x1, x2: np.where(c, x1, x2),
    fwd='x1 if c != 0.0 else x2',
)
