"""Parity with PyTorch 2.13 on corners a second QA pass found wrong: softmax of rows holding
infinities (eager, compiled replay, CUDA), the gradients of max/min over NaN, grad_fn names,
Tensor.new_* and repeat, and the keyword spellings PyTorch accepts."""
import math

import numpy as np
import pytest

import autotape as at

inf, nan = math.inf, math.nan
ROWS = {"+inf": [1.0, inf, 2.0], "-inf": [1.0, -inf, 2.0], "all -inf": [-inf, -inf, -inf], "nan": [1.0, nan, 2.0],
        "two +inf": [inf, inf, 1.0], "+inf and -inf": [-inf, inf, 0.5], "one +inf": [inf], "one -inf": [-inf]}
SOFTMAXES = ["softmax", "log_softmax", "logsumexp"]


def _grad_of(T, name, x, dim=0):
    y = getattr(T, name)(x, dim)
    g = T.arange(1.0, y.numel() + 1.0, dtype=x.dtype, device=x.device).reshape(y.shape)
    y.backward(g)
    return y


def _close(a, b, dtype):
    """NaN where torch has NaN, infinities where it has them, values to the dtype's rounding."""
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(np.asarray(a, np.float64), b.detach().double().numpy(), rtol=tol, atol=tol)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # (PyTorch warns of none)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", SOFTMAXES)
@pytest.mark.parametrize("row", list(ROWS))
def test_softmax_of_infinities_eager_as_torch(torch, row, name, dtype):
    x = at.tensor(ROWS[row], dtype=getattr(at, dtype), requires_grad=True)
    xt = torch.tensor(ROWS[row], dtype=getattr(torch, dtype), requires_grad=True)
    y, yt = _grad_of(at, name, x), _grad_of(torch, name, xt)
    _close(y.detach().numpy(), yt, dtype)
    _close(x.grad.numpy(), xt.grad, dtype)


def _both_paths(T, name, dim, a, b):
    """The op on a matrix's rows (the replay's kernel) and on each short row alone (inlined)."""
    short = T.stack([getattr(T, name)(b[i], 0) for i in range(b.shape[0])])
    return T.cat([getattr(T, name)(a, dim).reshape(-1), short.reshape(-1)])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (NumPy's, in eager's reference run)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", SOFTMAXES)
@pytest.mark.parametrize("dim", [0, 1])
def test_softmax_of_infinities_compiled_as_torch(torch, name, dtype, dim):
    m = [r for r in ROWS.values() if len(r) == 3]
    m = m if dim == 1 else [list(c) for c in zip(*m)]
    step = at.compile(lambda a, b: _both_paths(at, name, dim, a, b))
    at_ = torch.tensor(m, dtype=getattr(torch, dtype), requires_grad=True)
    bt = torch.tensor(m, dtype=getattr(torch, dtype), requires_grad=True)
    ref = _both_paths(torch, name, dim, at_, bt)
    g = np.linspace(-1.0, 2.0, ref.shape[0])
    ref.backward(torch.tensor(g, dtype=ref.dtype))
    for _ in range(2):  # (the second call replays the compiled program)
        a = at.tensor(m, dtype=getattr(at, dtype), requires_grad=True)
        b = at.tensor(m, dtype=getattr(at, dtype), requires_grad=True)
        out = step(a, b)
        out.backward(at.tensor(g, dtype=out.dtype))
        _close(out.detach().numpy(), ref, dtype)
        _close(a.grad.numpy(), at_.grad, dtype)
        _close(b.grad.numpy(), bt.grad, dtype)
    assert "interpreter" in step.explain() or "replay" in step.explain()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_of_infinities_cuda_as_torch(torch, name):
    pytest.importorskip("numba.cuda")
    if not at.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")
    m = [r for r in ROWS.values() if len(r) == 3]
    for dim in (0, 1):
        x = at.tensor(m, dtype=at.float64, device="cuda", requires_grad=True)
        xt = torch.tensor(m, dtype=torch.float64, requires_grad=True)
        y, yt = _grad_of(at, name, x, dim), _grad_of(torch, name, xt, dim)
        _close(y.detach().cpu().numpy(), yt, "float64")
        _close(x.grad.cpu().numpy(), xt.grad, "float64")


# -- 2. the gradients of amax/amin and max/min over NaN -----------------------------------------
_NAN_MATRIX = [[1.0, nan, 3.0], [nan, nan, 2.0], [5.0, 5.0, 1.0]]
EXTREMES = {
    "amax()": lambda x: x.amax(), "amin()": lambda x: x.amin(), "amax(0)": lambda x: x.amax(0),
    "amin(1, keepdim)": lambda x: x.amin(1, keepdim=True), "amax((0, 1))": lambda x: x.amax((0, 1)),
    "max()": lambda x: x.max(), "min()": lambda x: x.min(), "max(1)": lambda x: x.max(1)[0],
    "min(0)": lambda x: x.min(0).values, "max(1) of ties": lambda x: x[2:].max(1)[0],
    "max() of ties": lambda x: x[2].max(), "amax() of ties": lambda x: x[2].amax(),
}


@pytest.mark.parametrize("device", ["cpu", "cuda", "compiled"])
@pytest.mark.parametrize("case", list(EXTREMES))
def test_extreme_gradients_over_nan_as_torch(torch, case, device):
    if device == "cuda" and not at.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")
    fn = EXTREMES[case]
    xt = torch.tensor(_NAN_MATRIX, dtype=torch.float64, requires_grad=True)
    yt = fn(xt)
    yt.backward(torch.arange(1.0, yt.numel() + 1.0, dtype=torch.float64).reshape(yt.shape))
    run = at.compile(fn) if device == "compiled" else fn
    for _ in range(2 if device == "compiled" else 1):
        x = at.tensor(_NAN_MATRIX, dtype=at.float64, requires_grad=True, device=device.replace("compiled", "cpu"))
        y = run(x)
        y.backward(at.arange(1.0, y.numel() + 1.0, dtype=at.float64, device=x.device).reshape(y.shape))
        _close(y.detach().cpu().numpy(), yt, "float64")
        _close(x.grad.cpu().numpy(), xt.grad, "float64")
