"""autograd.functional.jacobian and vjp: against finite differences and PyTorch."""
import numpy as np
import pytest

import autotape
from autotape.autograd.functional import hessian, jacobian, jvp, vjp

X = np.array([0.3, -1.2, 2.0])
Y = np.array([[1.5, -0.5], [0.25, 2.0]])


def _f(x, y):
    return x.sin() * y[0, 0], (x ** 2).sum() + y.prod() * x[1]


def _numeric_jacobian(fn, arrays, k_out, k_in, eps=1e-6):
    base = [a.copy() for a in arrays]
    out_shape = np.shape(fn(*base)[k_out])
    J = np.zeros(out_shape + arrays[k_in].shape)
    for idx in np.ndindex(arrays[k_in].shape):
        plus, minus = [a.copy() for a in base], [a.copy() for a in base]
        plus[k_in][idx] += eps
        minus[k_in][idx] -= eps
        J[(Ellipsis,) + idx] = (np.asarray(fn(*plus)[k_out]) - np.asarray(fn(*minus)[k_out])) / (2 * eps)
    return J


def _np_f(x, y):
    return np.sin(x) * y[0, 0], (x ** 2).sum() + y.prod() * x[1]


def test_jacobian_matches_finite_differences_and_torch(torch):
    J = jacobian(_f, (autotape.tensor(X), autotape.tensor(Y)))
    ref = torch.autograd.functional.jacobian(_f, (torch.tensor(X), torch.tensor(Y)))
    for k_out in range(2):
        for k_in in range(2):
            got = J[k_out][k_in]
            assert tuple(got.shape) == tuple(ref[k_out][k_in].shape) and got.dtype == autotape.float64
            np.testing.assert_allclose(got.numpy(), _numeric_jacobian(_np_f, [X, Y], k_out, k_in), atol=1e-8)
            np.testing.assert_allclose(got.numpy(), ref[k_out][k_in].numpy(), rtol=1e-12, atol=1e-15)
    single = jacobian(lambda x: x.exp() * x.sum(), autotape.tensor(X, dtype=autotape.float32))
    want = torch.autograd.functional.jacobian(lambda x: x.exp() * x.sum(), torch.tensor(X, dtype=torch.float32))
    assert single.dtype == autotape.float32
    np.testing.assert_allclose(single.numpy(), want.numpy(), rtol=1e-6)


def test_unused_inputs_get_zeros_and_inputs_are_not_touched():
    x = autotape.tensor(X, requires_grad=True)
    J = jacobian(lambda a, b: a * 2, (x, autotape.tensor(Y)))
    np.testing.assert_array_equal(J[1].numpy(), np.zeros((3, 2, 2)))
    np.testing.assert_array_equal(J[0].numpy(), 2 * np.eye(3))
    assert x.grad is None  # the jacobian's backward runs on detached copies


def test_vjp_matches_torch(torch):
    v = np.array([0.5, -2.0, 1.0])
    out, g = vjp(lambda x: x.sin() * x, autotape.tensor(X), autotape.tensor(v))
    rout, rg = torch.autograd.functional.vjp(lambda x: x.sin() * x, torch.tensor(X), torch.tensor(v))
    np.testing.assert_allclose(out.numpy(), rout.numpy(), rtol=1e-15)
    np.testing.assert_allclose(g.numpy(), rg.numpy(), rtol=1e-15)
    assert not out.requires_grad
    _, (g1, g2) = vjp(lambda x, y: (x * y[0, 1]).sum(), (autotape.tensor(X), autotape.tensor(Y)))
    np.testing.assert_allclose(g1.numpy(), np.full(3, Y[0, 1]))
    np.testing.assert_allclose(g2.numpy(), [[0, X.sum()], [0, 0]])


def test_errors():
    with pytest.raises(RuntimeError, match="can only be None if the user-provided function returns a single"):
        vjp(lambda x: x * 2, autotape.tensor(X))
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        jacobian(lambda x: x, [autotape.tensor(X)])
    with pytest.raises(NotImplementedError, match="create_graph"):
        hessian(lambda x: (x ** 3).sum(), autotape.tensor(X))
    with pytest.raises(NotImplementedError, match="create_graph"):
        jvp(lambda x: x, autotape.tensor(X))
    with pytest.raises(NotImplementedError, match="create_graph"):
        jacobian(lambda x: x, autotape.tensor(X), create_graph=True)


@pytest.mark.skipif(not autotape.cuda.is_available(), reason="no CUDA device and no simulator")
def test_on_cuda_tensors():
    x = autotape.tensor([1.0, 2.0], device="cuda")
    J = jacobian(lambda a: a * a.sum(), x)
    assert J.is_cuda
    np.testing.assert_allclose(J.numpy(force=True), [[4.0, 1.0], [2.0, 5.0]])  # force: a host copy, as PyTorch
    _, (g1, g2) = vjp(lambda a, b: (a * 3).sum(), (x, x.clone()))
    assert g2.is_cuda and g2.tolist() == [0.0, 0.0] and g1.tolist() == [3.0, 3.0]
