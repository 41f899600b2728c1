"""autotape.optim.lr_scheduler: PyTorch's schedules, rate for rate (its chainable forms), and the
optimizers' next step uses the rate a scheduler wrote."""
import math
import warnings

import numpy as np
import pytest

import autotape as at
import autotape.optim as optim
from autotape.optim import lr_scheduler as sched

# (name, kwargs) of the schedulers driven by step(); ReduceLROnPlateau is tested on its own
SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e))),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=3)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.5, end_factor=0.1, total_iters=4)),
]


def _lrs(lib, name, kwargs, epochs=20, lrs=(0.1, 0.02), meddle=None):
    """The rates of two groups over ``epochs`` scheduler steps; ``meddle(epoch, opt)`` may change
    the groups' rates from outside between steps."""
    ps = [lib.nn.Parameter(lib.ones(2)) for _ in lrs]
    opt = lib.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)], lr=1.0)
    s = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
    out = [s.get_last_lr()]
    for epoch in range(epochs):
        opt.step()
        s.step()
        out.append(s.get_last_lr())
        assert [g["lr"] for g in opt.param_groups] == out[-1]
        if meddle is not None:
            meddle(epoch, opt)
    return out


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULES)])
def test_schedules_match_torch(torch, name, kwargs):
    assert _lrs(at, name, kwargs) == _lrs(torch, name, kwargs)  # exactly: the same arithmetic


def _halve_at_4(epoch, opt):
    if epoch == 4:
        for g in opt.param_groups:
            g["lr"] *= 0.5


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULES)])
def test_chainable_forms_follow_an_outside_change(torch, name, kwargs):
    """The recursive forms carry a rate changed from outside along, as PyTorch's do (a closed
    form from base_lrs would not)."""
    assert _lrs(at, name, kwargs, meddle=_halve_at_4) == _lrs(torch, name, kwargs, meddle=_halve_at_4)


def test_fixed_values():
    """Known rates (no torch needed)."""
    step = [lr for lr, _ in _lrs(at, "StepLR", dict(step_size=2, gamma=0.5), epochs=5)]
    assert step == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rel=1e-15)
    multi = [lr for lr, _ in _lrs(at, "MultiStepLR", dict(milestones=[1, 3, 3]), epochs=4)]
    assert multi == pytest.approx([0.1, 0.01, 0.01, 0.0001, 0.0001], rel=1e-12)
    lin = [lr for lr, _ in _lrs(at, "LinearLR", dict(), epochs=6)]
    assert lin == pytest.approx([0.1 * (1 / 3 + 2 / 3 * min(e, 5) / 5) for e in range(7)], rel=1e-12)
    lam = _lrs(at, "LambdaLR", dict(lr_lambda=[lambda e: 0.5 ** e, lambda e: e]), epochs=3)
    assert sum(lam, []) == pytest.approx([0.1, 0.0, 0.05, 0.02, 0.025, 0.04, 0.0125, 0.06], rel=1e-15)
    # cosine: the recursive form stays on the closed form (to rounding), through T_max and back up
    T, eta = 5, 0.01
    cos = [lr for lr, _ in _lrs(at, "CosineAnnealingLR", dict(T_max=T, eta_min=eta), epochs=12)]
    closed = [eta + (0.1 - eta) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(13)]
    np.testing.assert_allclose(cos, closed, rtol=0, atol=1e-12)
    # the recursion's own rounding, as PyTorch computes it (its values, checked to match torch above)
    assert cos[3] == ((1 + math.cos(math.pi * 3 / T)) / (1 + math.cos(math.pi * 2 / T)) * (cos[2] - eta) + eta)


def test_closed_form_with_epoch_argument(torch):
    """step(epoch) (deprecated) jumps by the closed form, with PyTorch's warning."""
    for lib in (at, torch):
        p = lib.nn.Parameter(lib.ones(1))
        opt = lib.optim.SGD([p], lr=0.1)
        s = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
        opt.step()
        with pytest.warns(UserWarning, match="epoch parameter"):
            s.step(4)
        assert s.get_last_lr() == [0.05 * (1 + math.cos(math.pi * 4 / 10))]
        assert s.last_epoch == 4


def _train(lib, opt_name, opt_kwargs, sched_name, sched_kwargs, epochs=6, steps=3):
    """A float64 least-squares fit stepped by ``opt_name`` under ``sched_name``; the weights
    after every epoch."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    w = lib.nn.Parameter(lib.tensor(rng.standard_normal(3)))
    X, y = lib.tensor(X), lib.tensor(y)
    opt = getattr(lib.optim, opt_name)([w], **opt_kwargs)
    s = getattr(lib.optim.lr_scheduler, sched_name)(opt, **sched_kwargs)
    out = []
    for epoch in range(epochs):
        for _ in range(steps):
            opt.zero_grad()
            loss = ((X @ w - y) ** 2).mean()
            loss.backward()
            opt.step()
        if sched_name == "ReduceLROnPlateau":
            s.step(loss.item() if epoch % 2 == 0 else 10.0)
        else:
            s.step()
        out.append(w.detach().numpy().copy())
    return np.array(out)


TRAININGS = [
    ("SGD", dict(lr=0.1, momentum=0.9), "StepLR", dict(step_size=2, gamma=0.3)),
    ("Adam", dict(lr=0.05), "CosineAnnealingLR", dict(T_max=4)),
    ("RMSprop", dict(lr=0.01), "ExponentialLR", dict(gamma=0.5)),
    ("AdamW", dict(lr=0.05), "LinearLR", dict(start_factor=0.2, total_iters=3)),
    ("SGD", dict(lr=0.1), "ReduceLROnPlateau", dict(patience=0, factor=0.5)),
]


@pytest.mark.parametrize("opt_name,opt_kwargs,sched_name,sched_kwargs", TRAININGS, ids=[t[2] for t in TRAININGS])
def test_trajectory_matches_torch(torch, opt_name, opt_kwargs, sched_name, sched_kwargs):
    ours = _train(at, opt_name, opt_kwargs, sched_name, sched_kwargs)
    theirs = _train(torch, opt_name, opt_kwargs, sched_name, sched_kwargs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    # and the schedule made a difference: without it the weights differ
    plain = _train(at, opt_name, opt_kwargs, "LambdaLR", dict(lr_lambda=lambda e: 1.0))
    assert np.abs(ours - plain).max() > 1e-6


def test_next_step_uses_the_new_rate():
    """SGD on a constant gradient 1: each step moves by the rate of its epoch, also on the
    optimizer's repeated-layout fast path (several steps an epoch), and with a tensor rate."""
    for lr in (1.0, at.tensor(1.0)):
        w = at.nn.Parameter(at.zeros(1))
        opt = optim.SGD([w], lr=lr)
        s = sched.StepLR(opt, step_size=1, gamma=0.5)
        for _ in range(3):
            for _ in range(3):
                w.grad = at.ones(1)
                opt.step()
            s.step()
        assert w.item() == -3 * (1 + 0.5 + 0.25)
        assert float(opt.param_groups[0]["lr"]) == 0.125
    assert opt.param_groups[0]["lr"] is lr  # a tensor rate is filled in place, not replaced


def test_reduce_on_plateau(torch):
    metrics = [5.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 2.99999, 1.0, 1.0, 1.0, 1.0]
    configs = [dict(patience=2), dict(patience=1, cooldown=2, factor=0.5, min_lr=[0.02, 0.01]),
               dict(mode="max", patience=0, threshold=0.1, threshold_mode="abs"),
               dict(patience=0, factor=0.5, eps=0.02)]
    for kwargs in configs:
        got = []
        for lib in (at, torch):
            ps = [lib.nn.Parameter(lib.ones(1)) for _ in range(2)]
            opt = lib.optim.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05}], lr=0.1)
            s = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
            lrs = []
            for m in metrics:
                s.step(lib.tensor(m))  # a 0-d tensor metric, as tutorials pass the loss
                lrs.append(s.get_last_lr())
            got.append(lrs)
        assert got[0] == got[1]
    # fixed: patience 2 -> the 3rd epoch in a row without improvement reduces; 2.99999 is no
    # improvement on 3 (rel threshold 1e-4)
    s = sched.ReduceLROnPlateau(optim.SGD([at.nn.Parameter(at.ones(1))], lr=1.0), patience=2)
    lrs = []
    for m in metrics:
        s.step(m)
        lrs.append(s.get_last_lr()[0])
    assert lrs == pytest.approx([1.0] * 4 + [0.1] * 4 + [0.01] * 3 + [0.001] * 4 + [1e-4], rel=1e-12)


def test_state_dict_round_trip(torch):
    def make(lib):
        p = lib.nn.Parameter(lib.ones(1))
        opt = lib.optim.SGD([p], lr=0.1)
        return opt, lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)

    opt, s = make(at)
    for _ in range(4):
        opt.step()
        s.step()
    state, opt_state = s.state_dict(), opt.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 4
    topt, ts = make(torch)
    assert set(state) == set(ts.state_dict())
    opt2, s2 = make(at)
    opt2.load_state_dict(opt_state)
    s2.load_state_dict(state)
    for _ in range(5):
        for o, sc in ((opt, s), (opt2, s2)):
            o.step()
            sc.step()
        assert s2.get_last_lr() == s.get_last_lr()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    # resuming with last_epoch: base_lrs from the groups' initial_lr; the first step (to epoch 4)
    # decays the current rate, as PyTorch's does
    for lib in (at, torch):
        o3 = lib.optim.SGD([{"params": [lib.nn.Parameter(lib.ones(1))], "lr": 0.5, "initial_lr": 0.1}])
        s3 = lib.optim.lr_scheduler.StepLR(o3, step_size=2, last_epoch=3)
        assert s3.base_lrs == [0.1] and s3.get_last_lr() == [0.05] and s3.last_epoch == 4


def test_reduce_on_plateau_state_dict():
    opt = optim.SGD([at.nn.Parameter(at.ones(1))], lr=1.0)
    s = sched.ReduceLROnPlateau(opt, mode="max", patience=0)
    s.step(1.0)
    s2 = sched.ReduceLROnPlateau(optim.SGD([at.nn.Parameter(at.ones(1))], lr=1.0))
    s2.load_state_dict(s.state_dict())
    assert s2.mode == "max" and s2.best == 1.0
    s2.step(0.5)
    assert s2.get_last_lr() == [0.1]


def test_lambda_state_dict_keeps_callable_objects():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.n)

    opt = optim.SGD([at.nn.Parameter(at.ones(1))], lr=1.0)
    s = sched.LambdaLR(opt, [Warmup(4)])
    state = s.state_dict()
    assert state["lr_lambdas"] == [{"n": 4}]
    s2 = sched.LambdaLR(optim.SGD([at.nn.Parameter(at.ones(1))], lr=1.0), [Warmup(10)])
    s2.load_state_dict(state)
    assert s2.lr_lambdas[0].n == 4 and "lr_lambdas" in state
    assert sched.LambdaLR(opt, lambda e: 1.0).state_dict()["lr_lambdas"] == [None]


def test_initial_lr_and_base_lrs():
    opt = optim.Adam([at.nn.Parameter(at.ones(1))], lr=0.3)
    s = sched.ExponentialLR(opt, gamma=0.5)
    assert opt.param_groups[0]["initial_lr"] == 0.3 and s.base_lrs == [0.3] and s.last_epoch == 0
    assert s.get_last_lr() == [0.3]
    assert isinstance(s, sched.LRScheduler) and isinstance(sched.ReduceLROnPlateau(opt), sched.LRScheduler)


def test_warnings():
    opt = optim.SGD([at.nn.Parameter(at.ones(1))], lr=1.0)
    s = sched.StepLR(opt, 1)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    opt = optim.SGD([at.nn.Parameter(at.ones(1))], lr=1.0)
    s = sched.StepLR(opt, 1)
    assert "step" in vars(opt)  # the wrapper that notes the optimizer's first step...
    opt.step()
    assert "step" not in vars(opt)  # ...is gone after it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        s.get_lr()


def test_errors(torch):
    p = at.nn.Parameter(at.ones(1))
    opt = optim.SGD([p], lr=0.1)
    for lib, params, o in ((at, [p], opt), (torch, [torch.nn.Parameter(torch.ones(1))], None)):
        o = o or lib.optim.SGD(params, lr=0.1)
        with pytest.raises(TypeError, match="list is not an Optimizer"):
            lib.optim.lr_scheduler.StepLR(params, 2)
        with pytest.raises(TypeError, match="list is not an Optimizer"):
            lib.optim.lr_scheduler.ReduceLROnPlateau(params)
        with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
            lib.optim.lr_scheduler.LambdaLR(o, [lambda e: 1, lambda e: 1])
        with pytest.raises(ValueError, match="Starting multiplicative factor"):
            lib.optim.lr_scheduler.LinearLR(o, start_factor=0)
        with pytest.raises(ValueError, match="Ending multiplicative factor"):
            lib.optim.lr_scheduler.LinearLR(o, end_factor=2)
        with pytest.raises(ValueError, match="Factor should be < 1.0."):
            lib.optim.lr_scheduler.ReduceLROnPlateau(o, factor=1.0)
        with pytest.raises(ValueError, match="mode avg is unknown!"):
            lib.optim.lr_scheduler.ReduceLROnPlateau(o, mode="avg")
        with pytest.raises(ValueError, match="threshold mode x is unknown!"):
            lib.optim.lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x")
        with pytest.raises(ValueError, match="expected 1 min_lrs, got 2"):
            lib.optim.lr_scheduler.ReduceLROnPlateau(o, min_lr=[0, 0])
        fresh = lib.optim.SGD(params, lr=0.1)
        with pytest.raises(KeyError, match="initial_lr"):
            lib.optim.lr_scheduler.StepLR(fresh, 2, last_epoch=3)
