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
