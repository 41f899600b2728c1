"""Matrix products. Every form is recorded as one batched (B, M, K) @ (B, K, N) record."""
import math

import numpy as np

from ..tensor import Tensor, _wrap, note_unrecorded
from ..cuda.array import CudaArray
from .apply import _array, _recording, broadcast_shape, cuda_ops
from ..tape import current_tape
from . import elementwise as ew
from .table import alias, defop

MM = defop("mm", "MmBackward0", "kernel", "k_matmul", uses={"x"})
# A Linear layer on a batch: ``x @ W.T + b`` in one record (inputs x, W, b), as PyTorch's one
# addmm: one op where t(), mm and the bias add were three (~10 us of a training step)
LINEAR = defop("linear", "AddmmBackward0", "kernel", "k_linear", uses={"x"})
LINEAR.value_inputs = (True, True, False)  # (the bias's gradient is dy's column sums: its value is not read)
# the same where only the bias can need a gradient: nothing saved, so backward may run twice (as PyTorch's)
LINEAR_OF_CONSTANTS = alias(LINEAR, "AddmmBackward0")
LINEAR_OF_CONSTANTS.uses, LINEAR_OF_CONSTANTS.value_inputs = frozenset(), (False, False, False)
# the bias added to any other 2-D product (or to a constant one), named as PyTorch's addmm
ADDMM = alias(ew.ADD, "AddmmBackward0")
MV = defop("mv", "MvBackward0", "kernel", "k_matmul", uses={"x"})
DOT = defop("dot", "DotBackward0", "kernel", "k_matmul", uses={"x"})
BMM = defop("bmm", "BmmBackward0", "kernel", "k_matmul", uses={"x"})


def matmul(input, other):
    if isinstance(input, Tensor) and isinstance(other, Tensor):  # 2-D @ 2-D first: a Linear layer's product
        a, b = input._data, other._data
        if type(a) is CudaArray or type(b) is CudaArray:
            return cuda_ops().matmul(input, other)
        if a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and a.shape[1] == b.shape[0]:
            out = _wrap(_array(np.matmul(a, b)))
            if _recording(input, other):
                current_tape().record2(MM, out, input, other, (1, a.shape[0], a.shape[1], b.shape[1]))
            else:
                note_unrecorded(out, input, other)
            return out
    for name, t in (("input", input), ("other", other)):
        if not isinstance(t, Tensor):
            raise TypeError(f"matmul(): argument '{name}' must be Tensor, not {type(t).__name__}")
    a, b = input._data, other._data
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D")
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {input.dtype.name} != {other.dtype.name}; "
            "convert one with .to(dtype)"
        )
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        sa = (1,) + a.shape if a.ndim == 1 else a.shape
        sb = b.shape + (1,) if b.ndim == 1 else b.shape
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({sa[-2]}x{sa[-1]} and {sb[-2]}x{sb[-1]})"
        )
    batch = broadcast_shape(a.shape[:-2], b.shape[:-2])
    out = _wrap(_array(np.matmul(a, b)))
    if not _recording(input, other):
        note_unrecorded(out, input, other)
        return out
    if a.ndim == 1 and b.ndim == 1:
        spec = DOT
    elif a.ndim <= 2 and b.ndim <= 2:
        spec = MM if b.ndim == 2 else MV
    else:
        spec = BMM
    nb = math.prod(batch)
    a_batch, b_batch = math.prod(a.shape[:-2]), math.prod(b.shape[:-2])
    if a_batch not in (1, nb):
        input = input.expand(batch + a.shape[-2:], materialize=True)
        a_batch = nb
    if b_batch not in (1, nb):
        other = other.expand(batch + b.shape[-2:], materialize=True)
        b_batch = nb
    m = 1 if a.ndim == 1 else a.shape[-2]
    n = 1 if b.ndim == 1 else b.shape[-1]
    # which side is one batch shared by all, as bits of the record's float (1: a, 2: b)
    shared = float((a_batch == 1 and nb > 1) + 2 * (b_batch == 1 and nb > 1))
    current_tape().record2(spec, out, input, other, ints=(nb, m, k_a, n), f=shared)
    return out


def linear(input, weight, bias):
    """``input @ weight.T + bias`` of a 2-D input, 2-D weight and 1-D bias of one float dtype on
    one device (a Linear layer on a batch), as one record; None for anything else (the caller
    composes it of matmul and add)."""
    x, w, b = input._data, weight._data, bias._data
    kind = type(x)
    if (kind is not type(w) or kind is not type(b) or (kind is not np.ndarray and kind is not CudaArray)
            or x.ndim != 2 or w.ndim != 2 or b.ndim != 1 or x.dtype.kind != "f" or x.dtype is not w.dtype
            or w.dtype is not b.dtype or x.shape[1] != w.shape[1] or b.shape[0] != w.shape[0]):
        return None  # (dtypes equal but not identical objects only take the slower way)
    spec = LINEAR if input._rg or weight._rg else LINEAR_OF_CONSTANTS
    if kind is CudaArray:
        return cuda_ops().linear(spec, input, weight, bias)
    y = np.matmul(x, w.T)
    y += b  # (the product first, then the bias: the rounding of matmul then add)
    out = _wrap(y)
    if _recording(input, weight, bias):
        current_tape().record_linear(spec, out, input, weight, bias)
    else:
        note_unrecorded(out, input, weight, bias)
    return out


def mm(input, mat2):
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError(f"mm: expected 2D tensors, got {input._data.ndim}D and {mat2._data.ndim}D")
    return matmul(input, mat2)


def bmm(input, mat2):
    if input._data.ndim != 3 or mat2._data.ndim != 3:
        raise RuntimeError(f"bmm: expected 3D tensors, got {input._data.ndim}D and {mat2._data.ndim}D")
    if input._data.shape[0] != mat2._data.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {input._data.shape[0]} and {mat2._data.shape[0]}")
    return matmul(input, mat2)


def mv(input, vec):
    if input._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError(f"mv: expected a 2D matrix and a 1D vector, got {input._data.ndim}D and {vec._data.ndim}D")
    return matmul(input, vec)


def dot(input, other):
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors")
    if input._data.shape != other._data.shape:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{input._data.shape[0]}] and src "
            f"[{other._data.shape[0]}] to have the same number of elements, but got different sizes"
        )
    return matmul(input, other)


def outer(input, vec2):
    """A broadcast product, as PyTorch's (its grad_fn is MulBackward0)."""
    from .pointwise import mul
    from .shape import reshape

    for k, (name, v) in enumerate((("self", input), ("vec2", vec2))):
        if not isinstance(v, Tensor):
            raise TypeError(f"outer(): argument '{('input', 'vec2')[k]}' (position {k + 1}) must be Tensor, "
                            f"not {type(v).__name__}")
        if v._data.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {v._data.ndim}-D")
    return mul(reshape(input, (-1, 1)), vec2)


ger = outer
