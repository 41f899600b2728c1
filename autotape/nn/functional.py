"""``nn.functional``: the stateless forms of the layers and losses."""
import warnings

import numpy as np

from ..ops import elementwise as ew, linalg, pointwise as pw, reduce as red, shape as sh
from ..ops.apply import binary
from ..tensor import Tensor

sigmoid = pw.sigmoid
tanh = pw.tanh


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``."""
    out = linalg.matmul(input, sh.t(weight) if weight.dim() == 2 else weight)
    # binary(): ``out + bias`` less pw.add's checks, whose fast path is for exact Tensors, not Parameters
    return out if bias is None else binary(ew.ADD, out, bias)


def relu(input, inplace=False):
    return input.relu_() if inplace else pw.relu(input)


def softplus(input, beta=1.0, threshold=20.0):
    return pw.softplus(input, beta, threshold)


def _implicit_dim(name, input, dim, stacklevel):
    """PyTorch's legacy choice when no dim is given (with its warning): 0 for 0-, 1- and 3-d
    inputs, else 1."""
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if input.dim() in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return red.softmax(input, _implicit_dim("softmax", input, dim, _stacklevel), dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return red.log_softmax(input, _implicit_dim("log_softmax", input, dim, _stacklevel), dtype=dtype)


def _reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:  # PyTorch's legacy arguments
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _pointwise_loss(fn, input, target, reduction):
    """``fn(input - target)``, reduced as ``reduction`` (checked) says."""
    if (target._data.shape if isinstance(target, Tensor) else np.shape(target)) != input._data.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )
    out = fn(input - target)
    if reduction == "sum":
        return red.sum(out)
    return red.mean(out) if reduction == "mean" else out


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean (or sum, or elementwise) squared error."""
    return _pointwise_loss(pw.square, input, target, _reduction(size_average, reduce, reduction))


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean (or sum, or elementwise) absolute error."""
    return _pointwise_loss(pw.abs, input, target, _reduction(size_average, reduce, reduction))
