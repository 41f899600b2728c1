"""The op table (``table.OPS``) and the op families that fill it, in a fixed order so that
opcodes are stable."""
from .table import BY_NAME, OPS, defop  # noqa: F401
from . import elementwise  # noqa: F401

# A custom autograd.Function: its record hands control back to Python during replay.
PYTHON = defop("python", "PythonBackward", "python", "Function.backward", uses=())

