"""``autotape.optim``: SGD, Adam, AdamW and RMSprop with PyTorch's update arithmetic."""
from .adam import Adam, AdamW  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .rmsprop import RMSprop  # noqa: F401
from .sgd import SGD  # noqa: F401
