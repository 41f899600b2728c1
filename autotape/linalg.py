"""``autotape.linalg``: PyTorch's ``torch.linalg`` norms (of vectors, and of matrices where no
decomposition is needed) and ``matmul``. The norms are autotape's norm records
(``LinalgVectorNormBackward0``, as PyTorch's), so their gradients are PyTorch's, 0 at a zero
vector included."""
import math
import numbers

from . import dtypes
from .ops import reduce as red
from .ops.apply import not_tensor
from .ops.linalg import matmul  # noqa: F401
from .tensor import Tensor, _dim


def _input(x, name, dtype):
    """``x`` cast to ``dtype`` (where given), with PyTorch's checks of both."""
    try:
        have = x._data.dtype
    except AttributeError:
        raise not_tensor(name.replace(".", "_"), x) from None
    if have.kind != "f":
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {red._torch_name(have)}")
    if dtype is None:
        return x
    want = dtypes.to_numpy_dtype(dtype)
    if want.kind != "f":
        raise RuntimeError(f"{name}: dtype should be floating point or complex, but got {red._torch_name(want)}")
    if want.itemsize < have.itemsize:
        raise RuntimeError(f"{name}: the dtype of the input ({red._torch_name(have)}) should be convertible "
                           f"without narrowing to the specified dtype ({red._torch_name(want)})")
    return x.to(dtype)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """``(sum |x|^ord) ** (1 / ord)`` over ``dim`` (all dims when None); ord inf / -inf: the
    largest / smallest ``|x|``; ord 0: the number of nonzeros."""
    if not isinstance(ord, numbers.Real):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' (position 2) must be Number, not {type(ord).__name__}")
    x = _input(x, "linalg.vector_norm", dtype)
    ord = float(ord)
    if ord < 0 or ord == math.inf:  # (no identity: an empty reduction has no value)
        shape = x.shape
        if dim is None and x.numel() == 0:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {ord:g} norm on an empty tensor because "
                               "the operation does not have an identity")
        for d in () if dim is None else (dim if isinstance(dim, (tuple, list)) else (dim,)):
            if len(shape) and shape[_dim(d, len(shape))] == 0:
                raise RuntimeError(f"linalg.vector_norm cannot compute the {ord:g} norm on the dimension {d} "
                                   "because this dimension is empty and the operation does not have an identity")
    return red.norm(x, ord, dim, keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The Frobenius norm, or ord 1 / -1 (inf / -inf): the largest / smallest sum of ``|a|`` over
    a column (row). The spectral and nuclear norms (ord 2, -2, 'nuc') need an SVD: not here."""
    A = _input(A, "linalg.matrix_norm", dtype)
    if A.dim() < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dim}")
    d0, d1 = _dim(dim[0], A.dim()), _dim(dim[1], A.dim())
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        return red.norm(A, 2.0, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} (a norm of the singular values) needs an SVD, "
                                  "which autotape does not have; ord 'fro', 1, -1, inf and -inf are supported")
    if ord not in (1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    # as PyTorch computes it: the 1-norms along one dim, then their amax (amin) along the other
    along, across = (d1, d0) if abs(ord) == math.inf else (d0, d1)
    if not keepdim and along < across:
        across -= 1
    sums = red.norm(A, 1.0, along, keepdim)
    return (red.amax if ord > 0 else red.amin)(sums, across, keepdim)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """A vector norm over one dim (or of all elements, when neither ``ord`` nor ``dim`` is
    given: the Frobenius norm of a matrix), a matrix norm over two."""
    if not isinstance(A, Tensor):
        raise not_tensor("linalg_norm", A)
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dims)}")
    elif ord is not None:
        if A.dim() not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                               f"Got {A.dim()}D.")
        dims = tuple(range(A.dim()))
    else:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if len(dims) == 2 or isinstance(ord, str):
        return matrix_norm(A, "fro" if ord is None else ord, dims if len(dims) == 2 else dims[0], keepdim, dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
