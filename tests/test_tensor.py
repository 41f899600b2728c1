"""Factories, dtypes and promotion, conversions, and the errors PyTorch raises for bad input."""
import math

import numpy as np
import pytest

import autotape as torch


def test_factories_and_default_dtype():
    assert torch.zeros(2, 3).shape == (2, 3) and torch.zeros(2, 3).dtype == torch.float32
    assert torch.ones((2,), dtype=torch.float64).dtype == torch.double
    assert torch.full((2,), 7).dtype == torch.int64 and torch.full((2,), 7.0).dtype == torch.float32
    assert torch.empty(4).numel() == 4
    assert torch.arange(5).dtype == torch.long and torch.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert torch.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    lin = torch.linspace(-math.pi, math.pi, 5)
    np.testing.assert_allclose(lin.numpy(), np.linspace(-math.pi, math.pi, 5), rtol=1e-6)
    assert torch.tensor([1, 2]).dtype == torch.int64 and torch.tensor([1.0]).dtype == torch.float32
    assert torch.tensor(np.ones(2)).dtype == torch.float64
    assert torch.zeros_like(lin).dtype == lin.dtype and torch.full_like(lin, 2).sum().item() == 10
    assert torch.ones_like(lin, dtype=torch.float64).dtype == torch.float64
    torch.manual_seed(3)
    a = torch.randn(4)
    torch.manual_seed(3)
    assert torch.equal(a, torch.randn(4)) and torch.rand(3).dtype == torch.float32
    arr = np.zeros(3)
    shared = torch.from_numpy(arr)
    arr[0] = 1
    assert shared[0].item() == 1.0
    assert torch.as_tensor([1.0, 2.0]).dtype == torch.float32
    assert torch.ones(2, requires_grad=True).requires_grad


def test_promotion_as_pytorch():
    f32, f64, i64 = torch.ones(2), torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.long)
    assert (f32 + f64).dtype == torch.float64
    assert (i64 * 2.5).dtype == torch.float32
    assert (i64 + 1).dtype == torch.int64
    assert (f32 * 2).dtype == torch.float32
    assert (f32 + torch.tensor(1.0, dtype=torch.float64)).dtype == torch.float32  # 0-d does not promote
    assert (i64 / 2).dtype == torch.float32
    assert torch.exp(i64).dtype == torch.float32
    x = torch.ones(2, requires_grad=True)
    y = torch.ones(2, dtype=torch.float64, requires_grad=True)
    (x * y).sum().backward()
    assert x.grad.dtype == torch.float32 and y.grad.dtype == torch.float64


def test_conversions():
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert t.size() == (2, 2) and t.size(1) == 2 and t.dim() == 2 and t.ndim == 2 and len(t) == 2
    assert t.sum().item() == 10.0 and float(t[0, 1]) == 2.0 and int(t[1, 1]) == 4
    assert bool(t[0, 0]) and np.asarray(t).shape == (2, 2)
    assert [r.tolist() for r in t] == [[1.0, 2.0], [3.0, 4.0]]
    assert t.to(torch.float64).dtype == torch.float64 and t.double().float().dtype == torch.float32
    assert t.long().dtype == torch.int64 and t.int().dtype == torch.int32 and t.bool().dtype == torch.bool
    c = t.clone()
    c[0, 0] = 9.0
    assert t[0, 0].item() == 1.0
    assert t.eq(t).all().item() is True and (t > 2).any().item() is True
    assert t.device == "cpu" and t.to("cpu") is t and t.cpu() is t
    assert repr(t.shape) == "autotape.Size([2, 2])"
    # 0-d stays 0-d wherever a buffer is made contiguous (np.ascontiguousarray alone makes it 1-d)
    assert torch.as_tensor(np.array(3.0)).shape == () and torch.nn.Parameter(torch.tensor(1.0)).shape == ()
    assert t.is_contiguous() and t.contiguous() is t and not t.T.is_contiguous()
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    y = x.T.contiguous()
    assert y.is_contiguous() and y.tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    (y * torch.arange(6.0).reshape(3, 2)).sum().backward()
    assert x.grad.tolist() == [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]


def test_errors_say_what_to_do():
    t = torch.ones(3)
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)
    with pytest.raises(RuntimeError, match=r"size of tensor a \(3\) must match the size of tensor b \(4\)"):
        t + torch.ones(4)
    with pytest.raises(RuntimeError, match=r"shapes cannot be multiplied \(2x3 and 2x3\)"):
        torch.ones(2, 3) @ torch.ones(2, 3)
    with pytest.raises(RuntimeError, match="invalid for input of size 3"):
        t.reshape(2, 2)
    with pytest.raises(IndexError):
        t[5]
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.sum(dim=2)
    with pytest.raises(RuntimeError, match="does not require grad"):
        t.sum().backward()
    with pytest.raises(RuntimeError, match="numpy\\(\\) on Tensor that requires grad"):
        torch.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError, match="device 'mps' is not available"):
        torch.ones(2, device="mps")
    with pytest.raises(TypeError, match="numbers only"):
        torch.tensor(["a"])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        torch.stack([torch.ones(2), torch.ones(3)])


def test_indexing_forms_and_setitem():
    x = torch.arange(12.0).reshape(3, 4)
    assert x[1].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert x[:, 1].tolist() == [1.0, 5.0, 9.0]
    assert x[..., -1].tolist() == [3.0, 7.0, 11.0]
    assert x[None].shape == (1, 3, 4)
    assert x[x > 9].tolist() == [10.0, 11.0]
    assert x[torch.tensor([0, 2])].shape == (2, 4)
    w = torch.zeros(4, requires_grad=True)
    y = w * 1.0
    y[1:3] = 5.0
    (y * torch.arange(4.0)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [0.0, 0.0, 0.0, 3.0])


def test_numerically_stable_functions():
    """At +-1000 the naive formulas overflow; the values and gradients are exact here."""
    big = torch.tensor([1000.0, -1000.0, 0.0], requires_grad=True)
    cases = [  # (output, its value, the gradient of its sum)
        (torch.softmax(big, 0), [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
        (torch.log_softmax(big, 0), [0.0, -2000.0, -1000.0], [-2.0, 1.0, 1.0]),
        (torch.sigmoid(big), [1.0, 0.0, 0.5], [0.0, 0.0, 0.25]),
        (torch.softplus(big), [1000.0, 0.0, np.log(2.0)], [1.0, 0.0, 0.5]),
        (torch.logsumexp(big, 0), 1000.0, [1.0, 0.0, 0.0]),
    ]
    for out, value, grad in cases:
        np.testing.assert_allclose(out.detach().numpy(), value, rtol=1e-6, atol=1e-30)
        out.sum().backward()
        np.testing.assert_allclose(big.grad.numpy(), grad, rtol=1e-6, atol=1e-30)
        big.grad = None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_element_arithmetic_equals_numpy_bit_for_bit(dtype):
    """Scalar updates (``p -= lr * p.grad``) take a Python-float path on one element: it must
    give NumPy's float32/float64 results exactly, over a wide range of magnitudes."""
    rng = np.random.default_rng(1)
    at_dtype = torch.float32 if dtype == np.float32 else torch.float64
    for _ in range(2000):
        v, u = (rng.standard_normal(2) * 10.0 ** rng.integers(-30, 30, 2)).astype(dtype)
        s = float(rng.standard_normal() * 10.0 ** rng.integers(-8, 8))
        x = torch.tensor(v, dtype=at_dtype)
        with np.errstate(over="ignore"):
            for got, want in ((s * x, np.array(v) * dtype(s)), (x + s, np.array(v) + dtype(s)),
                              (x - s, np.array(v) - dtype(s)), (s - x, dtype(s) - np.array(v))):
                assert got.dtype == at_dtype and got._data.tobytes() == np.asarray(want, dtype).tobytes()
            for name, ufunc in (("add_", np.add), ("sub_", np.subtract), ("mul_", np.multiply)):
                y = torch.tensor(v, dtype=at_dtype)
                getattr(y, name)(torch.tensor(u, dtype=at_dtype))
                assert y._data.tobytes() == np.asarray(ufunc(dtype(v), dtype(u)), dtype).tobytes()



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_element_inplace_operators_match_pytorch(dtype):
    """``p -= lr * p.grad`` on one element takes a Python-float path (``x -= y``, ``+=``, ``*=``):
    it must write NumPy's bits, bump the version, and fall back to the general rules (errors,
    mixed dtypes, recording) wherever it does not apply."""
    pt = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    at_dtype, pt_dtype = (torch.float32, pt.float32) if dtype == np.float32 else (torch.float64, pt.float64)
    for _ in range(300):
        v, u = (rng.standard_normal(2) * 10.0 ** rng.integers(-20, 20, 2)).astype(dtype)
        for op in ("__isub__", "__iadd__", "__imul__"):
            p = torch.tensor(v, dtype=at_dtype, requires_grad=True)
            with torch.no_grad():
                q = getattr(p, op)(torch.tensor(u, dtype=at_dtype))
            want = getattr(pt.tensor(v, dtype=pt_dtype), op)(pt.tensor(u, dtype=pt_dtype))
            assert q is p and p.requires_grad and p.is_leaf and p._vc[0] == 1
            assert p._data.tobytes() == want.numpy().tobytes()
    # a one-element tensor of another dtype: PyTorch's promotion (the result keeps p's dtype)
    p, w = torch.tensor([1.0], dtype=at_dtype), pt.tensor([1.0], dtype=pt_dtype)
    p -= torch.tensor(1e-9, dtype=torch.float64)
    w -= pt.tensor(1e-9, dtype=pt.float64)
    assert p.dtype == at_dtype and p._data.tobytes() == w.numpy().tobytes()
    # grad mode on: a leaf that requires grad refuses; a non-leaf records (gradients flow through)
    leaf = torch.tensor(2.0, dtype=at_dtype, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        leaf -= torch.tensor(1.0, dtype=at_dtype)
    h = leaf * 3.0
    h -= leaf
    h.backward()
    assert leaf.grad.item() == 2.0
    ro = np.ones((), dtype)
    ro.flags.writeable = False
    with pytest.raises(RuntimeError, match="read-only"):
        t = torch.from_numpy(ro)
        t -= torch.tensor(1.0, dtype=at_dtype)


PRINT_CASES = [[0.001, 1000.0], [1e-4, 1.0], [1e5, 1.0], [1e8], [1.0, 10000.0], [1.5, 2.25], [-1.0, 2.0, 3.5],
               [math.nan, math.inf, -math.inf], [math.inf, 1.0], [0.0, 0.0], [1e-5, 1e-5], [[1.5, 2.0], [3.0, -4.25]],
               [True, True], [True, False], list(range(30)), np.linspace(0, 1, 20, dtype=np.float32),
               np.linspace(-1, 1, 2000, dtype=np.float32), np.arange(3000, dtype=np.float32).reshape(30, 100),
               np.arange(3000).reshape(3, 1000)]


@pytest.mark.parametrize("values", PRINT_CASES, ids=[f"case{k}" for k in range(len(PRINT_CASES))])
def test_printing_matches_pytorch(values):
    pt = pytest.importorskip("torch")
    assert repr(torch.tensor(values)) == repr(pt.tensor(values))
