"""Parity with PyTorch on cases a QA pass found wrong: in-place ops that cut a tensor's
history, type promotion, integer operators, in-place dtype rules, clamp's gradient at ties,
and clear errors for bad input."""
import numpy as np
import pytest

import autotape as at


def _run(T, src):
    ns = {"T": T, "np": np}
    exec(src, ns)
    return ns["R"]


def _same(a, b):
    """An autotape result equals a torch one: values, and the dtype's name."""
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
        return
    if isinstance(a, at.Tensor):
        assert a.dtype.name == str(b.dtype).split(".")[-1], (a.dtype, b.dtype)
        np.testing.assert_array_equal(a.numpy(force=True) if a.requires_grad else a.numpy(),
                                      b.detach().numpy())
    elif isinstance(a, at.dtype):
        assert a.name == str(b).split(".")[-1], (a, b)
    else:
        assert a == b


# -- 1. zero_ / fill_ / copy_ with a constant cut the tensor's history -----------------------

HISTORY_CUT = [
    "x=T.tensor([1.,2.,3.],requires_grad=True); y=x*2; y.zero_(); (y*x).sum().backward(); R=(x.grad, y.requires_grad)",
    "x=T.tensor([1.,2.,3.],requires_grad=True); y=x*2; y.copy_(T.ones(3)); y.sum().backward(); R=(x.grad, y.requires_grad)",
    "x=T.tensor([1.,2.,3.],requires_grad=True); y=x+0; y.fill_(2.); y.sum().backward(); R=(x.grad, y.requires_grad)",
    "x=T.tensor([1.,2.,3.],requires_grad=True); y=x*2; y.copy_(T.ones(3, dtype=T.float64)); (y*x).sum().backward(); "
    "R=(x.grad, y, y.dtype)",
    "x=T.tensor([1.,2.,3.],requires_grad=True); y=x*2; y.fill_(T.tensor(5.)); (y*x).sum().backward(); R=(x.grad, y)",
    "x=T.tensor([[1.,2.],[3.,4.]],requires_grad=True); y=x.sin(); y.copy_(T.tensor([1., 2.])); (y*x).sum().backward(); "
    "R=(x.grad, y)",
]


@pytest.mark.parametrize("src", HISTORY_CUT)
def test_inplace_constant_cuts_history(torch, src):
    _same(_run(at, src), _run(torch, src))


def test_inplace_constant_cuts_history_fixed_values():
    x = at.tensor([1., 2., 3.], requires_grad=True)
    y = x * 2
    y.zero_()
    assert y.requires_grad and not y.is_leaf
    (y * x).sum().backward()
    assert x.grad.tolist() == [0., 0., 0.]


def test_inplace_constant_over_saved_output_still_caught(torch):
    # exp saved its output, which copy_ overwrote: the old history is still reached (with a zero
    # gradient), so the change is reported, as PyTorch does
    for T in (at, torch):
        x = T.tensor([1., 2.], requires_grad=True)
        y = x.exp()
        y.copy_(T.tensor([1., 2.]))
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            (y * x).sum().backward()


# -- 2. type promotion follows PyTorch, not NumPy ------------------------------------------

PROMOTION = [
    "R=(T.tensor([1.5]) + T.tensor([1])).dtype",
    "R=(T.tensor([1.5]) + T.tensor([1], dtype=T.int32)).dtype",
    "R=(T.tensor(1.5) * T.tensor([1,2])).dtype",
    "R=(T.tensor(1.5, dtype=T.float64) * T.tensor([1,2])).dtype",
    "R=(T.tensor(1.5, dtype=T.float64) * T.tensor([1.,2])).dtype",
    "R=(T.tensor([True]) + T.tensor(1, dtype=T.int32)).dtype",
    "R=(T.tensor([1], dtype=T.int32) + T.tensor(1)).dtype",
    "R=(T.tensor([1], dtype=T.int32) + T.tensor([1])).dtype",
    "R=(T.tensor(1, dtype=T.int32) + T.tensor(1)).dtype",
    "R=(T.tensor([1.]) + T.tensor([1.], dtype=T.float64)).dtype",
    "R=(T.tensor([1]) * 2.5).dtype",
    "R=(T.tensor(1) * 2.5).dtype",
    "R=(T.tensor([True]) * 2).dtype",
    "R=T.cat([T.ones(1), T.ones(1, dtype=T.int64)]).dtype",
    "R=T.where(T.tensor([True]), T.ones(1), T.ones(1, dtype=T.int64)).dtype",
    "R=T.maximum(T.ones(1), T.ones(1, dtype=T.int64)).dtype",
    "R=T.minimum(T.ones(1, dtype=T.int32), T.ones(1, dtype=T.float64)).dtype",
    "R=T.nn.MSELoss()(T.ones(2), T.tensor([1, 2])).dtype",
    "R=T.tensor([1,2,3]).clamp(0.5, 2.5)",
    "R=T.tensor([1,2,3]).clamp(1, 2)",
]


@pytest.mark.parametrize("src", PROMOTION)
def test_promotion_as_torch(torch, src):
    _same(_run(at, src), _run(torch, src))


def test_promotion_fixed_values():
    assert (at.tensor([1.5]) + at.tensor([1])).dtype is at.float32
    assert (at.tensor(1.5) * at.tensor([1, 2])).dtype is at.float32
    assert at.cat([at.ones(1), at.ones(1, dtype=at.int64)]).dtype is at.float32
    assert at.tensor([1, 2, 3]).clamp(0.5, 2.5).dtype is at.float32


# -- 3, 6. integer operators: bitwise & | ^, floor division, remainder, powers -----------------

INTEGER_OPS = [
    "R=T.tensor([6, 5]) & T.tensor([3, 1])",
    "R=T.tensor([6, 5]) | 1",
    "R=T.tensor([6, 5]) ^ T.tensor([3, 1])",
    "R=3 & T.tensor([6, 5])",
    "R=T.tensor([True, False]) & T.tensor([True, True])",
    "R=T.tensor([True, False]) | T.tensor([False, False])",
    "R=T.tensor([True]) ^ T.tensor([True])",
    "R=T.tensor([7, -7]) // 2",
    "R=T.tensor([7, -7]) // T.tensor([2, -2])",
    "R=7 // T.tensor([2, -2])",
    "R=T.tensor([7.5, -7.5]) // 2",
    "R=T.div(T.tensor([7, -7]), 2, rounding_mode='trunc')",
    "R=T.div(T.tensor([7, -7]), 2, rounding_mode='floor')",
    "R=T.div(T.tensor([7., -7.]), 2, rounding_mode='trunc')",
    "R=T.div(T.tensor([7, -7], dtype=T.int32), T.tensor(2), rounding_mode='trunc')",
    "R=2 ** T.tensor([1, -1, 3])",
    "R=(-1) ** T.tensor([1, -1, -2, 0])",
    "R=2.5 ** T.tensor([1, -1])",
    "R=T.tensor([2, 3]) ** 2",
    "R=T.square(T.tensor([3]))",
    "R=T.square(T.tensor([3], dtype=T.int32))",
    "R=T.tensor([5], dtype=T.int32) % T.tensor(3)",
    "R=5 % T.tensor([3])",
    "R=T.tensor([5, -5]) % 3",
    "R=T.tensor([5.5, -5.5]) % 3",
    "x=T.tensor([1.5], requires_grad=True); y=T.div(x, 2, rounding_mode='floor'); y.sum().backward(); "
    "R=(y.requires_grad, x.grad)",
    "x=T.tensor([1.5, -2.5], requires_grad=True); y=T.tensor([2., 0.7], requires_grad=True); z=x % y; "
    "z.sum().backward(); R=(z, x.grad, y.grad)",
]


@pytest.mark.parametrize("src", INTEGER_OPS)
def test_integer_ops_as_torch(torch, src):
    a, b = _run(at, src), _run(torch, src)
    if isinstance(a, tuple):
        for x, y in zip(a, b):
            if isinstance(x, at.Tensor):
                assert x.dtype.name == str(y.dtype).split(".")[-1]
                np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), rtol=1e-6)
            else:
                assert x == y
    else:
        _same(a, b)


def test_integer_ops_fixed_values():
    assert (at.tensor([6, 5]) & at.tensor([3, 1])).tolist() == [2, 1]
    r = at.tensor([7, -7]) // 2
    assert r.dtype is at.int64 and r.tolist() == [3, -4]
    assert (2 ** at.tensor([1, -1])).tolist() == [2, 0]


@pytest.mark.parametrize("src, exc", [
    ("T.div(T.tensor([1.5]), 2, rounding_mode='bogus')", RuntimeError),
    ("T.tensor([2]) ** -1", RuntimeError),
    ("T.tensor([1.]) & T.tensor([1.])", RuntimeError),
    ("T.zeros(0, 3).max(0)", IndexError),
    ("T.zeros(0, 3).argmax(0)", IndexError),
    ("T.zeros(2, 0).amax(1)", IndexError),
])
def test_errors_as_torch(torch, src, exc):
    for T in (at, torch):
        with pytest.raises(exc):
            eval(src, {"T": T})


def test_all_any_over_a_tuple_of_dims(torch):
    for T in (at, torch):
        assert bool((T.ones(2, 3) > 0).all(dim=(0, 1)))
        assert (T.ones(2, 3) > 0).any(dim=[0, 1], keepdim=True).shape == (1, 1)


# -- 8. autotape.compile hears of values read through ops the tape does not record ------------

@pytest.mark.parametrize("read", [
    lambda w, x: x[w.argmax()],
    lambda w, x: x[w.argmin()],
    lambda w, x: x * (w // 2).sum(),
    lambda w, x: x * (w % 2).sum(),
    lambda w, x: x * at.div(w, 2, rounding_mode="trunc").sum(),
    lambda w, x: x * float(np.asarray(w).sum()),
])
def test_compile_refuses_unrecorded_reads(read):
    import sys

    CompileError = sys.modules["autotape.compile"].CompileError
    w = at.tensor([1.0, 3.0, 2.0], requires_grad=True)
    x = at.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(CompileError):
        at.compile(lambda: read(w, x).sum())()


# -- 4. in-place ops refuse a result their tensor's dtype can't hold --------------------------

@pytest.mark.parametrize("src", [
    "y=T.tensor([3]); y.mul_(1.5)",
    "y=T.tensor([3]); y.add_(0.7)",
    "y=T.tensor([3]); y.div_(2)",
    "y=T.tensor([3]); y.div_(T.tensor([2]))",
    "y=T.tensor([False]); y.add_(1)",
    "y=T.tensor([3]); y.add_(T.tensor([2.]))",
    "y=T.tensor([3]); y += 1.5",
    "y=T.tensor([3]); y.sqrt_()",
])
def test_inplace_refuses_a_wider_category(torch, src):
    for T in (at, torch):
        with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
            exec(src, {"T": T})
    y = at.tensor([3])
    with pytest.raises(RuntimeError):
        y.mul_(1.5)
    assert y.tolist() == [3]  # unchanged


@pytest.mark.parametrize("src", [
    "y=T.tensor([3]); y.add_(2); R=y",
    "y=T.tensor([3], dtype=T.int32); y.add_(T.tensor([2])); R=y",
    "y=T.tensor([3.]); y.add_(T.tensor([2.], dtype=T.float64)); R=y",
    "y=T.tensor([3.]); y.mul_(T.tensor([2])); R=y",
    "y=T.tensor([3]); y.copy_(T.tensor([2.7])); R=y",
    "y=T.tensor([3]); y.fill_(2.7); R=y",
])
def test_inplace_allowed_casts(torch, src):
    _same(_run(at, src), _run(torch, src))


# -- 7. clear errors (PyTorch's types) instead of raw Python/NumPy ones; alpha= on numbers ---------

@pytest.mark.parametrize("src", [
    "R=T.tensor([1.]).add(1, alpha=2)",
    "R=T.sub(T.tensor([1.]), 1, alpha=2)",
    "R=T.add(T.tensor([1]), 1, alpha=2)",
    "R=T.tensor([1]).add(1.5, alpha=0.5)",
    "x=T.tensor([1.], requires_grad=True); y=T.tensor([2.], requires_grad=True); x.add(y, alpha=3).sum().backward(); "
    "R=(x.grad, y.grad)",
])
def test_alpha_as_torch(torch, src):
    _same(_run(at, src), _run(torch, src))


@pytest.mark.parametrize("src, exc, fragment", [
    ("T.exp(2.0)", TypeError, "must be Tensor"),
    ("T.sum([1., 2.])", TypeError, "must be Tensor"),
    ("T.mean([1., 2.])", TypeError, "must be Tensor"),
    ("T.amax([1., 2.])", TypeError, "must be Tensor"),
    ("T.neg(1.)", TypeError, "must be Tensor"),
    ("T.square(2.)", TypeError, "must be Tensor"),
    ("T.tensor([1]).add(1, alpha=0.5)", RuntimeError, "alpha"),
    ("-T.tensor([True])", RuntimeError, "logical_not"),
    ("T.tensor([True]) - T.tensor([True])", RuntimeError, "logical_xor"),
    ("T.zeros(3).__setitem__(slice(0, 2), T.ones(3))", RuntimeError, ""),
    ("T.zeros(3).__setitem__(T.zeros(3) == 0, T.ones(2))", RuntimeError, "shape mismatch"),
    ("(T.zeros(3, requires_grad=True) * 1).__setitem__(slice(0, 2), T.ones(3))", RuntimeError, ""),
    ("T.zeros(3).fill_(T.ones(2))", RuntimeError, "0-dimension"),
])
def test_clear_errors_as_torch(torch, src, exc, fragment):
    for T in (at, torch):
        with pytest.raises(exc) as info:
            eval(src, {"T": T})
        if T is at:
            assert fragment in str(info.value)


# -- 5. clamp with tensor bounds: PyTorch's gradient at ties -------------------------------------

CLAMP_TIES = [
    "x=T.tensor([0.,1.],requires_grad=True); x.clamp(T.tensor([0.,0.]), T.tensor([2.,1.])).sum().backward(); R=x.grad",
    "x=T.tensor([-1.,0.,0.5,1.,2.],requires_grad=True); lo=T.zeros(5,requires_grad=True); "
    "hi=T.ones(5,requires_grad=True); y=x.clamp(lo, hi); (y*T.arange(1.,6.)).sum().backward(); "
    "R=(y, x.grad, lo.grad, hi.grad)",
    "x=T.tensor([[-1.,0.5],[3.,1.]],requires_grad=True); lo=T.tensor([0.,0.5],requires_grad=True); "
    "y=x.clamp(min=lo); y.sum().backward(); R=(y, x.grad, lo.grad)",
    "x=T.tensor([[-1.,0.5],[3.,1.]],requires_grad=True); hi=T.tensor(1.,requires_grad=True); "
    "y=x.clamp(max=hi); y.sum().backward(); R=(y, x.grad, hi.grad)",
    "x=T.tensor([1., 2.]); lo=T.tensor([1., 3.],requires_grad=True); y=x.clamp(lo); y.sum().backward(); R=(y, lo.grad)",
    "x=T.tensor([0.5],requires_grad=True); y=x.clamp(T.tensor([2.]), T.tensor([1.])); y.sum().backward(); R=(y, x.grad)",
    "x=T.tensor([float('nan'), float('inf'), -3.],requires_grad=True); "
    "R=x.clamp(T.tensor([0., 0., 0.]), T.tensor([1., float('inf'), 1.]))",
]


@pytest.mark.parametrize("src", CLAMP_TIES)
def test_clamp_tensor_bounds_as_torch(torch, src):
    _same(_run(at, src), _run(torch, src))


def test_clamp_tensor_bounds_fixed_values_and_compiled():
    x = at.tensor([0., 1.], requires_grad=True)
    x.clamp(at.tensor([0., 0.]), at.tensor([2., 1.])).sum().backward()
    assert x.grad.tolist() == [1., 1.]
    # the mask is recorded: a compiled replay on new values gets the new mask
    x = at.tensor([0., 1., 2.], requires_grad=True)
    lo, hi, w = at.tensor([0.5, 1., 1.]), at.tensor([1.5, 1.5, 1.5]), at.tensor([1., 2., 3.])
    f = at.compile(lambda: (x.clamp(lo, hi) * w).sum())
    for vals in ([0., 1., 2.], [1., 0.5, 1.5], [0.5, 1.5, 3.]):
        with at.no_grad():
            x.copy_(at.tensor(vals))
        x.grad = None
        loss = f()
        loss.backward()
        got = (loss.item(), x.grad.tolist())
        x.grad = None
        loss = (x.clamp(lo, hi) * w).sum()
        loss.backward()
        assert got == (loss.item(), x.grad.tolist())


def test_bool_pow_bool_refused(torch):
    for T in (at, torch):
        with pytest.raises(NotImplementedError):
            T.tensor([True]) ** T.tensor([True])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32"])
def test_linspace_is_pytorchs_bit_for_bit(dtype):
    """The tutorials' x = linspace(-pi, pi, 2000): NumPy's linspace differed from PyTorch's in 604
    of the 2000 float32 values (ATen counts from both ends with fused multiply-adds)."""
    torch = pytest.importorskip("torch")
    for start, end in [(-np.pi, np.pi), (0, 1), (2.5, -7.1), (-1e4, 1e4), (3, 3), (-7, 9.5)]:
        for steps in (0, 1, 2, 3, 7, 37, 1001, 2000):
            ours = at.linspace(start, end, steps, dtype=getattr(at, dtype))
            theirs = torch.linspace(start, end, steps, dtype=getattr(torch, dtype))
            _same(ours, theirs)


def test_linspace_without_torch_counts_from_both_ends():
    x = at.linspace(-1.0, 1.0, 5, dtype=at.float64).numpy()
    np.testing.assert_array_equal(x, [-1.0, -0.5, 0.0, 0.5, 1.0])
    y = at.linspace(0.0, 1.0, 2000).numpy()
    assert y[0] == 0.0 and y[-1] == 1.0 and y.dtype == np.float32  # (both ends exact, as PyTorch's)
    np.testing.assert_allclose(np.diff(y), 1 / 1999, rtol=1e-4)
