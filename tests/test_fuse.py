"""autotape.compile's fused strategy: which tapes fuse, and fused results equal eager ones
(float64, 1e-12) through every way a gradient can be taken."""
import io
import math

import numpy as np
import pytest

import autotape as torch

TOL = 1e-12


def close(a, b, tol=TOL):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.allclose(a, b, rtol=tol, atol=tol), np.abs(a - b).max()


def leaves(*vals, dtype=torch.float64):
    return [torch.tensor(v, dtype=dtype, requires_grad=True) for v in vals]


def strategy(step):
    return step.explain().splitlines()[-1].strip().split(":")[0]


X = torch.linspace(-2.0, 2.0, 301, dtype=torch.float64)
Y = torch.sin(X)


def rich(p, x=X, y=Y):
    """Scalar ops before the loop, two reductions (sum and mean), scalar ops after them,
    transcendental ops, size-1 values on either side of an op, a leaf used twice."""
    a, b, c = p
    s = a * b + a.mean()  # before the loop (a reduction of one value is a scalar op)
    r = torch.exp(x * c) * s - torch.tanh(y / b)
    q = (torch.sigmoid(x) - r).pow(2)
    return q.sum(dim=0) * (a * a) + torch.sqrt(r * r + 1.0).mean() / c - b


def test_rich_tape_fuses_and_matches_eager():
    pc, pe = leaves(0.3, -0.7, 0.4), leaves(0.3, -0.7, 0.4)
    step = torch.compile(lambda: rich(pc))
    for k in range(4):
        lc, le = step(), rich(pe)
        lc.backward()
        le.backward()
        close(lc.item(), le.item())
        for p, q in zip(pc, pe):
            close(p.grad._data, q.grad._data)
        with torch.no_grad():  # in-place updates are seen; every other step .grad accumulates
            for p, q in zip(pc, pe):
                p -= 1e-3 * p.grad
                q -= 1e-3 * q.grad
                if k % 2:
                    p.grad = q.grad = None
    assert strategy(step) == "fused" and step.records == 1
    out = io.StringIO()
    step.show_source(file=out)
    assert "def fused(A, n, out):" in out.getvalue() and "math.exp" in out.getvalue()


def test_traced_arguments_float32_and_new_values():
    for dtype, tol in ((torch.float64, TOL), (torch.float32, 1e-5)):
        pc, pe = leaves(0.1, 0.2, -0.3, dtype=dtype), leaves(0.1, 0.2, -0.3, dtype=dtype)
        f = lambda p, x, y: (p[0] + p[1] * x + p[2] * x ** 2 - y).pow(2).mean()  # noqa: E731
        step = torch.compile(lambda x, y: f(pc, x, y))
        for k in range(3):
            x = torch.linspace(-1.0, 1.0 + k, 64, dtype=dtype)
            lc, le = step(x, x.cos()), f(pe, x, x.cos())
            lc.backward()
            le.backward()
            assert lc.dtype == dtype and lc.shape == ()
            close(lc.item(), le.item(), tol)
            for p, q in zip(pc, pe):
                close(p.grad._data, q.grad._data, tol)
        assert strategy(step) == "fused" and step.records == 1


def test_seed_retain_graph_second_backward_and_stale_outputs():
    (w,) = leaves(1.5)
    step = torch.compile(lambda: (w * X).pow(2).sum())
    expected = 2 * 1.5 * float((X._data ** 2).sum())
    step()
    out = step()
    out.backward(torch.tensor(2.0, dtype=torch.float64), retain_graph=True)
    out.backward()
    close(w.grad.item(), 3 * expected)
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()
    old = out
    step()
    with pytest.raises(RuntimeError, match="earlier call"):
        old.backward()
    assert strategy(step) == "fused"


def test_general_engine_paths_see_this_calls_values():
    """The engine replays the tape itself for these; the fused pass keeps its buffers current."""
    (w,) = leaves(0.5)
    fn = lambda: torch.exp(w * X).sum()  # noqa: E731 (exp's VJP reads its output)
    step = torch.compile(fn)
    step()
    grad_at = lambda v: float((X._data * np.exp(v * X._data)).sum())  # noqa: E731
    for v in (0.7, -0.2):
        with torch.no_grad():
            w.fill_(v)
        (g,) = torch.autograd.grad(step(), [w])
        close(g.item(), grad_at(v))
        w.grad = None
        (3.0 * step()).backward()  # backward through an expression of the output
        close(w.grad.item(), 3 * grad_at(v))
        w.grad = None
        h = w.register_hook(lambda g: g * 2)
        step().backward()
        close(w.grad.item(), 2 * grad_at(v))
        h.remove()
        w.grad = None
        with torch.profiler.profile():
            step().backward()
        close(w.grad.item(), grad_at(v))
        w.grad = None
    assert strategy(step) == "fused" and step.records == 1


def test_unreached_leaf_keeps_no_grad_and_nan_propagates():
    a, b = leaves(2.0, 3.0)
    step = torch.compile(lambda: ((a * X).sum(), (b * X).sum())[0])
    for _ in range(2):
        step().backward()
    assert b.grad is None
    close(a.grad.item(), 2 * float(X._data.sum()))
    for fn in (lambda c: torch.clamp(c * X, -1.0, 1.0).sum(), lambda c: (c * X).pow(2).sum()):
        (c,), (e,) = leaves(math.nan), leaves(math.nan)
        step = torch.compile(lambda: fn(c))
        step()
        out, ref = step(), fn(e)
        out.backward()
        ref.backward()
        assert math.isnan(out.item()) and math.isnan(ref.item())
        np.testing.assert_array_equal(c.grad._data, e.grad._data)  # NaN where eager has NaN
        assert strategy(step) == "fused"


@pytest.mark.parametrize("case, reason", [
    (lambda w, v: (v * X).sum(), "leaf of 301 elements"),  # vector leaf: gradient is a second pass
    (lambda w, v: (X - (w * X).mean()).pow(2).sum(), "two passes"),
    (lambda w, v: (w * X).reshape(7, 43).sum(dim=0).sum(), "over some dims"),
    (lambda w, v: (w * X).max(), "neither elementwise"),
    (lambda w, v: (w * X, (w * X).sum()), "one scalar output"),
])
def test_other_tapes_keep_the_interpreter(case, reason):
    (w,) = leaves(0.5)
    v = torch.ones(301, dtype=torch.float64, requires_grad=True)
    step = torch.compile(lambda: case(w, v))
    for _ in range(2):
        res = step()
    ref = case(w, v)
    outs = res if isinstance(res, tuple) else (res,)
    refs = ref if isinstance(ref, tuple) else (ref,)
    for o, r in zip(outs, refs):
        close(o._data, r._data)
    assert "interpreter over" in step.explain() and reason in step.explain()


def test_mixed_dtypes_cast_inside_the_loop():
    x32 = X.float()
    pc, pe = leaves(0.25, 1.5), leaves(0.25, 1.5)
    fn = lambda p: ((p[0] * x32).double() * p[1] - Y).pow(2).sum()  # noqa: E731
    step = torch.compile(lambda: fn(pc))
    for _ in range(2):
        lc, le = step(), fn(pe)
    lc.backward()
    le.backward()
    close(lc.item(), le.item())
    for p, q in zip(pc, pe):
        close(p.grad._data, q.grad._data)
    assert strategy(step) == "fused"


def test_guards_record_again_and_sizes_share_the_generated_function():
    (w,) = leaves(0.5)
    step = torch.compile(lambda x: (w * x).pow(2).sum())
    for n in (10, 20, 10):
        x = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
        close(step(x).item(), 0.25 * float((x._data ** 2).sum()))
    assert step.records == 2  # one per shape
    kernels = {e.kernel for e in step.cache.values()}
    assert len(kernels) == 1  # the size is an argument of the generated code, not part of it
    w.data = torch.tensor(3.0, dtype=torch.float64)  # a new buffer: the tape read the old one
    out = step(x)
    out.backward()
    close(out.item(), 9.0 * float((x._data ** 2).sum()))
    close(w.grad.item(), 6.0 * float((x._data ** 2).sum()))
    assert step.records == 3


def test_engine_after_an_update_sees_the_calls_values():
    """The usual call stores nothing for the engine: asked later, it recomputes those values from
    the scalars the call read, so a parameter changed in between gives the call's gradient, as in
    eager mode (exp saved its output, add nothing); a captured array changed in between raises instead."""
    (wc,), (we,) = leaves(0.5), leaves(0.5)
    fn = lambda w, y: (torch.exp(X + w) - y).pow(2).sum()  # noqa: E731
    yc, ye = Y.clone(), Y.clone()
    step = torch.compile(lambda: fn(wc, yc))
    step()
    for hook in (False, True):
        lc, le = step(), fn(we, ye)
        with torch.no_grad():
            wc.add_(0.25)
            we.add_(0.25)
        if hook:
            wc.register_hook(lambda g: g * 3)
            we.register_hook(lambda g: g * 3)
        (2.0 * lc).backward()
        (2.0 * le).backward()
        close(wc.grad.item(), we.grad.item())
    out = step()
    yc.add_(1.0)  # eager would not mind (sub saves nothing); the recomputation would read the new values
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        torch.autograd.grad(out, [wc])
    assert strategy(step) == "fused" and step.records == 1


def test_float32_sums_in_blocks_are_as_accurate_as_pytorchs():
    """float32 data is computed and summed in float32 (blocks of 512, added in float64): the loss
    and gradients are as close to float64 arithmetic as PyTorch's float32 ones."""
    torch_ref = pytest.importorskip("torch")
    n = 100_003  # many blocks and a partial one
    x64 = np.linspace(-math.pi, math.pi, n, dtype=np.float32).astype(np.float64)
    init = (0.3, -0.6, 0.2, 0.1)
    fn = lambda m, p, x, y: (p[0] + p[1] * x + p[2] * x ** 2 + p[3] * x ** 3 - y).pow(2).sum()  # noqa: E731
    results = {}
    for name, m, dtype in (("exact", torch, torch.float64), ("fused", torch, torch.float32),
                           ("pytorch", torch_ref, torch_ref.float32)):
        x = m.tensor(x64, dtype=dtype)
        y = m.tensor(np.sin(x64).astype(np.float32).astype(np.float64), dtype=dtype)
        p = [m.tensor(v, dtype=dtype, requires_grad=True) for v in init]
        run = torch.compile(lambda: fn(m, p, x, y)) if name == "fused" else (lambda: fn(m, p, x, y))
        run()
        loss = run()
        loss.backward()
        results[name] = np.array([loss.item()] + [q.grad.item() for q in p])
        if name == "fused":
            assert strategy(run) == "fused"
    err = {k: np.abs(results[k] / results["exact"] - 1) for k in ("fused", "pytorch")}
    assert err["fused"].max() < 2e-6
    assert (err["fused"] <= np.maximum(2 * err["pytorch"], 2e-7)).all(), err


def test_constants_of_captured_tensors_are_recomputed_in_the_loop_as_eager_computes_them():
    """x ** 2, x ** 3 of a captured x (NumPy computed them while recording) are recomputed from x
    in the loop, so it reads x and y only; float32's x ** 3 is x * x * x in float32, as NumPy and
    PyTorch compute it, bit for bit."""
    fn = lambda p, x, y: (p[0] + p[1] * x + p[2] * x ** 2 + p[3] * x ** 3 - y).pow(2).sum()  # noqa: E731
    pc, pe = leaves(0.3, -0.6, 0.2, 0.1), leaves(0.3, -0.6, 0.2, 0.1)
    step = torch.compile(lambda: fn(pc, X, Y))
    for _ in range(2):
        lc, le = step(), fn(pe, X, Y)
        lc.backward()
        le.backward()
        close(lc.item(), le.item())
        for p, q in zip(pc, pe):
            close(p.grad._data, q.grad._data)
    assert strategy(step) == "fused" and "recomputes 2 constant(s)" in step.explain()
    out = io.StringIO()
    step.show_source(file=out)
    assert "# recomputed" in out.getvalue()
    # one element whose value rounds differently once (in float64) than twice or with a float32
    # constant (as NumPy computes it): the sums are exact, so the loss and gradient are its bits
    cube, tenth = np.zeros(16, np.float32), np.zeros(16, np.float32)
    cube[3], tenth[5] = 0.5125125050544739, 0.5500500798225403
    assert np.float32(np.float64(cube[3]) ** 3) != cube[3] * cube[3] * cube[3]
    assert np.float32(np.float64(tenth[5]) * 0.1) != tenth[5] * np.float32(0.1)
    cases = [(lambda w, x: (w * x ** 3).sum(), cube, traced) for traced in (False, True)]
    cases.append((lambda w, x: (w * (x * 0.1)).sum(), tenth, False))
    for f, v, traced in cases:  # a constant recomputed, or a traced argument's op
        x32 = torch.from_numpy(v)
        (wc,), (we,) = leaves(1.0, dtype=torch.float32), leaves(1.0, dtype=torch.float32)
        step = torch.compile(f) if traced else torch.compile(lambda w: f(w, x32))
        for _ in range(2):
            lc = step(wc, x32) if traced else step(wc)
        le = f(we, x32)
        lc.backward()
        le.backward()
        assert lc.item() == le.item()
        assert wc.grad.item() == we.grad.item()
        assert strategy(step) == "fused"
        assert ("recomputes" in step.explain()) != traced


def test_recomputed_constants_follow_their_sources():
    """A captured tensor changed in place records again (the constants computed from it are
    stale); a constant changed in place after it was computed is read, not recomputed; casts,
    divisions and captured scalars are recomputed as eager computes them."""
    x = X.clone()
    (wc,), (we,) = leaves(0.5), leaves(0.5)
    step = torch.compile(lambda: (wc * x ** 2).sum())
    for k in range(3):
        lc, le = step(), (we * x ** 2).sum()
        close(lc.item(), le.item())
        if k == 0:
            with torch.no_grad():
                x.add_(0.5)  # changed once: one more recording
    assert step.records == 2 and "recomputes 1" in step.explain()

    def bumped(w):
        x2 = x * 2.0
        x2.add_(1.0)  # the function's own tensor, changed after it was computed
        return (w * x2).sum()

    step = torch.compile(lambda: bumped(wc))
    for _ in range(2):
        close(step().item(), bumped(we).item())
    assert strategy(step) == "fused" and "recomputes" not in step.explain()
    x32, c = X.float(), torch.tensor(3.0)
    fn = lambda w: ((-(x32.double() / c) + 0.25) * w).pow(2).mean()  # noqa: E731
    step = torch.compile(lambda: fn(wc))
    for _ in range(2):
        lc, le = step(), fn(we)
        lc.backward()
        le.backward()
        close(lc.item(), le.item())
        close(wc.grad.item(), we.grad.item())
    assert "recomputes 1" in step.explain()
    with torch.no_grad():
        c.fill_(4.0)  # the scalar the recomputation reads: a source too
    close(step().item(), fn(we).item())
    assert step.records == 2


def test_gradients_are_fresh_tensors_or_accumulate_in_place():
    """After zero_grad each step's .grad is a new tensor (a reference kept from the step before
    keeps its value); a .grad left in place accumulates into the same tensor."""
    a, b = leaves(0.5, -1.5)
    step = torch.compile(lambda: (a * X + b * X * X).pow(2).sum())
    eager = lambda: (a * X + b * X * X).pow(2).sum()  # noqa: E731
    step().backward()
    kept = [a.grad, b.grad]
    first = [float(g) for g in kept]
    a.grad = b.grad = None
    step().backward()
    assert a.grad is not kept[0] and b.grad is not kept[1]
    assert [float(g) for g in kept] == first
    same = [a.grad, b.grad]
    step().backward()  # accumulates
    assert a.grad is same[0] and b.grad is same[1]
    a.grad = b.grad = None
    eager().backward()
    for p, g, v in zip((a, b), same, first):
        close(p.grad._data, v)
        close(g._data, 2 * v)


def test_a_dropped_gradient_comes_back_as_a_new_one():
    """Delivery may refill the tensor of a gradient dropped by zero_grad (when nothing else can
    see it): it must look new, and whatever still sees an old gradient keeps its value."""
    import weakref

    a, b, c = leaves(0.5, -1.5, 0.25)
    loss = lambda: (a * X + b * X * X + c).pow(2).sum()  # noqa: E731
    step = torch.compile(loss)
    for _ in range(2):  # (the second call's delivery keeps the gradients it makes)
        a.grad = b.grad = c.grad = None
        step().backward()
    kept = a.grad
    a.grad.requires_grad_()
    a.grad.register_hook(lambda g: g)
    held_array, held_weak = b.grad.numpy(), weakref.ref(c.grad)
    first = [float(b.grad), float(c.grad)]  # (a weak reference keeps nothing: c's old gradient dies)
    a.grad = b.grad = c.grad = None
    del kept
    with torch.no_grad():
        a -= 0.25  # new values, so the gradients change
        b += 0.5
    step().backward()
    assert not a.grad.requires_grad and a.grad.grad_fn is None and a.grad.is_leaf and not a.grad._hooks
    assert float(held_array) == first[0] and held_weak() is None  # not refilled
    got = [float(a.grad), float(b.grad), float(c.grad)]
    a.grad = b.grad = c.grad = None
    loss().backward()
    close(got, [float(a.grad), float(b.grad), float(c.grad)])
    assert float(b.grad) != first[0] and float(c.grad) != first[1]


def test_a_gradient_given_new_data_is_not_refilled():
    """A dropped gradient whose ``.data`` was replaced (another shape, another dtype) is not the
    array delivery made: it gets a new one, of the leaf's shape and dtype."""
    a, b = leaves(0.5, -1.5)
    step = torch.compile(lambda: (a * X + b).pow(2).sum())
    for _ in range(3):
        a.grad = b.grad = None
        step().backward()
    want = [float(a.grad), float(b.grad)]
    a.grad.data = torch.zeros(3, dtype=torch.float32)  # nothing else holds the new array
    a.grad = b.grad = None
    step().backward()
    assert a.grad.shape == () and a.grad.dtype == torch.float64 and b.grad.shape == ()
    close([float(a.grad), float(b.grad)], want)


def test_the_usual_call_keeps_every_guard():
    """After a few calls the usual one (no arguments, nothing changed) is one generated function
    (``FusedPlan.quick``, its backward the same); each change below, made after such calls, must
    leave it for the general path, with eager's results."""
    x = torch.linspace(-1.0, 1.0, 101, dtype=torch.float64)
    a, b = leaves(0.5, -1.5)
    step = torch.compile(lambda: (a * x + b * x * x - torch.sin(x)).pow(2).sum())

    def check(n=3):
        """n steady calls, each one's loss and gradients as eager's."""
        for _ in range(n):
            for p in (a, b):
                p.grad = None
            out = step()
            out.backward()
            got = [float(out)] + [None if p.grad is None else float(p.grad) for p in (a, b)]
            for p in (a, b):
                p.grad = None
            want = (a * x + b * x * x - torch.sin(x)).pow(2).sum()
            want.backward()
            expected = [float(want)] + [None if p.grad is None else float(p.grad) for p in (a, b)]
            assert [v is None for v in got] == [v is None for v in expected]  # (approx takes no None)
            assert [v for v in got if v is not None] == pytest.approx([v for v in expected if v is not None],
                                                                      rel=1e-12)

    check()
    assert step.quick is not None and step.records == 1
    b = leaves(0.25)[0]  # the closure cell rebound
    check()
    assert step.records == 2
    with torch.no_grad():
        a.data = torch.tensor(2.0, dtype=torch.float64)  # new data
    check()
    assert step.records == 3
    a.requires_grad_(False)
    check()
    a.requires_grad_(True)
    check()
    with torch.no_grad():
        x.mul_(0.5)  # a captured constant changed in place: its powers with it
    check()
    records = step.records
    torch.set_default_dtype(torch.float64)  # another cache key
    try:
        check()
    finally:
        torch.set_default_dtype(torch.float32)
    check()
    assert step.records == records + 1
    with torch.profiler.profile():  # the interpreter times each record
        check()
    out = step()
    seen = []
    out.register_hook(lambda g: seen.append(float(g)) or g)
    out.backward()
    assert seen == [1.0]
    check()
    out = step()
    with torch.no_grad():
        x.add_(1.0)  # read by the backward: changed between the call and it
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()
    check()
    out = step()
    a.grad = b.grad = None
    out.backward(torch.tensor(2.0, dtype=torch.float64))  # a seed
    g2 = [float(a.grad), float(b.grad)]
    check()
    close(g2, [2 * float(a.grad), 2 * float(b.grad)])
    del b  # the cell emptied: the function itself fails, as eagerly
    with pytest.raises(NameError):
        step()


def test_a_global_deleted_after_the_usual_calls():
    global _DELETED_LATER
    _DELETED_LATER = leaves(1.5)[0]
    step = torch.compile(lambda: (_DELETED_LATER * X).sum())
    for _ in range(3):
        assert float(step()) == pytest.approx(1.5 * float(X.sum()))
    del _DELETED_LATER
    with pytest.raises(NameError):
        step()


def test_an_output_dropped_two_calls_ago_comes_back_as_a_new_one():
    """The usual call may give the output of two calls ago this call's value when nothing else
    can see it: whatever still sees an old output (a reference, its array, a view, a weak
    reference) keeps its value, and a reused one looks new."""
    import weakref

    a, b = leaves(0.5, -1.5)
    loss = lambda: (a * X + b).pow(2).sum()  # noqa: E731
    step = torch.compile(loss)

    def call(retain=False):
        """One training step, checked against eager: the output and its value."""
        out = step()
        assert out.requires_grad and not out.is_leaf and out._grad is None and out.grad_fn is not None
        if retain:
            out.retain_grad()
        a.grad = b.grad = None
        out.backward()
        got = [float(out), float(a.grad), float(b.grad)]
        a.grad = b.grad = None
        eager = loss()
        eager.backward()
        close(got, [float(eager), float(a.grad), float(b.grad)])
        with torch.no_grad():
            a.sub_(0.01 * a.grad)
            b.sub_(0.01 * b.grad)
        return out, got[0]

    for _ in range(4):
        call()
    kept = [call() for _ in range(2)]
    out, v_array = call()
    array = out.numpy(force=True)
    out, v_view = call()
    view = out.detach()
    out, v_weak = call()
    weak = weakref.ref(out)
    out, _ = call(retain=True)
    assert float(out.grad) == 1.0
    retained = out
    del out
    for _ in range(4):
        call()
    assert float(retained.grad) == 1.0  # no later call's gradient (it got each one's before)
    for _ in range(2):  # dropped with a gradient: reused without it (call() checks)
        call(retain=True)
        for _ in range(3):
            call()
    out = step()
    out.retain_grad()
    out.backward()
    assert float(out.grad) == 1.0
    assert [float(t) for t, _ in kept] == [v for _, v in kept] and kept[0][1] != kept[1][1]
    assert float(array) == v_array and float(view) == v_view
    assert weak() is None or float(weak()) == v_weak
