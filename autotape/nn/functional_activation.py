"""The activations of ``nn.functional``: each one op of the table (or a short composition where
that gives PyTorch's grad_fn), on float tensors, in place where asked."""
import numpy as np

from ..ops import elementwise as ew, pointwise as pw, reduce as red
from ..ops.apply import unary
from ..tensor import Tensor, _wrap


def relu(input, inplace=False):
    return input.relu_() if inplace else pw.relu(input)


def softplus(input, beta=1.0, threshold=20.0):
    return pw.softplus(input, beta, threshold)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x`` where positive, else ``negative_slope * x``."""
    if not isinstance(input, Tensor):
        raise TypeError(f"leaky_relu(): argument 'input' must be Tensor, not {type(input).__name__}")
    if inplace:
        return _in_place(lambda t: unary(ew.LEAKY_RELU_INPLACE, t, float(negative_slope)))(input)
    return unary(ew.LEAKY_RELU, input, float(negative_slope))


_GELU_MODES = {"none": 0.0, "tanh": 1.0}  # (the record's attribute a)


def gelu(input, approximate="none"):
    """``x * Phi(x)`` (Phi: the standard normal CDF), or PyTorch's tanh approximation of it."""
    mode = _GELU_MODES.get(approximate)
    if mode is None:
        raise RuntimeError("approximate argument must be either none or tanh.")
    if isinstance(input, Tensor) and input._data.dtype.kind != "f":
        raise NotImplementedError(f'"GeluKernelImpl" not implemented for \'{red._torch_name(input._data.dtype)}\'')
    return unary(ew.GELU, input, mode)


def _float_activation(spec, kernel, input, a=0.0, inplace=False, inplace_spec=None):
    """``spec`` on a float tensor (PyTorch has no integer kernel for it: its error), in place
    (recorded as ``inplace_spec`` if given) if asked."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{spec.name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f'"{kernel}" not implemented for \'{red._torch_name(input._data.dtype)}\'')
    if inplace:
        return _in_place(lambda t: unary(inplace_spec or spec, t, a))(input)
    return unary(spec, input, a)


def _in_place(fn):
    """``fn`` writing into its input, recorded as the op itself (SiluBackward0, as PyTorch's
    ``silu_``), the input's old value saved by a copy (see ``methods._inplace``)."""
    from ..methods import _inplace

    return _inplace(fn)


def silu(input, inplace=False):
    """``x * sigmoid(x)``."""
    return _float_activation(ew.SILU, "silu_cpu", input, inplace=inplace)


def elu(input, alpha=1.0, inplace=False):
    """``x`` where positive, else ``alpha * (exp(x) - 1)``."""
    return _float_activation(ew.ELU, "elu_cpu", input, float(alpha), inplace, ew.ELU_INPLACE)


def mish(input, inplace=False):
    """``x * tanh(softplus(x))``."""
    return _float_activation(ew.MISH, "mish_cpu", input, inplace=inplace)


def logsigmoid(input):
    """``log(sigmoid(x))``, without overflow."""
    return _float_activation(ew.LOGSIGMOID, "log_sigmoid_cpu", input)


def hardsigmoid(input, inplace=False):
    """``relu6(x + 3) / 6``."""
    return _float_activation(ew.HARDSIGMOID, "hardsigmoid_cpu", input, inplace=inplace)


def hardswish(input, inplace=False):
    """``x * relu6(x + 3) / 6``."""
    return _float_activation(ew.HARDSWISH, "hardswish_cpu", input, inplace=inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``x`` clamped to [min_val, max_val]; an integer tensor stays one, as in PyTorch."""
    if not isinstance(input, Tensor):
        raise TypeError(f"hardtanh(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if input._data.dtype.kind == "b":
        raise RuntimeError("Bool inputs not supported for hardtanh")
    if input._data.dtype.kind != "f":
        out = _wrap(np.clip(input._data, min_val, max_val).astype(input._data.dtype))
        return input.copy_(out) if inplace else out
    fn = lambda t: unary(ew.HARDTANH, t, float(min_val), float(max_val))  # noqa: E731
    return _in_place(fn)(input) if inplace else fn(input)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def softsign(input):
    """``x / (1 + |x|)``, composed as PyTorch composes it (its grad_fn: DivBackward0)."""
    return input / (input.abs() + 1)
