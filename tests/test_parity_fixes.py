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
