"""``autotape.nn``: modules, parameters, layers and losses with PyTorch's names."""
from . import functional, init, utils  # noqa: F401
from .conv_layers import AvgPool2d, Conv1d, Conv2d, MaxPool2d  # noqa: F401
from .layers import (  # noqa: F401
    Dropout, Embedding, Flatten, GELU, Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax, ModuleDict, ModuleList,
    ParameterList, ReLU, Sequential, Sigmoid, Softmax, Softplus, Tanh, Unflatten,
)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from .module import Module  # noqa: F401
from .parameter import Parameter  # noqa: F401
