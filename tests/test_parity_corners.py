"""Parity with PyTorch 2.13 on corners a second QA pass found wrong: softmax of rows holding
infinities (eager, compiled replay, CUDA), the gradients of max/min over NaN, grad_fn names,
Tensor.new_* and repeat, and the keyword spellings PyTorch accepts."""
import math

import numpy as np
import pytest

import autotape as at

inf, nan = math.inf, math.nan
ROWS = {"+inf": [1.0, inf, 2.0], "-inf": [1.0, -inf, 2.0], "all -inf": [-inf, -inf, -inf], "nan": [1.0, nan, 2.0],
        "two +inf": [inf, inf, 1.0], "+inf and -inf": [-inf, inf, 0.5], "one +inf": [inf], "one -inf": [-inf]}
SOFTMAXES = ["softmax", "log_softmax", "logsumexp"]


def _grad_of(T, name, x, dim=0):
    y = getattr(T, name)(x, dim)
    g = T.arange(1.0, y.numel() + 1.0, dtype=x.dtype, device=x.device).reshape(y.shape)
    y.backward(g)
    return y


def _close(a, b, dtype):
    """NaN where torch has NaN, infinities where it has them, values to the dtype's rounding."""
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(np.asarray(a, np.float64), b.detach().double().numpy(), rtol=tol, atol=tol)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # (PyTorch warns of none)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", SOFTMAXES)
@pytest.mark.parametrize("row", list(ROWS))
def test_softmax_of_infinities_eager_as_torch(torch, row, name, dtype):
    x = at.tensor(ROWS[row], dtype=getattr(at, dtype), requires_grad=True)
    xt = torch.tensor(ROWS[row], dtype=getattr(torch, dtype), requires_grad=True)
    y, yt = _grad_of(at, name, x), _grad_of(torch, name, xt)
    _close(y.detach().numpy(), yt, dtype)
    _close(x.grad.numpy(), xt.grad, dtype)


def _both_paths(T, name, dim, a, b):
    """The op on a matrix's rows (the replay's kernel) and on each short row alone (inlined)."""
    short = T.stack([getattr(T, name)(b[i], 0) for i in range(b.shape[0])])
    return T.cat([getattr(T, name)(a, dim).reshape(-1), short.reshape(-1)])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (NumPy's, in eager's reference run)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", SOFTMAXES)
@pytest.mark.parametrize("dim", [0, 1])
def test_softmax_of_infinities_compiled_as_torch(torch, name, dtype, dim):
    m = [r for r in ROWS.values() if len(r) == 3]
    m = m if dim == 1 else [list(c) for c in zip(*m)]
    step = at.compile(lambda a, b: _both_paths(at, name, dim, a, b))
    at_ = torch.tensor(m, dtype=getattr(torch, dtype), requires_grad=True)
    bt = torch.tensor(m, dtype=getattr(torch, dtype), requires_grad=True)
    ref = _both_paths(torch, name, dim, at_, bt)
    g = np.linspace(-1.0, 2.0, ref.shape[0])
    ref.backward(torch.tensor(g, dtype=ref.dtype))
    for _ in range(2):  # (the second call replays the compiled program)
        a = at.tensor(m, dtype=getattr(at, dtype), requires_grad=True)
        b = at.tensor(m, dtype=getattr(at, dtype), requires_grad=True)
        out = step(a, b)
        out.backward(at.tensor(g, dtype=out.dtype))
        _close(out.detach().numpy(), ref, dtype)
        _close(a.grad.numpy(), at_.grad, dtype)
        _close(b.grad.numpy(), bt.grad, dtype)
    assert "interpreter" in step.explain() or "replay" in step.explain()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_of_infinities_cuda_as_torch(torch, name):
    pytest.importorskip("numba.cuda")
    if not at.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")
    m = [r for r in ROWS.values() if len(r) == 3]
    for dim in (0, 1):
        x = at.tensor(m, dtype=at.float64, device="cuda", requires_grad=True)
        xt = torch.tensor(m, dtype=torch.float64, requires_grad=True)
        y, yt = _grad_of(at, name, x, dim), _grad_of(torch, name, xt, dim)
        _close(y.detach().cpu().numpy(), yt, "float64")
        _close(x.grad.cpu().numpy(), xt.grad, "float64")


# -- 2. the gradients of amax/amin and max/min over NaN -----------------------------------------
_NAN_MATRIX = [[1.0, nan, 3.0], [nan, nan, 2.0], [5.0, 5.0, 1.0]]
EXTREMES = {
    "amax()": lambda x: x.amax(), "amin()": lambda x: x.amin(), "amax(0)": lambda x: x.amax(0),
    "amin(1, keepdim)": lambda x: x.amin(1, keepdim=True), "amax((0, 1))": lambda x: x.amax((0, 1)),
    "max()": lambda x: x.max(), "min()": lambda x: x.min(), "max(1)": lambda x: x.max(1)[0],
    "min(0)": lambda x: x.min(0).values, "max(1) of ties": lambda x: x[2:].max(1)[0],
    "max() of ties": lambda x: x[2].max(), "amax() of ties": lambda x: x[2].amax(),
}


@pytest.mark.parametrize("device", ["cpu", "cuda", "compiled"])
@pytest.mark.parametrize("case", list(EXTREMES))
def test_extreme_gradients_over_nan_as_torch(torch, case, device):
    if device == "cuda" and not at.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")
    if device == "compiled" and case.startswith(("max(1)", "min(0)")):
        pytest.skip("max/min with dim have no compiled forward (compile runs them eagerly, warning once)")
    fn = EXTREMES[case]
    xt = torch.tensor(_NAN_MATRIX, dtype=torch.float64, requires_grad=True)
    yt = fn(xt)
    yt.backward(torch.arange(1.0, yt.numel() + 1.0, dtype=torch.float64).reshape(yt.shape))
    run = at.compile(fn) if device == "compiled" else fn
    for _ in range(2 if device == "compiled" else 1):
        x = at.tensor(_NAN_MATRIX, dtype=at.float64, requires_grad=True, device=device.replace("compiled", "cpu"))
        y = run(x)
        y.backward(at.arange(1.0, y.numel() + 1.0, dtype=at.float64, device=x.device).reshape(y.shape))
        _close(y.detach().cpu().numpy(), yt, "float64")
        _close(x.grad.cpu().numpy(), xt.grad, "float64")


# -- 3. grad_fn names ---------------------------------------------------------------------------
GRAD_FNS = [
    "x.norm()", "x.norm(1)", "m.norm(dim=1)", "m.reshape(6)", "m.flatten()", "m.view(6)", "m.t().reshape(6)",
    "m.t().flatten()", "m.t().reshape(3, 2)", "m.reshape(-1)", "m.reshape_as(m.t())", "m[None].flatten(1)",
    "x.unsqueeze(0).squeeze(0)", "x.unsqueeze(0).squeeze()", "x.unsqueeze(0).squeeze((0,))", "x.squeeze(0)",
    "m[:, :1].squeeze(-1)", "m.squeeze(0)", "T.outer(x, x)", "T.ger(x, x)", "2 ** x", "x ** x", "x ** 2",
    "T.tensor(2.) ** x", "T.pow(2, x)", "1 / x", "2 / x", "x / 2", "1 - x", "x / x", "m.t()", "m.T", "m.mT",
    "x[0]", "x[:2]", "x[None]", "m[..., 0]", "m[:, 0]", "m[0, 0]", "m[1:]", "x[::2]", "m[:]", "m[...]",
    "m[0, 1:]", "m[1:, 0]", "m[None, 0]", "m[0, None]", "m[:, ::2]", "m[::2, :]", "m[:, None, 0]", "m[:, :]",
    "x[[0, 1]]", "x[x > 1]", "m.transpose(0, 1)", "m.permute(1, 0)",
]


def _grad_fn_name(T, src):
    x = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = T.ones(2, 3, requires_grad=True) * 1.0
    return type(eval(src, {"T": T, "x": x, "m": m}).grad_fn).__name__


@pytest.mark.parametrize("src", GRAD_FNS)
def test_grad_fn_names_as_torch(torch, src):
    assert _grad_fn_name(at, src) == _grad_fn_name(torch, src)


def test_flatten_of_a_vector_is_itself(torch):
    x = at.tensor([1.0, 2.0], requires_grad=True)
    assert x.flatten() is x and (x * 1.0).flatten(0, 0).grad_fn.name() == "MulBackward0"
    assert torch.ones(2).flatten(0, 0).shape == (2,)


@pytest.mark.parametrize("src", ["T.outer(m, x)", "T.outer(x, m)", "T.outer([1.0], x)"])
def test_outer_refuses_what_torch_refuses(torch, src):
    def run(T):
        x = T.tensor([1.0, 2.0, 3.0])
        m = T.ones(2, 3)
        with pytest.raises((RuntimeError, TypeError)) as e:
            eval(src, {"T": T, "x": x, "m": m})
        return e

    mine, theirs = run(at), run(torch)
    assert mine.type is theirs.type and str(mine.value) == str(theirs.value)


def test_outer_gradients_against_finite_differences():
    a = at.tensor([0.5, -1.5, 2.0], dtype=at.float64, requires_grad=True)
    b = at.tensor([1.25, 3.0], dtype=at.float64, requires_grad=True)
    assert at.autograd.gradcheck(lambda u, v: at.outer(u, v) * at.outer(u, v).sin(), (a, b))


# -- 4. Tensor.new_*, Tensor.repeat, and the keyword spellings PyTorch takes ---------------------
def _same(a, b):
    if isinstance(a, tuple):  # (values, indices), chunks
        for u, v in zip(a, b):
            _same(u, v)
        return
    assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
    assert tuple(a.shape) == tuple(b.shape) and a.requires_grad == b.requires_grad
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-15)  # (softmax: last bits)


NEW_AND_REPEAT = [
    "x.new_ones(2)", "x.new_ones((2, 3))", "x.new_ones(2, 3)", "x.new_zeros(2, dtype=T.int64)", "x.new_full((2,), 7)",
    "x.new_empty(2, 1).shape", "x.new_tensor([1, 2])", "x.new_tensor([1, 2], requires_grad=True)",
    "x.new_ones(2, requires_grad=True)", "T.arange(3).new_tensor([1.5])", "T.arange(3).new_ones(2)", "x.new_ones([])",
    "x.new_zeros(size=(2,))", "x.new_full(size=(2,), fill_value=3)", "x.new_zeros(2, dtype=T.float64)",
    "x.repeat(2, 2)", "x.repeat(1, 2, 2)", "x.repeat((2, 1))", "x.repeat([2, 1])", "T.tensor(3.).repeat(2)",
    "x.repeat(0, 1)", "x.repeat(1, 1)", "T.zeros(size=(2,))", "T.ones(size=(2, 1))",
]


@pytest.mark.parametrize("src", NEW_AND_REPEAT)
def test_new_and_repeat_as_torch(torch, src):
    def run(T):
        return eval(src, {"T": T, "x": T.arange(6.0).reshape(2, 3)})

    mine, theirs = run(at), run(torch)
    if isinstance(theirs, torch.Size):
        assert tuple(mine) == tuple(theirs)
    else:
        _same(mine, theirs)


@pytest.mark.parametrize("src", ["x.new_full(2, 7)", "x.new_ones()", "x.repeat(2)", "x.repeat()", "x.repeat(-1, 1)"])
def test_new_and_repeat_errors_as_torch(torch, src):
    def run(T):
        with pytest.raises((TypeError, RuntimeError)) as e:
            eval(src, {"T": T, "x": T.arange(6.0).reshape(2, 3)})
        return e

    mine, theirs = run(at), run(torch)
    assert mine.type is theirs.type and str(mine.value) == str(theirs.value)


def test_repeat_does_not_alias_its_input():
    x = at.tensor([1.0, 2.0])
    y = x.repeat(1)
    y[0] = 5.0
    assert x.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("device", ["cpu", "cuda", "compiled"])
@pytest.mark.parametrize("repeats, shape", [((2, 3), (2, 3)), ((2, 1, 2), (3,)), ((3, 2), (2, 1))])
def test_repeat_gradient_as_torch_and_finite_differences(torch, device, repeats, shape):
    if device == "cuda" and not at.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")
    a = np.random.default_rng(3).standard_normal(shape)
    w = np.random.default_rng(4).standard_normal(tuple(torch.zeros(shape).repeat(*repeats).shape))

    def f(T, x):
        return (x.repeat(*repeats).sin() * T.tensor(w, device=x.device)).sum()

    xt = torch.tensor(a, requires_grad=True)
    f(torch, xt).backward()
    run = at.compile(lambda x: f(at, x)) if device == "compiled" else lambda x: f(at, x)
    for _ in range(2 if device == "compiled" else 1):
        x = at.tensor(a, requires_grad=True, device=device.replace("compiled", "cpu"))
        y = run(x)
        y.backward()
        np.testing.assert_allclose(y.item(), f(torch, xt).item(), rtol=1e-12)
        np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    if device == "cpu":
        assert at.autograd.gradcheck(lambda x: f(at, x), (at.tensor(a, requires_grad=True),))
        assert (at.ones(2, requires_grad=True) * 1.0).repeat(2).grad_fn.name() == "RepeatBackward0"


KEYWORDS = [
    "T.sum(input=x, dim=0)", "x.sum(axis=0)", "T.sum(x, axis=0)", "x.sum(dim=0, keepdims=True)", "x.sum(0, keepdims=True)",
    "x.sum(axis=(0, 1), keepdims=True)", "x.mean(axis=1)", "x.mean(0, keepdims=True)", "x.max(axis=1)",
    "x.max(axis=1, keepdims=True)", "x.min(axis=0)", "x.amax(axis=1)", "x.amin(axis=(0, 1), keepdims=True)",
    "x.std(axis=1)", "x.var(axis=0, keepdims=True)", "x.prod(axis=1)", "x.softmax(axis=1)", "T.log_softmax(x, axis=0)",
    "x.cumsum(axis=1)", "x.argmax(axis=1)", "T.argmax(x, dim=1, keepdims=True)", "x.argmin(axis=0)",
    "x.logsumexp(axis=1)", "x.all(axis=0)", "T.any(x, axis=0, keepdims=True)",
    "T.cat(tensors=[x, x], dim=0)", "T.cat([x, x], axis=1)", "T.stack(tensors=[x, x], dim=1)", "T.stack([x, x], axis=1)",
    "T.clamp(x, min=1, max=3)", "T.clamp(input=x, min=1)", "x.clamp(max=2)", "x.clip(min=1)",
    "x.unsqueeze(dim=0)", "T.unsqueeze(x, axis=0)", "x.squeeze(dim=0)", "T.squeeze(x[None], axis=0)",
    "x.reshape(shape=(3, 2))", "x.view(size=(3, 2))", "x.permute(dims=(1, 0))", "x.expand(size=(2, 2, 3))",
    "x.transpose(dim0=0, dim1=1)", "x.flatten(start_dim=0)",
]


@pytest.mark.parametrize("src", KEYWORDS)
def test_keyword_spellings_as_torch(torch, src):
    def run(T):  # (float64: float32's exp may differ from PyTorch's in the last bit)
        return eval(src, {"T": T, "x": T.arange(6.0, dtype=T.float64).reshape(2, 3)})

    _same(run(at), run(torch))


@pytest.mark.parametrize("src", ["x.sum(dims=0)", "T.sum(x, dim=0, foo=1)", "T.cat([x, x], dimension=0)",
                                 "T.nn.functional.softmax(x, axis=1)", "x.softmax(dim=1, axis=1)",
                                 "x.sum(dim=0, axis=0)", "T.clamp(x, mn=1)"])
def test_wrong_keywords_raise_type_error_as_torch(torch, src):
    for T in (at, torch):
        with pytest.raises(TypeError, match="unexpected keyword argument|invalid combination of arguments"):
            eval(src, {"T": T, "x": T.arange(6.0).reshape(2, 3)})


# -- 5. what a sweep of the tutorials' kind of code found: PyTorch's errors and warnings ----------
SWEEP_ERRORS = [
    "T.cat(x)", "T.cat([x, 1])", "T.cat([])", "T.stack(x)", "T.stack([x, 1])", "T.stack([])", "T.cat([[1.0]])",
    "x.repeat(2, 'a')", "x.repeat(2.5, 1)", "T.full((2,), 'a')", "T.full((2,), None)", "T.eye(-1)", "T.eye(2, -1)",
    "T.tensor([1, 2]).norm()", "T.tensor([True]).norm()", "T.tensor([1, 2]).var()", "T.tensor([1, 2]).std(0)",
    "T.tensor([1, 2]).mean()", "T.tensor([1, 2], dtype=T.int32).mean()", "T.empty(0).argmax()",
    "T.tensor(2.).permute()", "x.norm(p='abc')",
]


@pytest.mark.parametrize("src", SWEEP_ERRORS)
def test_errors_of_the_sweep_as_torch(torch, src):
    def run(T):
        with pytest.raises(Exception) as e:
            eval(src, {"T": T, "x": T.arange(6.0).reshape(2, 3)})
        return e

    mine, theirs = run(at), run(torch)
    assert mine.type is theirs.type, (mine.value, theirs.value)
    if "repeat" not in src:  # (PyTorch's argument parser words those two oddly; ours names the argument)
        assert str(mine.value).startswith(str(theirs.value).split("\n")[0].split(" (Triggered")[0][:60])


@pytest.mark.parametrize("src", ["x.flip(0, 1)", "x.flip((0, 1))", "T.empty(0).mean()", "T.empty(0, 2).mean(0)",
                                 "T.cat((x,), dim=0)"])
def test_values_of_the_sweep_as_torch(torch, src):
    def run(T):
        return eval(src, {"T": T, "x": T.arange(6.0).reshape(2, 3)})

    _same(run(at), run(torch))


@pytest.mark.parametrize("src", ["T.tensor([1.]).std()", "T.ones(2, 3).var(0, correction=3)", "T.empty(0).std()",
                                 "T.tensor(1.).var()"])
def test_no_degrees_of_freedom_warns_as_torch(torch, src):
    import warnings

    def run(T):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            r = eval(src, {"T": T})
        return r, [(c.category, str(c.message).split(" (Triggered")[0]) for c in w]

    (mine, wm), (theirs, wt) = run(at), run(torch)
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert wm == wt


NEXT_FUNCTIONS = ["x + 2", "2 + x", "x - 2", "2 - x", "x * 2", "2 * x", "x / 2", "x ** 2", "2 ** x", "x ** x",
                  "x.clamp(0, 1)", "x.exp()", "T.where(x > 1, x, 0.)", "T.where(x > 1, x, x * 2)", "x * x",
                  "T.stack([x, x])", "T.add(x, 2, alpha=3)", "x.sum()"]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("src", NEXT_FUNCTIONS)
def test_next_functions_as_torch(torch, src, device):
    if device == "cuda" and not at.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")

    def names(T, dev):
        x = T.tensor([1.0, 2.0], requires_grad=True, device=dev)
        y = eval(src, {"T": T, "x": x})
        return [None if n is None else type(n).__name__ for n, _ in y.grad_fn.next_functions]

    assert names(at, device) == names(torch, "cpu")


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("rg", [(True, True, True), (True, False, True), (False, True, False), (False, False, True)])
def test_linear_next_functions_as_torch(torch, device, rg):
    """A Linear layer's one record lists (bias, input, TBackward0 of the weight), as PyTorch's addmm,
    on both devices: each edge leads to that very tensor (x, w, b need grad as ``rg`` says)."""
    if device == "cuda" and not at.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")

    def edges(T, dev):
        x, w, b = (T.ones(*s, device=dev, requires_grad=r) for s, r in zip(((4, 2), (3, 2), (3,)), rg))
        y = T.nn.functional.linear(x, w, b)
        out = []
        for n, _ in y.grad_fn.next_functions:  # (the weight's edge, t(), reached by its next_functions)
            leaf = n if n is None or n.name() != "TBackward0" else n.next_functions[0][0]
            out.append(None if n is None else (n.name().split("::")[-1], [t is leaf.variable for t in (x, w, b)].index(True)))
        return out

    assert edges(at, device) == edges(torch, "cpu")


@pytest.mark.parametrize("p", [math.inf, -math.inf])
def test_inf_norms_as_torch(torch, p):
    rows = [[1.0, -3.0, 3.0], [2.0, 0.5, -0.5]]
    for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
        x, xt = at.tensor(rows, requires_grad=True), torch.tensor(rows, requires_grad=True)
        y, yt = x.norm(p, **kw), xt.norm(p, **kw)
        assert type(y.grad_fn).__name__ == type(yt.grad_fn).__name__ == "LinalgVectorNormBackward0"
        y.backward(at.ones_like(y))
        yt.backward(torch.ones_like(yt))
        _close(y.detach().numpy(), yt, "float32")
        _close(x.grad.numpy(), xt.grad, "float32")


def test_saved_tensors_as_torch(torch):
    """The autograd mechanics notes' example: what a record saves, and its freeing by backward."""
    def probe(T):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = x.pow(2)
        z = x.exp()
        h = (x * 3.0).sin()
        out = [x.equal(y.grad_fn._saved_self), x is y.grad_fn._saved_self, z.equal(z.grad_fn._saved_result),
               z is z.grad_fn._saved_result, (x * x).grad_fn._saved_other is x, h.grad_fn._saved_self.tolist()]
        with pytest.raises(AttributeError, match="_saved_self"):
            (x + 1.0).grad_fn._saved_self
        h.sum().backward()
        with pytest.raises(RuntimeError, match="directly access saved tensors after they have already been freed"):
            h.grad_fn._saved_self
        return out

    assert probe(at) == probe(torch)


@pytest.mark.parametrize("src", ["T.tensor([[1, 2]]).softmax(1)", "T.tensor([True]).log_softmax(0)",
                                 "T.softmax(T.tensor([1, 2]), 0)"])
def test_integer_softmax_refused_as_torch(torch, src):
    for T in (at, torch):
        with pytest.raises(NotImplementedError, match="not implemented for '(Long|Bool)'"):
            eval(src, {"T": T})
    np.testing.assert_allclose(at.tensor([[1, 2]]).softmax(1, dtype=at.float64).numpy(),
                               torch.tensor([[1, 2]]).softmax(1, dtype=torch.float64).numpy(), rtol=1e-15)
