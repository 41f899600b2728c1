"""``autotape.save`` and ``autotape.load``: any picklable object holding tensors (a module's or
an optimizer's ``state_dict``, a checkpoint dict, a tensor, a whole module), to a path or a file.

A tensor pickles as its values and ``requires_grad`` (``Tensor.__reduce__``): a tensor with a
history comes back as a leaf, as in PyTorch; a CUDA tensor as its values copied to the host and
the device they go back to. The file is a magic line, the NumPy arrays in ``.npy`` format (each
array object once: tensors sharing one keep sharing it), then the pickle of ``obj`` naming the
arrays by number (persistent ids), so that the pickle, at PyTorch's protocol 2, holds no data:
protocol 2 would encode the raw bytes as text, 1.5x their size and 15x slower to read.

``load(weights_only=True)`` (the default, as in PyTorch) unpickles only tensors, containers and
plain values, never code; ``weights_only=False`` loads anything pickle can (a whole module),
only for files from a trusted source. Not PyTorch's zip format: files from ``torch.save`` are
refused with a clear error."""
import _compat_pickle
import functools
import io
import os
import pickle
import struct

import numpy as np
from numpy.lib import format as npy

MAGIC = b"\x93AUTOTAPE 1\n"
_COUNT = struct.Struct("<Q")

_CUDA_UNAVAILABLE = (
    "Attempting to deserialize object on a CUDA device but autotape.cuda.is_available() is False. If you are "
    "running on a CPU-only machine, please use autotape.load with map_location=autotape.device('cpu') to map your "
    "storages to the CPU.")


def _rebuild_on(data, requires_grad, location, parameter, map_location=None):
    """A tensor (a ``Parameter`` if ``parameter``) of NumPy array ``data`` on the device named
    ``location``, or where ``map_location`` (``load``'s argument) sends it."""
    from .devices import device
    from .tensor import Tensor, _placed, _wrap

    if map_location is not None:
        if callable(map_location):  # PyTorch's (storage, location) -> storage or None
            moved = map_location(_wrap(data), location)
            if isinstance(moved, Tensor):
                data, location = moved._data, str(moved.device)
        elif isinstance(map_location, dict):
            location = map_location.get(location, location)
        else:
            location = map_location
    target = device(location)
    if target.type == "cuda":
        from . import cuda

        if not cuda.is_available():
            raise RuntimeError(_CUDA_UNAVAILABLE)
    data = _placed(data, target)
    if parameter:
        from .nn import Parameter

        return Parameter(_wrap(data), requires_grad)
    return _wrap(data, requires_grad)


def _cpu_tensor(data, requires_grad, map_location=None):  # (what Tensor.__reduce__ names for a CPU tensor)
    return _rebuild_on(data, requires_grad, "cpu", False, map_location)


def _cpu_parameter(data, requires_grad, map_location=None):
    return _rebuild_on(data, requires_grad, "cpu", True, map_location)


# the functions that make tensors, as a pickle names them, and what load calls instead
_REBUILDS = {("autotape.tensor", "_rebuild"): _cpu_tensor,
             ("autotape.nn.parameter", "_rebuild_parameter"): _cpu_parameter,
             ("autotape.serialization", "_rebuild_on"): _rebuild_on}

# what weights_only=True unpickles besides tensors: containers, dtypes, devices, shapes, NumPy
# scalars (with the _codecs.encode that protocol 2 stores their bytes by)
_SAFE = {("collections", "OrderedDict"), ("collections", "Counter"),
         *(("builtins", n) for n in ("set", "frozenset", "slice", "range", "complex", "bytearray")),
         ("_codecs", "encode"), ("autotape.dtypes", "from_numpy_dtype"), ("autotape.devices", "device"),
         ("autotape.tensor", "Size"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
         ("numpy._core.multiarray", "scalar")}

_WEIGHTS_ONLY_FAILED = (
    "Weights only load failed. This file can still be loaded, to do so you have two options, do those steps only if "
    "you trust the source of the checkpoint.\n\t(1) Re-running `autotape.load` with `weights_only` set to `False` will "
    "likely succeed, but it can result in arbitrary code execution. Do it only if you got the file from a trusted "
    "source.\n\t(2) Alternatively, save only tensors, containers and plain values (e.g. a `state_dict()`).\n\t"
    "WeightsUnpickler error: Unsupported global: GLOBAL {} was not an allowed global by default.")


def _open(f, mode):
    """``f`` opened (a path), or as it is (a file object), as a context manager."""
    if isinstance(f, (str, os.PathLike)):
        return open(f, mode)
    attr = "write" if "w" in mode else "read"
    if not hasattr(f, attr):
        raise AttributeError(f"expected 'f' to be string, path, or a file-like object with a '{attr}' attribute")
    return _Borrowed(f)


class _Borrowed:
    """A caller's file object in a ``with``: left open."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self.f

    def __exit__(self, *exc):
        return False


def save(obj, f, pickle_module=pickle, pickle_protocol=2):
    """Write ``obj`` to ``f`` (a path or a binary file object)."""
    arrays, index = [], {}

    def persistent_id(o):
        if type(o) is np.ndarray and not o.dtype.hasobject:
            k = index.get(id(o))
            if k is None:  # (``arrays`` keeps it alive, so its id is not reused while pickling)
                k = index[id(o)] = len(arrays)
                arrays.append(o)
            return ("array", k)
        return None

    meta = io.BytesIO()
    pickler = pickle_module.Pickler(meta, protocol=pickle_protocol)
    pickler.persistent_id = persistent_id
    pickler.dump(obj)
    with _open(f, "wb") as out:
        out.write(MAGIC)
        out.write(_COUNT.pack(len(arrays)))
        for a in arrays:
            npy.write_array(out, a, allow_pickle=False)
        out.write(meta.getvalue())


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Read what ``save`` wrote to ``f``. ``map_location``: a device (or its name) for every
    tensor, a dict from saved location (``'cuda:0'``) to new, or PyTorch's callable
    ``(storage, location)``; ``weights_only`` (default True): refuse anything but tensors,
    containers and plain values."""
    if weights_only is None:
        weights_only = True
    if weights_only and pickle_module is not None:
        raise RuntimeError("Can not safely load weights when explicit pickle_module is specified")
    if mmap:
        raise NotImplementedError("autotape.load does not memory-map files (mmap=True)")
    pickle_module = pickle_module or pickle
    base = pickle.Unpickler if weights_only else pickle_module.Unpickler

    class Unpickler(base):
        def find_class(self, module, name):
            rebuild = _REBUILDS.get((module, name))
            if rebuild is not None:
                return functools.partial(rebuild, map_location=map_location)
            # (protocol 2 names Python 2's modules: __builtin__.set)
            py3 = (_compat_pickle.NAME_MAPPING.get((module, name))
                   or (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
            if weights_only and py3 not in _SAFE:
                raise pickle.UnpicklingError(_WEIGHTS_ONLY_FAILED.format(f"{module}.{name}"))
            return super().find_class(module, name)

        def persistent_load(self, pid):
            if not (isinstance(pid, tuple) and len(pid) == 2 and pid[0] == "array" and 0 <= pid[1] < len(arrays)):
                raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
            return arrays[pid[1]]

    with _open(f, "rb") as src:
        head = src.read(len(MAGIC))
        if head != MAGIC:
            if head.startswith(b"PK\x03\x04"):
                raise RuntimeError("this file is in PyTorch's zip format (written by torch.save); autotape.load "
                                   "reads files written by autotape.save")
            raise pickle.UnpicklingError("not a file written by autotape.save (no autotape header)")
        (count,) = _COUNT.unpack(src.read(_COUNT.size))
        arrays = [npy.read_array(src, allow_pickle=False) for _ in range(count)]
        return Unpickler(src, **pickle_load_args).load()
