"""The autograd tutorial's behaviour, as PyTorch has it."""
import threading

import numpy as np
import pytest

import autotape as torch


def test_tutorial_repr_and_grad():
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    assert repr(y) == "tensor([[3., 3.],\n        [3., 3.]], grad_fn=<AddBackward0>)"
    assert type(y.grad_fn).__name__ == "AddBackward0" and x.grad_fn is None
    z = y * y * 3
    out = z.mean()
    assert z.grad_fn.name() == "MulBackward0" and out.grad_fn.name() == "MeanBackward0"
    assert repr(out) == "tensor(27., grad_fn=<MeanBackward0>)"
    out.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 4.5, np.float32))
    assert repr(x.grad) == "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"


def test_repr_like_torch():
    assert repr(torch.tensor([1.5, 2.0], requires_grad=True)) == "tensor([1.5000, 2.0000], requires_grad=True)"
    assert repr(torch.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(torch.tensor(2.0, dtype=torch.float64)) == "tensor(2., dtype=autotape.float64)"
    assert repr(torch.tensor([True, False])) == "tensor([ True, False])"
    assert repr(torch.tensor([[1.5e-5, 3.0]])) == "tensor([[1.5000e-05, 3.0000e+00]])"
    assert repr(torch.tensor([1e9, 1.0])) == "tensor([1.0000e+09, 1.0000e+00])"


def test_non_scalar_backward_needs_gradient():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        z.backward()
    v = torch.tensor([0.1, 1.0, 0.0001])
    z.backward(gradient=v)
    np.testing.assert_allclose(x.grad.numpy(), [0.2, 2.0, 0.0002], rtol=1e-6)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(torch.ones(2))


def test_grad_accumulates_and_clears():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):
        (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [6.0, 12.0])
    w.grad = None
    (w * 3).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 3.0])


def test_requires_grad_propagation_and_leaves():
    a = torch.randn(2, 2)
    b = (a * 3) / (a - 1)
    assert not b.requires_grad and b.grad_fn is None and b.is_leaf
    a.requires_grad_(True)
    b = (a * a).sum()
    assert b.requires_grad and not b.is_leaf and b.grad_fn.name() == "SumBackward0"
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        torch.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf variables"):
        b.requires_grad = False


def test_detach_data_and_no_grad():
    x = torch.ones(3, requires_grad=True)
    y = x.detach()
    assert not y.requires_grad and y.is_leaf
    y[0] = 5.0  # shares memory, as in PyTorch
    assert x[0].item() == 5.0
    with torch.no_grad():
        z = x * 2
    assert not z.requires_grad and z.grad_fn is None
    assert not x.data.requires_grad

    @torch.no_grad()
    def doubled(t):
        return t * 2

    assert not doubled(x).requires_grad and torch.is_grad_enabled()
    with torch.no_grad():
        with torch.enable_grad():
            assert (x * 2).requires_grad
        assert not torch.is_grad_enabled()
    with torch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert torch.is_grad_enabled()


def test_inplace_update_under_no_grad_and_leaf_error():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    (a * a).sum().backward()
    with torch.no_grad():
        a -= 0.5 * a.grad
    np.testing.assert_allclose(a.numpy(force=True), [0.0, 0.0])
    assert a.is_leaf and a.requires_grad
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        a += 1
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        a.zero_()


def test_second_backward_and_retain_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    out = (x * x * 3).mean()
    out.backward(retain_graph=True)
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        out.backward()


def test_product_saves_an_input_only_for_the_others_gradient():
    """As PyTorch: w * x with x a constant keeps x (for w's gradient), not w, so changing w in
    place before backward is allowed; changing x is not. One element and many, both orders."""
    for n in (1, 3):
        for w_first in (True, False):
            w = torch.tensor([0.5] * n, dtype=torch.float64, requires_grad=True)
            x = torch.tensor([2.0, 3.0, 4.0][:n], dtype=torch.float64)
            loss = ((w * x) if w_first else (x * w)).sum()
            with torch.no_grad():
                w.add_(1.0)  # w's value is not saved: backward is unaffected
            loss.backward()
            np.testing.assert_array_equal(w.grad.numpy(), [2.0, 3.0, 4.0][:n])
            loss = (w * x if w_first else x * w).sum()
            with torch.no_grad():
                x.add_(1.0)  # x's value is saved for w's gradient
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                loss.backward()
    # both require grad: both saved
    a, b = torch.tensor(2.0, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    (a * b).backward()
    assert (a.grad.item(), b.grad.item()) == (3.0, 2.0)


def test_modified_saved_tensor_raises():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    with torch.no_grad():
        y.mul_(10)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()
    # an in-place op that is itself recorded gives the right gradient
    x2 = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x2 * 1.0
    h.mul_(3)
    (h * h).sum().backward()
    np.testing.assert_allclose(x2.grad.numpy(), [18.0, 36.0])


def test_autograd_grad():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = torch.tensor([3.0], requires_grad=True)
    out = (x * x).sum() * y
    gx, gy = torch.autograd.grad(out, (x, y))
    np.testing.assert_allclose(gx.numpy(), [6.0, 12.0])
    np.testing.assert_allclose(gy.numpy(), [5.0])
    assert x.grad is None
    unused = torch.ones(1, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        torch.autograd.grad((x * 2).sum(), [x, unused])
    (g, none) = torch.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert none is None
    with pytest.raises(NotImplementedError, match="create_graph"):
        torch.autograd.grad((x * x).sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="create_graph"):
        (x * x).sum().backward(create_graph=True)


def test_grad_of_intermediate_and_retain_grad_and_hooks():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 2)
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [12.0, 24.0])  # .grad is kept after the hooks ran
    np.testing.assert_allclose(seen[0], [6.0, 12.0])
    np.testing.assert_allclose(x.grad.numpy(), [36.0, 72.0])  # the hook doubled the gradient flowing on
    handle = x.register_hook(lambda g: g * 0)
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [36.0, 72.0])
    handle.remove()


def test_custom_function_in_compiled_tape():
    class P3(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True,)
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    x = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    y = (P3.apply(x.sin() * 2) * 3).exp().sum()
    assert P3.apply(x).grad_fn.name() == "P3Backward"
    y.backward()
    u = np.sin([0.5, -1.0]) * 2
    p3 = 0.5 * (5 * u ** 3 - 3 * u)
    expected = np.exp(3 * p3) * 3 * 1.5 * (5 * u ** 2 - 1) * 2 * np.cos([0.5, -1.0])
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_custom_function_bad_backward():
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    class BadShape(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return torch.ones(5)

    x = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Wrong.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
        BadShape.apply(x).sum().backward()


def test_gradcheck_reports_worst_mismatch():
    class Off(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a  # should be 2a

    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        torch.autograd.gradcheck(Off.apply, (x,))
    assert torch.autograd.gradcheck(Off.apply, (x,), raise_exception=False) is False
    assert torch.autograd.gradcheck(lambda a: (a * a).sum(), (x,))


def test_graph_spanning_an_earlier_backward():
    """A tensor made before one backward, used after it: the gradient flows through both tapes."""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x + 2  # saves nothing, so a second backward through it is allowed, as in PyTorch
    (h * 1).sum().backward()
    (h * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])
    g = x * x  # saves x: the second pass must fail
    (g * 1).sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (g * 3).sum().backward()


@pytest.mark.parametrize("make, allowed", [
    (lambda z: z + 2, True), (lambda z: z - 2, True), (lambda z: -z, True), (lambda z: z.view(2, 1), True),
    (lambda z: z.mean(), True), (lambda z: z + z, True), (lambda z: z[0], True), (lambda z: z.clone(), True),
    (lambda z: z * 2, False), (lambda z: z / 2, False), (lambda z: z * z, False), (lambda z: z.exp(), False),
])
def test_second_backward_refused_where_pytorch_refuses(make, allowed):
    """PyTorch frees what a node saved, a number included (``z * 2``): a second backward through
    it raises, while nodes that saved nothing (``z + 2``, views, sums) can be replayed."""
    z = torch.ones(2, requires_grad=True)
    q = make(z).sum()
    q.backward()
    if allowed:
        q.backward()
        once = torch.ones(2, requires_grad=True)
        make(once).sum().backward()
        np.testing.assert_allclose(z.grad.numpy(), 2 * once.grad.numpy())  # accumulated twice
    else:
        with pytest.raises(RuntimeError, match="retain_graph=True"):
            q.backward()


def test_python_sum_and_iteration():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    s = sum(t * t for t in x)
    s.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_threads_have_their_own_tape_and_grad_mode():
    results, errors = {}, []

    def work(k):
        try:
            x = torch.tensor([float(k)] * 3, dtype=torch.float64, requires_grad=True)
            for _ in range(200):
                x.grad = None
                with torch.no_grad() if k == 99 else torch.enable_grad():
                    pass
                ((x * x).sum() * k).backward()
            results[k] = x.grad.numpy().copy()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(1, 5):
        np.testing.assert_allclose(results[k], [2.0 * k * k] * 3)


def test_tape_is_released_after_backward():
    x = torch.ones(1000, requires_grad=True)
    loss = (x * x).sum()
    tape = loss._tape
    assert tape.vals
    loss.backward()
    assert tape.vals == [] and tape.versions == []
    assert (x * 2)._tape is not tape  # new records go to a fresh tape


def test_repr_matches_torch(request):
    pytorch = request.getfixturevalue("torch")  # this module calls autotape "torch"
    for value in ([1.5, -2.25, 3.0], [[1.0, -2.0], [3.0, 4.0]], [1e9, -1.0], 2.5, [True, False], [1, -20]):
        assert repr(torch.tensor(value)) == repr(pytorch.tensor(value))
    x, y = torch.tensor([1.0, 2.0], requires_grad=True), pytorch.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x * 2) == repr(y * 2)


def test_recorded_inplace_through_views_is_refused_not_wrong():
    """Autotape cannot yet rebase a view's history (PyTorch's CopySlices): refuse, never give
    the silently wrong gradients it used to."""
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    with pytest.raises(RuntimeError, match="view"):
        h[1:].mul_(10)
    h2 = x * 2
    v = h2[1:]
    with pytest.raises(RuntimeError, match="out of place"):
        h2.mul_(10)
    (v * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 2.0, 2.0])
    with torch.no_grad():  # not recorded: allowed, and the version counter guards saved values
        h2[1:].mul_(10)


def test_hooks_see_the_gradient_in_the_tensors_dtype_and_may_change_it_in_place():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.dtype) or g.mul_(2))
    (y * 3).sum().backward()
    assert seen == [torch.float32]
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 12.0])
    z = x * 2
    z.register_hook(lambda g: g.double())
    with pytest.raises(RuntimeError, match="changed the type"):
        z.sum().backward()


def test_autograd_grad_runs_the_inputs_hooks():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    np.testing.assert_allclose(torch.autograd.grad((x * 2).sum(), x)[0].numpy(), [20.0, 20.0])


def test_a_leaf_that_no_longer_requires_grad_gets_no_gradient():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).sum()
    x.requires_grad_(False)
    y.backward()
    assert x.grad is None


def test_a_functions_saved_output_changed_in_place_is_caught():
    class Exp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            y = a.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y

    a = torch.tensor([0.0], requires_grad=True)
    y = Exp.apply(a)
    with torch.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_grad_accumulates_in_place_and_a_bad_grad_is_named():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    g = x.grad
    (x * 3).sum().backward()
    assert g is x.grad  # as PyTorch: a reference to .grad sees the accumulation
    np.testing.assert_allclose(g.numpy(), [5.0, 5.0])
    # a bad .grad is refused when assigned, as PyTorch refuses it
    with pytest.raises(TypeError, match="expected to be a Tensor or None"):
        x.grad = [1.0, 2.0]
    with pytest.raises(RuntimeError, match="different size"):
        x.grad = torch.zeros(3)
    with pytest.raises(RuntimeError, match="different type"):
        x.grad = torch.zeros(2, dtype=torch.float64)
    x.data = torch.zeros(3)  # (the gradient held no longer fits: named at the next backward)
    with pytest.raises(RuntimeError, match=r"has shape \[2\].*set .grad = None"):
        (x * 2).sum().backward()


def test_no_grad_and_inference_mode_decorate_with_or_without_parentheses():
    x = torch.ones(2, requires_grad=True)

    @torch.no_grad
    def f():
        return x * 2

    @torch.inference_mode()
    def g():
        return x * 2

    assert not f().requires_grad and not g().requires_grad and torch.is_grad_enabled()
    with torch.inference_mode():
        assert not (x * 2).requires_grad
    with torch.inference_mode(False):
        assert (x * 2).requires_grad


def test_first_backward_of_a_thread_grows_the_arena():
    """A thread's first ``loss.backward()`` finds the gradient arena too small for this tape
    (1024 elements): the compiled seed-and-replay call declines, the arena grows, and the
    gradient is still exact (every element checked, values and dtype)."""
    out = {}

    def work():
        x = torch.linspace(-2.0, 2.0, 5000, requires_grad=True)
        w = torch.tensor(0.5, requires_grad=True)
        (w * x * x + x).sum().backward()
        out["x"], out["w"], out["xv"] = x.grad.numpy(), w.grad.numpy(), x.detach().numpy()

    t = threading.Thread(target=work)
    t.start()
    t.join()
    xv = out["xv"].astype(np.float64)
    np.testing.assert_allclose(out["x"], 2 * 0.5 * xv + 1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out["w"], (xv * xv).sum(), rtol=1e-5)
    assert out["x"].dtype == np.float32 and out["w"].shape == ()


def test_in_place_on_a_tensor_of_an_earlier_backwards_tape():
    # the in-place record links to the tensor as it was (its old tape), not to itself: this hung
    a = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    first = (a * 5).sum()
    h = a * 1
    first.backward()
    h.mul_(3)
    h.sum().backward(retain_graph=True)
    h.sum().backward()
    assert a.grad.tolist() == [11.0, 11.0, 11.0]


def test_reading_a_non_leaf_grad_warns_as_pytorch():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert y.grad is None
    y.retain_grad()
    (y * y).sum().backward()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaf, and a non-leaf that retains its grad: no warning
        assert y.grad.tolist() == [4.0, 4.0] and x.grad.tolist() == [8.0, 8.0]


def test_legacy_variable():
    """autograd.Variable (PyTorch before 0.4) returns a leaf tensor over the same data."""
    from autotape.autograd import Variable

    x = torch.tensor([1.0, 2.0])
    v = Variable(x, requires_grad=True)
    assert type(v) is torch.Tensor and v.is_leaf and v.requires_grad and not x.requires_grad
    x.add_(1)  # the same memory (and version counter, as detach's)
    assert v.tolist() == [2.0, 3.0] and v._vc is x._vc
    (v * v).sum().backward()
    assert v.grad.tolist() == [4.0, 6.0]
    y = v * 3  # a tensor with a history: cut from it
    w = Variable(y)
    assert w.is_leaf and not w.requires_grad and w.grad_fn is None and w.tolist() == [6.0, 9.0]
    assert isinstance(x, Variable) and not isinstance([1.0], Variable)
    assert Variable().shape == (0,)
    for bad, name in (([1, 2], "list"), (3, "int")):
        with pytest.raises(TypeError, match=f"^Variable data has to be a tensor, but got {name}$"):
            Variable(bad)
    with pytest.warns(UserWarning, match="volatile was removed"):
        assert not Variable(x, volatile=True).requires_grad
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="can't be volatile and require_grad"):
        Variable(x, True, True)
    with pytest.raises(RuntimeError, match="floating point"):
        Variable(torch.tensor([1, 2]), requires_grad=True)
    real = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="^Variable data has to be a tensor, but got list$"):
        real.autograd.Variable([1, 2])
    assert real.autograd.Variable(real.ones(2), requires_grad=True).is_leaf
