"""``autotape.accelerator``: PyTorch's device-agnostic front to the one accelerator autotape
knows, CUDA, so the tutorials' ``device = torch.accelerator.current_accelerator().type if
torch.accelerator.is_available() else "cpu"`` runs unchanged."""
from . import cuda
from .devices import device as _device


def is_available():
    return cuda.is_available()


def current_accelerator(check_available=False):
    """``device('cuda')`` where CUDA can be used, else None. (PyTorch names its build's
    accelerator even when no device is present, unless ``check_available``; autotape's CUDA
    support is always built in, so it answers by what is present either way.)"""
    return _device("cuda") if cuda.is_available() else None


def device_count():
    return cuda.device_count()


def current_device_index():
    return cuda.current_device() if cuda.is_available() else -1


current_device_idx = current_device_index


def synchronize(device=None):
    if cuda.is_available():
        cuda.synchronize(device)
