"""The losses of ``nn.functional`` and ``nn``: values, gradients and ``grad_fn`` names against
PyTorch's (float64, every reduction), gradients against finite differences, large logits,
PyTorch's errors, and the same losses on CUDA tensors and under ``autotape.compile``."""
import numpy as np
import pytest

import autotape as at
import autotape.nn.functional as F

REDUCTIONS = ["mean", "sum", "none"]
rng = np.random.default_rng(0)
X = rng.standard_normal((4, 3))
P = 1 / (1 + np.exp(-X))  # probabilities
Y = rng.random((4, 3))  # soft binary targets
T = np.array([0, 2, 1, -100])  # class indices, one ignored
W = np.array([0.5, 2.0, 1.5])
X3 = rng.standard_normal((2, 3, 4))
T3 = np.array([[0, 1, 2, -100], [2, 2, 0, 1]])
PROB = np.exp(X) / np.exp(X).sum(1, keepdims=True)


def _t(lib, a, grad=False):
    return lib.tensor(a, requires_grad=grad) if a.dtype.kind == "f" else lib.tensor(a)


# name -> (loss(lib, F, x, *rest, reduction=...), x, the rest), x the input that gets a gradient
CASES = {
    "mse": (lambda lib, f, x, y, **k: f.mse_loss(x, y, **k), X, (Y,)),
    "bce_logits": (lambda lib, f, x, y, **k: f.binary_cross_entropy_with_logits(x, y, **k), X, (Y,)),
    "bce_logits_weights": (lambda lib, f, x, y, w, p, **k: f.binary_cross_entropy_with_logits(
        x, y, weight=w, pos_weight=p, **k), X, (Y, W, W[::-1].copy())),
    "bce": (lambda lib, f, x, y, **k: f.binary_cross_entropy(x, y, **k), P, (Y,)),
    "bce_weight": (lambda lib, f, x, y, w, **k: f.binary_cross_entropy(x, y, weight=w, **k), P, (Y, W)),
    "nll": (lambda lib, f, x, t, **k: f.nll_loss(x, t, **k), X, (T,)),
    "nll_weight": (lambda lib, f, x, t, w, **k: f.nll_loss(x, t, weight=w, **k), X, (T, W)),
    "nll_1d": (lambda lib, f, x, t, **k: f.nll_loss(x, t, **k), X[0], (np.array(2),)),
    "cross_entropy": (lambda lib, f, x, t, **k: f.cross_entropy(x, t, **k), X, (T,)),
    "cross_entropy_weight_smoothing": (lambda lib, f, x, t, w, **k: f.cross_entropy(
        x, t, weight=w, label_smoothing=0.2, **k), X, (T, W)),
    "cross_entropy_smoothing": (lambda lib, f, x, t, **k: f.cross_entropy(x, t, label_smoothing=0.1, **k),
                                X, (T,)),
    "cross_entropy_3d": (lambda lib, f, x, t, w, **k: f.cross_entropy(x, t, weight=w, **k), X3, (T3, W)),
    "cross_entropy_1d": (lambda lib, f, x, t, **k: f.cross_entropy(x, t, **k), X[1], (np.array(0),)),
    "cross_entropy_probs": (lambda lib, f, x, p, w, **k: f.cross_entropy(x, p, weight=w, **k), X, (PROB, W)),
    "cross_entropy_probs_smoothing": (lambda lib, f, x, p, **k: f.cross_entropy(
        x, p, label_smoothing=0.3, **k), X, (PROB,)),
}


def _run(lib, name, reduction, x=None):
    fn, x0, rest = CASES[name]
    x = _t(lib, x0 if x is None else x, grad=True)
    out = fn(lib, lib.nn.functional, x, *(_t(lib, r) for r in rest), reduction=reduction)
    out.backward(lib.ones_like(out))
    return out, x


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", CASES)
def test_value_gradient_and_grad_fn_match_torch(name, reduction):
    torch = pytest.importorskip("torch")
    ours, x = _run(at, name, reduction)
    theirs, tx = _run(torch, name, reduction)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert ours.grad_fn.name() == theirs.grad_fn.name()


def _names(node):
    return [None if f is None else type(f).__name__ for f, _ in node.next_functions]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_one_node_losses_list_their_inputs_as_torch_does(reduction):
    torch = pytest.importorskip("torch")
    for lib in (at, torch):
        x = lib.tensor(X, requires_grad=True)
        ce = lib.nn.functional.cross_entropy(x * 2, lib.tensor(T), reduction=reduction).grad_fn
        bce = lib.nn.functional.binary_cross_entropy_with_logits(x + 1, lib.tensor(Y), reduction=reduction).grad_fn
        got = (ce.name(), _names(ce), _names(ce.next_functions[0][0]), bce.name(), _names(bce))
        if lib is at:
            ours = got
    assert ours == got
    assert ours[1] == ["LogSoftmaxBackward0"]


def test_l1_loss_is_abs_and_mean_or_sum_as_torch_shows():
    torch = pytest.importorskip("torch")
    for reduction in REDUCTIONS:
        args = [(lib.tensor(X, requires_grad=True), lib.tensor(Y)) for lib in (at, torch)]
        ours, theirs = at.nn.functional.l1_loss(*args[0], reduction=reduction), torch.nn.functional.l1_loss(
            *args[1], reduction=reduction)
        assert ours.grad_fn.name() == theirs.grad_fn.name()
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["bce_logits", "bce_logits_weights", "bce", "nll_weight", "cross_entropy",
                                  "cross_entropy_weight_smoothing", "cross_entropy_3d", "cross_entropy_probs"])
def test_gradient_matches_finite_differences(name):
    fn, x0, rest = CASES[name]
    rest = [_t(at, r) for r in rest]
    x = at.tensor(x0, requires_grad=True)
    assert at.autograd.gradcheck(lambda x: fn(at, F, x, *rest, reduction="sum"), (x,), eps=1e-6, atol=1e-6)


def test_gradient_wrt_the_target_of_the_binary_losses():
    for loss, x0 in ((F.binary_cross_entropy_with_logits, X), (F.binary_cross_entropy, P)):
        x = at.tensor(x0)
        y = at.tensor(Y, requires_grad=True)
        assert at.autograd.gradcheck(lambda y: loss(x, y), (y,), eps=1e-6, atol=1e-6)


def test_large_logits_are_stable():
    logits = at.tensor([1000.0, -1000.0, 0.0, 30.0, -30.0], dtype=at.float64, requires_grad=True)
    y = at.tensor([0.0, 1.0, 0.5, 1.0, 0.0], dtype=at.float64)
    loss = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    loss.sum().backward()
    # (the last two are 1e-13 after cancelling 30s: as PyTorch's formula)
    np.testing.assert_allclose(loss.detach().numpy(), [1000.0, 1000.0, np.log(2), np.log1p(np.exp(-30.0)),
                                                       np.log1p(np.exp(-30.0))], rtol=1e-12, atol=1e-14)
    with np.errstate(over="ignore"):  # (exp(1000) is inf: the sigmoid's 0 exactly)
        sig = 1 / (1 + np.exp(-np.array([1000.0, -1000.0, 0.0, 30.0, -30.0])))
    np.testing.assert_allclose(logits.grad.numpy(), sig - y.numpy(), rtol=1e-12, atol=1e-300)


def test_bce_clamps_its_logs_at_minus_100():
    p = at.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    loss = F.binary_cross_entropy(p, at.tensor([1.0, 0.0, 0.0, 1.0]), reduction="none")
    loss.sum().backward()
    assert loss.detach().numpy().tolist() == [100.0, 100.0, 0.0, 0.0]
    assert np.isfinite(p.grad.numpy()).all()
    np.testing.assert_allclose(p.grad.numpy(), [-1e12, 1e12, 0.0, 0.0])


def test_all_targets_ignored():
    x = at.tensor(X, requires_grad=True)
    t = at.tensor([-100] * 4)
    assert np.isnan(F.cross_entropy(x, t).item())
    assert F.nll_loss(x, t, reduction="sum").item() == 0.0


def test_float32_in_float32_out():
    x = at.tensor(X, dtype=at.float32, requires_grad=True)
    for out in (F.cross_entropy(x, at.tensor(T)), F.binary_cross_entropy_with_logits(x, at.tensor(Y, dtype=at.float32)),
                F.mse_loss(x, at.tensor(Y, dtype=at.float32))):
        assert out.dtype == at.float32
        out.backward()
    assert x.grad.dtype == at.float32


def _error(lib, call):
    with pytest.raises(Exception) as info:
        call(lib, lib.nn.functional)
    return type(info.value).__name__, str(info.value).replace("torch.Size", "autotape.Size")


ERRORS = [
    lambda lib, f: f.nll_loss(lib.tensor(X), lib.tensor([0, 1, 2])),
    lambda lib, f: f.nll_loss(lib.tensor(X), lib.tensor([0, 1, 2, 5])),
    lambda lib, f: f.nll_loss(lib.tensor(X), lib.tensor([0, 1, 2, -1])),
    lambda lib, f: f.cross_entropy(lib.tensor(X), lib.tensor([0.0, 1, 2, 1])),
    lambda lib, f: f.nll_loss(lib.tensor(X), lib.tensor([[0, 1, 2, 1]])),
    lambda lib, f: f.nll_loss(lib.tensor(X), lib.tensor([0, 1, 2, 1]), weight=lib.ones(2, dtype=lib.float64)),
    lambda lib, f: f.nll_loss(lib.tensor(X3), lib.tensor([0, 1])),
    lambda lib, f: f.nll_loss(lib.tensor(X), lib.tensor([0, 1, 2, 1]), weight=lib.ones(3)),
    lambda lib, f: f.nll_loss(lib.tensor(1.0), lib.tensor(0)),
    lambda lib, f: f.binary_cross_entropy(lib.tensor(P), lib.tensor(Y[0])),
    lambda lib, f: f.binary_cross_entropy(lib.tensor(X), lib.tensor(Y)),
    lambda lib, f: f.binary_cross_entropy(lib.tensor(P, dtype=lib.float32), lib.tensor(Y)),
    lambda lib, f: f.binary_cross_entropy_with_logits(lib.tensor(X), lib.tensor(Y[0])),
    lambda lib, f: f.binary_cross_entropy_with_logits(lib.tensor(X), lib.tensor(Y),
                                                      pos_weight=lib.ones(3, requires_grad=True)),
    lambda lib, f: f.cross_entropy(lib.tensor(X), lib.tensor(T), label_smoothing=1.5),
    lambda lib, f: f.cross_entropy(lib.tensor(X), lib.tensor(T), reduction="avg"),
]


@pytest.mark.parametrize("call", ERRORS)
def test_errors_are_torchs(call):
    torch = pytest.importorskip("torch")
    assert _error(at, call) == _error(torch, call)


def test_loss_modules_match_torch():
    torch = pytest.importorskip("torch")
    for make, x0, target in (
        (lambda nn, lib: nn.BCEWithLogitsLoss(weight=lib.tensor(W), pos_weight=lib.tensor(W), reduction="sum"), X, Y),
        (lambda nn, lib: nn.BCELoss(weight=lib.tensor(W)), P, Y),
        (lambda nn, lib: nn.CrossEntropyLoss(weight=lib.tensor(W), ignore_index=1, label_smoothing=0.1), X,
         np.array([0, 1, 2, 1])),
        (lambda nn, lib: nn.NLLLoss(reduction="none"), X, T),
    ):
        values = []
        for lib in (at, torch):
            module = make(lib.nn, lib)
            x = lib.tensor(x0, requires_grad=True)
            out = module(x, _t(lib, target))
            out.sum().backward()
            values.append((repr(module), out.detach().numpy(), x.grad.numpy(), sorted(dict(module.named_buffers()))))
        assert values[0][0] == values[1][0] and values[0][3] == values[1][3]
        np.testing.assert_allclose(values[0][1], values[1][1], rtol=1e-12)
        np.testing.assert_allclose(values[0][2], values[1][2], rtol=1e-12)


@pytest.mark.parametrize("name", ["bce_logits_weights", "bce_weight", "nll_weight", "cross_entropy_3d",
                                  "cross_entropy_weight_smoothing", "mse"])
def test_compiled_loss_matches_eager(name):
    fn, x0, rest = CASES[name]
    rest = [_t(at, r) for r in rest]
    w = at.tensor(np.full(x0.shape, 0.5), requires_grad=True)
    step = at.compile(lambda: fn(at, F, w * at.tensor(x0), *rest))
    for _ in range(3):  # the second and third calls replay the recorded tape
        w.grad = None
        loss = step()
        loss.backward()
        got = loss.item(), w.grad.numpy().copy()
        w.grad = None
        loss = fn(at, F, w * at.tensor(x0), *rest)
        loss.backward()
        assert loss.grad_fn.name() in ("NllLossBackward0", "NllLoss2DBackward0", "MseLossBackward0", "AddBackward0",
                                       "BinaryCrossEntropyBackward0", "BinaryCrossEntropyWithLogitsBackward0")
        np.testing.assert_allclose(got[0], loss.item(), rtol=1e-12)
        np.testing.assert_allclose(got[1], w.grad.numpy(), rtol=1e-12)
        with at.no_grad():
            w -= 0.1 * w.grad


def test_compiled_cross_entropy_follows_its_targets():
    """The targets become constants of the tape (read as an index is): autotape.compile is told,
    so new targets, as an argument or changed in place, are seen."""
    w = at.tensor(X, requires_grad=True)
    by_argument = at.compile(lambda t: F.cross_entropy(w * 2, t))
    t = at.tensor(T)
    captured = at.compile(lambda: F.cross_entropy(w * 2, t))
    for targets in ([0, 2, 1, -100], [1, 1, 0, 2], [1, 1, 0, 2], [2, 0, -100, 0]):
        t.copy_(at.tensor(targets))
        want = F.cross_entropy(w * 2, t).item()
        np.testing.assert_allclose(captured().item(), want, rtol=1e-12)
        np.testing.assert_allclose(by_argument(at.tensor(targets)).item(), want, rtol=1e-12)
