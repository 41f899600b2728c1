"""Adagrad and Adamax against PyTorch: trajectories over 50 steps, and the state_dict round trip."""
import numpy as np
import pytest

import autotape
import autotape.optim as optim

CASES = [
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.2, eps=1e-8)),
    ("Adamax", dict(lr=0.02)),
    ("Adamax", dict(lr=0.02, betas=(0.7, 0.9), weight_decay=0.05, maximize=True)),
]


def _loss(lib, w, x):
    return ((lib.tanh(x @ w) - 0.5) ** 2).sum()


def _run(lib, name, kwargs, w0, x, steps, tensor):
    w = tensor(w0.copy(), requires_grad=True)
    xt = tensor(x)
    opt = getattr(lib.optim, name)([w], **kwargs)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = _loss(lib, w, xt)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return w.detach().numpy(), np.array(losses), opt


@pytest.mark.parametrize("name,kwargs", CASES)
def test_trajectory_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0, x = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    wa, la, _ = _run(autotape, name, kwargs, w0, x, 50, autotape.tensor)
    wt, lt, _ = _run(torch, name, kwargs, w0, x, 50, torch.tensor)
    assert np.allclose(la, lt, rtol=1e-6, atol=1e-9)
    assert np.allclose(wa, wt, rtol=1e-6, atol=1e-9)
    assert not np.allclose(wa, w0)  # the parameters moved


@pytest.mark.parametrize("name,kwargs", CASES)
def test_state_dict_round_trip_continues_the_trajectory(name, kwargs):
    rng = np.random.default_rng(1)
    w0, x = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    w_full, _, _ = _run(autotape, name, kwargs, w0, x, 10, autotape.tensor)
    w_half, _, opt = _run(autotape, name, kwargs, w0, x, 5, autotape.tensor)
    w = autotape.tensor(w_half.copy(), requires_grad=True)
    fresh = getattr(optim, name)([w], **kwargs)
    fresh.load_state_dict(opt.state_dict())
    assert float(fresh.state[w]["step"]) == 5.0
    xt = autotape.tensor(x)
    for _ in range(5):
        fresh.zero_grad()
        _loss(autotape, w, xt).backward()
        fresh.step()
    assert np.allclose(w.detach().numpy(), w_full, rtol=0, atol=1e-12)


def test_invalid_hyperparameters_raise():
    w = autotape.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="lr_decay"):
        optim.Adagrad([w], lr_decay=-1)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adamax([w], betas=(0.9, 1.0))
