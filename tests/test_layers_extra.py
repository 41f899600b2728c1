"""nn.LeakyReLU / F.leaky_relu and nn.Dropout / F.dropout against PyTorch."""
import numpy as np
import pytest

import autotape

X = np.array([-2.0, -0.5, 0.0, 0.3, 1.5])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_leaky_relu_matches_pytorch(torch, dtype):
    results = []
    for lib in (autotape, torch):
        x = lib.tensor(X, dtype=getattr(lib, dtype), requires_grad=True)
        y = lib.nn.LeakyReLU(0.2)(x)
        (y * lib.arange(5, dtype=getattr(lib, dtype))).sum().backward()
        results.append((type(y.grad_fn).__name__, y.detach().numpy(), x.grad.numpy()))
        assert repr(lib.nn.LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"
    (n1, y1, g1), (n2, y2, g2) = results
    assert n1 == n2 == "LeakyReluBackward0"
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, g2)  # at 0 the gradient is the slope's, as PyTorch's
    z = autotape.tensor(X)
    autotape.nn.functional.leaky_relu(z, 0.5, inplace=True)
    np.testing.assert_array_equal(z.numpy(), np.where(X > 0, X, 0.5 * X))


def test_dropout_zeroes_and_scales_while_training_and_is_the_identity_in_eval():
    autotape.manual_seed(0)
    layer = autotape.nn.Dropout(0.3)
    assert repr(layer) == "Dropout(p=0.3, inplace=False)"
    x = autotape.ones(20000, dtype=autotape.float64, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    kept = y.detach().numpy() != 0
    assert abs(1 - kept.mean() - 0.3) < 0.02  # the share zeroed
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.7, rtol=1e-15)
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())  # d(x * mask)/dx = mask
    layer.eval()
    assert layer(x) is x
    autotape.manual_seed(0)
    again = autotape.nn.Dropout(0.3)(autotape.ones(20000, dtype=autotape.float64))
    np.testing.assert_array_equal(again.numpy() != 0, kept)  # manual_seed repeats the mask
    assert autotape.nn.functional.dropout(x, 1.0).detach().numpy().max() == 0.0
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        autotape.nn.Dropout(1.5)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        autotape.nn.functional.dropout(x, -0.1)


def test_dropout_inside_compile_raises_as_random_numbers_do():
    from autotape.compile import CompileError

    w = autotape.ones(3, requires_grad=True)
    step = autotape.compile(lambda: autotape.nn.functional.dropout(w, 0.5).sum())
    with pytest.raises(CompileError, match="random"):
        step()
