"""autotape.optim: SGD, Adam, AdamW, RMSprop follow PyTorch's update arithmetic, state and
state_dict; a step over many small parameters is one compiled call, not a Python loop."""
import math
import time

import numpy as np
import pytest

import autotape as at
import autotape.nn as nn
import autotape.optim as optim

SHAPES = [(3, 4), (5,), (), (2, 3, 2), (64,)]

CONFIGS = [
    ("SGD", dict(lr=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.9)),
    ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.01, momentum=0.5, dampening=0.3, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9), eps=1e-3, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.3, centered=True)),
]


def _values(seed=0, steps=20):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]
    return init, grads


def _run(lib, name, kwargs, dtype, init, grads):
    """Step ``lib.optim.<name>`` through the given gradients; the final parameters."""
    ps = [lib.nn.Parameter(lib.tensor(a.astype(dtype))) for a in init]
    opt = getattr(lib.optim, name)(ps, **kwargs)
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = lib.tensor(g.astype(dtype))
        opt.step()
    return [p.detach().numpy().copy() for p in ps], opt


def _correctly_rounded_sqrt(torch, monkeypatch):
    """Swap PyTorch's CPU sqrt for a correctly rounded one. On MKL builds it is MKL's vsSqrt,
    1 ulp off for ~17% of float32 values (~1% of float64), which no IEEE kernel reproduces."""

    def sqrt(self):
        return torch.from_numpy(np.asarray(np.sqrt(self.detach().numpy())))

    monkeypatch.setattr(torch.Tensor, "sqrt", sqrt)
    monkeypatch.setattr(torch.Tensor, "sqrt_", lambda self: self.copy_(sqrt(self)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_update_matches_pytorch(torch, monkeypatch, name, kwargs, dtype):
    """Bitwise PyTorch's update, FMA included where ATen's AVX2/AVX512 kernels fuse (add with
    alpha, lerp, addcmul), once PyTorch's sqrt is correctly rounded; within rounding with it."""
    init, grads = _values()
    ours, opt = _run(at, name, kwargs, dtype, init, grads)
    with_mkl_sqrt, _ = _run(torch, name, kwargs, dtype, init, grads)
    _correctly_rounded_sqrt(torch, monkeypatch)
    theirs, topt = _run(torch, name, kwargs, dtype, init, grads)
    fused = torch.backends.cpu.get_cpu_capability() != "DEFAULT"  # the baseline kernels round twice
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b, c in zip(ours, theirs, with_mkl_sqrt):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=0 if fused else tol, atol=0 if fused else tol)
        np.testing.assert_allclose(a, c, rtol=tol, atol=tol)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"]
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for k, st in sd["state"].items():
        assert list(st) == list(tsd["state"][k])
        for key, v in st.items():
            np.testing.assert_allclose(v.numpy(), tsd["state"][k][key].numpy(), rtol=0 if fused else 1e-4,
                                       atol=0 if fused else 1e-5)
            assert v.dtype.name == str(tsd["state"][k][key].dtype).replace("torch.", "")


def _reference(name, kw, init, grads):
    """PyTorch's documented update rules, in float64 NumPy: checks the kernels without torch."""
    ps = [a.astype(np.float64).copy() for a in init]
    st = [dict(step=0, m=np.zeros_like(p), v=np.zeros_like(p), vmax=np.zeros_like(p), buf=None,
               ga=np.zeros_like(p)) for p in ps]
    lr, wd, sign = kw["lr"], kw.get("weight_decay", 0.0), -1.0 if kw.get("maximize") else 1.0
    for gs in grads:
        for p, g, s in zip(ps, gs, st):
            g = sign * g
            s["step"] += 1
            if name == "AdamW":
                p *= 1 - lr * kw.get("weight_decay", 1e-2)
            elif wd:
                g = g + wd * p
            if name == "SGD":
                mom, damp = kw.get("momentum", 0), kw.get("dampening", 0)
                if mom:
                    s["buf"] = g.copy() if s["buf"] is None else mom * s["buf"] + (1 - damp) * g
                    g = g + mom * s["buf"] if kw.get("nesterov") else s["buf"]
                p -= lr * g
            elif name in ("Adam", "AdamW"):
                b1, b2 = kw.get("betas", (0.9, 0.999))
                s["m"] = b1 * s["m"] + (1 - b1) * g
                s["v"] = b2 * s["v"] + (1 - b2) * g * g
                v = s["v"]
                if kw.get("amsgrad"):
                    s["vmax"] = v = np.maximum(s["vmax"], v)
                denom = np.sqrt(v) / math.sqrt(1 - b2 ** s["step"]) + kw.get("eps", 1e-8)
                p -= lr / (1 - b1 ** s["step"]) * s["m"] / denom
            else:
                alpha, mom = kw.get("alpha", 0.99), kw.get("momentum", 0)
                s["v"] = alpha * s["v"] + (1 - alpha) * g * g
                avg = s["v"]
                if kw.get("centered"):
                    s["ga"] = alpha * s["ga"] + (1 - alpha) * g
                    avg = avg - s["ga"] ** 2
                avg = np.sqrt(avg) + kw.get("eps", 1e-8)
                if mom:
                    s["buf"] = mom * (0 if s["buf"] is None else s["buf"]) + g / avg
                    p -= lr * s["buf"]
                else:
                    p -= lr * g / avg
    return ps


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_update_matches_reference_formulas(name, kwargs):
    init, grads = _values()
    ours, _ = _run(at, name, kwargs, np.float64, init, grads)
    for a, b in zip(ours, _reference(name, kwargs, init, grads)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_repr_matches_pytorch(torch):
    for name, kwargs in CONFIGS[:1] + CONFIGS[4:5] + CONFIGS[8:9]:
        ours = getattr(optim, name)([nn.Parameter(at.ones(1))], **kwargs)
        theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **kwargs)
        assert repr(ours) == repr(theirs)


def test_training_loop_matches_pytorch(torch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32) + 0.3).astype(np.float32)
    ours = nn.Linear(3, 1)
    theirs = torch.nn.Linear(3, 1)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    for lib, model in ((at, ours), (torch, theirs)):
        opt = lib.optim.Adam(model.parameters(), lr=0.05)
        xs, ys = lib.tensor(x), lib.tensor(y)
        for _ in range(100):
            opt.zero_grad()
            loss = lib.nn.functional.mse_loss(model(xs).flatten(), ys)
            loss.backward()
            opt.step()
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_state_dict_round_trip():
    init, grads = _values(steps=10)
    ref, _ = _run(at, "Adam", dict(lr=0.01, amsgrad=True), np.float32, init, grads)
    ps = [nn.Parameter(at.tensor(a.astype(np.float32))) for a in init]
    opt = optim.Adam(ps, lr=0.01, amsgrad=True)
    for gs in grads[:5]:
        for p, g in zip(ps, gs):
            p.grad = at.tensor(g.astype(np.float32))
        opt.step()
    sd = opt.state_dict()
    assert sd["state"][0]["step"].item() == 5.0 and set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq",
                                                                             "max_exp_avg_sq"}
    fresh = optim.Adam(ps, lr=123.0)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == 0.01 and fresh.param_groups[0]["params"] == ps
    for gs in grads[5:]:
        for p, g in zip(ps, gs):
            p.grad = at.tensor(g.astype(np.float32))
        fresh.step()
    for a, b in zip(ps, ref):
        np.testing.assert_array_equal(a.detach().numpy(), b)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        fresh.load_state_dict({"state": {}, "param_groups": []})


def test_zero_grad():
    p = nn.Parameter(at.ones(2))
    opt = optim.SGD([p], lr=0.1)
    (p * 3).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_frozen_and_gradless_parameters_are_skipped():
    a, b, c = (nn.Parameter(at.ones(2)) for _ in range(3))
    opt = optim.Adam([a, b, c], lr=0.1)
    b.requires_grad_(False)
    (a * 2).sum().backward()
    c.grad = None
    b.grad = at.ones(2)  # a frozen parameter keeps its values even with a stale gradient
    opt.step()
    assert a.tolist() != [1.0, 1.0] and b.tolist() == [1.0, 1.0] and c.tolist() == [1.0, 1.0]
    assert set(opt.state) == {a}
    opt.step()
    opt.step()
    assert opt.state[a]["step"].item() == 3.0


def test_param_groups_and_changing_lr():
    a, b = nn.Parameter(at.zeros(1)), nn.Parameter(at.zeros(1))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 1.0}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    a.grad, b.grad = at.ones(1), at.ones(1)
    opt.step()
    assert a.item() == pytest.approx(-0.1) and b.item() == pytest.approx(-1.0)
    opt.param_groups[0]["lr"] = 0.5  # what a scheduler does
    opt.step()
    assert a.item() == pytest.approx(-0.6)
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]


def test_hyperparameters_are_read_every_step():
    """The kernel's arguments are kept between steps: a new value, a tensor lr changed in place,
    and a float lr replaced by an equal tensor that then changes are all seen."""
    p = nn.Parameter(at.zeros(()))
    lr = at.tensor(0.5)
    opt = optim.Adam([p], lr=0.5)
    p.grad = at.tensor(1.0)
    opt.step()  # Adam's first step moves by lr (the gradient's sign)
    assert p.item() == pytest.approx(-0.5)
    opt.param_groups[0]["lr"] = lr  # equal to the float it replaces
    opt.step()
    assert p.item() == pytest.approx(-1.0)
    lr.fill_(0.25)
    opt.step()
    assert p.item() == pytest.approx(-1.25)
    opt.param_groups[0]["betas"] = (0.0, 0.0)  # m = g, v = g * g: a step of lr * g / |g|
    p.grad = at.tensor(-4.0)
    opt.step()
    assert p.item() == pytest.approx(-1.0)
    with pytest.raises(RuntimeError, match="different size"):
        p.grad = at.ones(2)


def test_momentum_turned_on_later():
    p = nn.Parameter(at.zeros(1))
    opt = optim.SGD([p], lr=1.0)
    p.grad = at.ones(1)
    opt.step()
    opt.param_groups[0]["momentum"] = 0.5
    opt.step()  # the buffer starts from this gradient
    opt.step()  # buf = 0.5 * 1 + 1
    assert p.item() == pytest.approx(-1 - 1 - 1.5)


def test_mixed_dtypes_and_non_contiguous_parameters():
    a = nn.Parameter(at.ones(3, dtype=at.float64))
    b = at.ones(3, 2).t()  # a transposed view: not contiguous
    b.requires_grad_()
    opt = optim.RMSprop([a, b], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        ((a * a).sum() + (b * at.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum()).backward()
        opt.step()
    assert a.dtype == at.float64 and np.all(a.detach().numpy() < 1)
    assert np.all(b.detach().numpy() < 1)


def test_state_follows_a_model_converted_to_float64():
    model = nn.Linear(2, 1)
    opt = optim.Adam(model.parameters(), lr=0.1)
    x = at.ones(4, 2)
    model(x).sum().backward()
    opt.step()
    model.double()
    opt.zero_grad()
    model(x.double()).sum().backward()
    opt.step()
    assert opt.state[model.weight]["exp_avg"].dtype == at.float64
    assert opt.state[model.weight]["step"].item() == 2.0


def test_step_bumps_version_counter():
    p = nn.Parameter(at.ones(3))
    opt = optim.SGD([p], lr=0.1)
    loss = (p * p).sum()
    p.grad = at.ones(3)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_closure_and_errors():
    p = nn.Parameter(at.tensor([2.0]))
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0 and p.item() == pytest.approx(1.6)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([p, p], lr=0.1)


def _step_time(opt, reps=200):
    opt.step()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            opt.step()
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def test_step_over_many_small_parameters_is_one_compiled_call():
    ps = [nn.Parameter(at.randn(10)) for _ in range(100)]
    for p in ps:
        p.grad = at.randn(10)
    t = _step_time(optim.Adam(ps, lr=1e-3))
    # one Python round trip per parameter per op would be ~10 ops x 100 params x >=1 us
    assert t < 1e-3, f"Adam step over 100 parameters took {t * 1e6:.0f} us"


def test_repeated_steps_follow_every_change(torch):
    """A step that repeats the last one's layout takes a shortcut; each change below must leave
    it for the general step, with PyTorch's result: a gradient gone, a
    parameter frozen, thawed, given new data, added to or taken out of the group, a new lr."""
    def run(lib):
        a, b, c = (lib.nn.Parameter(lib.tensor(v)) for v in ([1.0, 2.0], [3.0, 4.0], [[5.0, 6.0]]))
        opt = lib.optim.SGD([a, b], lr=0.1, momentum=0.5)
        group = opt.param_groups[0]

        def step(grads):
            for p, g in zip((a, b, c), grads):
                p.grad = None if g is None else lib.tensor(g)
            opt.step()

        step(([1.0, 1.0], [2.0, 2.0], None))
        step(([1.0, 2.0], [3.0, 4.0], None))  # the shortcut
        step(([1.0, 1.0], None, None))  # b without a gradient keeps its value
        step(([1.0, 1.0], [1.0, 1.0], None))
        b.requires_grad_(False)
        # frozen: a stale gradient is not applied (PyTorch would apply it: it has none there)
        step(([1.0, 1.0], [5.0, 5.0] if lib is at else None, None))
        b.requires_grad_(True)
        step(([2.0, 2.0], [1.0, 1.0], None))
        with lib.no_grad():
            a.data = lib.tensor([10.0, 20.0])
        step(([1.0, 1.0], [1.0, 1.0], None))
        group["params"].append(c)
        step(([1.0, 1.0], [1.0, 1.0], [[1.0, 2.0]]))
        step(([1.0, 1.0], [1.0, 1.0], [[1.0, 2.0]]))
        group["params"][1] = c
        del group["params"][2]  # b out of the group
        step(([1.0, 1.0], [1.0, 1.0], [[3.0, 3.0]]))
        for lr in (0.01, 0.02, 0.03):  # a scheduler's new lr every step
            group["lr"] = lr
            step(([1.0, 1.0], [1.0, 1.0], [[3.0, lr]]))
        return [p.detach().numpy().tolist() for p in (a, b, c)]

    got, want = run(at), run(torch)
    assert np.allclose(np.concatenate([np.ravel(v) for v in got]), np.concatenate([np.ravel(v) for v in want]),
                       rtol=1e-6), (got, want)


def test_the_usual_step_leaves_its_shortcut_for_every_change(torch):
    """After a few steps that change nothing but the gradients' values, ``step()`` is one
    generated function for every group (``_quick_step``); each change below, made after such
    steps, must leave it for the general step, with PyTorch's result: 0-d parameters (a gradient
    of exactly zero among them), a new lr, a gradient gone, a parameter frozen, given new data,
    a group added, another group's lr, the group dict replaced."""
    def run(lib):
        ps = [lib.nn.Parameter(lib.tensor(v)) for v in (0.5, -1.5, 2.0)]
        opt = lib.optim.SGD(ps, lr=0.1, momentum=0.5)
        extra = lib.nn.Parameter(lib.tensor([1.0, 2.0]))

        def steps(grads, n=3, extra_grad=None):
            for k in range(n):
                for p, g in zip(ps, grads):
                    p.grad = None if g is None else lib.tensor(g + k)
                extra.grad = None if extra_grad is None else lib.tensor(extra_grad)
                opt.step()

        steps((1.0, 0.0, -2.0))
        for p, g in zip(ps, (1.0, 0.0, -2.0)):
            p.grad = lib.tensor(0.0) if g == 0.0 else lib.tensor(g)
        opt.step()
        opt.param_groups[0]["lr"] = 0.25
        steps((1.0, 2.0, 3.0))
        steps((1.0, None, 3.0))
        ps[1].requires_grad_(False)
        steps((1.0, None, 1.0))
        ps[1].requires_grad_(True)
        steps((1.0, 1.0, 1.0))
        with lib.no_grad():
            ps[0].data = lib.tensor(10.0)
        steps((1.0, 1.0, 1.0))
        opt.add_param_group({"params": [extra], "lr": 0.5})
        steps((1.0, 1.0, 1.0), extra_grad=[1.0, -1.0])
        opt.param_groups[1]["lr"] = 0.125
        steps((1.0, 1.0, 1.0), extra_grad=[1.0, -1.0])
        opt.param_groups[0] = dict(opt.param_groups[0], lr=0.05)
        steps((1.0, 1.0, 1.0), extra_grad=[1.0, -1.0])
        return [p.detach().numpy().tolist() for p in ps + [extra]]

    got, want = run(at), run(torch)
    assert np.allclose(np.concatenate([np.ravel(v) for v in got]), np.concatenate([np.ravel(v) for v in want]),
                       rtol=1e-6), (got, want)


def test_the_usual_step_checks_the_gradients_shapes():
    """A gradient of another shape is refused when assigned (as PyTorch refuses it); one that no
    longer fits its parameter (whose .data was replaced) raises at the step, after steps that
    took the shortcut as before it."""
    p, q = nn.Parameter(at.tensor(1.0)), nn.Parameter(at.tensor([1.0, 2.0]))
    opt = optim.SGD([p, q], lr=0.5)
    for _ in range(3):
        p.grad, q.grad = at.tensor(1.0), at.tensor([1.0, 1.0])
        opt.step()
    assert p.item() == -0.5 and q.tolist() == [-0.5, 0.5]
    with pytest.raises(RuntimeError, match="different size"):
        p.grad = at.ones(2)
    q.data = at.tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="does not match its shape"):
        opt.step()
