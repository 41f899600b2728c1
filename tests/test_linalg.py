"""autotape.linalg: vector_norm, matrix_norm, norm and matmul, against fixed values, finite
differences and PyTorch (where it is installed)."""
import math
import re

import numpy as np
import pytest

import autotape as at
from autotape import linalg as L

INF = math.inf
ORDS = [2, 1, INF, -INF, 0, 3, 1.5, 0.5, -1, -2.5]


def _values(dtype):
    """(2, 3, 4) values with a zero vector along the last dim and scattered zeros."""
    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    x[0, 1, :] = 0.0
    x[1, 0, 2] = x[1, 2, 0] = 0.0
    return x.astype(dtype)


def test_fixed_values_and_gradients():
    v = at.tensor([3.0, -4.0], dtype=at.float64, requires_grad=True)
    expected = {2: 5.0, 1: 7.0, INF: 4.0, -INF: 3.0, 0: 2.0, -1: 12 / 7, 3: 91 ** (1 / 3), 0.5: 7 + 4 * math.sqrt(3)}
    for ord, value in expected.items():
        assert L.vector_norm(v, ord).item() == pytest.approx(value, rel=1e-14), ord
    L.vector_norm(v).backward()
    np.testing.assert_allclose(v.grad.numpy(), [0.6, -0.8], rtol=1e-15)
    for ord in (2, 1, 3, 0.5, -1, 0):  # the gradient at a zero vector is 0, as PyTorch's
        z = at.zeros(3, dtype=at.float64, requires_grad=True)
        L.vector_norm(z, ord).backward()
        assert z.grad.tolist() == [0.0, 0.0, 0.0], ord
    m = at.tensor([[1.0, -2.0], [3.0, 4.0]], dtype=at.float64)
    for ord, value in {None: math.sqrt(30), "fro": math.sqrt(30), 1: 6.0, -1: 4.0, INF: 7.0, -INF: 3.0}.items():
        assert L.norm(m, ord).item() == pytest.approx(value, rel=1e-15), ord
    assert L.norm(m, dim=1).tolist() == pytest.approx([math.sqrt(5), 5.0], rel=1e-15)
    assert L.matmul is at.matmul


@pytest.mark.parametrize("ord", [2, 1, 3, 1.5, 0.5, -1])
def test_gradcheck_float64(ord):
    x = at.tensor(np.random.default_rng(1).uniform(0.5, 2.0, (3, 4)) * [1, -1, 1, -1], requires_grad=True)
    assert at.autograd.gradcheck(lambda t: L.vector_norm(t, ord, dim=1), [x], eps=1e-6, atol=1e-6, rtol=1e-4)
    assert at.autograd.gradcheck(lambda t: L.norm(t, ord if ord in (1, -1) else "fro"), [x], eps=1e-6, atol=1e-6,
                                 rtol=1e-4)


def _compare(torch, fn, dtype):
    """fn(module, x) on autotape and torch: values, grad_fn names and input gradients (or the
    error PyTorch raises)."""
    data = _values(dtype)
    try:
        fn(torch, torch.tensor(data))
    except RuntimeError as e:
        with pytest.raises(RuntimeError, match=re.escape(str(e))):
            fn(at, at.tensor(data))
        return
    results = []
    for lib in (at, torch):
        x = lib.tensor(data, requires_grad=True)
        y = fn(lib, x)
        seed = lib.tensor(np.linspace(-1.0, 2.0, y.numel()).reshape(tuple(y.shape)).astype(dtype))
        y.backward(seed)
        grad = np.zeros_like(data) if x.grad is None else x.grad.numpy()
        results.append((type(y.grad_fn).__name__, y.detach().numpy(), grad, str(y.dtype).split(".")[1]))
    (n1, y1, g1, d1), (n2, y2, g2, d2) = results
    assert n1 == n2 and d1 == d2
    tol = dict(rtol=1e-12, atol=1e-300) if dtype == np.float64 else dict(rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(y1, y2, **tol)
    np.testing.assert_allclose(g1, g2, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (-1, False), ((0, 2), True), (1, True)])
@pytest.mark.parametrize("ord", ORDS)
def test_vector_norm_matches_torch(torch, ord, dim, keepdim, dtype):
    # (ord 0 counts nonzeros: PyTorch leaves no gradient, autotape a zero one, compared as zeros)
    _compare(torch, lambda T, x: T.linalg.vector_norm(x, ord, dim, keepdim), dtype)


@pytest.mark.parametrize("ord,dim,keepdim", [
    (None, None, False), ("fro", None, False), (None, (0, 2), True), (1, (0, 2), False), (-1, (2, 1), True),
    (INF, (1, 2), False), (-INF, (2, 0), False), (INF, (0, 1), True), (3, 1, False), (0.5, -1, True), (None, 0, False),
])
def test_norm_matches_torch(torch, ord, dim, keepdim):
    _compare(torch, lambda T, x: T.linalg.norm(x, ord, dim, keepdim), np.float64)
    _compare(torch, lambda T, x: T.linalg.norm(x[0], ord, keepdim=keepdim), np.float64)  # a matrix, dims implied
    _compare(torch, lambda T, x: T.linalg.norm(x[0, 0], ord, keepdim=keepdim), np.float64)  # a vector
    _compare(torch, lambda T, x: T.linalg.matrix_norm(x, "fro" if ord is None else ord, keepdim=keepdim), np.float64)


def test_dtype_casts_first(torch):
    x = at.tensor([3.0, -4.0], requires_grad=True)
    y = L.vector_norm(x, dtype=at.float64)
    assert y.dtype == at.float64 and y.item() == 5.0
    y.backward()
    assert x.grad.dtype == at.float32 and x.grad.tolist() == pytest.approx([0.6, -0.8])
    assert L.norm(x.reshape(1, 2), dtype=at.float64).dtype == at.float64


def test_errors_as_pytorch():
    m = at.ones(2, 2)
    for ord in ("nuc", 2, -2):
        with pytest.raises(NotImplementedError, match="needs an SVD"):
            L.norm(m, ord)
    with pytest.raises(RuntimeError, match="linalg.matrix_norm: Order 3 not supported."):
        L.norm(m, 3)
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor as input. Got Long"):
        L.vector_norm(at.arange(3))
    with pytest.raises(RuntimeError, match="dtype should be floating point or complex, but got Long"):
        L.vector_norm(m, dtype=at.int64)
    with pytest.raises(RuntimeError, match=r"the dtype of the input \(Double\) should be convertible without "
                                           r"narrowing to the specified dtype \(Float\)"):
        L.vector_norm(m.double(), dtype=at.float32)
    with pytest.raises(RuntimeError, match="cannot compute the inf norm on an empty tensor"):
        L.vector_norm(at.zeros(0), INF)
    with pytest.raises(RuntimeError, match="cannot compute the -1 norm on the dimension 0 because"):
        L.vector_norm(at.zeros(0, 3), -1, dim=0)
    assert L.vector_norm(at.zeros(0, 3), 2).item() == 0.0
    with pytest.raises(TypeError, match="argument 'ord' \\(position 2\\) must be Number, not str"):
        L.vector_norm(m, "fro")
    with pytest.raises(TypeError, match="linalg_vector_norm\\(\\): argument 'input' \\(position 1\\) must be Tensor"):
        L.vector_norm([1.0])
    with pytest.raises(RuntimeError, match="If dim is not specified but ord is, the input must be 1D or 2D. Got 3D."):
        L.norm(at.ones(1, 2, 2), 1)
    with pytest.raises(RuntimeError, match="If dim is specified, it must be of length 1 or 2. Got \\[0, 1, 2\\]"):
        L.norm(at.ones(1, 2, 2), dim=(0, 1, 2))
    with pytest.raises(RuntimeError, match="dim must be a 2-tuple. Got 0"):
        L.norm(m, "fro", dim=0)
    with pytest.raises(RuntimeError, match="dims must be different. Got \\(0, -2\\)"):
        L.matrix_norm(m, dim=(0, -2))
    with pytest.raises(RuntimeError, match="The input tensor A must have at least 2 dimensions."):
        L.matrix_norm(at.ones(3))


@pytest.mark.parametrize("ord", [0, -1, 0.5, 1.5])
def test_compile_replays_the_new_orders(ord):
    """``autotape.compile``'s forward kernel of a norm record (the count of nonzeros for ord 0)."""
    x = at.tensor(_values(np.float64)[0], requires_grad=True)

    def step():
        x.grad = None
        loss = (L.vector_norm(x * 1.0, ord, dim=1) * at.arange(3.0, dtype=at.float64)).sum()
        loss.backward()
        return loss

    eager = step().item(), x.grad.numpy().copy()
    compiled = at.compile(step)
    for _ in range(2):
        assert compiled().item() == pytest.approx(eager[0], rel=1e-14)
        np.testing.assert_allclose(x.grad.numpy(), eager[1], rtol=1e-14)


@pytest.mark.parametrize("ord", [0, -1, 0.5, 1.5])
def test_cuda_matches_cpu(ord):
    pytest.importorskip("numba.cuda")
    if not at.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")
    data = _values(np.float64)[0]
    results = []
    for device in ("cpu", "cuda"):
        x = at.tensor(data, device=device, requires_grad=True)
        y = L.vector_norm(x, ord, dim=1)
        y.backward(at.tensor([1.0, 2.0, 3.0], dtype=at.float64, device=device))
        results.append((y.cpu().detach().numpy(), x.grad.cpu().numpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-12, atol=1e-300)
