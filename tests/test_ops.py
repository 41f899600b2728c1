"""Every op of the table: present everywhere it must be, gradient-checked in float64 against
finite differences, and equal to PyTorch (forward and backward) when torch is installed."""
import math
import re
import warnings

import numpy as np
import pytest

import autotape
from autotape.ops import OPS
from autotape.replay import cpu as cpu_replay
from autotape.replay import cpu_kernels

from op_cases import CASES, all_cases, draw

CASE_IDS = [f"{name}-{k}" for name, k, *_ in all_cases()]


def test_every_op_has_forward_vjp_kernel_and_gradcheck():
    source = cpu_replay.generate_source()
    for spec in OPS:
        assert spec.vjp, f"{spec.name} has no VJP"
        assert re.fullmatch(r"\w+Backward\d?", spec.grad_fn), spec.grad_fn
        assert spec.name in CASES and CASES[spec.name], f"{spec.name} has no gradient-check case in tests/op_cases.py"
        if spec.kind == "python":
            continue
        if spec.kind == "kernel":
            assert hasattr(cpu_kernels, spec.vjp), f"{spec.name}: CPU kernel {spec.vjp} does not exist"
        else:
            assert f"def vjp_{spec.name}(" in source, f"{spec.name} is missing from the generated CPU VJPs"
            assert callable(spec.forward), f"{spec.name} has no forward"
        cpu_replay.ensure_compiled(spec.code)
        assert cpu_replay.tables()[0][spec.code] != 0, f"{spec.name}: its CPU VJP did not compile"
    assert not set(CASES) - {s.name for s in OPS}, "cases for ops that are not in the table"


def _inputs(shapes, domain, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [draw(rng, s, domain).astype(dtype) for s in shapes]


def _recorded_ops(out):
    tape = out._tape
    return {OPS[c].name for c in np.frombuffer(tape.R, dtype=np.int32)[::10]}


@pytest.mark.parametrize("name,k,fn,shapes,domain", list(all_cases()), ids=CASE_IDS)
def test_gradcheck_float64(name, k, fn, shapes, domain):
    xs = [autotape.tensor(a, requires_grad=True) for a in _inputs(shapes, domain, seed=k)]
    out = fn(autotape, *xs)
    assert name in _recorded_ops(out), f"case does not exercise {name}: recorded {_recorded_ops(out)}"
    eps = 1e-3 if name == "to_copy" else 1e-6
    assert autotape.autograd.gradcheck(lambda *a: fn(autotape, *a), xs, eps=eps, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,k,fn,shapes,domain", list(all_cases()), ids=CASE_IDS)
def test_matches_torch(torch, name, k, fn, shapes, domain, dtype):
    arrays = _inputs(shapes, domain, seed=k, dtype=np.dtype(dtype))
    ours = [autotape.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = fn(autotape, *ours), fn(torch, *theirs)
    assert out.dtype.name == str(ref.dtype).replace("torch.", "")
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **tol)
    seed = np.random.default_rng(99).standard_normal(ref.shape).astype(dtype)
    out.backward(autotape.tensor(seed))
    ref.backward(torch.tensor(seed))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)
        assert a.grad.dtype == a.dtype


def test_grad_fn_names_match_torch(torch):
    """The names the issue lists, and more, as PyTorch prints them."""
    checks = {
        "AddBackward0": lambda T, x: x + 2,
        "MulBackward0": lambda T, x: x * x,
        "MeanBackward0": lambda T, x: x.mean(),
        "SumBackward0": lambda T, x: x.sum(),
        "SumBackward1": lambda T, x: x.sum(0),
        "PowBackward0": lambda T, x: x ** 2,
        "DivBackward0": lambda T, x: x / x,
        "SubBackward0": lambda T, x: x - x,
        "ExpBackward0": lambda T, x: x.exp(),
        "MmBackward0": lambda T, x: x @ x.T,
        "TBackward0": None,
        "SelectBackward0": lambda T, x: x[0],
        "UnsqueezeBackward0": lambda T, x: x.unsqueeze(0),
        "SoftmaxBackward0": lambda T, x: x.softmax(-1),
        "StackBackward0": lambda T, x: T.stack([x, x]),
        "CatBackward0": lambda T, x: T.cat([x, x]),
    }
    for name, fn in checks.items():
        if fn is None:
            continue
        ours = fn(autotape, autotape.ones(2, 2, requires_grad=True))
        theirs = fn(torch, torch.ones(2, 2, requires_grad=True))
        assert theirs.grad_fn.name() == name
        assert ours.grad_fn.name() == name
        assert type(ours.grad_fn).__name__ == name


# (the shape changes' cases need particular shapes; their VJP, ``g``, is add's)
_ELEMENTWISE = [(name, k, fn, shapes, domain) for name, k, fn, shapes, domain in all_cases()
                if k == 0 and autotape.ops.BY_NAME[name].kind in ("ew1", "ew2", "ew3")
                and name not in ("reshape", "reshape_alias", "repeat", "unsqueeze", "squeeze", "squeeze_dim",
                                 "squeeze_dims")]


@pytest.mark.parametrize("size", [(), (4,)])
@pytest.mark.parametrize("name,k,fn,shapes,domain", _ELEMENTWISE, ids=[c[0] for c in _ELEMENTWISE])
def test_elementwise_vjp_adds_to_a_gradient_already_held(name, k, fn, shapes, domain, size):
    """Each input is used again after the op, so backward reaches the op's VJP with gradients
    already written for its inputs: the add (not the first write) of the one-element code and
    of the loops, each input alone and broadcast from one element against the other."""
    for sizes in ([size] * len(shapes), [size] + [()] * (len(shapes) - 1)):
        xs = [autotape.tensor(a, requires_grad=True) for a in _inputs(sizes, domain, seed=7)]

        def f(*a):
            return fn(autotape, *a) + sum(x * 1.5 for x in a)

        assert autotape.autograd.gradcheck(f, xs, eps=1e-3 if name == "to_copy" else 1e-6, atol=1e-5, rtol=1e-3)


def test_flip_values_and_gradient():
    x = autotape.arange(24.0, dtype=autotape.float64).reshape(2, 3, 4).requires_grad_()
    w = autotape.arange(24.0, dtype=autotape.float64).reshape(2, 3, 4) % 5
    y = x.flip((0, 2))
    np.testing.assert_array_equal(y.detach().numpy(), np.flip(np.arange(24.0).reshape(2, 3, 4), (0, 2)))
    (y * w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.flip(w.numpy(), (0, 2)))
    assert autotape.flip(autotape.tensor([1.0, 2.0, 3.0]), (0,)).tolist() == [3.0, 2.0, 1.0]
    with pytest.raises(RuntimeError, match="appears multiple times"):
        x.flip((0, 0))


_SPECIAL = [0.0, -0.0, 1.5, -2.25, 0.1, 1e-30, -1e-30, 1e-45, 3e38, -3e38, 20.0, 20.000002, 88.7, -104.0, 800.0,
            math.inf, -math.inf, math.nan]
_ATTRS = [0.1, -0.0, 0.0, 2.0, -3.5, 3e38, 1e39, 1e-46, math.inf, -math.inf, math.nan]
_SOFTPLUS_ATTRS = [(1.0, 20.0), (1.0, 0.1), (1.0, -1.0), (1.0, math.inf), (1.0, math.nan), (1.0, 3e39), (2.0, 3.0)]


def _one_element_results(spec, args, dtype, shape):
    """(the op on one-element tensors, NumPy's forward on the same values as an array of two)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xs = [np.array(v, dtype) for v in args[0]]
        ours = getattr(autotape.ops.apply, "unary" if spec.kind == "ew1" else "binary")(
            spec, *[autotape.tensor(x.reshape(shape)) for x in xs], *args[1])
        ref = spec.forward(*[np.array([x, x]) for x in xs], *args[1])
    return ours.numpy(), np.asarray(ref)[:1].reshape(shape)


@pytest.mark.parametrize("shape", [(), (1,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", [s.name for s in autotape.ops.OPS if s.scalar is not None])
def test_one_element_path_matches_numpy(name, dtype, shape):
    """An op on one element computes in Python floats (``spec.scalar``): the same numbers as
    NumPy's forward, bit for bit (signed zeros and NaN included) for + - * / and negation, within
    an ulp for softplus (double rounded once, where NumPy's float32 rounds at each step)."""
    spec = autotape.ops.BY_NAME[name]
    if spec.kind == "ew2":
        cases = [((x1, x2), ()) for x1 in _SPECIAL for x2 in _SPECIAL]
    elif name == "softplus":
        cases = [((x,), ab) for x in _SPECIAL for ab in _SOFTPLUS_ATTRS]
    else:
        cases = [((x,), (a, 0.0)) for x in _SPECIAL for a in _ATTRS]
    for args in cases:
        ours, ref = _one_element_results(spec, args, dtype, shape)
        assert ours.dtype == ref.dtype and ours.shape == ref.shape, args
        if name == "softplus":
            np.testing.assert_array_max_ulp(ours, ref, maxulp=1)
        else:
            assert ours.tobytes() == ref.tobytes() or (np.isnan(ours).all() and np.isnan(ref).all()), \
                f"{name}{args}: {ours!r} vs NumPy's {ref!r}"
