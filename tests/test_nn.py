"""autotape.nn: Module bookkeeping, Parameter, layers, activations and losses (against PyTorch
where it is installed)."""
import copy
import math
import pickle

import numpy as np
import pytest

import autotape as at
import autotape.nn as nn
import autotape.nn.functional as F


def _np(t):
    return t.detach().numpy()


class Poly(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(at.tensor(1.0))
        self.lin = nn.Linear(2, 3)
        self.plain = at.ones(2)  # a tensor attribute, not a parameter

    def forward(self, x):
        return self.lin(x) * self.a


# -- Parameter --------------------------------------------------------------------------------
def test_parameter_wraps_data_and_is_a_leaf():
    t = at.ones(3)
    p = nn.Parameter(t)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    p.data[0] = 5.0
    assert t[0].item() == 5.0  # shares memory
    assert repr(p).startswith("Parameter containing:\ntensor([5., 1., 1.], requires_grad=True)")
    y = p * 2
    assert type(y) is at.Tensor and y.grad_fn is not None
    y.sum().backward()
    assert p.grad.tolist() == [2.0, 2.0, 2.0]
    assert not nn.Parameter(at.ones(2), requires_grad=False).requires_grad


def test_parameter_copies_stay_parameters():
    p = nn.Parameter(at.tensor([1.0, 2.0]))
    for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert isinstance(q, nn.Parameter) and q.requires_grad and q.tolist() == [1.0, 2.0]
        q.data[0] = 9.0
        assert p[0].item() == 1.0


# -- Module -----------------------------------------------------------------------------------
def test_registration_by_attribute():
    m = Poly()
    assert [n for n, _ in m.named_parameters()] == ["a", "lin.weight", "lin.bias"]
    assert len(list(m.parameters())) == 3 and list(m.children()) == [m.lin]
    assert [type(x).__name__ for x in m.modules()] == ["Poly", "Linear"]
    assert [n for n, _ in m.named_modules()] == ["", "lin"]
    assert isinstance(m.plain, at.Tensor) and "plain" not in dict(m.named_parameters())
    with pytest.raises(TypeError, match="nn.Parameter or None expected"):
        m.a = at.ones(1)
    m.a = None
    assert [n for n, _ in m.named_parameters()] == ["lin.weight", "lin.bias"]
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        m.nope
    del m.lin
    assert list(m.children()) == []


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert len(seq.state_dict()) == 4  # state_dict names every path, as PyTorch does


def test_buffers():
    m = nn.Module()
    m.register_buffer("running", at.zeros(2))
    assert [n for n, _ in m.named_buffers()] == ["running"] and list(m.parameters()) == []
    m.running = at.ones(2)
    assert m.state_dict()["running"].tolist() == [1.0, 1.0]


def test_call_runs_forward_and_hooks():
    m = Poly()
    x = at.ones(4, 2)
    seen = []
    h = m.register_forward_hook(lambda mod, args, out: seen.append(tuple(out.shape)))
    assert m(x).shape == (4, 3) and seen == [(4, 3)]
    h.remove()
    m(x)
    assert len(seen) == 1
    with pytest.raises(NotImplementedError):
        nn.Module()(x)


def test_zero_grad_train_eval_requires_grad():
    m = Poly()
    m(at.ones(1, 2)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert m.eval() is m and not m.training and not m.lin.training
    m.train()
    assert m.training and m.lin.training
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_state_dict_round_trip_and_errors():
    a, b = Poly(), Poly()
    sd = a.state_dict()
    assert list(sd) == ["a", "lin.weight", "lin.bias"]
    assert not sd["lin.weight"].requires_grad
    weight = b.lin.weight
    assert repr(b.load_state_dict(sd)) == "<All keys matched successfully>"
    assert b.lin.weight is weight  # loaded in place
    np.testing.assert_array_equal(_np(b.lin.weight), _np(a.lin.weight))
    sd["extra"] = at.ones(1)
    del sd["a"]
    with pytest.raises(RuntimeError, match='Missing key.*"a".*\n.*Unexpected key.*"extra"'):
        b.load_state_dict(sd)
    res = b.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["a"] and res.unexpected_keys == ["extra"]
    with pytest.raises(RuntimeError, match="size mismatch for lin.bias"):
        b.load_state_dict({**a.state_dict(), "lin.bias": at.ones(5)})


def test_double_keeps_parameter_objects():
    m = nn.Linear(2, 1)
    w = m.weight
    m.double()
    assert m.weight is w and m.weight.dtype == at.float64
    assert m(at.ones(1, 2, dtype=at.float64)).dtype == at.float64


def test_sequential_indexing():
    seq = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))
    assert isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Flatten) and len(seq) == 2
    assert seq[0].weight.shape == (1, 3)
    assert isinstance(seq[:1], nn.Sequential) and len(seq[:1]) == 1
    assert [type(m).__name__ for m in seq] == ["Linear", "Flatten"]
    with pytest.raises(IndexError):
        seq[2]
    assert seq(at.ones(5, 3)).shape == (5,)
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1)])
    assert len(list(ml.parameters())) == 4


def test_linear_default_init_bounds():
    at.manual_seed(0)
    lin = nn.Linear(16, 8)
    bound = 1 / math.sqrt(16)
    for p in (lin.weight, lin.bias):
        assert np.abs(_np(p)).max() <= bound and np.abs(_np(p)).max() > 0.5 * bound
    assert lin.weight.dtype == at.float32
    assert nn.Linear(2, 2, bias=False).bias is None


# -- against PyTorch --------------------------------------------------------------------------
def test_repr_matches_pytorch(torch):
    ours = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1), nn.ReLU(), nn.Softplus(), nn.Tanh(), nn.Sigmoid(),
                         nn.Sequential(nn.Linear(2, 2, bias=False)))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1), torch.nn.ReLU(),
                                 torch.nn.Softplus(), torch.nn.Tanh(), torch.nn.Sigmoid(),
                                 torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False)))
    assert repr(ours) == repr(theirs)
    assert repr(nn.MSELoss()) == repr(torch.nn.MSELoss())


def _pair(torch, shape, rng, positive=False):
    a = rng.standard_normal(shape).astype(np.float32)
    if positive:
        a = np.abs(a) + 0.1
    return at.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _same(ours, theirs, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(_np(ours), theirs.detach().numpy(), rtol=rtol, atol=atol)


def test_linear_matches_pytorch(torch, rng):
    ours = nn.Linear(4, 3)
    theirs = torch.nn.Linear(4, 3)
    theirs.load_state_dict({k: torch.tensor(_np(v)) for k, v in ours.state_dict().items()})
    x, tx = _pair(torch, (5, 4), rng)
    y, ty = ours(x), theirs(tx)
    _same(y, ty)
    assert type(y.grad_fn).__name__ == type(ty.grad_fn).__name__ == "AddmmBackward0"
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    _same(x.grad, tx.grad)
    _same(ours.weight.grad, theirs.weight.grad)
    _same(ours.bias.grad, theirs.bias.grad)


def test_linear_weight_moved_out_of_the_registry(torch, rng):
    """Linear reads its registry first; a weight deleted and set again as a plain tensor (as
    reparametrizing code does) is the one used, as in PyTorch."""
    ours, theirs = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    theirs.load_state_dict({k: torch.tensor(_np(v)) for k, v in ours.state_dict().items()})
    w, tw = _pair(torch, (2, 3), rng)
    for m, v in ((ours, w), (theirs, tw)):
        del m.weight
        m.weight = v * 2
    x, tx = _pair(torch, (4, 3), rng)
    y, ty = ours(x), theirs(tx)
    _same(y, ty)
    y.sum().backward()
    ty.sum().backward()
    _same(w.grad, tw.grad)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()] == ["bias"]


@pytest.mark.parametrize("make", [
    lambda m: m.ReLU(), lambda m: m.Tanh(), lambda m: m.Sigmoid(), lambda m: m.Softplus(),
    lambda m: m.Softplus(beta=2.0, threshold=1.0), lambda m: m.Flatten(), lambda m: m.Flatten(0, 1),
    lambda m: m.Softmax(dim=1), lambda m: m.LogSoftmax(dim=-1),
])
def test_layers_match_pytorch(torch, rng, make):
    x, tx = _pair(torch, (3, 4, 2), rng)
    y, ty = make(nn)(x), make(torch.nn)(tx)
    assert tuple(y.shape) == tuple(ty.shape)
    _same(y, ty)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    y.backward(at.tensor(g))
    ty.backward(torch.tensor(g))
    _same(x.grad, tx.grad)


@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "tanh", "softplus", "softmax", "log_softmax",
                                  "mse_loss", "l1_loss"])
def test_functional_matches_pytorch(torch, rng, name):
    x, tx = _pair(torch, (4, 3), rng)
    args, targs = (x,), (tx,)
    kwargs = {"dim": 1} if "softmax" in name else {}
    if name == "linear":
        w, tw = _pair(torch, (2, 3), rng)
        b, tb = _pair(torch, (2,), rng)
        args, targs = (x, w, b), (tx, tw, tb)
    elif name.endswith("loss"):
        t, tt = _pair(torch, (4, 3), rng)
        args, targs = (x, t.detach()), (tx, tt.detach())
    y, ty = getattr(F, name)(*args, **kwargs), getattr(torch.nn.functional, name)(*targs, **kwargs)
    _same(y, ty)
    y.sum().backward()
    ty.sum().backward()
    for a, ta in zip(args, targs):
        if ta.grad is not None:
            _same(a.grad, ta.grad)


@pytest.mark.parametrize("loss", ["MSELoss", "L1Loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_pytorch(torch, rng, loss, reduction):
    x, tx = _pair(torch, (6, 2), rng)
    t, tt = _pair(torch, (6, 2), rng)
    y = getattr(nn, loss)(reduction=reduction)(x, t)
    ty = getattr(torch.nn, loss)(reduction=reduction)(tx, tt)
    assert tuple(y.shape) == tuple(ty.shape)
    _same(y, ty)
    y.sum().backward()
    ty.sum().backward()
    _same(x.grad, tx.grad)
    _same(t.grad, tt.grad)


def test_loss_argument_errors():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.warns(UserWarning, match="target size"):
        F.mse_loss(at.ones(3, 1), at.ones(3))
    assert nn.L1Loss(size_average=False).reduction == "sum"


def test_training_loop_with_autotape_as_torch():
    torch = at  # the tutorial's spelling
    at.manual_seed(0)
    x = torch.linspace(-1, 1, 50).unsqueeze(-1)
    y = 3 * x + 0.5
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    loss_fn = torch.nn.MSELoss()
    first = None
    for _ in range(200):
        loss = loss_fn(model(x), y)
        first = first if first is not None else loss.item()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    assert loss.item() < 0.05 * first


def test_non_persistent_buffers_stay_out_of_the_state_dict():
    m = nn.Module()
    m.register_buffer("kept", at.ones(1))
    m.register_buffer("scratch", at.zeros(1), persistent=False)
    outer = nn.Sequential(m)
    assert list(outer.state_dict()) == ["0.kept"]
    assert sorted(n for n, _ in outer.named_buffers()) == ["0.kept", "0.scratch"]
    outer.load_state_dict(outer.state_dict())  # strict: the scratch buffer is not missing


# -- GELU -------------------------------------------------------------------------------------
GELU_X = np.array([-40.0, -10.0, -5.0, -1.0, -1e-30, 0.0, -0.0, 1e-30, 0.3, 1.0, 3.0, 40.0])


def test_gelu_values_and_repr():
    # x * Phi(x), and PyTorch's tanh approximation, in float64 (values from math.erf / math.tanh)
    y = F.gelu(at.tensor([1.0, -2.0], dtype=at.float64))
    np.testing.assert_allclose(y.numpy(), [0.8413447460685429, -0.04550026389635842], rtol=1e-15)
    y = nn.GELU("tanh")(at.tensor([1.0, -2.0], dtype=at.float64))
    np.testing.assert_allclose(y.numpy(), [0.8411919906082768, -0.04540230591222494], rtol=1e-15)
    assert repr(nn.GELU()) == "GELU(approximate='none')" and repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    x = at.tensor([0.0, 1.0], requires_grad=True)
    F.gelu(x).sum().backward()
    assert x.grad[0].item() == 0.5  # Phi(0)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        F.gelu(x, approximate="fast")
    with pytest.raises(NotImplementedError, match="\"GeluKernelImpl\" not implemented for 'Long'"):
        F.gelu(at.arange(3))
    with pytest.raises(TypeError, match=r"gelu\(\): argument 'input' \(position 1\) must be Tensor, not list"):
        F.gelu([1.0])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gelu_matches_pytorch_at_zero_and_large_inputs(torch, approximate, dtype):
    results = []
    for lib in (at, torch):
        x = lib.tensor(GELU_X, dtype=getattr(lib, dtype), requires_grad=True)
        y = lib.nn.GELU(approximate)(x)
        y.backward(lib.linspace(-1, 2, len(GELU_X), dtype=getattr(lib, dtype)))
        results.append((y.grad_fn.name(), y.detach().numpy(), x.grad.numpy()))
    (n1, y1, g1), (n2, y2, g2) = results
    assert n1 == n2 == "GeluBackward0"
    # (float32: PyTorch computes in float32, whose 1 + erf(x) loses digits below -3; autotape in float64)
    # (float64: the tanh form's gradient at -5 cancels, so its rounding order shows at 2e-10)
    tol = dict(rtol=1e-9, atol=1e-300) if dtype == "float64" else dict(rtol=1e-6, atol=5e-7)
    np.testing.assert_allclose(y1, y2, **tol)
    np.testing.assert_allclose(g1, g2, **tol)
    assert y1.dtype == g1.dtype == np.dtype(dtype)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_linear_with_only_its_bias_requiring_grad_backs_twice(device):
    """Nothing is saved for the bias's gradient, so a second backward works, as in PyTorch."""
    x, w = at.ones(3, 2, device=device), at.ones(1, 2, device=device)
    b = at.zeros(1, device=device, requires_grad=True)
    y = F.linear(x, w, b)
    assert y.grad_fn.name() == "AddmmBackward0" and y.tolist() == [[2.0]] * 3
    y.sum().backward()
    y.sum().backward()
    assert b.grad.tolist() == [6.0]
