"""Convolution and pooling composed of differentiable ops, so CPU, CUDA and autotape.compile run
them with no kernels of their own. im2col is one integer-array indexing of the flattened input
(with one extra element, zero or -inf, that padded positions read): its backward scatters the
gradient back, which is the convolution's input gradient. Then a matmul with the weight (conv),
a max along each window (max pooling, whose gradient goes to the window's first maximum, as
PyTorch's) or a sum scaled by the window's divisor (average pooling). The last record of each is
an alias named as PyTorch's one node, listing the op's inputs."""
import math

import numpy as np

from ..autograd.node import composite
from ..cuda.array import CudaArray
from ..ops import elementwise as ew, linalg, reduce as red, shape as sh
from ..ops.apply import binary, cuda_ops
from ..ops.table import alias
from ..tensor import Tensor, _wrap

CONV_ADD = alias(ew.ADD, "ConvolutionBackward0")  # the bias added: the conv's last record
CONV_VIEW = alias(ew.VIEW, "ConvolutionBackward0")  # (no bias: the product viewed as the output)
# the max of each window: amax's record (its compiled forward) with max(dim)'s gradient rule, the
# first maximum's (k_extreme's mode 1); on CUDA max(dim)'s record, whose gradient goes to its index
MAX_POOL2D = alias(red.AMAX, "MaxPool2DWithIndicesBackward0")
MAX_POOL2D_CUDA = alias(red.MAX_DIM, "MaxPool2DWithIndicesBackward0")
AVG_POOL2D = alias(ew.MUL, "AvgPool2DBackward0")

_index_cache = {}  # geometry -> (index, whether it reads padding), see _window_index


def _tuple(value, nd, name):
    t = tuple(value) if isinstance(value, (tuple, list)) else (value,) * nd
    if len(t) == 1 and nd > 1:
        t = t * nd
    if len(t) != nd or not all(isinstance(v, (int, np.integer)) for v in t):
        raise TypeError(f"{name} must be an int or a tuple of {nd} ints, got {value!r}")
    return tuple(map(int, t))


def _positions(plane, kernel, stride, pads, dilation, out):
    """The flat position in a plane of shape ``plane`` that each kernel offset reads at each
    output position, shaped (K..., O...); -1 where it reads padding."""
    nd = len(plane)
    pos, valid = np.zeros((1,) * 2 * nd, np.int64), np.ones((1,) * 2 * nd, bool)
    for d in range(nd):
        p = np.arange(kernel[d])[:, None] * dilation[d] + np.arange(out[d])[None, :] * stride[d] - pads[d][0]
        p = p.reshape(tuple(kernel[d] if j == d else out[d] if j == nd + d else 1 for j in range(2 * nd)))
        valid = valid & (p >= 0) & (p < plane[d])
        pos = pos * plane[d] + p
    return np.where(valid, pos, -1)


def _window_index(shape, kernel, stride, pads, dilation, out, pool):
    """Where each window element of an input of ``shape`` (N, C, *plane) lies in its flattened
    values, N * C * plane size for padding: (N, C, K, L) for a conv (K: kernel offsets, L: output
    positions), (N, C, *out, K) for a pooling (``pool``). Cached per geometry."""
    key = (shape, kernel, stride, pads, dilation, out, pool)
    hit = _index_cache.get(key)
    if hit is None:
        n, c, plane = shape[0], shape[1], shape[2:]
        size, k = math.prod(plane), math.prod(kernel)
        pos = _positions(plane, kernel, stride, pads, dilation, out)
        pos = pos.reshape(k, -1).T.reshape(out + (k,)) if pool else pos.reshape(k, -1)
        index = np.arange(n * c, dtype=np.int64).reshape((n, c) + (1,) * pos.ndim) * size + pos
        padded = pos < 0
        if len(_index_cache) > 64:
            _index_cache.clear()
        hit = _index_cache[key] = (np.where(padded, n * c * size, index), bool(padded.any()))
    return hit


def _gather_windows(input, index, padded, fill):
    """``input``'s values at ``index`` (see ``_window_index``), ``fill`` where it reads padding:
    one indexing record."""
    flat = input.reshape(-1)
    if padded:
        extra = _wrap(np.full(1, fill, input._data.dtype))
        flat = sh.cat([flat, extra.to(input.device) if input.is_cuda else extra])
    return sh.indexed(flat, index, sh.INDEX)


def _pads(padding, nd, kernel, dilation, stride):
    """((lo, hi) per dim) of an int, tuple or 'valid'/'same' ``padding`` (same: PyTorch's, the
    odd element on the high side)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in _tuple(padding, nd, "padding"))


def _dims_check(input, nd, name):
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got input "
                           f"of size: {list(input.shape)}")
    return input.dim() == nd + 1


def _conv(nd, input, weight, bias, stride, padding, dilation, groups):
    name = f"conv{nd}d"
    if _dims_check(input, nd, name):  # unbatched: PyTorch's batch of one, squeezed back
        return _conv(nd, input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    if weight.dim() != nd + 2:
        raise RuntimeError(f"Expected {nd + 2}-dimensional weight for {nd + 2}-dimensional input "
                           f"{list(input.shape)}, but got {weight.dim()}-dimensional weight of size "
                           f"{list(weight.shape)} instead")
    for t in (weight, bias):
        if t is not None and t.dtype != input.dtype:
            raise RuntimeError(f"expected scalar type {red._torch_name(input._data.dtype).capitalize()} but found "
                               f"{red._torch_name(t._data.dtype).capitalize()}")
    kernel, stride, dilation = tuple(weight.shape[2:]), _tuple(stride, nd, "stride"), _tuple(dilation, nd, "dilation")
    if min(stride) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(dilation) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")
    pads = _pads(padding, nd, kernel, dilation, stride)
    if min(lo for lo, _ in pads) < 0:
        raise RuntimeError("negative padding is not supported")
    n, c, plane = input.shape[0], input.shape[1], tuple(input.shape[2:])
    out_ch, cg = weight.shape[:2]
    if c != cg * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {cg * groups} channels, but got {c} channels instead")
    if out_ch % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {list(weight.shape)} instead")
    if bias is not None and tuple(bias.shape) != (out_ch,):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
                           f"{out_ch} elements, but got bias of size {list(bias.shape)} instead")
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(plane, pads))
    if any(p < d * (k - 1) + 1 for p, k, d in zip(padded, kernel, dilation)):
        sizes = lambda t: " x ".join(map(str, t))  # noqa: E731
        raise RuntimeError(f"Calculated padded input size per channel: ({sizes(padded)}). Kernel size: "
                           f"({sizes([d * (k - 1) + 1 for k, d in zip(kernel, dilation)])}). Kernel size can't be "
                           "greater than actual input size")
    out = tuple((p - d * (k - 1) - 1) // s + 1 for p, k, d, s in zip(padded, kernel, dilation, stride))
    cols = _gather_windows(input, *_window_index(tuple(input.shape), kernel, stride, pads, dilation, out, False), 0)
    ck, length = cg * math.prod(kernel), math.prod(out)
    if groups == 1:
        y = linalg.matmul(weight.reshape(out_ch, ck), cols.reshape(n, ck, length))  # (N, O, L)
    else:
        y = linalg.matmul(weight.reshape(groups, out_ch // groups, ck), cols.reshape(n, groups, ck, length))
    shape = (n, out_ch) + out
    if bias is None:
        data = y._data.reshape(shape)
        y = cuda_ops().view(CONV_VIEW, y, data) if type(data) is CudaArray else sh._view(CONV_VIEW, y, data,
                                                                                          is_view=True)
    else:
        y = binary(CONV_ADD, y.reshape(shape), bias.reshape((out_ch,) + (1,) * nd))
    return composite(y, input, weight, bias)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's conv1d (cross-correlation) of (N, C, L) or (C, L) ``input``."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's conv2d (cross-correlation) of (N, C, H, W) or (C, H, W) ``input``."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def _pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode):
    """(kernel, stride, padding, out, index, padded) of a 2-d pooling (see ``_window_index``),
    with PyTorch's checks and its ceil_mode rule (a last window must start inside the input or
    its left padding)."""
    kernel = _tuple(kernel_size, 2, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else _tuple(stride, 2, "stride")
    padding, dilation = _tuple(padding, 2, "padding"), _tuple(dilation, 2, "dilation")
    if min(stride) <= 0:
        raise RuntimeError("stride should not be zero")
    if min(dilation) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilationH: {dilation[0]} "
                           f"dilationW: {dilation[1]}")
    if min(padding) < 0:
        raise RuntimeError(f"pad must be non-negative, but got pad: {min(padding)}")
    for p, k, d in zip(padding, kernel, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                               f"kernel_size={k} and dilation={d}")
    plane = tuple(input.shape[-2:])
    out = []
    for size, k, s, p, d in zip(plane, kernel, stride, padding, dilation):
        o = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= size + p:
            o -= 1
        out.append(o)
    out = tuple(out)
    if min(out) <= 0:
        c = input.shape[-3] if input.dim() > 2 else 1
        raise RuntimeError(f"Given input size: ({c}x{plane[0]}x{plane[1]}). Calculated output size: "
                           f"({c}x{out[0]}x{out[1]}). Output size is too small")
    index, padded = _window_index(tuple(input.shape), kernel, stride, tuple((p, p) for p in padding), dilation, out,
                                  True)
    return kernel, stride, padding, out, index, padded


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The maximum of each window (padding: -inf); ``return_indices``: also each maximum's flat
    position in its (H, W) plane, as PyTorch's."""
    if _dims_check(input, 2, "max_pool2d"):
        out = max_pool2d(input.unsqueeze(0), kernel_size, stride, padding, dilation, ceil_mode, return_indices)
        return tuple(t.squeeze(0) for t in out) if return_indices else out.squeeze(0)
    _, _, _, out, index, padded = _pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode)
    floating = input._data.dtype.kind == "f"
    fill = -np.inf if floating else np.iinfo(input._data.dtype).min
    windows = _gather_windows(input, index, padded, fill)  # (N, C, Ho, Wo, K)
    data = windows._data
    if type(data) is CudaArray:
        y = cuda_ops().max_dim(MAX_POOL2D_CUDA, windows, 4, False, True).values
    elif floating:
        y = red._reduce(MAX_POOL2D, windows, (4,), np.max(data, axis=4), mode=1)  # (mode 1: the first maximum)
    else:
        y = _wrap(np.max(data, axis=4))
    composite(y, input)
    if not return_indices:
        return y
    from .functional import _host  # (autotape.compile is told: the indices are read from the values)

    first = np.argmax(_host(windows, "max_pool2d's indices"), axis=4)[..., None]
    indices = _wrap(np.take_along_axis(index, first, axis=4)[..., 0] % math.prod(input.shape[2:]))
    return y, (indices.to(input.device) if input.is_cuda else indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean of each window (padding: 0). Its divisor, as PyTorch's: the window's positions
    inside the padded input (``count_include_pad``), or inside the input, or ``divisor_override``."""
    if _dims_check(input, 2, "avg_pool2d"):
        return avg_pool2d(input.unsqueeze(0), kernel_size, stride, padding, ceil_mode, count_include_pad,
                          divisor_override).squeeze(0)
    if divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    kernel, stride, padding, out, index, padded = _pool_geometry(input, kernel_size, stride, padding, 1, ceil_mode)
    windows = _gather_windows(input, index, padded, 0)
    if divisor_override is not None:
        divisor = np.full(out, float(divisor_override))
    elif count_include_pad:
        plane = input.shape[-2:]
        extent = [np.minimum(np.arange(o) * s - p + k, size + p) - (np.arange(o) * s - p)
                  for o, s, p, k, size in zip(out, stride, padding, kernel, plane)]
        divisor = np.outer(extent[0], extent[1]).astype(np.float64)
    else:
        divisor = (index[0, 0] < input.numel()).sum(axis=2).astype(np.float64)
    if input._data.dtype.kind != "f":  # integers: PyTorch's C++ division, truncated toward zero
        sums = red.sum(windows, 4)._data
        sums = sums if type(sums) is np.ndarray else sums.host()
        d = divisor.astype(np.int64)
        y = _wrap((np.sign(sums) * (np.abs(sums) // d)).astype(input._data.dtype))
        return y.to(input.device) if input.is_cuda else y
    scale = _wrap((1.0 / divisor).astype(input._data.dtype))
    y = binary(AVG_POOL2D, red.sum(windows, 4), scale.to(input.device) if input.is_cuda else scale)
    return composite(y, input)
