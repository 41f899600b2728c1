"""autotape.compile: replayed results equal eager ones (float64, 1e-12), guards, errors."""
import copy
import math

import numpy as np
import pytest

import autotape as torch
from autotape.compile import CompileError

TOL = 1e-12


def close(a, b, tol=TOL):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.allclose(a, b, rtol=tol, atol=tol), np.abs(a - b).max()


def poly_params(dtype=torch.float64):
    return [torch.tensor(v, dtype=dtype, requires_grad=True) for v in (0.1, 0.2, -0.3, 0.05)]


def test_poly_tutorial_step_matches_eager():
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=torch.float64)
    y = torch.sin(x)
    pc, pe = poly_params(), poly_params()

    def loss_of(p):
        a, b, c, d = p
        return (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()

    step = torch.compile(lambda: loss_of(pc))
    for _ in range(6):
        lc, le = step(), loss_of(pe)
        lc.backward()
        le.backward()
        close(lc.item(), le.item())
        with torch.no_grad():
            for p, q in zip(pc, pe):
                close(p.grad._data, q.grad._data)
                p -= 1e-6 * p.grad
                q -= 1e-6 * q.grad
                p.grad = q.grad = None
    assert step.records == 1
    assert "fused: one generated pass over 2000 elements" in step.explain()


def test_views_of_arguments_do_not_write_into_the_callers_arrays():
    w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    v = torch.ones(3, dtype=torch.float64, requires_grad=True)
    for p in (w, v):  # fused (a scalar leaf) and interpreter (a leaf of three elements)
        step = torch.compile(lambda x: (x.view(-1) * p).sum())
        x0 = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
        step(x0)
        out = step(torch.tensor([10.0, 20.0, 30.0], dtype=torch.float64))
        assert x0.tolist() == [1.0, 2.0, 3.0]
        close(out.item(), 60.0 * (2.0 if p is w else 1.0))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_nn_linear_mse_with_optimizer(opt):
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 50, dtype=torch.float64)
    xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))
    y = torch.sin(x)
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1)).to(torch.float64)
    ref = copy.deepcopy(model)
    loss_fn = torch.nn.MSELoss(reduction="sum")

    def make(m):
        if opt == "sgd":
            return torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)
        return torch.optim.Adam(m.parameters(), lr=1e-2)

    o1, o2 = make(model), make(ref)
    step = torch.compile(lambda: loss_fn(model(xx), y))
    for _ in range(5):
        l1 = step()
        o1.zero_grad()
        l1.backward()
        o1.step()
        l2 = loss_fn(ref(xx), y)
        o2.zero_grad()
        l2.backward()
        o2.step()
        close(l1.item(), l2.item())
        for p, q in zip(model.parameters(), ref.parameters()):
            close(p.grad._data, q.grad._data)
            close(p._data, q._data)
    assert step.records == 1


def test_arguments_are_traced_and_guards_rerecord():
    w = torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64, requires_grad=True)

    @torch.compile
    def f(x):
        return (torch.tanh(x * w[:1]) + x.exp()).sum() * w.sum()

    for n, dtype in [(3, torch.float64), (3, torch.float64), (5, torch.float64), (5, torch.float32), (3, torch.float64)]:
        x = torch.randn(n, dtype=dtype)
        w.grad = None
        out = f(x)
        out.backward()
        g = w.grad._data.copy()
        w.grad = None
        ref = (torch.tanh(x * w[:1]) + x.exp()).sum() * w.sum()
        ref.backward()
        tol = TOL if dtype == torch.float64 else 1e-5
        close(out.item(), ref.item(), tol)
        close(g, w.grad._data, tol)
    assert f.records == 3  # (3, f64), (5, f64), (5, f32); the last call hits the cache


def test_argument_requiring_grad_gets_its_gradient():
    f = torch.compile(lambda x, k: (x * x * k).sum())
    for v in (1.0, 2.0):
        x = torch.tensor([v, 3.0], dtype=torch.float64, requires_grad=True)
        f(x, 2.0).backward()
        close(x.grad._data, [4 * v, 12.0])
    x = torch.tensor([1.0, 3.0], dtype=torch.float64, requires_grad=True)
    f(x, 3.0).backward()  # a new Python value: recorded again
    close(x.grad._data, [6.0, 18.0])
    assert f.records == 2


def test_replaced_leaf_data_rerecords():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    f = torch.compile(lambda: (w * w).sum())
    assert f().item() == 5.0
    assert f().item() == 5.0
    w.data = torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert f().item() == 25.0
    assert f.records == 2


def test_in_place_parameter_updates_are_seen():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    f = torch.compile(lambda: (w.exp() * 2).sum())
    f()
    with torch.no_grad():
        w.mul_(3.0)
    close(f().item(), 2 * (math.exp(3.0) + math.exp(6.0)))


CONSTANT_USES = {
    "power": lambda w, x, m, i: (w * x ** 2).sum(),
    "product": lambda w, x, m, i: (w * (x * 3.0 + x * x)).sum(),
    "reduction": lambda w, x, m, i: w.sum() * x.sum(),
    "view": lambda w, x, m, i: (w.reshape(2, 3) * x.reshape(2, 3).T.T).sum(),
    "matmul": lambda w, x, m, i: (w * (m @ x)).sum(),
    "cat piece": lambda w, x, m, i: torch.cat([w, x * 2.0]).pow(2).sum(),
    "where condition": lambda w, x, m, i: torch.where(x > 0.5, w, -w).sum(),
    "index tensor": lambda w, x, m, i: w[i].sum() * 1.0,
    "one element": lambda w, x, m, i: w.sum() * (x[0] + 1.0),
}


@pytest.mark.parametrize("use", CONSTANT_USES, ids=list(CONSTANT_USES))
def test_constants_computed_from_a_captured_tensor_follow_its_in_place_changes(use):
    """What the replay takes as constant (values computed from captured tensors that do not
    require grad) is recomputed when such a tensor changes in place: never a stale answer."""
    fn = CONSTANT_USES[use]
    w = torch.linspace(-1.0, 1.0, 6, dtype=torch.float64, requires_grad=True)
    x = torch.linspace(0.0, 1.0, 6, dtype=torch.float64)
    m = torch.eye(6, dtype=torch.float64) * 2.0
    i = torch.tensor([0, 2, 4])
    f = torch.compile(lambda: fn(w, x, m, i))
    for change in (lambda: x.add_(0.25), lambda: m.mul_(-1.0), lambda: i.copy_(torch.tensor([1, 1, 5])), None):
        out = f()
        out.backward()
        g = w.grad._data.copy()
        w.grad = None
        ref = fn(w, x, m, i)
        ref.backward()
        close(out.item(), ref.item())
        close(g, w.grad._data)
        w.grad = None
        if change is not None:
            with torch.no_grad():
                change()

def test_item_in_compiled_function_names_the_line():
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)

    def f():
        s = (w * 2).sum()
        if s.item() > 0:  # data-dependent control flow
            return s
        return -s

    with pytest.raises(CompileError) as info:
        torch.compile(f)()
    msg = str(info.value)
    assert "item()" in msg and "test_compile.py" in msg and "s.item() > 0" in msg and "fallback='eager'" in msg


def test_comparison_used_in_control_flow_is_caught():
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)

    def f():
        if (w > 0).all():
            return w.sum()
        return (w * w).sum()

    with pytest.raises(CompileError, match="bool"):
        torch.compile(f)()


def test_fallback_eager_runs_eagerly():
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)

    @torch.compile(fallback="eager")
    def f():
        s = (w * 2).sum()
        return s if s.item() > 0 else -s

    assert f().item() == 2.0
    with torch.no_grad():
        w.mul_(-1.0)
    out = f()
    assert out.item() == 2.0  # the other branch: eager, not a replay of the first
    out.backward()
    close(w.grad._data, [2.0, 2.0])


def test_custom_function_inside():
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * g

    w = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    v = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    f = torch.compile(lambda: (Cube.apply(w.sin()) * 2).sum())
    for _ in range(3):
        out = f()
        out.backward()
        ref = (Cube.apply(v.sin()) * 2).sum()
        ref.backward()
        close(out.item(), ref.item())
        close(w.grad._data, v.grad._data)
        with torch.no_grad():
            w -= 0.1 * w.grad
            v -= 0.1 * v.grad
        w.grad = v.grad = None


def west(torch_mod, init_vars, n_operations):
    nodes = [*init_vars]
    for op in range(n_operations):
        if op % 4 == 0:
            nodes.append(torch_mod.softplus(nodes[-10]))
        elif op % 4 == 1:
            nodes.append(sum(nodes[-30:-10:5]))
        elif op % 4 == 2:
            nodes.append(nodes[-20] * nodes[-10])
        else:
            nodes.extend(torch_mod.softmax(torch_mod.stack(nodes[-4:], dim=0), dim=0))
    return nodes[-1]


def test_west_graph_gradients_match_eager():
    vc = (torch.arange(100, dtype=torch.float64) / 50).requires_grad_()
    ve = (torch.arange(100, dtype=torch.float64) / 50).requires_grad_()
    f = torch.compile(lambda: west(torch, vc, 400))
    for _ in range(3):
        out = f()
        out.backward()
        ref = west(torch, ve, 400)
        ref.backward()
        close(out.item(), ref.item())
        close(vc.grad._data, ve.grad._data)
        with torch.no_grad():
            vc -= 0.5 * vc.grad
            ve -= 0.5 * ve.grad
        vc.grad = ve.grad = None


def test_shape_ops_reductions_and_matmul():
    torch.manual_seed(1)
    a = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)

    def f(x):
        h = (a @ b).T.reshape(5, 3) + x
        parts = [h[:, 0].unsqueeze(1), h[1:3, 1:].expand(2, 2), torch.cat([h[0:2, :2], h[3:, :2]], 0)]
        z = torch.log_softmax(h, dim=1).mean(0) + torch.softmax(h, 0).sum(1).logsumexp(0)
        return (z.sum() + parts[0].norm() + parts[1].var() + parts[2].amax() + h.cumsum(1).std()
                + h.permute(1, 0).prod(1).sum() + h[[0, 2, 4]].abs().sum() + h.float().double().mean()
                + torch.where(torch.tensor([True, False, True]), h, -h).sum())

    step = torch.compile(f)
    for k in range(3):
        x = torch.randn(5, 3, dtype=torch.float64)
        a.grad = b.grad = None
        out = step(x)
        out.backward()
        ga, gb = a.grad._data.copy(), b.grad._data.copy()
        a.grad = b.grad = None
        ref = f(x)
        ref.backward()
        close(out.item(), ref.item(), 1e-6 if k == 0 else TOL)  # (h.float() rounds to float32)
        close(ga, a.grad._data, 1e-6)
        close(gb, b.grad._data, 1e-6)
    assert step.records == 1


def test_op_without_forward_kernel_runs_eagerly_with_a_warning():
    w = torch.tensor([[1.0, 5.0], [3.0, 2.0]], dtype=torch.float64, requires_grad=True)
    f = torch.compile(lambda: w.max(dim=1).values.sum())
    with pytest.warns(RuntimeWarning, match="max_dim"):
        assert f().item() == 8.0
    with torch.no_grad():
        w.mul_(2.0)
    assert f().item() == 16.0


def test_second_backward_needs_retain_graph_and_stale_outputs_raise():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    f = torch.compile(lambda: (w * w).sum())
    f()
    out = f()
    out.backward(retain_graph=True)
    out.backward()
    close(w.grad._data, [4.0, 8.0])
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()
    old = out
    f()
    with pytest.raises(RuntimeError, match="earlier call"):
        old.backward()


def test_outputs_keep_their_values_across_calls():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    f = torch.compile(lambda: (w * 2, (w * w).sum()))
    first = f()
    with torch.no_grad():
        w.add_(1.0)
    second = f()
    close(first[0]._data, [2.0, 4.0])
    close(second[0]._data, [4.0, 6.0])
    assert second[1].item() == 13.0


def test_notebook_defined_function_compiles():
    src = (
        "import autotape as torch\n"
        "w = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)\n"
        "def loss():\n"
        "    return (torch.sigmoid(w) * w).sum()\n"
        "step = torch.compile(loss)\n"
        "for _ in range(3):\n"
        "    out = step()\n"
        "    out.backward()\n"
    )
    ns = {}
    exec(compile(src, "<ipython-input-7-0123abcd>", "exec"), ns)
    w = ns["w"]
    s = 1 / (1 + np.exp(-np.array([0.5, 1.5])))
    close(ns["out"].item(), float((s * [0.5, 1.5]).sum()))
    close(w.grad._data, 3 * (s + np.array([0.5, 1.5]) * s * (1 - s)))

    bad = ("import autotape as torch\n"
           "v = torch.tensor([1.0], requires_grad=True)\n"
           "torch.compile(lambda: v.sum() if float(v.sum()) > 0 else v)()\n")
    with pytest.raises(CompileError, match="ipython-input-8"):
        exec(compile(bad, "<ipython-input-8-feedbeef>", "exec"), {})


def test_profiler_hooks_and_autograd_grad_take_the_general_engine():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    f = torch.compile(lambda: (w.exp() * w).sum())
    expected = np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0]))
    f()
    with torch.profiler.profile():
        f().backward()
    close(w.grad._data, expected)
    w.grad = None
    handle = w.register_hook(lambda g: g * 2)
    f().backward()
    close(w.grad._data, 2 * expected)
    handle.remove()
    (g,) = torch.autograd.grad(f(), [w])
    close(g._data, expected)


def test_a_tape_of_single_numbers_compiles():
    """Every value one number: the fused pass has no loop (it used to be generated empty)."""
    w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    f = torch.compile(lambda: (w * w).exp())
    for _ in range(2):
        y = f()
        y.backward()
        close(y.item(), math.exp(4.0))
        close(w.grad.item(), 4.0 * math.exp(4.0))
        w.grad = None
    g = torch.compile(lambda a: a.sum())
    assert g(torch.tensor(3.0)).item() == 3.0


def test_outputs_of_arguments_that_need_no_grad_have_no_history_from_the_first_call():
    g = torch.compile(lambda a: a.sum() * 2)
    a = torch.tensor([3.0, 1.0])
    for _ in range(2):
        r = g(a)
        assert r.item() == 8.0 and not r.requires_grad and r.grad_fn is None


def test_requires_grad_changes_of_captured_tensors_record_again():
    torch.manual_seed(0)
    m = torch.nn.Linear(2, 1).double()
    x = torch.ones(3, 2, dtype=torch.float64)
    c = torch.tensor([1.0, 2.0], dtype=torch.float64)
    f = torch.compile(lambda: m(x).sum() + (c * 3).sum())
    f().backward()
    f().backward()  # accumulates into .grad (one-element gradients of shape (1,) too)
    close(m.weight.grad._data, [[6.0, 6.0]])
    close(m.bias.grad._data, [6.0])
    m.weight.grad = m.bias.grad = None
    m.weight.requires_grad_(False)
    c.requires_grad_(True)
    y = f()
    y.backward()
    assert m.weight.grad is None
    close(m.bias.grad._data, [3.0])
    close(c.grad._data, [3.0, 3.0])
    assert f.records == 2


def test_hooks_on_an_output_apply_to_that_call_only():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    cf = torch.compile(lambda: w * 3)
    y = cf()
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    close(w.grad._data, [30.0, 30.0])
    w.grad = None
    cf().sum().backward()
    close(w.grad._data, [3.0, 3.0])
    w.grad = None

    def with_hook():  # a hook the function registers itself is registered by every eager call
        h = w * 3
        h.register_hook(lambda g: g * 10)
        return h.sum()

    cg = torch.compile(with_hook)
    for _ in range(3):
        cg().backward()
        close(w.grad._data, [30.0, 30.0])
        w.grad = None


def test_backward_through_an_earlier_calls_output_raises():
    w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    cf = torch.compile(lambda a: w * a)
    z = cf(torch.ones(3, dtype=torch.float64)) * 2
    cf(torch.ones(3, dtype=torch.float64) * 5)
    with pytest.raises(RuntimeError, match="earlier call"):
        z.sum().backward()


def test_a_captured_tensor_changed_between_call_and_backward_raises_like_eager():
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    for fn in (lambda: (x * x).sum(), lambda: (x * x).exp().sum().log() * x.sum()):  # fused, interpreter
        cf = torch.compile(fn)
        y = cf()
        with torch.no_grad():
            x.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward()
        y = cf()  # a new call reads the new values
        y.backward()
        g, x.grad = x.grad._data.copy(), None
        fn().backward()
        close(g, x.grad._data)
        x.grad = None


def test_a_linear_layers_bias_changed_between_call_and_backward_is_fine_as_in_eager():
    """Backward does not read a Linear layer's bias (its gradient is dy's column sums): changed in
    place between a compiled call and its backward, as eager (and PyTorch) allow, the gradients
    are eager's; the weight, which backward reads, still raises."""
    x = torch.tensor(np.random.default_rng(0).standard_normal((5, 3)), requires_grad=True)
    for bias_rg in (True, False):
        lin = torch.nn.Linear(3, 2).double()
        lin.bias.requires_grad_(bias_rg)
        cf = torch.compile(lambda: (lin(x) ** 2).sum())
        cf()
        y = cf()
        with torch.no_grad():
            lin.bias.add_(1.0)
        y.backward()
        got = [t.grad._data.copy() for t in (x, *lin.parameters()) if t.requires_grad]
        lin.zero_grad()
        x.grad = None
        y = (torch.nn.functional.linear(x, lin.weight, lin.bias - 1.0) ** 2).sum()  # (the values it ran on)
        y.backward()
        for g, t in zip(got, [t for t in (x, *lin.parameters()) if t.requires_grad]):
            close(g, t.grad._data)
        x.grad = None
        y = cf()
        with torch.no_grad():
            lin.weight.mul_(2.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward()


def test_random_numbers_inside_a_compiled_function_are_refused():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(CompileError, match="random numbers"):
        torch.compile(lambda: (w * torch.randn(2)).sum())()
    f = torch.compile(lambda: (w * torch.randn(2)).sum(), fallback="eager")
    assert f().item() != f().item()  # drawn anew each call, as eager


def test_in_place_changes_of_outside_tensors_are_refused_as_a_replay_would_drop_them():
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    counter, buf = torch.zeros(1), torch.zeros(2, dtype=torch.float64)
    opt = torch.optim.SGD([w], lr=0.1)

    def counts():
        counter.add_(1)
        return (w * 2).sum()

    def halves():
        with torch.no_grad():
            w.mul_(0.5)
        return (w * 2).sum()

    def stores(a):
        buf.copy_(a * 2)
        return (w * a).sum()

    def steps():
        loss = (w * w).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    for fn, args in ((counts, ()), (halves, ()), (stores, (torch.ones(2, dtype=torch.float64),)), (steps, ())):
        with pytest.raises(CompileError, match="changes a tensor from outside the function in place"):
            torch.compile(fn)(*args)
    counter.zero_()
    eager = torch.compile(counts, fallback="eager")
    for _ in range(3):
        eager()
    assert counter.item() == 3.0  # run eagerly, every call's change happens

    def own():  # writing into tensors the function made itself is fine
        m = torch.zeros(2, dtype=torch.float64)
        m[0] = 3.0
        acc = torch.zeros((), dtype=torch.float64)
        acc += (w * m).sum()
        return acc

    f = torch.compile(own)
    assert f().item() == f().item() == own().item()


W_GLOBAL = torch.tensor(2.0, requires_grad=True)
X_GLOBAL = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float32)


def _scaled_sum():
    return (W_GLOBAL * X_GLOBAL).sum()


@pytest.mark.filterwarnings("ignore:autotape.compile.*rebound:RuntimeWarning")  # (the test below checks it)
def test_rebinding_a_name_the_function_reads_records_again():
    """A replay reads the recorded tensors: a name rebound to another tensor (a global, a closure
    cell, a Module's parameter, a helper redefined) must record again, never replay the old one."""
    global W_GLOBAL, X_GLOBAL, _scaled_sum
    step = torch.compile(lambda: _scaled_sum() * 1.0)  # the globals are read one call deep
    assert step().item() == 12.0
    old = W_GLOBAL, X_GLOBAL, _scaled_sum
    try:
        W_GLOBAL = torch.tensor(5.0, requires_grad=True)
        out = step()
        out.backward()
        assert out.item() == 30.0 and W_GLOBAL.grad.item() == 6.0 and step.records == 2
        X_GLOBAL = torch.tensor([10.0, 20.0, 30.0])
        assert step().item() == 300.0

        def _scaled_sum():
            return (W_GLOBAL * X_GLOBAL).sum() * 3

        assert step().item() == 900.0 and step.records == 4
        assert step().item() == 900.0 and step.records == 4  # nothing rebound: replayed
    finally:
        W_GLOBAL, X_GLOBAL, _scaled_sum = old

    w = torch.tensor(2.0, requires_grad=True)
    x = torch.ones(3)
    closure = torch.compile(lambda: (w * x).sum())
    assert closure().item() == 6.0
    w = torch.tensor(-1.0, requires_grad=True)  # the lambda's cell now holds the new tensor
    assert closure().item() == -3.0

    model = torch.nn.Sequential(torch.nn.Linear(1, 1))
    xx = torch.ones(4, 1)
    f = torch.compile(lambda: model(xx).sum())
    f()
    model[0].weight = torch.nn.Parameter(torch.tensor([[10.0]]))
    model[0].bias = torch.nn.Parameter(torch.tensor([0.5]))
    out = f()
    out.backward()
    assert out.item() == 42.0 and model[0].weight.grad.item() == 4.0
    records = f.records
    model.train()  # an attribute set that leaves the layout alone: replayed
    assert f().item() == 42.0 and f.records == records
    for compiled in (torch.compile(model), torch.compile(model.forward)):  # the Module itself, its method
        assert compiled(xx).sum().item() == 42.0
        model[0].bias = torch.nn.Parameter(torch.tensor([1.5]))
        assert compiled(xx).sum().item() == 46.0
        model[0].bias = torch.nn.Parameter(torch.tensor([0.5]))

    class Branches(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = 2.0

        def forward(self, x):
            return x * (self.scale if self.training else -1.0)

    lr, branches, one = 0.5, Branches(), torch.tensor(1.0, requires_grad=True)
    g = torch.compile(lambda: branches(one) * lr)  # Python values are baked into the replay
    assert g().item() == 1.0
    lr = 3.0
    assert g().item() == 6.0
    branches.scale = 4.0
    assert g().item() == 12.0
    branches.eval()
    assert g().item() == -3.0
    records = g.records
    lr = 3.0  # the same value: replayed
    assert g().item() == -3.0 and g.records == records
    lr = 3  # an int now: the tape would differ in dtype rules, so it records again
    assert g().item() == -3.0 and g.records == records + 1


def test_data_rebound_every_call_is_recorded_each_time_with_a_warning_to_pass_it_as_an_argument():
    model = torch.nn.Linear(2, 1)
    rng = np.random.default_rng(0)
    xb = torch.tensor(rng.standard_normal((4, 2)), dtype=torch.float32)
    step = torch.compile(lambda: model(xb).sum())
    with pytest.warns(RuntimeWarning, match=r"rebound \(xb\); pass tensors"):
        for _ in range(4):
            xb = torch.tensor(rng.standard_normal((4, 2)), dtype=torch.float32)
            out = step()
            assert out.item() == pytest.approx(model(xb).sum().item(), rel=1e-6)
    assert step.records == 4  # every call


def test_a_module_storing_a_tensor_attribute_while_recording_is_refused():
    """A replay does not run ``forward``: an attribute it sets would keep the recording's tensor."""

    class Keeps(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def forward(self, x):
            self.last = self.lin(x)
            return self.last

    m, x = Keeps(), torch.ones(3, 2)
    with pytest.raises(CompileError, match=r"stores a tensor as a Module attribute \(self.last = ...\)"):
        torch.compile(lambda: m(x).sum())()
    eager = torch.compile(lambda: m(x).sum(), fallback="eager")  # (asked for: no warning)
    first = eager()
    with torch.no_grad():
        m.lin.bias.add_(1.0)
    assert eager().item() == pytest.approx(first.item() + 3.0) and m.last.sum().item() == pytest.approx(eager().item())


def test_a_name_rebound_before_a_new_signature_leaves_no_stale_entry():
    """A call of a new signature after a rebinding records with the new objects; the entries of
    the other signatures hold the old ones and must record again too, not replay."""
    x = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    f = torch.compile(lambda s=1.0: (w * x).sum() * s)
    for _ in range(3):
        assert f().item() == 5.0
    w = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    assert f(2.0).item() == 25.0
    out = f()
    out.backward()
    assert out.item() == 12.5 and w.grad.item() == 2.5


HP_GLOBAL = {"scale": 2.0, "opt": {"lr": 1.0}}


class _Config:
    pass


@pytest.mark.filterwarnings("ignore:autotape.compile.*rebound:RuntimeWarning")
def test_items_of_containers_the_function_reads_are_guarded():
    """``hp["scale"] = 3.0``, ``ws[0] = new``, ``cfg.k = 2.0``, a nested dict's item, a Module in a
    list given a new weight: each records again (a replay would have used the old value)."""
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    ws, cfg = [w], _Config()
    cfg.k = 1.0
    step = torch.compile(lambda: (ws[0] * HP_GLOBAL["scale"] * cfg.k * HP_GLOBAL["opt"]["lr"]).sum())
    assert step().item() == 6.0 and step().item() == 6.0 and step.records == 1
    try:
        HP_GLOBAL["scale"] = 3.0
        assert step().item() == 9.0
        ws[0] = torch.tensor([5.0, 5.0], requires_grad=True)
        out = step()
        out.backward()
        assert out.item() == 30.0 and ws[0].grad.tolist() == [3.0, 3.0] and w.grad is None
        cfg.k = 2.0
        assert step().item() == 60.0
        HP_GLOBAL["opt"]["lr"] = 0.5
        assert step().item() == 30.0 and step.records == 5
        assert step().item() == 30.0 and step.records == 5  # nothing changed: replayed
    finally:
        HP_GLOBAL.update(scale=2.0, opt={"lr": 1.0})

    layers = [torch.nn.Linear(2, 1)]
    x = torch.ones(1, 2)
    net = torch.compile(lambda: layers[0](x).sum())
    net()
    layers[0].weight = torch.nn.Parameter(torch.full((1, 2), 4.0))
    assert net().item() == pytest.approx(8.0 + layers[0].bias.item())


def test_a_large_container_is_guarded_by_identity_with_a_warning():
    big = [float(i) for i in range(2000)]
    w = torch.tensor(1.0, requires_grad=True)
    step = torch.compile(lambda: w * big[3])
    with pytest.warns(RuntimeWarning, match="reads big, a container of more than 1000 items"):
        assert step().item() == 3.0
    big = list(big)  # rebound: seen (and warned of again, recording)
    big[3] = 7.0
    with pytest.warns(RuntimeWarning, match="reads big"):
        assert step().item() == 7.0


def test_retain_grad_of_an_interpreted_calls_output_gets_that_calls_gradient_only():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    step = torch.compile(lambda: (w @ torch.ones(2, 2)).sum() * 2.0)  # a matmul: the interpreter's tape
    kept = []
    for i in range(3):
        out = step()
        if i < 2:
            out.retain_grad()
            kept.append(out)
        out.backward()
    assert "interpreter" in step.explain()
    assert [t.grad.item() for t in kept] == [1.0, 1.0]  # (later calls' gradients added up: 3.0, 2.0)
    assert w.grad.tolist() == [[12.0, 12.0], [12.0, 12.0]]
