"""``autotape.optim``: SGD, Adam, AdamW, RMSprop, Adagrad and Adamax with PyTorch's update arithmetic, and the
learning-rate schedulers of ``lr_scheduler``."""
from .adagrad import Adagrad, Adamax  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .rmsprop import RMSprop  # noqa: F401
from .sgd import SGD  # noqa: F401
from . import lr_scheduler  # noqa: F401,E402
