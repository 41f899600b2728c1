"""Shape and matrix ops composed of others: no kernels of their own. Most pick their elements
with one indexing of flat positions NumPy computes (its gradient scattered back), recorded as an
alias of ``index`` named as PyTorch's node (``table.alias``: the same kernels, CPU, CUDA and
compile); where an element is a zero (or pad's value) rather than one of the input's, it is
taken from that value appended to the flattened input."""
import numpy as np

from .. import dtypes
from ..cuda.array import CudaArray
from ..tensor import Tensor, _dim, _wrap
from . import linalg, loss, pointwise as pw, reduce as red, shape as sh
from .apply import binary, cuda_ops
from .shape import INDEX, indexed
from .table import alias

TRIL = alias(INDEX, "TrilBackward0")
TRIU = alias(INDEX, "TriuBackward0")
DIAG_EMBED = alias(INDEX, "DiagEmbedBackward0")
DIAGONAL = alias(INDEX, "DiagonalBackward0")
ROLL = alias(INDEX, "RollBackward0")
CONSTANT_PAD = alias(INDEX, "ConstantPadNdBackward0")
TRACE = alias(red.SUM, "TraceBackward0")
CUMPROD = alias(red.PROD_DIM, "CumprodBackward0")


def _sequence(x):
    """``x`` as a tuple: a tuple or list's items, or ``x`` alone (PyTorch's int-or-ints arguments)."""
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _positions(shape):
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)


def _take(spec, input, positions, fill=0):
    """``input``'s elements at the flat ``positions`` (an int array, the result's shape); a
    position ``input.numel()`` is ``fill``."""
    data = input._data
    if (positions == data.size).any():
        flat = sh.cat([sh.reshape(input, -1), input.new_full((1,), fill)])
        return indexed(flat, positions, spec)
    return indexed(input, np.unravel_index(positions, data.shape), spec)


def _triangle(spec, name, input, diagonal, lower):
    if input._data.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
    m, n = input._data.shape[-2:]
    keep = np.arange(n)[None, :] - np.arange(m)[:, None]
    keep = keep <= diagonal if lower else keep >= diagonal
    positions = _positions(input._data.shape)
    return _take(spec, input, np.where(keep, positions, positions.size))


def tril(input, diagonal=0):
    """The lower triangle of the last two dims (on and below the ``diagonal``-th), zeros elsewhere."""
    return _triangle(TRIL, "tril", input, diagonal, True)


def triu(input, diagonal=0):
    return _triangle(TRIU, "triu", input, diagonal, False)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The ``offset``-th diagonal of the matrices in dims ``dim1``, ``dim2``, as the last dim."""
    nd = input._data.ndim
    d1, d2 = _dim(dim1, nd), _dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return _take(DIAGONAL, input, np.diagonal(_positions(input._data.shape), offset, d1, d2))


def diag(input, diagonal=0):
    """A vector's square matrix with it on the ``diagonal``-th diagonal, or a matrix's diagonal."""
    nd = input._data.ndim
    if nd == 2:
        return _take(DIAGONAL, input, np.diagonal(_positions(input._data.shape), diagonal))
    if nd != 1:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {nd}D")
    k = input._data.shape[0]
    size = k + abs(diagonal)
    positions = np.full((size, size), k, dtype=np.int64)  # (k: the appended zero)
    rows = np.arange(k) + max(-diagonal, 0)
    positions[rows, rows + diagonal] = np.arange(k)
    return _take(DIAG_EMBED, input, positions)


def trace(input):
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input._data.ndim}")
    d = diagonal(input)
    if d._data.dtype.kind != "f":
        return red.sum(d)
    return loss.loss_sum(TRACE, d, 1.0)


def roll(input, shifts, dims=None):
    """``input`` shifted by ``shifts`` along ``dims`` (the flattened tensor where None), wrapping around."""
    shifts = _sequence(shifts)
    positions = _positions(input._data.shape)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll(): shifts must have one entry when dims is not given, got {len(shifts)}")
        return _take(ROLL, input, np.roll(positions.reshape(-1), shifts[0]).reshape(positions.shape))
    dims = _sequence(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    axes = tuple(_dim(d, input._data.ndim) for d in dims)
    return _take(ROLL, input, np.roll(positions, shifts, axes))


def tile(input, dims):
    """``repeat`` with leading ones added to ``dims`` where it has fewer than ``input`` has dims."""
    dims = _sequence(dims)
    return sh.repeat(input, (1,) * (input._data.ndim - len(dims)) + dims)


def movedim(input, source, destination):
    nd = input._data.ndim
    src, dst = _sequence(source), _sequence(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
                           f"contain the same number of dims as destination ({list(dst)} dims)")
    src, dst = [_dim(d, nd) for d in src], [_dim(d, nd) for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError("movedim: repeated dim in `source` or `destination`")
    rest = iter(d for d in range(nd) if d not in src)
    placed = dict(zip(dst, src))
    return sh.permute(input, tuple(placed[k] if k in placed else next(rest) for k in range(nd)))


moveaxis = movedim


def ravel(input):
    """As PyTorch's: a view of a contiguous tensor, else a view of its contiguous copy."""
    return sh.view(input if input._data.flags.c_contiguous else input.clone(), -1)


def cumprod(input, dim, *, dtype=None):
    """Running products along ``dim``: output ``i`` is the product of the n-by-n masked copy's row
    ``i`` (ones after ``i``), so its gradient is ``prod``'s, exact where entries are zero (O(n^2)
    memory along ``dim``)."""
    if dtype is not None:
        input = input.to(dtype)
    data = input._data
    if data.ndim == 0:
        return input.clone()
    d = _dim(dim, data.ndim)
    if data.dtype.kind != "f":
        return _wrap(np.cumprod(data, axis=d).astype(np.int64))
    n = data.shape[d]
    rows = sh.expand(sh.unsqueeze(input, d), data.shape[:d] + (n,) + data.shape[d:])  # (..., i, j, ...)
    below = (np.arange(n)[None, :] <= np.arange(n)[:, None]).reshape((n, n) + (1,) * (data.ndim - d - 1))
    masked = pw.where(input.new_tensor(below, dtype=dtypes.bool_), rows, 1.0)
    if type(data) is CudaArray:
        return cuda_ops().prod(CUMPROD, masked, (d + 1,), False)
    return red._reduce(CUMPROD, masked, (d + 1,), np.prod(masked._data, axis=d + 1))


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``; ``input`` ignored where beta is 0 (its NaN too)."""
    for name, m in (("mat1", mat1), ("mat2", mat2)):
        if not isinstance(m, Tensor) or m._data.ndim != 2:
            raise RuntimeError(f"{name} must be a matrix, got {getattr(m, 'ndim', type(m).__name__)}-D")
    out = linalg.mm(mat1, mat2)
    if alpha != 1:
        out = pw.mul(out, alpha)
    if beta == 0:
        input = sh.expand(input.new_zeros(()), input._data.shape)
    elif beta != 1:
        input = pw.mul(input, beta)
    return binary(linalg.ADDMM, out, input)


def constant_pad(input, pad, value=0):
    """``input`` with ``pad[2k]``, ``pad[2k + 1]`` elements of ``value`` before and after its
    k-th last dim; negative pads crop."""
    pad = tuple(pad)
    nd = input._data.ndim
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * nd:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {nd}")
    positions = _positions(input._data.shape)
    widths = [(0, 0)] * nd
    for k in range(len(pad) // 2):
        d, (lo, hi) = nd - 1 - k, pad[2 * k: 2 * k + 2]
        n = positions.shape[d]
        if n + lo + hi < 0:
            raise RuntimeError(f"The input size {n}, plus negative padding {lo} and {hi} resulted in a negative "
                               f"output size, which is invalid. Check dimension {d} of your input.")
        keep = slice(max(-lo, 0), max(n - max(-hi, 0), max(-lo, 0)))
        positions = positions[(slice(None),) * d + (keep,)]
        widths[d] = (max(lo, 0), max(hi, 0))
    positions = np.pad(positions, widths, constant_values=input._data.size)
    return _take(CONSTANT_PAD, input, positions, value)
