"""``nn.functional``: the stateless forms of the layers and losses (the activations are in
``functional_activation.py``, convolution and pooling in ``conv.py``)."""
import math
import warnings

import numpy as np

from .. import dtypes
from ..autograd.node import composite
from ..ops import elementwise as ew, linalg, loss, pointwise as pw, reduce as red, shape as sh
from ..ops import table
from ..ops.apply import binary, unary
from ..ops.composite import constant_pad
from ..tensor import Tensor, _recordings, _trace, _wrap
from .conv import avg_pool2d, conv1d, conv2d, max_pool2d  # noqa: F401
from .functional_activation import (  # noqa: F401
    elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, logsigmoid, mish, relu, relu6, silu, softplus, softsign,
)

sigmoid = pw.sigmoid
tanh = pw.tanh


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``."""
    if bias is not None and isinstance(input, Tensor) and isinstance(weight, Tensor) and isinstance(bias, Tensor):
        ndim = input._data.ndim
        if ndim == 2:
            out = linalg.linear(input, weight, bias)  # (a batch: one record)
        elif ndim >= 1 and weight._data.ndim == 2:  # as PyTorch: a 2-D batch viewed back (ViewBackward0)
            lead = input.shape[:-1]
            out = linalg.linear(input.reshape(-1, input.shape[-1]), weight, bias)
            out = None if out is None else out.reshape(*lead, out.shape[-1])
        else:
            out = None
        if out is not None:
            return out
    out = linalg.matmul(input, sh.t(weight) if weight.dim() == 2 else weight)
    # binary(): ``out + bias`` less pw.add's checks, whose fast path is for exact Tensors, not Parameters
    return out if bias is None else binary(linalg.ADDMM if out.dim() == 2 else ew.ADD, out, bias)


def dropout(input, p=0.5, training=True, inplace=False):
    """While training, each element zeroed with probability ``p`` and the others scaled by
    ``1 / (1 - p)`` (autotape's random numbers: ``manual_seed`` repeats them, PyTorch's differ)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training:
        return input
    from ..factories import rand

    keep = rand(input.shape, dtype=input.dtype, device=input.device) >= p
    mask = keep.to(input.dtype) * (0.0 if p == 1.0 else 1.0 / (1.0 - p))
    return input.mul_(mask) if inplace else binary(ew.MUL, input, mask)  # (MulBackward0, as PyTorch's CPU dropout)


def one_hot(tensor, num_classes=-1):
    """int64 ``(..., num_classes)``: 1 at each entry's class (``num_classes`` -1: the largest + 1)."""
    data = tensor._data if type(tensor._data) is np.ndarray else tensor.cpu()._data
    if data.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if data.size and data.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        num_classes = int(data.max()) + 1 if data.size else 0
    elif data.size and data.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = _wrap((data[..., None] == np.arange(num_classes)).astype(np.int64))
    return out if type(tensor._data) is np.ndarray else out.to(tensor.device)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(norm_p(input, dim), eps)``: unit vectors along ``dim``."""
    if out is not None:
        raise NotImplementedError("normalize(out=...) is not supported; assign the result instead")
    return input / red.norm(input, p, dim, keepdim=True).clamp_min(eps).expand_as(input)


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


def _check_target_size(input, target):
    """PyTorch's warning where a pointwise loss's input and target broadcast."""
    if (target._data.shape if isinstance(target, Tensor) else np.shape(target)) != input._data.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean (or sum, or elementwise) squared error; its grad_fn is MseLossBackward0, as PyTorch's."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_target_size(input, target)
    if input._data.dtype.kind != "f" and isinstance(target, Tensor) and target._data.dtype.kind != "f":
        raise NotImplementedError(f'"mse_cpu" not implemented for \'{red._torch_name(input._data.dtype)}\' '
                                  "(call .float() on the input and target)")
    return loss.reduce_loss("MseLossBackward0", binary(loss.SQUARED_ERROR, input, target), reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean (or sum, or elementwise) absolute error (PyTorch's is made of abs and mean or sum,
    and shows them)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_target_size(input, target)
    out = pw.abs(input - target)
    if reduction == "sum":
        return red.sum(out)
    return red.mean(out) if reduction == "mean" else out


def _not_differentiable(fn, **tensors):
    for name, t in tensors.items():
        if t is not None and t.requires_grad:
            raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument '{name}'. "
                               "This input cannot have requires_grad True.")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """``-w [p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]``, computed from the logits ``x``
    as PyTorch does (no overflow for large ``|x|``); ``pos_weight`` ``p`` weighs the positives."""
    reduction = _reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    _not_differentiable("binary_cross_entropy_with_logits", weight=weight, pos_weight=pos_weight)
    out = binary(loss.BCE_LOGITS, input, target)
    if pos_weight is not None:  # (1 + (p - 1) y) softplus(-x) is the term above plus (p - 1) y softplus(-x)
        out = out + (pos_weight - 1) * target * pw.softplus(-input)
    if weight is not None:
        out = out * weight
    return composite(loss.reduce_loss("BinaryCrossEntropyWithLogitsBackward0", out, reduction), input, target)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """``-w [y log x + (1 - y) log(1 - x)]`` of probabilities ``x``, each log clamped at -100
    (as PyTorch's: a finite loss and gradient at 0 and 1)."""
    reduction = _reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    if target.dtype != input.dtype:
        raise RuntimeError(f"Found dtype {red._torch_name(target._data.dtype)} but expected "
                           f"{red._torch_name(input._data.dtype)}")
    if input.numel():  # (read past autotape.compile, as a check: a replay does not repeat it)
        data = _host(input)
        if not (0.0 <= data.min() and data.max() <= 1.0):  # (a NaN fails too)
            raise RuntimeError("all elements of input should be between 0 and 1")
    out = binary(loss.BCE, input, target)
    if weight is not None:
        out = out * weight
    return composite(loss.reduce_loss("BinaryCrossEntropyBackward0", out, reduction), input, target)


def _host(t, what=None):
    """``t``'s values as a NumPy array. ``what``: the values go into constants of the tape, so
    ``autotape.compile`` is told (a traced tensor's values refuse, a captured one's are watched)."""
    if what is not None and _recordings[0] and _trace.recorder is not None:
        _trace.recorder.on_read(t, what)
    data = t._data
    return data if type(data) is np.ndarray else data.host()


def _class_weights(input, target, weight, ignore_index):
    """(m, total, keep, w): per element of ``input`` (class dim 1, or 0 of a 1-d input), ``m``
    is minus the weight of its class where that class is the element's target and the target is
    not ``ignore_index``, else 0 (a constant tensor); ``total`` the sum of the targets' weights
    (a mean's divisor); ``keep`` where targets are not ignored; ``w`` the class weights (NumPy).
    PyTorch's checks and messages."""
    shape, ndim = tuple(input.shape), input.dim()
    if ndim == 0:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    if target.dtype.is_floating_point:
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {red._torch_name(target._data.dtype)}")
    if ndim >= 2 and target.dim() >= 1 and target.shape[0] != shape[0]:
        raise ValueError(f"Expected input batch_size ({shape[0]}) to match target batch_size ({target.shape[0]}).")
    if ndim <= 2 and target.dim() != ndim - 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if ndim > 2 and tuple(target.shape) != shape[:1] + shape[2:]:
        raise RuntimeError(f"Expected target size {list(shape[:1] + shape[2:])}, got {list(target.shape)}")
    n_classes = shape[1] if ndim >= 2 else shape[0]
    dt = input._data.dtype
    if weight is None:
        w = np.ones(n_classes, dt)
    else:
        if weight.shape != (n_classes,):
            raise RuntimeError(f"weight tensor should be defined either for all {n_classes} classes or no classes "
                               f"but got weight tensor of shape: {list(weight.shape)}")
        if weight.dtype != input.dtype:
            raise RuntimeError(f"expected scalar type {red._torch_name(dt)} but found "
                               f"{red._torch_name(weight._data.dtype)}")
        w = _host(weight, "nll_loss's weight")
    t = _host(target, "nll_loss's targets").astype(np.int64)
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= n_classes))
    if bad.any():
        raise IndexError(f"Target {t[bad].flat[0]} is out of bounds.")
    t = np.where(keep, t, 0)
    wt = np.where(keep, w[t], 0).astype(dt)
    m = np.zeros((shape[0], n_classes, math.prod(shape[2:])) if ndim >= 2 else shape, dt)
    if ndim >= 2:
        np.put_along_axis(m, t.reshape(shape[0], 1, -1), -wt.reshape(shape[0], 1, -1), axis=1)
    else:
        m[t] = -wt
    return _on(input, m.reshape(shape)), float(wt.sum()), keep, w


def _on(like, array):
    """``array`` as a constant tensor on ``like``'s device."""
    t = _wrap(array)
    return t.to(like.device) if like.is_cuda else t


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Minus the (weighted) log-probability ``input`` gives each target class; class dim 1 (or
    0 of a 1-d input); targets equal to ``ignore_index`` count for nothing."""
    reduction = _reduction(size_average, reduce, reduction)
    m, total, _, _ = _class_weights(input, target, weight, ignore_index)
    ndim, shape = input.dim(), tuple(input.shape)
    name = "NllLoss2DBackward0" if ndim > 2 else "NllLossBackward0"
    x = input
    if ndim == 3 or ndim > 4:  # PyTorch's: the 2-d loss of a view, (N, C, 1, d1 * d2 ...)
        x, m = input.view(shape[0], shape[1], 1, -1), m.view(shape[0], shape[1], 1, -1)
    terms = x * m
    if reduction == "none":
        out = loss.loss_sum(loss.SUMS[name], terms, 1.0, 1 if ndim >= 2 else 0)
    else:
        scale = 1.0 if reduction == "sum" else (1.0 / total if total else math.nan)
        out = loss.loss_sum(loss.SUMS[name], terms, scale)
    composite(out, x)
    return out.view(shape[:1] + shape[2:]) if reduction == "none" and x is not input else out


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """``nll_loss(log_softmax(input, class dim), target)`` for class indices; for class
    probabilities (a float target of the input's shape) ``-(target * log_softmax(input))``
    summed over the classes. ``label_smoothing`` mixes the targets with the uniform distribution."""
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.dim() == 0:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    cdim = 1 if input.dim() >= 2 else 0
    n_classes = input.shape[cdim]
    logp = red.log_softmax(input, cdim)
    if target.dtype.is_floating_point and target.shape == input.shape:  # class probabilities
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / n_classes
        terms = logp * target
        if weight is not None:
            terms = terms * weight.reshape((n_classes,) + (1,) * (input.dim() - cdim - 1))
        if reduction == "none":
            return -red.sum(terms, cdim)
        out = -red.sum(terms)
        return out if reduction == "sum" else unary(loss.DIV_BY_NUMBER, out, input.numel() / n_classes)
    out = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if not label_smoothing:
        return out
    _, total, keep, w = _class_weights(input, target, weight, ignore_index)
    w = w.reshape((n_classes,) + (1,) * (input.dim() - cdim - 1))
    minus_w = -np.where(np.expand_dims(keep, cdim), w, 0).astype(input._data.dtype)  # (ignored targets: 0)
    smooth = red.sum(logp * _on(input, np.broadcast_to(minus_w, tuple(input.shape)).copy()), cdim)
    if reduction != "none":
        smooth = red.sum(smooth)
        if reduction == "mean":
            smooth = smooth / (total if weight is not None else float(keep.sum()))
    return out * (1 - label_smoothing) + smooth * (label_smoothing / n_classes)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """``(x - mean) / sqrt(var + eps)`` over the last dims (``normalized_shape``), with the
    biased variance, then ``* weight + bias``. Composed of mean, var and rsqrt, so its grad_fn
    is the last of them (PyTorch's is one NativeLayerNormBackward0)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or tuple(input.shape[input.dim() - len(shape):]) != shape or input.dim() < len(shape):
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size{list(input.shape)}")
    dims = tuple(range(input.dim() - len(shape), input.dim()))
    mean = red.mean(input, dims, keepdim=True)
    var = red.var(input, dims, keepdim=True, correction=0)
    out = (input - mean) * pw.rsqrt(var + eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


EMBEDDING = table.alias(sh.INDEX, "EmbeddingBackward0")


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """The rows of ``weight`` at the integer ``input`` (any shape); ``padding_idx``'s row gets no
    gradient (its picks read a detached copy of it, so ``autotape.compile`` refuses it: the copy
    would be a constant of the replay)."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    idx = _host(input, "embedding's indices")
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.dtype} instead (while checking arguments for embedding)")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError("index out of range in self")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise AssertionError("Padding_idx must be within num_embeddings")
        rows = np.arange(n)[:, None] == padding_idx % n
        weight = pw.where(weight.new_tensor(rows, dtype=dtypes.bool_), weight.detach(), weight)
    return sh.indexed(weight, (idx.astype(np.int64),), EMBEDDING)


def pad(input, pad, mode="constant", value=None):
    """Constant padding only (ConstantPadNdBackward0, as PyTorch's); negative pads crop."""
    if mode != "constant":
        raise NotImplementedError(f"pad(mode={mode!r}) is not supported; only mode='constant' is")
    return constant_pad(input, pad, 0 if value is None else value)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``sum((x1 / |x1|) * (x2 / |x2|), dim)``, each norm at least ``eps`` as PyTorch's: its value
    clamped, its gradient the unclamped norm's (PyTorch clamps in place under no_grad; here a
    detached correction, which ``autotape.compile`` refuses as a constant of the replay)."""
    shape = tuple(np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape)))
    x1, x2 = x1.expand(shape), x2.expand(shape)

    def unit(x):
        n = red.norm(x, 2, dim, keepdim=True)
        return x / (n + (n.clamp_min(eps) - n).detach())

    return red.sum(unit(x1) * unit(x2), dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``norm(x1 - x2 + eps, p)`` over the last dim, as PyTorch's."""
    return red.norm(x1 - x2 + eps, p, -1, keepdim)
