"""Property-based tests over the whole op table (hypothesis): for random instances of every
op (see ``op_properties.py``), in float64 and float32,

* forward equals NumPy;
* backward (the compiled replay) equals central finite differences of the NumPy forward,
  in float64;
* forward and backward equal PyTorch's, when torch is installed.

Derandomized (CI is reproducible) and kept small: a few seconds in all.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import autotape
from autotape.ops import OPS

from op_properties import PROPS, Case, draw_values

try:
    import torch
except ImportError:  # pragma: no cover - the parity half is skipped
    torch = None

EXAMPLES = 20
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def test_every_op_has_a_property_strategy():
    missing = [spec.name for spec in OPS if spec.name not in PROPS]
    assert not missing, f"ops with no strategy in tests/op_properties.py: {missing}"
    assert not set(PROPS) - {spec.name for spec in OPS}, "strategies for ops that are not in the table"


def _recorded(out):
    tape = out._tape
    return set() if tape is None else {OPS[c].name for c in np.frombuffer(tape.R, dtype=np.int32)[::10]}


def _finite_differences(case, arrays, w, k, eps):
    """d/d arrays[k] of sum(w * ref(*arrays)), by central differences, in float64."""
    x = arrays[k]
    grad = np.zeros(x.shape)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        h = eps * max(1.0, abs(flat[i]))
        keep = flat[i]
        flat[i] = keep + h
        up = np.sum(w * case.ref(*arrays))
        flat[i] = keep - h
        down = np.sum(w * case.ref(*arrays))
        flat[i] = keep
        gflat[i] = (up - down) / (2 * h)
    return grad


def _run(T, case, arrays, w, dtype):
    """Forward and the input gradients for seed ``w``, with module ``T``."""
    xs = [T.tensor(a.astype(dtype), requires_grad=g) for a, g in zip(arrays, case.grads)]
    out = case.fn(T, *xs)
    if out.requires_grad:
        out.backward(T.tensor(w.astype(dtype)).reshape(out.shape))
    grads = [None if not g else (np.zeros(a.shape, dtype) if x.grad is None else x.grad.numpy())
             for a, g, x in zip(arrays, case.grads, xs)]
    return out, grads


def _close(actual, expected, rtol, atol, what):
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0, where=np.isfinite(expected))))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def check(case: Case, seed):
    rng = np.random.default_rng(seed)
    arrays = [draw_values(rng, s, case.domain) for s in case.shapes]
    note(f"inputs: {[a.tolist() for a in arrays]}")
    with np.errstate(all="ignore"):
        expected = np.asarray(case.ref(*arrays), dtype=np.float64)
    w = rng.standard_normal(expected.shape)

    # float64: forward = NumPy, backward = finite differences
    out, grads = _run(autotape, case, arrays, w, np.float64)
    assert out.dtype == autotape.float64
    assert tuple(out.shape) == expected.shape, f"{case}: shape {tuple(out.shape)}, NumPy says {expected.shape}"
    _close(out.detach().numpy(), expected, 1e-10, 1e-12, f"{case}: forward differs from NumPy")
    for k, g in enumerate(grads):
        if g is None:
            continue
        assert g.shape == arrays[k].shape and g.dtype == np.float64
        fd = _finite_differences(case, [a.copy() for a in arrays], w, k, case.fd_eps)
        _close(g, fd, case.fd_rtol, 1e-6, f"{case}: gradient of input {k} differs from finite differences")

    # float32: forward close to NumPy's float64, gradients in float32
    out32, grads32 = _run(autotape, case, arrays, w, np.float32)
    assert out32.dtype == autotape.float32
    _close(out32.detach().numpy(), expected, 2e-4, 1e-5, f"{case}: float32 forward differs from NumPy")
    assert all(g is None or g.dtype == np.float32 for g in grads32)

    if torch is None:
        return
    tight = (2e-7, 1e-9) if case.rounds else (1e-9, 1e-12)
    for dtype, tol in ((np.float64, tight), (np.float32, (2e-4, 2e-5))):
        ours, our_grads = (out, grads) if dtype is np.float64 else (out32, grads32)
        theirs, their_grads = _run(torch, case, arrays, w, dtype)
        assert str(theirs.dtype).endswith(ours.dtype.name)
        _close(ours.detach().numpy(), theirs.detach().numpy(), *tol, f"{case}: forward differs from torch ({dtype.__name__})")
        for k, (a, b) in enumerate(zip(our_grads, their_grads)):
            if a is not None:
                _close(a, b, *tol, f"{case}: gradient of input {k} differs from torch ({dtype.__name__})")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", list(PROPS))
@SETTINGS
@given(data=st.data())
def test_op_matches_numpy_finite_differences_and_torch(name, data):
    case = data.draw(PROPS[name], label="case")
    note(f"case: {case!r}")
    seed = data.draw(st.integers(0, 2 ** 16), label="seed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's notes on .T of n-d tensors and the like
        xs = [autotape.tensor(draw_values(np.random.default_rng(seed), s, case.domain), requires_grad=g)
              for s, g in zip(case.shapes, case.grads)]
        recorded = _recorded(case.fn(autotape, *xs))
        assert name in recorded, f"{case} does not exercise {name}: it recorded {sorted(recorded)}"
        check(case, seed)
