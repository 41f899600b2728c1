"""``autotape.autograd``: backward, grad, Function, gradcheck, anomaly detection, and the legacy
``Variable``."""
from .anomaly import detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly  # noqa: F401
from .engine import backward, grad  # noqa: F401
from . import functional  # noqa: F401
from .function import Function, FunctionCtx  # noqa: F401
from .gradcheck import GradcheckError, gradcheck  # noqa: F401
from .node import Node  # noqa: F401
from .variable import Variable  # noqa: F401
