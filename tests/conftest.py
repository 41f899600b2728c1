import glob
import os

# CUDA tests run on numba-cuda's simulator unless this machine has an NVIDIA GPU. Set before
# anything imports numba.cuda (the simulator is chosen at that import); checked without
# importing it: a device node, not the driver.
if not glob.glob("/dev/nvidia[0-9]*"):
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def torch():
    """PyTorch, for parity checks; tests that use it skip cleanly when it is not installed."""
    t = pytest.importorskip("torch")
    t.set_num_threads(1)
    return t


@pytest.fixture
def rng():
    return np.random.default_rng(0)
