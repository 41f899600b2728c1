"""``autotape.autograd``: backward, grad, Function, gradcheck."""
from .engine import backward, grad  # noqa: F401
from .function import Function, FunctionCtx  # noqa: F401
from .gradcheck import GradcheckError, gradcheck  # noqa: F401
from .node import Node  # noqa: F401
