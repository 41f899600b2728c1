"""``autotape.nn``: modules, parameters, layers and losses with PyTorch's names."""
from . import functional, init, utils  # noqa: F401
from .activation import (  # noqa: F401
    ELU, GELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish, ReLU, ReLU6, Sigmoid, SiLU,
    Softmax, Softplus, Softsign, Tanh,
)
from .conv_layers import AvgPool2d, Conv1d, Conv2d, MaxPool2d  # noqa: F401
from .layers import (  # noqa: F401
    Dropout, Embedding, Flatten, Identity, LayerNorm, Linear, ModuleDict, ModuleList, ParameterList, Sequential,
    Unflatten,
)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from .module import Module  # noqa: F401
from .parameter import Parameter  # noqa: F401
