"""Parity with PyTorch on what an earlier note listed as different: masked_fill's node,
mse_loss of integers, norm's dtype, Linear on 1-D and 3-D inputs, and torch.accelerator."""
import numpy as np
import pytest

import autotape as at

MASK = [True, False, True]


def _names(fn):
    return [None if f is None else type(f).__name__ for f, _ in fn.next_functions]


@pytest.mark.parametrize("value_kind", ["number", "leaf", "constant"])
def test_masked_fill_node_and_gradients(value_kind):
    x = at.tensor([1.0, 2.0, 3.0], dtype=at.float64, requires_grad=True)
    v = {"number": 5.0, "leaf": at.tensor(5.0, dtype=at.float64, requires_grad=True),
         "constant": at.tensor(5.0, dtype=at.float64)}[value_kind]
    y = x.masked_fill(at.tensor(MASK), v)
    assert type(y.grad_fn).__name__ == "MaskedFillBackward0"
    # PyTorch lists (self, value), and self alone for a number
    assert _names(y.grad_fn) == {"number": ["AccumulateGrad"], "leaf": ["AccumulateGrad", "AccumulateGrad"],
                                 "constant": ["AccumulateGrad", None]}[value_kind]
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 4.0, 0.0])
    np.testing.assert_array_equal(y.numpy(force=True), [5.0, 2.0, 5.0])
    if value_kind == "leaf":
        assert v.grad.item() == 20.0  # d/dv of 2 v^2


def test_masked_fill_compiled_equals_eager():
    x = at.tensor([1.0, 2.0, 3.0], dtype=at.float64, requires_grad=True)
    step = at.compile(lambda: (x.masked_fill(at.tensor(MASK), 5.0) ** 2).sum())
    for _ in range(3):
        x.grad = None
        loss = step()
        loss.backward()
        assert loss.item() == 54.0
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 4.0, 0.0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_of_integers_raises_as_pytorch(reduction):
    with pytest.raises(NotImplementedError, match="\"mse_cpu\" not implemented for 'Long'"):
        at.nn.functional.mse_loss(at.tensor([1, 2]), at.tensor([0, 0]), reduction=reduction)
    # one float side is enough: the other is promoted
    assert at.nn.functional.mse_loss(at.tensor([1, 2]), at.tensor([0.0, 0.0]), reduction="sum").item() == 5.0


def test_norm_dtype():
    x = at.tensor([3.0, 4.0])
    for y in (at.norm(x, dtype=at.float64), x.norm(dtype=at.float64)):
        assert y.dtype == at.float64 and y.item() == 5.0
    with pytest.raises(RuntimeError, match="without narrowing"):
        at.norm(x.double(), dtype=at.float32)
    with pytest.raises(RuntimeError, match="floating point"):
        at.norm(x, dtype=at.int64)


@pytest.mark.parametrize("shape", [(3,), (2, 2, 3), (2, 1, 2, 3)])
def test_linear_of_other_ranks_is_viewed_as_a_batch(shape):
    w = at.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = at.tensor([1.0, 2.0], dtype=at.float64, requires_grad=True)
    xn = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 7
    y = at.nn.functional.linear(at.tensor(xn), w, b)
    assert type(y.grad_fn).__name__ == "ViewBackward0"  # PyTorch's node for this case
    expect = xn @ w.detach().numpy().T + b.detach().numpy()
    assert y.shape == expect.shape
    np.testing.assert_allclose(y.detach().numpy(), expect, rtol=1e-14)
    (y * y).sum().backward()
    g = 2 * expect.reshape(-1, 2)
    np.testing.assert_allclose(w.grad.numpy(), g.T @ xn.reshape(-1, 3), rtol=1e-13)
    np.testing.assert_allclose(b.grad.numpy(), g.sum(0), rtol=1e-13)


def test_linear_matches_torch_on_3d():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xn, wn, bn = rng.normal(size=(4, 5, 3)), rng.normal(size=(2, 3)), rng.normal(size=2)
    out = {}
    for L in (at, torch):
        x, w, b = (L.tensor(a, requires_grad=True) for a in (xn, wn, bn))
        y = L.nn.functional.linear(x, w, b)
        y.pow(2).sum().backward()
        out[L.__name__] = [t.detach().numpy() for t in (y, x.grad, w.grad, b.grad)]
    for a, t in zip(out["autotape"], out["torch"]):
        np.testing.assert_allclose(a, t, rtol=1e-12, atol=1e-12)


def test_accelerator_answers_as_pytorch_without_a_device(monkeypatch):
    monkeypatch.setattr(at.cuda, "is_available", lambda: False)
    assert at.accelerator.is_available() is False
    assert at.accelerator.current_accelerator() is None
    device = at.accelerator.current_accelerator().type if at.accelerator.is_available() else "cpu"
    assert at.ones(2, device=device).device.type == "cpu"


def test_accelerator_names_cuda_when_present(monkeypatch):
    monkeypatch.setattr(at.cuda, "is_available", lambda: True)
    assert at.accelerator.is_available() is True
    assert at.accelerator.current_accelerator() == at.device("cuda")
    assert at.accelerator.current_accelerator().type == "cuda"


def test_mean_of_nothing_is_nan_on_cuda_as_on_the_cpu():
    pytest.importorskip("numba.cuda")
    if not at.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")
    for device in ("cpu", "cuda"):
        x = at.zeros(0, 3, device=device, requires_grad=True)
        assert np.isnan(x.mean().item())
        assert np.isnan(x.mean(0).cpu().numpy(force=True)).all() and x.mean(1).shape == (0,)
        assert x.sum().item() == 0.0 and (x.sum(0).cpu().numpy(force=True) == 0).all()
        x.mean().backward()
        assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("values, dtype", [([1, -2], at.int64), ([3, 4], at.int32), ([True, False], at.bool)])
def test_clone_keeps_integer_and_bool_dtypes(values, dtype):
    x = at.tensor(values, dtype=dtype)
    for c in (x.clone(), at.clone(x)):
        assert c.dtype == dtype and c.tolist() == values
        assert c._data is not x._data  # a copy, not a view


def test_leaky_relu_in_place_records_its_own_node():
    for inplace in (lambda z: at.nn.functional.leaky_relu(z, 0.1, inplace=True),
                    lambda z: at.nn.LeakyReLU(0.1, inplace=True)(z)):
        y = at.tensor([1.0, -2.0], dtype=at.float64, requires_grad=True)
        z = y * 1
        assert inplace(z) is z
        assert type(z.grad_fn).__name__ == "LeakyReluBackward1"
        (z * z).sum().backward()  # d/dy of leaky(y)^2: 2 y on the positive side, 2 * 0.01 y on the other
        np.testing.assert_allclose(y.grad.numpy(), [2.0, -0.04], rtol=1e-15)
