"""Layers and containers: Linear, LayerNorm, Embedding, Dropout, Sequential, ModuleList, ParameterList,
Flatten and Identity (the activations are in ``activation.py``)."""
import math
from collections import OrderedDict

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


def make_weight_and_bias(module, shape, bias, device, dtype):
    """``module.weight`` of ``shape`` and ``module.bias`` (``shape[0]`` long, or None), set by the
    module's ``reset_parameters``, on ``device``: as PyTorch's Linear and Conv layers make them."""
    np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else dtypes.get_default_dtype().np
    module.weight = Parameter(Tensor(np.zeros(shape, np_dtype)))
    if bias:
        module.bias = Parameter(Tensor(np.zeros(shape[:1], np_dtype)))
    else:
        module.register_parameter("bias", None)
    module.reset_parameters()
    if device is not None:
        module.to(device)


def reset_weight_and_bias(weight, bias):
    """PyTorch's default init of a Linear or Conv layer: kaiming_uniform_(a=sqrt(5)), which is
    U(+-1/sqrt(fan_in)), and the bias the same (fan_in: a weight row's size)."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = math.prod(weight.shape[1:])
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """``y = x W^T + b`` with PyTorch's default init: W and b uniform in +-1/sqrt(in_features)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        make_weight_and_bias(self, (out_features, in_features), bias, device, dtype)

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input):
        # read from the registry: self.weight fails the normal lookup before Module.__getattr__
        # finds it (1.7 us each); a weight moved out of it (deleted, set as a plain attribute)
        # is found as PyTorch finds it
        params = self._parameters
        if "weight" in params and "bias" in params:
            return F.linear(input, params["weight"], params["bias"])
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input):
        shape = list(input.shape)
        d = self.dim % len(shape)
        return input.reshape(tuple(shape[:d]) + self.unflattened_size + tuple(shape[d + 1:]))

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Sequential(Module):
    """Modules applied in order; indexable (``model[0].weight``), sliceable and iterable."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, mod in args[0].items():
                self.add_module(name, mod)
        else:
            for k, mod in enumerate(args):
                self.add_module(str(k), mod)

    def forward(self, input):
        for mod in self._modules.values():
            input = mod(input)
        return input

    def __getitem__(self, idx):
        mods = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(mods[idx]))
        n = len(mods)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return mods[idx % n][1]

    def __setitem__(self, idx, module):
        key = list(self._modules)[idx]
        self.add_module(key, module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        for key in (keys[idx] if isinstance(idx, slice) else [keys[idx]]):
            del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules, registered so that their parameters are the owner's."""

    def __init__(self, modules=None):
        super().__init__()
        for mod in modules or ():
            self.append(mod)

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        return ModuleList(mods[idx]) if isinstance(idx, slice) else mods[idx]

    def __setitem__(self, idx, module):
        self.add_module(list(self._modules)[idx], module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for mod in modules:
            self.append(mod)
        return self


class ModuleDict(Module):
    """A dict of modules, registered so that their parameters are the owner's (in insertion order)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        delattr(self, key)  # (Module's: the layout changes, which autotape.compile's guard sees)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        module = self._modules[key]
        del self[key]
        return module

    def clear(self):
        for key in list(self._modules):
            del self[key]

    def update(self, modules):
        for key, module in (modules.items() if hasattr(modules, "items") else modules):
            self.add_module(key, module)


class Dropout(Module):
    """Zeroes elements with probability ``p`` while training (``train()``); the identity in ``eval()``."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class LayerNorm(Module):
    """``F.layer_norm`` over the last dims ``normalized_shape``; weight ones and bias zeros."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else dtypes.get_default_dtype().np
        self.weight = Parameter(Tensor(np.ones(shape, np_dtype))) if elementwise_affine else None
        self.bias = Parameter(Tensor(np.zeros(shape, np_dtype))) if elementwise_affine and bias else None
        if device is not None:
            self.to(device)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table of ``num_embeddings`` rows, initialized N(0, 1), ``padding_idx``'s row zero."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else dtypes.get_default_dtype().np
        if _weight is None:
            self.weight = Parameter(Tensor(np.zeros((num_embeddings, embedding_dim), np_dtype)), not _freeze)
            self.reset_parameters()
        else:
            self.weight = Parameter(_weight, not _freeze)
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0  # (before any use: nothing recorded reads it)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class ParameterList(Module):
    """A list of parameters, registered so that they are the owner's; a plain tensor is made one."""

    def __init__(self, values=None):
        super().__init__()
        for p in values or ():
            self.append(p)

    @staticmethod
    def _param(value):
        if not isinstance(value, Tensor):
            raise TypeError(f"ParameterList holds tensors here, not {type(value).__name__}")
        return value if isinstance(value, Parameter) else Parameter(value)

    def __getitem__(self, idx):
        params = list(self._parameters.values())
        return ParameterList(params[idx]) if isinstance(idx, slice) else params[idx]

    def __setitem__(self, idx, value):
        self.register_parameter(list(self._parameters)[idx], self._param(value))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def append(self, value):
        self.register_parameter(str(len(self)), self._param(value))
        return self

    def extend(self, values):
        for p in values:
            self.append(p)
        return self
