"""``autotape.nn``: modules, parameters, layers and losses with PyTorch's names."""
from . import functional, init, utils  # noqa: F401
from .conv_layers import AvgPool2d, Conv1d, Conv2d, MaxPool2d  # noqa: F401
from .layers import (  # noqa: F401
    ELU, Dropout, Embedding, Flatten, GELU, Hardsigmoid, Hardswish, Hardtanh, Identity, LayerNorm, LeakyReLU, Linear,
    LogSigmoid, LogSoftmax, Mish, ModuleDict, ModuleList, ParameterList, ReLU, ReLU6, Sequential, Sigmoid, SiLU,
    Softmax, Softplus, Softsign, Tanh, Unflatten,
)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from .module import Module  # noqa: F401
from .parameter import Parameter  # noqa: F401
