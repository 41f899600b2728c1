"""autotape: reverse-mode autodiff with PyTorch's autograd API, replayed by Numba-compiled code.

``import autotape as torch`` runs the usual autograd tutorials.
"""
from . import _numba_cache

_numba_cache.drop_stale()  # before any module loads a cached function (see _numba_cache.py)

from . import dtypes as _dtypes  # noqa: E402
from .dtypes import dtype, get_default_dtype, set_default_dtype  # noqa: F401
from .devices import device  # noqa: F401
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from .tensor import Size, Tensor  # noqa: F401
from .ops.pointwise import *  # noqa: F401,F403
from .ops.pointwise import abs, pow  # noqa: F401
from .ops.compare import *  # noqa: F401,F403
from .ops.reduce import (  # noqa: F401
    all, amax, amin, any, argmax, argmin, cumsum, logsumexp, log_softmax, max, mean, min, norm, prod,
    softmax, std, sum, var,
)
from .ops.shape import (  # noqa: F401
    broadcast_to, cat, chunk, concat, concatenate, expand, flatten, flip, narrow, permute, reshape, select, split,
    squeeze, stack, swapaxes, swapdims, t, transpose, unbind, unsqueeze,
)
from .ops.linalg import bmm, dot, ger, matmul, mm, mv, outer  # noqa: F401
from .ops.composite import (  # noqa: F401
    addmm, cumprod, diag, diagonal, movedim, moveaxis, ravel, roll, tile, trace, tril, triu,
)
from .ops.einsum import einsum  # noqa: F401
from .ops.gather import argsort, gather, index_select, masked_fill, sort, take_along_dim, topk  # noqa: F401
from .factories import (  # noqa: F401
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, manual_seed, ones,
    ones_like, rand, rand_like, randint, randn, randn_like, randperm, seed, tensor, zeros, zeros_like,
)
from . import methods as _methods  # noqa: F401  (binds Tensor methods and operators)
from . import autograd, profiler  # noqa: F401
from .autograd import is_anomaly_enabled  # noqa: F401
from . import linalg, nn, optim, utils  # noqa: F401
from .compile import compile  # noqa: F401
from .serialization import load, save  # noqa: F401
from . import cuda  # noqa: F401  (is_available, synchronize; numba.cuda itself is imported on first use)
from . import accelerator  # noqa: F401  (torch.accelerator: the tutorials' device line)

float32 = float = _dtypes.float32
float64 = double = _dtypes.float64
int64 = long = _dtypes.int64
int32 = int = _dtypes.int32
bool = _dtypes.bool_


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


def clone(input):
    return input.clone()


def detach(input):
    return input.detach()


def square_(input):
    return input.mul_(input)


__version__ = "0.1.0"
