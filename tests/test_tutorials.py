"""The "Learning PyTorch with examples" polynomial fits, run by autotape and by PyTorch from the
same initial values: final loss and parameters agree to 1e-3 relative after 2000 steps.

Each fit is written once against a module ``lib`` (``torch`` or ``autotape``), as the tutorial
writes it against ``torch``. Without PyTorch, autotape's results are checked against PyTorch's
numbers recorded here (EXPECTED)."""
import functools
import math
import random

import numpy as np
import pytest

import autotape
import autotape.nn  # noqa: F401  (binds autotape.nn / autotape.optim like torch.nn / torch.optim)
import autotape.optim  # noqa: F401

STEPS = 2000
RTOL = 1e-3


def _data(lib):
    x = lib.linspace(-math.pi, math.pi, 2000, dtype=lib.float)
    return x, lib.sin(x)


def _scalars(lib, values):
    return [lib.tensor(v, dtype=lib.float, requires_grad=True) for v in values]


def _init(seed, n):
    return [float(v) for v in np.random.default_rng(seed).standard_normal(n).astype(np.float32)]


def fit_autograd(lib):
    """Tensors and autograd: the cubic, sum-of-squares loss, SGD by hand under no_grad."""
    x, y = _data(lib)
    a, b, c, d = _scalars(lib, _init(1, 4))
    learning_rate = 1e-6
    losses = []
    for t in range(STEPS):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            losses.append(loss.item())
        loss.backward()
        with lib.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    return losses, [a.item(), b.item(), c.item(), d.item()]


def fit_legendre(lib):
    """A custom autograd.Function: y = a + b * P3(c + d x)."""

    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    x, y = _data(lib)
    a = lib.full((), 0.0, dtype=lib.float, requires_grad=True)
    b = lib.full((), -1.0, dtype=lib.float, requires_grad=True)
    c = lib.full((), 0.0, dtype=lib.float, requires_grad=True)
    d = lib.full((), 0.3, dtype=lib.float, requires_grad=True)
    learning_rate = 5e-6
    losses = []
    for t in range(STEPS):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            losses.append(loss.item())
        loss.backward()
        with lib.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    return losses, [a.item(), b.item(), c.item(), d.item()]


def _linear_model(lib, init_from):
    model = lib.nn.Sequential(lib.nn.Linear(3, 1), lib.nn.Flatten(0, 1))
    # the same starting point in both libraries, copied across as numbers
    model.load_state_dict({k: lib.tensor(np.asarray(v)) for k, v in init_from.items()})
    return model


def _nn_init():
    w, b = _init(2, 3), _init(3, 1)
    return {"0.weight": np.array([w], np.float32), "0.bias": np.array(b, np.float32)}


def fit_nn(lib, optimizer=None, **opt_kwargs):
    """nn.Sequential(Linear(3, 1), Flatten(0, 1)) on (x, x^2, x^3), MSELoss(reduction='sum');
    updated by hand over model.parameters(), or by ``lib.optim.<optimizer>``."""
    x, y = _data(lib)
    xx = x.unsqueeze(-1).pow(lib.tensor([1, 2, 3]))
    model = _linear_model(lib, _nn_init())
    loss_fn = lib.nn.MSELoss(reduction="sum")
    opt = getattr(lib.optim, optimizer)(model.parameters(), **opt_kwargs) if optimizer else None
    learning_rate = 1e-6
    losses = []
    for t in range(STEPS):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        if t % 100 == 99:
            losses.append(loss.item())
        if opt is None:
            model.zero_grad()
            loss.backward()
            with lib.no_grad():
                for param in model.parameters():
                    param -= learning_rate * param.grad
        else:
            opt.zero_grad()
            loss.backward()
            opt.step()
    layer = model[0]
    return losses, [layer.bias.item()] + [layer.weight[:, k].item() for k in range(3)]


def _scalar_module(lib, names, values):
    class Polynomial(lib.nn.Module):
        def __init__(self):
            super().__init__()
            for name, v in zip(names, values):
                setattr(self, name, lib.nn.Parameter(lib.tensor(v, dtype=lib.float)))

    return Polynomial


def fit_module(lib):
    """A custom nn.Module holding four scalar Parameters, trained with optim.SGD."""

    class Polynomial3(_scalar_module(lib, "abcd", _init(4, 4))):
        def forward(self, x):
            return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    x, y = _data(lib)
    model = Polynomial3()
    criterion = lib.nn.MSELoss(reduction="sum")
    optimizer = lib.optim.SGD(model.parameters(), lr=1e-6)
    losses = []
    for t in range(STEPS):
        y_pred = model(x)
        loss = criterion(y_pred, y)
        if t % 100 == 99:
            losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses, [p.item() for p in model.parameters()]


def fit_dynamic(lib):
    """Control flow and weight sharing: forward adds x^4 and x^5 terms at random, both through
    the parameter ``e``; the tape differs from step to step. The random draws are the same
    sequence for both libraries."""
    draws = random.Random(0)

    class DynamicNet(_scalar_module(lib, "abcde", _init(5, 5))):
        def forward(self, x):
            y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
            for exp in range(4, draws.randint(4, 6)):
                y = y + self.e * x ** exp
            return y

    x, y = _data(lib)
    model = DynamicNet()
    criterion = lib.nn.MSELoss(reduction="sum")
    optimizer = lib.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
    losses = []
    for t in range(STEPS):
        y_pred = model(x)
        loss = criterion(y_pred, y)
        if t % 100 == 99:
            losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses, [p.item() for p in model.parameters()]


CASES = {
    "autograd": (fit_autograd, {}),
    "legendre": (fit_legendre, {}),
    "nn": (fit_nn, {}),
    "rmsprop": (fit_nn, dict(optimizer="RMSprop", lr=1e-3)),
    "adam": (fit_nn, dict(optimizer="Adam", lr=1e-3)),
    "sgd_momentum": (fit_nn, dict(optimizer="SGD", lr=1e-6, momentum=0.9)),
    "module": (fit_module, {}),
    "dynamic": (fit_dynamic, {}),
}

# RMSprop at a constant lr=1e-3 reaches the edge of stability at step ~1160: as square_avg decays,
# the step lr / sqrt(square_avg) grows until the update's Jacobian I - lr diag(1 / sqrt(s)) H has an
# eigenvalue below -1 (-1.5 at step 1200), and a period-2 oscillation of the x^2 coefficient grows
# 1.5x a step until its own gradients raise square_avg again (the cycle recurs). Any rounding
# difference (the backward's summation order, PyTorch's MKL sqrt) grows to that oscillation's size,
# ~lr in the parameters, within ~80 steps, in float64 as in float32: PyTorch against itself with the
# targets 1 ulp apart ends as far apart as autotape from PyTorch. Over 25 such runs (autotape and
# PyTorch, targets nudged) the loss curve agrees to 1e-6 until step 1100; after it the final loss
# spreads by 2.9e-3 and the parameters by 1.06 lr. So for it: the curve to 1e-5 until step 1100,
# the final loss to 5e-3 and the parameters to 1.5 lr.
UNSTABLE_AFTER = {"rmsprop": 1100}

# PyTorch 2.13 (CPU, one thread): loss after 1000 steps, final loss, final parameters
EXPECTED = {
    "autograd": [11.329483985900879, 8.891559600830078, 0.00882553681731224, 0.85888671875,
                 -0.0015225507086142898, -0.09363562613725662],
    "legendre": [14.877889633178711, 8.943641662597656, -6.71270206087371e-10, -2.208526849746704,
                 -3.392665037793563e-10, 0.2554861009120941],
    "nn": [135.49404907226562, 12.709039688110352, 0.06517507880926132, 0.846993088722229,
           -0.011243786662817001, -0.09194385260343552],
    "rmsprop": [779.667724609375, 19.522663116455078, 0.10882248729467392, 0.8571459054946899,
                -0.01791292056441307, -0.09292425215244293],
    "adam": [1027.5966796875, 198.36795043945312, 0.3952184319496155, 0.6387431621551514,
             -0.06851152330636978, -0.06173336133360863],
    "sgd_momentum": [8.817167282104492, 8.817167282104492, 1.4880902732272716e-08, 0.8567399382591248,
                     -1.2001820870466418e-08, -0.0933302566409111],
    "module": [53.24238204956055, 9.889575958251953, -0.0287114679813385, 0.8389050364494324,
               0.004953206051141024, -0.09079340100288391],
    "dynamic": [3770.163818359375, 2527.90966796875, -0.5234034061431885, -0.6132434606552124,
                0.10606642812490463, 0.12342244386672974, -0.003299216739833355],
}


@functools.lru_cache(maxsize=None)
def _run(lib_name, case):
    lib = pytest.importorskip(lib_name)
    if lib_name == "torch":
        lib.set_num_threads(1)
    fn, kwargs = CASES[case]
    losses, params = fn(lib, **kwargs)
    return np.array(losses), np.array(params)


def _rel(a, b):
    return np.abs(a - b) / np.abs(b)


def _check(case, ours, ref_losses, loss_final, params):
    """``ref_losses``: the reference's loss by step (a PyTorch run: every 100th; EXPECTED: 1000)."""
    losses, ps = ours
    if case in UNSTABLE_AFTER:
        for step, ref in ref_losses.items():
            if step <= UNSTABLE_AFTER[case]:
                assert _rel(losses[step // 100 - 1], ref) <= 1e-5, (step, losses[step // 100 - 1], ref)
        assert _rel(losses[-1], loss_final) <= 5e-3, (losses[-1], loss_final)
        np.testing.assert_allclose(ps, params, rtol=0, atol=1.5 * CASES[case][1]["lr"])
        return
    assert _rel(losses[9], ref_losses[1000]) <= RTOL, (losses[9], ref_losses[1000])
    assert _rel(losses[-1], loss_final) <= RTOL, (losses[-1], loss_final)
    # relative per value, with a floor at 1e-3 of the largest for coefficients that end near zero
    scale = np.maximum(np.abs(params), np.abs(params).max() * 1e-3)
    assert np.all(np.abs(ps - params) <= RTOL * scale), f"{case}: {ps.tolist()} vs {params.tolist()}"


@pytest.mark.parametrize("case", list(CASES))
def test_fit_matches_pytorch(case):
    ours = _run("autotape", case)
    losses, params = _run("torch", case)
    _check(case, ours, {100 * (k + 1): v for k, v in enumerate(losses)}, losses[-1], params)


@pytest.mark.parametrize("case", list(CASES))
def test_fit_converges_to_recorded_values(case):
    loss_1000, loss_final, *params = EXPECTED[case]
    _check(case, _run("autotape", case), {1000: loss_1000}, loss_final, np.array(params))


def autograd_tutorial(lib, w0, b0):
    """"Automatic Differentiation with torch.autograd" (beginner/basics/autogradqs_tutorial), as
    written there but for ``w`` and ``b``, given (both libraries start from the same values):
    what it prints, object addresses left out."""
    import contextlib
    import io
    import re

    torch = lib
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        x = torch.ones(5)  # input tensor
        y = torch.zeros(3)  # expected output
        w = torch.tensor(w0, requires_grad=True)
        b = torch.tensor(b0, requires_grad=True)
        z = torch.matmul(x, w) + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
        print(f"Gradient function for z = {z.grad_fn}")
        print(f"Gradient function for loss = {loss.grad_fn}")
        print([type(f).__name__ for f, _ in loss.grad_fn.next_functions])
        print(loss)
        loss.backward()
        print(w.grad)
        print(b.grad)
        z = torch.matmul(x, w) + b
        print(z.requires_grad)
        with torch.no_grad():
            z = torch.matmul(x, w) + b
        print(z.requires_grad)
        z = torch.matmul(x, w) + b
        z_det = z.detach()
        print(z_det.requires_grad)
        inp = torch.eye(4, 5, requires_grad=True)
        out = (inp + 1).pow(2).t()
        out.backward(torch.ones_like(out), retain_graph=True)
        print(f"First call\n{inp.grad}")
        out.backward(torch.ones_like(out), retain_graph=True)
        print(f"\nSecond call\n{inp.grad}")
        inp.grad.zero_()
        out.backward(torch.ones_like(out), retain_graph=True)
        print(f"\nCall after zeroing gradients\n{inp.grad}")
    return re.sub(r" at 0x[0-9a-f]+", "", printed.getvalue()), w.grad.numpy(), b.grad.numpy()


def test_autograd_tutorial_prints_what_pytorch_prints():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    w0, b0 = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    ours, ours_w, ours_b = autograd_tutorial(autotape, w0, b0)
    theirs, their_w, their_b = autograd_tutorial(torch, w0, b0)
    assert "BinaryCrossEntropyWithLogitsBackward0" in ours
    assert ours.replace("autotape", "torch") == theirs
    np.testing.assert_allclose(ours_w, their_w, rtol=1e-6)
    np.testing.assert_allclose(ours_b, their_b, rtol=1e-6)
