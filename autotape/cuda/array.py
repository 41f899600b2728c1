"""``CudaArray``: what a CUDA tensor's ``_data`` is. A flat, contiguous numba-cuda device array
and a shape: reshaping makes a new ``CudaArray`` over the same device array (a view), and
every op writes a fresh contiguous result, so kernels index one flat buffer.

numba.cuda is imported on first use only: importing autotape must stay cheap, and a machine
without CUDA must be able to import autotape at all.
"""
import math
import sys

import numpy as np

_nbcuda = None

# Host<->device transfers made by autotape, by direction (tests check that training keeps
# data on the device: only reading a loss with .item() should copy).
COPIES = {"to_device": 0, "to_host": 0}


def nbcuda():
    """The ``numba.cuda`` module, imported on first call."""
    global _nbcuda
    if _nbcuda is None:
        from numba import cuda

        _nbcuda = cuda
    return _nbcuda


def simulated():
    """True under numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


class _Flags:
    c_contiguous = writeable = True


class CudaArray:
    """A contiguous array on the GPU: ``a`` is a 1-D device array of ``size`` elements."""

    __slots__ = ("a", "shape", "dtype", "size", "ndim")

    def __init__(self, a, shape):
        self.a = a
        self.shape = tuple(shape)
        self.dtype = a.dtype
        self.size = math.prod(self.shape)
        self.ndim = len(self.shape)

    flags = _Flags()  # always C-contiguous and writeable (what the CPU code asks of an array)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = [int(s) for s in shape]
        if shape.count(-1) == 1:
            known = math.prod(s for s in shape if s != -1)
            if known and self.size % known == 0:
                shape[shape.index(-1)] = self.size // known
        if math.prod(shape) != self.size or any(s < 0 for s in shape):
            raise ValueError(f"cannot reshape array of size {self.size} into shape {tuple(shape)}")
        return CudaArray(self.a, shape)

    def view(self):
        return CudaArray(self.a, self.shape)

    def squeeze(self, axis):
        axes = {a % self.ndim for a in ((axis,) if isinstance(axis, int) else axis)}
        return CudaArray(self.a, [s for d, s in enumerate(self.shape) if d not in axes])

    def __getitem__(self, key):
        # only what unsqueeze asks: full slices and new axes, a reshape
        key = key if isinstance(key, tuple) else (key,)
        if all(k is None or (type(k) is slice and k == slice(None)) for k in key) and sum(k is not None for k in key) <= self.ndim:
            shape, dims = [], iter(self.shape)
            for k in key:
                shape.append(1 if k is None else next(dims))
            return CudaArray(self.a, shape + list(dims))
        raise NotImplementedError("indexing is not implemented on CUDA yet; copy the tensor to the host with "
                                  ".cpu() first")

    def host(self):
        """A NumPy copy of the values (counted in ``COPIES``)."""
        COPIES["to_host"] += 1
        return self.a.copy_to_host().reshape(self.shape)

    def item(self):
        return self.host().reshape(()).item()

    def tolist(self):
        return self.host().tolist()

    def astype(self, dtype):
        from . import kernels

        return kernels.cast(self, np.dtype(dtype))

    def copy(self):
        return self.astype(self.dtype)

    def __array__(self, dtype=None, copy=None):
        # NumPy asks for this when host code meets a CUDA tensor: a user's np.asarray(t),
        # or an op that has no CUDA implementation yet (named from the call stack)
        op = _calling_op()
        if op is not None:
            raise NotImplementedError(f"{op} is not implemented on CUDA yet; copy the tensor to the host with "
                                      ".cpu() first")
        raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                        "to host memory first.")

    def __repr__(self):
        return f"CudaArray(shape={self.shape}, dtype={self.dtype})"


def _calling_op():
    """The outermost autotape op function on the stack (``prod``, ``softmax``, ...), if any."""
    f, name = sys._getframe(2), None
    while f is not None:
        mod = f.f_globals.get("__name__", "")
        if mod.startswith("autotape.ops.") or mod in ("autotape.methods", "autotape.nn.functional"):
            name = f.f_code.co_name
        f = f.f_back
    if name in ("<lambda>", "method"):
        return "this operation"
    return name


def to_device(host):
    """A ``CudaArray`` holding a copy of NumPy array ``host``."""
    shape = np.shape(host)
    flat = np.ascontiguousarray(host).reshape(-1)  # (ascontiguousarray makes a 0-d array 1-d)
    COPIES["to_device"] += 1
    return CudaArray(nbcuda().to_device(flat), shape)


# Device buffers by (size, dtype), kept for reuse: cudaMalloc per op would cost more than the
# op, and freeing synchronizes the device (PyTorch caches for the same reason). A buffer is free
# when nothing but this pool refers to it; reusing it at once is safe because every kernel runs
# on the one default stream, in launch order.
_pool = {}


def empty(shape, dtype):
    shape = tuple(shape)
    key = (math.prod(shape), np.dtype(dtype))
    free = _pool.get(key)
    if free is None:
        free = _pool[key] = []
    for dev in free:
        if sys.getrefcount(dev) == 3:  # the pool's list, ``dev`` and getrefcount's argument
            return CudaArray(dev, shape)
    dev = nbcuda().device_array(key[0], key[1])
    free.append(dev)
    return CudaArray(dev, shape)


def empty_cache():
    """Let go of the pooled device buffers that no tensor uses."""
    for key, bufs in list(_pool.items()):
        bufs[:] = [d for d in bufs if sys.getrefcount(d) > 3]  # (the list, d and the argument)
