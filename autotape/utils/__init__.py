"""``autotape.utils``: as ``torch.utils``, the data loading part (``autotape.utils.data``)."""
from . import data  # noqa: F401
