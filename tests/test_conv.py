"""Convolution and pooling (autotape/nn/conv.py): values and gradients vs PyTorch in float64,
finite differences, the 60-minute blitz LeNet end to end, autotape.compile and the CUDA simulator."""
import numpy as np
import pytest

import autotape
import autotape.nn as nn
import autotape.nn.functional as F

TOL = 1e-10
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel lengths")


def close(a, b, tol=TOL):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def both(torch, *arrays):
    """Each array as an autotape and a torch leaf requiring grad."""
    return ([autotape.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def check_vs_torch(torch, fa, ft, arrays, seed=1):
    ours, theirs = both(torch, *arrays)
    ya, yt = fa(*ours), ft(*theirs)
    close(ya, yt)
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    ya.backward(autotape.tensor(g))
    yt.backward(torch.tensor(g))
    for a, t in zip(ours, theirs):
        close(a.grad, t.grad)
    return ya, yt


CONV2D = [  # (N, C, H, W), (O, C/g, kh, kw), keywords
    ((2, 3, 7, 6), (4, 3, 3, 3), {}),
    ((1, 2, 8, 7), (3, 2, 3, 2), dict(stride=2, padding=1)),
    ((2, 2, 9, 9), (2, 2, 3, 3), dict(stride=(2, 1), padding=(2, 0), dilation=2)),
    ((1, 3, 6, 6), (2, 3, 4, 4), dict(padding="same")),
    ((1, 2, 5, 6), (3, 2, 2, 3), dict(padding="valid", dilation=(1, 2))),
    ((2, 4, 6, 5), (6, 2, 3, 3), dict(groups=2, padding=1)),
]


@pytest.mark.parametrize("xs,ws,kw", CONV2D, ids=[str(k) for _, _, k in CONV2D])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(torch, xs, ws, kw, bias):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)] + ([rng.standard_normal(ws[0])] if bias else [])
    ya, yt = check_vs_torch(torch, lambda *t: F.conv2d(*t, **kw), lambda *t: torch.nn.functional.conv2d(*t, **kw),
                            arrays)
    assert ya.grad_fn.name() == yt.grad_fn.name() == "ConvolutionBackward0"
    assert len(ya.grad_fn.next_functions) == 3
    assert [n is None for n, _ in ya.grad_fn.next_functions] == [n is None for n, _ in yt.grad_fn.next_functions]


def test_conv1d_and_unbatched_match_torch(torch):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 3, 9)), rng.standard_normal((4, 3, 3)), rng.standard_normal(4)
    kw = dict(stride=2, padding=1, dilation=2)
    check_vs_torch(torch, lambda *t: F.conv1d(*t, **kw), lambda *t: torch.nn.functional.conv1d(*t, **kw), [x, w, b])
    check_vs_torch(torch, lambda *t: F.conv2d(*t, padding=1), lambda *t: torch.nn.functional.conv2d(*t, padding=1),
                   [rng.standard_normal((2, 5, 5)), rng.standard_normal((3, 2, 3, 3))])


POOL = [  # (N, C, H, W), keywords
    ((2, 2, 6, 6), dict(kernel_size=2)),
    ((1, 2, 7, 5), dict(kernel_size=(3, 2), stride=(2, 1), padding=1)),
    ((1, 1, 8, 8), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    ((1, 2, 7, 7), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ((1, 1, 6, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
]


@pytest.mark.parametrize("xs,kw", POOL, ids=[str(k) for _, k in POOL])
def test_max_pool2d_matches_torch(torch, xs, kw):
    x = np.random.default_rng(3).standard_normal(xs)
    ya, yt = check_vs_torch(torch, lambda t: F.max_pool2d(t, **kw), lambda t: torch.nn.functional.max_pool2d(t, **kw),
                            [x])
    assert ya.grad_fn.name() == yt.grad_fn.name()
    _, ia = F.max_pool2d(autotape.tensor(x), return_indices=True, **kw)
    _, it = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(ia.numpy(), it.numpy())


def test_max_pool2d_ties_give_the_whole_gradient_to_one_element(torch):
    x = np.round(np.random.default_rng(4).uniform(0, 2, (1, 2, 6, 6)))  # values 0, 1, 2: many ties
    x[0, 0] = 1.0  # every window all ties
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
        check_vs_torch(torch, lambda t: F.max_pool2d(t, **kw), lambda t: torch.nn.functional.max_pool2d(t, **kw), [x])


AVG = POOL[:2] + [((1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
                  ((1, 1, 5, 6), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
                  ((1, 1, 5, 6), dict(kernel_size=2, divisor_override=3))]


@pytest.mark.parametrize("xs,kw", AVG, ids=[str(k) for _, k in AVG])
def test_avg_pool2d_matches_torch(torch, xs, kw):
    x = np.random.default_rng(5).standard_normal(xs)
    ya, yt = check_vs_torch(torch, lambda t: F.avg_pool2d(t, **kw), lambda t: torch.nn.functional.avg_pool2d(t, **kw),
                            [x])
    assert ya.grad_fn.name() == yt.grad_fn.name() == "AvgPool2DBackward0"


def test_integer_inputs_match_torch(torch):
    rng = np.random.default_rng(10)
    x, w = rng.integers(-5, 5, (1, 2, 6, 6)), rng.integers(-3, 3, (2, 2, 3, 3))
    ours, theirs = (autotape.tensor(x), autotape.tensor(w)), (torch.tensor(x), torch.tensor(w))
    for fa, ft in [(F.conv2d, torch.nn.functional.conv2d)]:
        np.testing.assert_array_equal(fa(*ours, padding=1).numpy(), ft(*theirs, padding=1).numpy())
    for kw in (dict(kernel_size=2), dict(kernel_size=3, padding=1, count_include_pad=False)):
        np.testing.assert_array_equal(F.avg_pool2d(ours[0], **kw).numpy(),
                                      torch.nn.functional.avg_pool2d(theirs[0], **kw).numpy())
    np.testing.assert_array_equal(F.max_pool2d(ours[0], 3, padding=1).numpy(),
                                  torch.nn.functional.max_pool2d(theirs[0], 3, padding=1).numpy())


def test_gradcheck_conv_and_pools():
    rng = np.random.default_rng(6)
    x = autotape.tensor(rng.standard_normal((1, 2, 5, 5)), requires_grad=True)
    w = autotape.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = autotape.tensor(rng.standard_normal(3), requires_grad=True)
    gradcheck = autotape.autograd.gradcheck
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), (x, w, b))
    assert gradcheck(lambda x: F.max_pool2d(x, 2, 1, padding=1), (x,))
    assert gradcheck(lambda x: F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False), (x,))


def test_reprs_and_errors(torch):
    for args, kw in [((1, 6, 5), {}), ((4, 6, (3, 2)), dict(stride=2, padding=1, dilation=2, groups=2)),
                     ((1, 6, 3), dict(padding="same", bias=False))]:
        assert repr(nn.Conv2d(*args, **kw)) == repr(torch.nn.Conv2d(*args, **kw))
    assert repr(nn.Conv1d(2, 3, 3)) == repr(torch.nn.Conv1d(2, 3, 3))
    assert repr(nn.MaxPool2d(2)) == repr(torch.nn.MaxPool2d(2))
    assert repr(nn.MaxPool2d((2, 3), 1)) == repr(torch.nn.MaxPool2d((2, 3), 1))
    assert repr(nn.AvgPool2d(2)) == repr(torch.nn.AvgPool2d(2))
    x, w = autotape.randn(1, 1, 8, 8), autotape.randn(2, 1, 3, 3)
    with pytest.raises(RuntimeError, match="to have 1 channels, but got 3 channels"):
        F.conv2d(autotape.randn(1, 3, 8, 8), w)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        F.conv2d(autotape.randn(1, 1, 2, 2), w)
    with pytest.raises(RuntimeError, match="expected scalar type Double but found Float"):
        F.conv2d(x.double(), w)
    with pytest.raises(RuntimeError, match="not supported for strided"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="Expected 3D .unbatched. or 4D"):
        F.conv2d(autotape.randn(8, 8), w)
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.max_pool2d(autotape.randn(1, 1, 1, 1), 2)
    with pytest.raises(RuntimeError, match="non-positive stride"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(RuntimeError, match="negative padding"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(RuntimeError, match="stride should not be zero"):
        F.avg_pool2d(x, 2, 0)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="foo")
    with pytest.raises(NotImplementedError):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="not supported for strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")


def test_default_init_bounds():
    autotape.manual_seed(0)
    conv = nn.Conv2d(6, 16, 5)
    bound = 1 / np.sqrt(6 * 25)
    assert conv.weight.shape == (16, 6, 5, 5) and conv.bias.shape == (16,)
    for p in (conv.weight, conv.bias):
        assert np.abs(p.detach().numpy()).max() <= bound and np.abs(p.detach().numpy()).max() > 0.8 * bound


def _lenet(nn, F, flatten):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, input):
            c1 = F.relu(self.conv1(input))
            s2 = F.max_pool2d(c1, (2, 2))
            c3 = F.relu(self.conv2(s2))
            s4 = flatten(F.max_pool2d(c3, 2), 1)
            f5 = F.relu(self.fc1(s4))
            f6 = F.relu(self.fc2(f5))
            return self.fc3(f6)

    return Net()


def test_lenet_tutorial_matches_torch(torch):
    """The 60-minute blitz "Neural Networks" tutorial, with torch's initial weights."""
    torch.manual_seed(0)
    tnet = _lenet(torch.nn, torch.nn.functional, torch.flatten).double()
    net = _lenet(nn, F, autotape.flatten).double()
    net.load_state_dict({k: autotape.tensor(v.detach().numpy()) for k, v in tnet.state_dict().items()})
    assert repr(net) == repr(tnet)
    rng = np.random.default_rng(7)
    x, g, target = rng.standard_normal((1, 1, 32, 32)), rng.standard_normal((1, 10)), rng.standard_normal((1, 10))
    xa, xt = autotape.tensor(x), torch.tensor(x)
    out, tout = net(xa), tnet(xt)
    close(out, tout)
    net.zero_grad()
    tnet.zero_grad()
    out.backward(autotape.tensor(g))
    tout.backward(torch.tensor(g))
    for (name, p), (_, q) in zip(net.named_parameters(), tnet.named_parameters()):
        close(p.grad, q.grad)
    loss, tloss = nn.MSELoss()(net(xa), autotape.tensor(target)), torch.nn.MSELoss()(tnet(xt), torch.tensor(target))
    close(loss, tloss)
    names = [loss.grad_fn.name(), loss.grad_fn.next_functions[0][0].name()]
    tnames = [tloss.grad_fn.name(), tloss.grad_fn.next_functions[0][0].name()]
    assert names == tnames == ["MseLossBackward0", "AddmmBackward0"]
    # the tutorial's third line: the bias's AccumulateGrad (PyTorch's addmm lists it first); then fc3's input
    addmm, taddmm = loss.grad_fn.next_functions[0][0], tloss.grad_fn.next_functions[0][0]
    assert [f.name() for f, _ in addmm.next_functions] == [f.name() for f, _ in taddmm.next_functions]
    assert addmm.next_functions[1][0].name() == "ReluBackward0"
    net.zero_grad()
    tnet.zero_grad()
    assert net.conv1.bias.grad is None
    loss.backward()
    tloss.backward()
    close(net.conv1.bias.grad, tnet.conv1.bias.grad)
    for f, h in zip(net.parameters(), tnet.parameters()):  # the tutorial's hand-written update
        f.data.sub_(f.grad.data * 0.01)
        h.data.sub_(h.grad.data * 0.01)
    opt, topt = autotape.optim.SGD(net.parameters(), lr=0.01), torch.optim.SGD(tnet.parameters(), lr=0.01)
    for _ in range(2):
        opt.zero_grad()
        topt.zero_grad()
        loss, tloss = nn.MSELoss()(net(xa), autotape.tensor(target)), torch.nn.MSELoss()(tnet(xt), torch.tensor(target))
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        close(loss, tloss)
    for p, q in zip(net.parameters(), tnet.parameters()):
        close(p, q)


def test_lenet_float32_default_init_runs():
    autotape.manual_seed(0)
    net = _lenet(nn, F, autotape.flatten)
    out = net(autotape.randn(2, 1, 32, 32))
    assert out.shape == (2, 10) and out.dtype == autotape.float32
    out.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())


def test_compiled_conv_step_matches_eager():
    rng = np.random.default_rng(8)
    w = autotape.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = autotape.tensor(rng.standard_normal(3), requires_grad=True)
    x = autotape.tensor(rng.standard_normal((2, 2, 6, 6)))

    def loss_of(x):
        y = F.max_pool2d(F.relu(F.conv2d(x, w, b, padding=1)), 2)
        return F.avg_pool2d(y, 2, 1).pow(2).sum()

    step = autotape.compile(loss_of)
    for k in range(3):
        x.data.copy_(autotape.tensor(rng.standard_normal((2, 2, 6, 6))))
        lc = step(x)
        lc.backward()
        gc = (w.grad.clone(), b.grad.clone())
        w.grad, b.grad = None, None
        le = loss_of(x)
        le.backward()
        close(lc, le, 1e-12)
        close(gc[0], w.grad, 1e-12)
        close(gc[1], b.grad, 1e-12)
        w.grad, b.grad = None, None


@pytest.mark.skipif(not autotape.cuda.is_available(), reason="no CUDA device and no simulator")
def test_cuda_conv_and_pools_match_cpu():
    pytest.importorskip("numba.cuda")
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2)]
    results = []
    for device in ("cpu", "cuda"):
        x, w, b = (autotape.tensor(a, device=device, requires_grad=True) for a in arrays)
        y = F.max_pool2d(F.conv2d(x, w, b, padding=1), 2, 1) + F.avg_pool2d(F.conv2d(x, w, padding=1), 2, 1)
        y.sum().backward()
        assert y.grad_fn is not None
        results.append([t.detach().cpu().numpy() for t in (y, x.grad, w.grad, b.grad)])
    for a, c in zip(*results):
        close(a, c)


def test_compiled_max_pool_indices_refuse_rather_than_go_stale():
    from autotape.compile import CompileError

    with pytest.raises(CompileError, match="max_pool2d's indices"):
        autotape.compile(lambda x: F.max_pool2d(x, 2, return_indices=True)[1])(autotape.randn(1, 1, 4, 4))
