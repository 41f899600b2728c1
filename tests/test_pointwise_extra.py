"""The pointwise ops and activations beyond the tutorials' (log2 ... frac, silu ... hardswish):
values and gradients at edge points (signed zeros, infinities, NaN, domain bounds, ties of
round) equal PyTorch's, eager and compiled; grad_fn names; integer inputs; modules; in place."""
import math
import warnings

import numpy as np
import pytest

import autotape as at
import autotape.nn.functional as F

EDGES = [-math.inf, -800.0, -3.0, -2.5, -1.5, -1.0, -0.5, -1e-30, -0.0, 0.0, 1e-30, 0.3, 0.5, 1.0, 1.5, 2.5, 3.0,
         4.0, 800.0, math.inf, math.nan]

FUNCTIONS = "log2 log10 exp2 expm1 sinh cosh asin acos atan asinh acosh atanh reciprocal erf erfc floor ceil trunc " \
            "round frac".split()
ACTIVATIONS = "silu elu mish hardtanh relu6 softsign logsigmoid hardsigmoid hardswish".split()
GRAD_FNS = {"log2": "Log2Backward0", "log10": "Log10Backward0", "exp2": "Exp2Backward0", "expm1": "Expm1Backward0",
            "sinh": "SinhBackward0", "cosh": "CoshBackward0", "asin": "AsinBackward0", "acos": "AcosBackward0",
            "atan": "AtanBackward0", "asinh": "AsinhBackward0", "acosh": "AcoshBackward0", "atanh": "AtanhBackward0",
            "reciprocal": "ReciprocalBackward0", "erf": "ErfBackward0", "erfc": "ErfcBackward0",
            "floor": "FloorBackward0", "ceil": "CeilBackward0", "trunc": "TruncBackward0", "round": "RoundBackward0",
            "frac": "FracBackward0", "silu": "SiluBackward0", "elu": "EluBackward0", "mish": "MishBackward0",
            "hardtanh": "HardtanhBackward0", "relu6": "HardtanhBackward0", "softsign": "DivBackward0",
            "logsigmoid": "LogSigmoidBackward0", "hardsigmoid": "HardsigmoidBackward0",
            "hardswish": "HardswishBackward0"}


def _fn(lib, name):
    return getattr(lib, name) if name in FUNCTIONS else getattr(lib.nn.functional, name)


def _run(lib, name, dtype, compiled=False):
    dt = getattr(lib, dtype)
    x = lib.tensor(EDGES, dtype=dt, requires_grad=True)
    w = lib.linspace(-1, 2, len(EDGES), dtype=dt)
    f = _fn(lib, name)
    if compiled:
        y = at.compile(lambda: f(x))()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # NumPy's forwards are quiet, as PyTorch's are
            y = f(x)
    with np.errstate(over="ignore"):  # (a float64 gradient beyond float32, as 1 / x ** 2 at 1e-30: inf)
        y.backward(w)
    return y.grad_fn.name(), y.detach().numpy(), x.grad.numpy()


def _same(ours, theirs, dtype, what):
    # (float32: autotape computes in float64 where PyTorch computes in float32: an ulp or so apart,
    # more where terms cancel, as in softsign's gradient at 800)
    tol = dict(rtol=1e-12, atol=0) if dtype == "float64" else dict(rtol=3e-6, atol=1e-9)
    np.testing.assert_allclose(ours, theirs, equal_nan=True, err_msg=what, **tol)
    assert ours.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS + ACTIVATIONS)
def test_values_and_gradients_at_edge_points_match_pytorch(torch, name, dtype):
    n1, y1, g1 = _run(at, name, dtype)
    n2, y2, g2 = _run(torch, name, dtype)
    assert n1 == n2 == GRAD_FNS[name]
    _same(y1, y2, dtype, f"{name} forward")
    _same(g1, g2, dtype, f"{name} gradient")
    if name in ("floor", "ceil", "trunc", "round", "frac"):  # signed zeros too
        assert np.array_equal(np.signbit(y1), np.signbit(y2)), f"{name}: {y1} vs {y2}"


@pytest.mark.parametrize("name", FUNCTIONS + ACTIVATIONS)
def test_compiled_replay_matches_eager(name):
    """``autotape.compile`` replays the op table's ``fwd`` expressions (and the VJPs): the same
    numbers as eager NumPy at every edge point."""
    n1, y1, g1 = _run(at, name, "float64")
    n2, y2, g2 = _run(at, name, "float64", compiled=True)
    assert n1 == n2
    np.testing.assert_allclose(y2, y1, rtol=1e-13, atol=0, equal_nan=True)
    np.testing.assert_allclose(g2, g1, rtol=1e-13, atol=0, equal_nan=True)
    if name in ("floor", "ceil", "trunc", "round", "frac"):
        assert np.array_equal(np.signbit(y1), np.signbit(y2))


def test_round_is_half_to_even_and_decimals_other_than_zero_raise():
    x = at.tensor([0.5, 1.5, 2.5, -0.5, -2.5, 3.5, 4503599627370497.0], dtype=at.float64)
    assert x.round().tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, 4.0, 4503599627370497.0]
    assert math.copysign(1.0, at.round(x)[3].item()) == -1.0
    with pytest.raises(NotImplementedError, match="decimals=2"):
        at.round(x, decimals=2)


def test_integer_and_bool_inputs_as_in_pytorch(torch):
    i = at.tensor([3, -2, 0])
    for name in ("floor", "ceil", "trunc", "round"):
        y = getattr(at, name)(i)
        assert y.dtype == at.int64 and y.tolist() == [3, -2, 0]
        assert y._data is not i._data  # a copy
        with pytest.raises(NotImplementedError, match=f'"{name}_vml_cpu" not implemented for \'Bool\''):
            getattr(at, name)(at.tensor([True]))
    for name in ("log2", "sinh", "erf", "reciprocal", "atan"):
        ours, theirs = getattr(at, name)(i), getattr(torch, name)(torch.tensor([3, -2, 0]))
        assert ours.dtype == at.float32 and str(theirs.dtype) == "torch.float32"
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="\"frac_cpu\" not implemented for 'Long'"):
        at.frac(i)
    for name, kernel in (("silu", "silu_cpu"), ("elu", "elu_cpu"), ("mish", "mish_cpu"),
                         ("logsigmoid", "log_sigmoid_cpu"), ("hardsigmoid", "hardsigmoid_cpu"),
                         ("hardswish", "hardswish_cpu")):
        with pytest.raises(NotImplementedError, match=f"\"{kernel}\" not implemented for 'Long'"):
            getattr(F, name)(i)
    assert F.hardtanh(at.tensor([1, -3, 5]), 0.5, 2.5).tolist() == [1, 0, 2]  # (PyTorch's)
    assert F.relu6(at.tensor([1, -3, 9])).dtype == at.int64
    with pytest.raises(RuntimeError, match="Bool inputs not supported for hardtanh"):
        F.hardtanh(at.tensor([True]))
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(at.ones(2), 2.0, 1.0)
    assert F.softsign(at.tensor([1, -3])).tolist() == [0.5, -0.75]
    with pytest.raises(TypeError, match=r"sinh\(\): argument 'input' \(position 1\) must be Tensor, not list"):
        at.sinh([1.0])
    with pytest.raises(TypeError, match=r"silu\(\): argument 'input' \(position 1\) must be Tensor, not list"):
        F.silu([1.0])


def test_modules_and_their_reprs_match_pytorch(torch):
    makes = ["SiLU()", "SiLU(True)", "ELU()", "ELU(0.5, True)", "Mish()", "Hardtanh()", "Hardtanh(-2.0, 3.0, True)",
             "ReLU6()", "ReLU6(True)", "Softsign()", "LogSigmoid()", "Hardsigmoid()", "Hardsigmoid(True)", "Hardswish(True)",
             "Mish(True)"]
    x = np.array([-4.0, -1.0, -0.25, 0.5, 2.0, 7.0])
    for make in makes:
        ours, theirs = eval(f"at.nn.{make}"), eval(f"torch.nn.{make}")
        assert repr(ours) == repr(theirs)
        a, t = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        # (inplace modules write into a copy: a leaf that requires grad can't be changed in place)
        ya, yt = ours(a * 1.0), theirs(t * 1.0)
        assert ya.grad_fn.name() == yt.grad_fn.name()
        ya.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(ya.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_in_place_forms(torch):
    x = np.array([-1.7, -0.5, 0.25, 2.5])
    for name in ("floor", "ceil", "trunc", "round", "frac", "sinh", "atan", "reciprocal", "erf", "expm1"):
        a, t = at.tensor(x), torch.tensor(x)
        assert getattr(a, name + "_")() is a
        getattr(t, name + "_")()
        np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-12)
    a = at.tensor(x, requires_grad=True)
    h = a * 2.0
    out = F.silu(h, inplace=True)
    assert out is h and out.grad_fn.name() == "SiluBackward0"
    out.sum().backward()
    t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.silu(t * 2.0).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type Long"):
        at.tensor([1, 2]).sinh_()


PAIR_EDGES = [-math.inf, -2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 3.0, math.inf, math.nan]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["atan2", "hypot", "logaddexp", "xlogy"])
def test_two_input_ops_at_edge_pairs_match_pytorch(torch, name, dtype):
    a, b = (np.array(v) for v in zip(*[(p, q) for p in PAIR_EDGES for q in PAIR_EDGES]))
    results = []
    for lib in (at, torch):
        dt = getattr(lib, dtype)
        x, y = lib.tensor(a, dtype=dt, requires_grad=True), lib.tensor(b, dtype=dt, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            z = getattr(lib, name)(x, y)
        z.backward(lib.linspace(-1, 2, len(a), dtype=dt))
        results.append((z.grad_fn.name(), z.detach().numpy(), x.grad.numpy(), y.grad.numpy()))
    (n1, *ours), (n2, *theirs) = results
    assert n1 == n2
    for u, v, what in zip(ours, theirs, ("forward", "gradient of input", "gradient of other")):
        _same(u, v, dtype, f"{name} {what}")


def test_two_input_ops_integer_inputs_and_numbers_as_in_pytorch(torch):
    i, j = at.tensor([3, 0]), at.tensor([4, 0])
    assert at.atan2(i, j).dtype == at.float32 and at.xlogy(i, 2).dtype == at.float32
    np.testing.assert_allclose(at.xlogy(i, j).numpy(), torch.xlogy(torch.tensor([3, 0]), torch.tensor([4, 0])).numpy())
    assert at.xlogy(2.0, at.tensor([1.0, 4.0])).tolist() == [0.0, pytest.approx(2 * math.log(4))]
    for name in ("hypot", "logaddexp"):
        with pytest.raises(NotImplementedError, match=f"\"{name}_cpu\" not implemented for 'Long'"):
            getattr(at, name)(i, j)
    with pytest.raises(TypeError, match=r"atan2\(\): argument 'other' \(position 2\) must be Tensor, not int"):
        at.atan2(at.ones(2), 2)
    x = at.tensor([3.0, -1.0])
    assert x.hypot(at.tensor([4.0, 0.0])).tolist() == [5.0, 1.0] and x.atan2_(at.tensor([0.0, 0.0])) is x
