"""The compiled interpreter's program (autotape/replay/cpu_program.py) and the replay loop's
inline records: on tapes of one-element values, every inline kind (copies by unbind, stack,
select, reshape; + - * / and their scalar forms; negation; softplus; softmax and log_softmax
of a short vector) in float32 and float64 must give
what eager gives (bit for bit in float64), with arguments rebound, leaves changed in place
between calls, a custom Function in the middle and records no gradient reaches."""
import numpy as np
import pytest

import autotape as torch
from autotape.replay import cpu_program


def scalar_program(x, w):
    """Many records of one element each, of every inline kind, plus kernels (exp, a long
    softmax, a stack of rows)."""
    parts = list(x.unbind(0))
    h = parts[0] * w + 1.5
    for k, p in enumerate(parts[1:]):
        h = (h - p) / (p * p + 2.0) - 0.25 * h
        h = -h + p.reshape(1).reshape(()) * 0.5
        h = 3.0 - h / 4.0 - 1.0
        s = torch.softmax(torch.stack([h, p, w * 1.0]), dim=0)
        h = s[0] + s[1] * s.exp()[2] + torch.softplus(h) - torch.softplus(p, beta=2.0, threshold=0.5)
        h = h + torch.log_softmax(torch.stack([p, h, h, p * 2.0, h * 0.5]), dim=0)[1]
        parts[k] + 1.0  # no gradient reaches it, and nothing reads it
    t = torch.stack([h * float(j) for j in range(12)])  # two records, five pieces each, and one of two
    rows = torch.stack([t, t * 0.5], dim=1)  # pieces of 12: the kernel
    return torch.softmax(t, dim=0)[3] + rows[5, 1] + torch.stack([h, h * h]).sum()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_scalar_program_matches_eager_over_calls(dtype):
    x = torch.linspace(-1.0, 1.0, 7, dtype=dtype)
    w = torch.tensor(0.75, dtype=dtype, requires_grad=True)
    step = torch.compile(scalar_program)
    for k in range(3):
        xk = x * (1.0 + 0.1 * k)
        out = step(xk, w)
        out.backward()
        got, w.grad = w.grad.numpy().copy(), None
        ref = scalar_program(xk, w)
        ref.backward()
        if dtype is torch.float64:
            assert out.item() == ref.item()
            np.testing.assert_array_equal(got, w.grad.numpy())
        else:
            np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-5)
            np.testing.assert_allclose(got, w.grad.numpy(), rtol=1e-4)
        w.grad = None
        with torch.no_grad():
            w.add_(0.125)  # an in-place update between calls, as an optimizer's
    assert "interpreter" in step.explain()
    plan, = step.cache.values()
    fwd = set(plan.program.forward[0::4].tolist())
    bwd = set(plan.program.backwards[out._slot][0][0::4].tolist())
    dt = int(dtype is torch.float64)
    P = cpu_program
    assert fwd >= {P.CALL} | {k + dt for k in range(P.F_COPY, P.F_SOFTMAX + 1, 2)}  # every inline kind runs
    assert {P.B_MOV, P.B_MOV + 1, P.B_SOFTMAX32 + 2 * dt + 1} <= bwd
    assert {k & ~1 for k in bwd} >= {P.CALL, P.B_ZERO, P.B_SOFTPLUS32 + 2 * dt, P.B_MULV32 + 2 * dt, P.B_MULK,
                                     P.B_DIVK, P.B_NEG}


def corners(x, lib=torch, finite_softmax=False):
    """Softplus and short softmaxes of values with NaN and infinities among them."""
    parts = list(x.unbind(0))
    softplus = lib.nn.functional.softplus
    out = [softplus(p) + softplus(p, beta=0.5, threshold=3.0) for p in parts]
    if finite_softmax:
        parts = [p * 0.0 + float(k) for k, p in enumerate(parts)]
    for k in range(0, len(parts) - 2):
        trio = lib.stack(parts[k: k + 3])
        out += list(lib.softmax(trio, dim=0).unbind(0)) + list(lib.log_softmax(trio, dim=0).unbind(0))
    return lib.stack(out)


_CORNERS = [0.5, float("inf"), -2.0, float("-inf"), 30.0, float("nan"), -40.0, 1.0, float("inf")]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (NumPy's, on NaN and infinities)
@pytest.mark.parametrize("finite_softmax", [True, False])
def test_eager_replay_of_the_inline_records_matches_pytorch(finite_softmax):
    """Softmaxes of finite rows, and of rows holding NaN and infinities (all NaN, as PyTorch's)."""
    pt = pytest.importorskip("torch")
    x = torch.tensor(_CORNERS, dtype=torch.float64, requires_grad=True)
    xt = pt.tensor(_CORNERS, dtype=pt.float64, requires_grad=True)
    g = np.linspace(-1.0, 2.0, 51)
    out, ref = corners(x, finite_softmax=finite_softmax), corners(xt, pt, finite_softmax=finite_softmax)
    out.backward(torch.tensor(g))
    ref.backward(pt.tensor(g))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (NumPy's, on NaN and infinities)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_softplus_and_softmax_of_nan_and_infinities_match_eager(dtype):
    x = torch.tensor(_CORNERS, dtype=dtype, requires_grad=True)
    step = torch.compile(corners)
    for k in range(2):
        out = step(x)
        out.backward(torch.linspace(-1.0, 2.0, out.shape[0], dtype=dtype))
        got, x.grad = x.grad.numpy().copy(), None
        ref = corners(x)
        ref.backward(torch.linspace(-1.0, 2.0, out.shape[0], dtype=dtype))
        if dtype is torch.float64:
            np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
            np.testing.assert_array_equal(got, x.grad.numpy())
        else:  # (eager's NumPy path rounds to float32 at each step, the replay once)
            np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(got, x.grad.numpy(), rtol=1e-6, atol=1e-6)
        x.grad = None
    plan, = step.cache.values()
    assert {cpu_program.F_SOFTPLUS, cpu_program.F_SOFTMAX} <= {k & ~1 for k in plan.program.forward[0::4].tolist()}


def test_argument_requiring_grad_and_custom_function_in_the_program():
    class Twice(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    def f(a, b):
        y = [Twice.apply(a[i] * b[i]) + a[i] for i in range(a.shape[0])]
        return torch.stack(y).sum() / 3.0

    step = torch.compile(f)
    for k in range(3):
        a = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True) * (k + 1)
        a = a.detach().requires_grad_()
        b = torch.tensor([1.5, 0.25, -0.5], dtype=torch.float64, requires_grad=True)
        out = step(a, b)
        out.backward()
        a2, b2 = a.detach().requires_grad_(), b.detach().requires_grad_()
        ref = f(a2, b2)
        ref.backward()
        assert out.item() == ref.item()
        np.testing.assert_array_equal(a.grad.numpy(), a2.grad.numpy())
        np.testing.assert_array_equal(b.grad.numpy(), b2.grad.numpy())


def test_second_backward_after_the_engine_freed_the_call_raises():
    w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    step = torch.compile(lambda: (w * w).exp())
    out = step()
    out.register_hook(lambda g: g)  # a hook: this backward runs in the general engine
    out.backward()
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()


def test_stack_pieces_in_the_stacks_bytes_and_in_place_changes():
    """Pieces live in their stack's bytes (the forward copies nothing), except where a piece or
    the stack is modified in place after the stack (or viewed), or a piece is in two stacks."""
    def f(a, b):
        p, q, u = a * 2.0, a + b, b * b
        s = torch.stack([p, q, u])  # all three in s's bytes
        t = torch.stack([u, a * b])  # u is in two stacks: copied
        p2 = a - 1.0
        v = torch.stack([p2, q * 1.0])  # (v viewed below by v[0]: copied)
        p2.mul_(3.0)  # modified after the stack: v keeps the old value
        w = torch.stack([b + 0.5, a * 0.5])
        w.add_(1.0)  # the stack modified in place
        return (s * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum() + t.prod() + v[0] * p2 + w.sum()

    step = torch.compile(f)
    for k in range(3):
        a = torch.tensor(0.5 + k, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(-1.25 * k, dtype=torch.float64, requires_grad=True)
        out = step(a, b)
        out.backward()
        a2, b2 = a.detach().requires_grad_(), b.detach().requires_grad_()
        ref = f(a2, b2)
        ref.backward()
        assert out.item() == ref.item()
        assert a.grad.item() == a2.grad.item() and b.grad.item() == b2.grad.item()
    plan, = step.cache.values()
    kinds = plan.program.forward[0::4].tolist()
    assert kinds.count(cpu_program.F_COPY + 1) == 4  # u in s and in t, v's two
