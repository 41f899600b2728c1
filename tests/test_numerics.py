"""Numerical care: softmax, log_softmax, logsumexp, softplus and sigmoid stay finite (and
accurate) for large inputs, forward and backward, in float32 and float64, wherever PyTorch
gives finite values."""
import math

import numpy as np
import pytest

import autotape

# exp overflows past 88 (float32) and 709 (float64); the spread of a row stays representable
BIG = {
    "float32": [0.0, 1.0, -1.0, 30.0, 88.0, 89.0, -104.0, 1e4, -1e4, 1e30, -1e30],
    "float64": [0.0, 1.0, -1.0, 30.0, 709.0, 710.0, -745.0, 1e4, -1e4, 1e300, -1e300],
}
EXTREME = {"float32": [3e38, -3e38], "float64": [1.7e308, -1.7e308]}  # for the pointwise ones too
POINTWISE = ("softplus", "sigmoid")


def _values(name, dtype):
    return np.array(BIG[dtype] + (EXTREME[dtype] if name.startswith(POINTWISE) else []), dtype=dtype)


def _softplus(T, x, **kw):
    return T.softplus(x, **kw) if T.__name__ == "autotape" else T.nn.functional.softplus(x, **kw)


FUNCTIONS = {
    "softmax": lambda T, x: T.softmax(x, -1),
    "softmax_dim0": lambda T, x: T.softmax(x.reshape(-1, 1) * T.ones(1, 2, dtype=x.dtype), 0),
    "log_softmax": lambda T, x: T.log_softmax(x, -1),
    "log_softmax_dim0": lambda T, x: T.log_softmax(x.reshape(-1, 1) * T.ones(1, 2, dtype=x.dtype), 0),
    "logsumexp": lambda T, x: T.logsumexp(x, -1),
    "logsumexp_keepdim": lambda T, x: T.logsumexp(x.reshape(-1, 1), 0, keepdim=True),
    "softplus": lambda T, x: _softplus(T, x),
    "softplus_beta": lambda T, x: _softplus(T, x, beta=4.0, threshold=50.0),
    "sigmoid": lambda T, x: T.sigmoid(x),
}


def _reference(name, a):
    """The exact values in float64 (or the nearest representable), by stable formulas."""
    a = a.astype(np.float64)
    if name.startswith(("softmax", "log_softmax", "logsumexp")):
        m = a.max()
        lse = m + math.log(np.sum(np.exp(a - m)))
        if name.startswith("softmax"):
            y = np.exp(a - lse)
            return np.repeat(y[:, None], 2, 1) if name.endswith("dim0") else y
        if name.startswith("log_softmax"):
            y = a - lse
            return np.repeat(y[:, None], 2, 1) if name.endswith("dim0") else y
        return np.asarray(lse) if name == "logsumexp" else np.asarray([[lse]])
    if name == "softplus":
        return np.where(a > 20, a, np.logaddexp(0.0, a))
    if name == "softplus_beta":
        return np.where(4 * a > 50, a, np.logaddexp(0.0, 4 * a) / 4)
    return np.where(a >= 0, 1 / (1 + np.exp(-np.abs(a))), np.exp(-np.abs(a)) / (1 + np.exp(-np.abs(a))))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_stable_for_large_inputs(name, dtype):
    values = _values(name, dtype)
    x = autotape.tensor(values, requires_grad=True)
    out = FUNCTIONS[name](autotape, x)  # (an intermediate may overflow to -inf harmlessly: x - max)
    y = out.detach().numpy()
    assert out.dtype.name == dtype and np.isfinite(y).all(), f"{name}: {y}"
    with np.errstate(all="ignore"):
        ref = _reference(name, values)
    tol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(y, ref.astype(dtype), rtol=tol, atol=tol)
    out.backward(autotape.ones_like(out))
    g = x.grad.numpy()
    assert np.isfinite(g).all(), f"{name}: gradient {g}"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_large_inputs_match_torch(torch, name, dtype):
    values = _values(name, dtype)
    ours, theirs = autotape.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    a, b = FUNCTIONS[name](autotape, ours), FUNCTIONS[name](torch, theirs)
    seed = np.linspace(0.5, 1.5, b.numel()).reshape(tuple(b.shape)).astype(dtype)
    a.backward(autotape.tensor(seed))
    b.backward(torch.tensor(seed))
    for mine, ref in ((a.detach().numpy(), b.detach().numpy()), (ours.grad.numpy(), theirs.grad.numpy())):
        finite = np.isfinite(ref)
        assert np.isfinite(mine[finite]).all(), f"{name}: finite in torch, not here: {mine} vs {ref}"
        tol = 2e-6 if dtype == "float32" else 1e-12
        # (float32 sigmoid of very negative inputs: torch flushes e^-100 to 0, we keep the subnormal)
        np.testing.assert_allclose(mine[finite], ref[finite], rtol=tol, atol=tol * (1e-30 if dtype == "float64" else 1))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_softmax_rows_of_minus_infinity_and_mixed_rows():
    """A row with -inf entries gets 0 there; a row that is all -inf is NaN, as in PyTorch."""
    x = autotape.tensor([[-math.inf, 0.0, 1e4], [-math.inf, -math.inf, -math.inf]], dtype=autotape.float64,
                        requires_grad=True)
    y = autotape.softmax(x, -1)
    np.testing.assert_array_equal(y.detach().numpy()[0], [0.0, 0.0, 1.0])
    assert np.isnan(y.detach().numpy()[1]).all()
    (y[0] * autotape.tensor([1.0, 2.0, 3.0], dtype=autotape.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0], [0.0, 0.0, 0.0])
    lse = autotape.logsumexp(autotape.tensor([-math.inf, -math.inf]), 0)
    assert lse.item() == -math.inf


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("log", [False, True])
def test_short_vectors_in_python_floats_match_numpys_path(log, dtype):
    """softmax of a vector of up to 16 elements runs in Python floats (rounded once); a 2-d
    input goes NumPy's way: both give the same values, the corners (inf, NaN) included."""
    rng = np.random.default_rng(0)
    fn = autotape.log_softmax if log else autotape.softmax
    rows = [rng.standard_normal(n) * scale for n in (1, 2, 4, 16) for scale in (1.0, 30.0, 1e4)]
    rows += [[math.inf, 1.0], [-math.inf, 0.0, 1.0], [-math.inf, -math.inf], [math.nan, 1.0], [3e38, -3e38]]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-15)
    for row in rows:
        x = np.asarray(row, dtype=dtype)
        short = fn(autotape.tensor(x), 0).numpy()
        numpys = fn(autotape.tensor(x.reshape(1, -1)), 1).numpy()[0]
        np.testing.assert_allclose(short, numpys, **tol, err_msg=str(row))
