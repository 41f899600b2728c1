"""``autotape.cuda``: tensors on an NVIDIA GPU through numba-cuda.

``is_available()`` is numba's answer: True with a working driver and GPU, and True under
numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``, which runs the kernels on the CPU, as the
tests do); False, without raising, when numba-cuda or the driver is missing. numba.cuda is
imported on the first call here or the first CUDA tensor, not with autotape. One device
(``cuda:0``) is used.
"""
from .array import COPIES, empty_cache  # noqa: F401


def is_available():
    try:
        from .array import nbcuda

        return bool(nbcuda().is_available())
    except Exception:  # numba-cuda not installed, or a broken driver: no CUDA, as PyTorch says
        return False


def device_count():
    if not is_available():
        return 0
    from .array import nbcuda

    return len(nbcuda().gpus)


def current_device():
    return 0


def synchronize(device=None):
    """Wait for every kernel launched so far to finish."""
    from .array import nbcuda

    nbcuda().synchronize()


def get_device_name(device=None):
    from .array import nbcuda

    name = nbcuda().get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def manual_seed(seed):
    """autotape draws random numbers on the host (the same numbers on both devices): this seeds
    that generator, as ``autotape.manual_seed`` does."""
    from ..factories import manual_seed as seed_all

    seed_all(seed)


manual_seed_all = manual_seed


def require():
    """Raise unless CUDA can be used (the check behind ``device='cuda'``)."""
    if not is_available():
        raise RuntimeError("Found no NVIDIA driver on your system (autotape.cuda.is_available() is False): "
                           "install numba-cuda and a CUDA driver, or run on device='cpu'")
