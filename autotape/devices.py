"""``autotape.device``: where a tensor lives, as PyTorch names it (``cpu``, ``cuda:0``)."""


class device(str):
    """``device('cuda')``, ``device('cuda', 0)``, ``device('cuda:0')``, ``device('cpu')``.

    A ``str`` subclass, so a device equals its name (``x.device == 'cpu'``); it prints as
    PyTorch's does: ``device(type='cuda', index=0)``."""

    def __new__(cls, type, index=None):
        if isinstance(type, device) and index is None:
            return type
        name = str(type)
        if ":" in name:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {name}")
            name, _, idx = name.partition(":")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if name not in ("cpu", "cuda"):
            raise RuntimeError(
                f"device {str(type)!r} is not available: autotape runs on the CPU (device='cpu') and on CUDA GPUs "
                "(device='cuda')"
            )
        if index is not None and (not isinstance(index, int) or index < 0):
            raise RuntimeError(f"Device index must not be negative, got {index}")
        self = super().__new__(cls, name if index is None else f"{name}:{index}")
        self._type, self._index = name, index
        return self

    @property
    def type(self):
        return self._type

    @property
    def index(self):
        return self._index

    def __repr__(self):
        if self._index is None:
            return f"device(type='{self._type}')"
        return f"device(type='{self._type}', index={self._index})"

    __hash__ = str.__hash__

    def __reduce__(self):
        return (device, (self._type, self._index))


CPU = device("cpu")
CUDA0 = device("cuda", 0)


def parse(d):
    """``d`` (a string, a device, or an int meaning a CUDA index) as a device; None stays None."""
    if d is None or isinstance(d, device):
        return d
    if isinstance(d, int) and not isinstance(d, bool):
        return device("cuda", d)
    if not isinstance(d, str):
        raise TypeError(f"expected a device (a string such as 'cuda' or an autotape.device), got {type(d).__name__}")
    return device(d)
