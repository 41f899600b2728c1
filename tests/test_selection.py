"""gather, index_select, take_along_dim, masked_fill, sort, argsort, topk: values, indices and
gradients against fixed expectations, finite differences and PyTorch."""
import numpy as np
import pytest

import autotape

A = np.array([[0.5, -1.0, 2.0, 0.0], [3.0, 1.5, -2.5, 1.0], [-0.5, 4.0, 0.25, 2.0]])

CASES = {
    "gather": lambda T, x: T.gather(x, 1, T.tensor([[0, 0], [1, 0], [3, 2]])),
    "gather_dim0": lambda T, x: x.gather(0, T.tensor([[0, 1, 2, 0], [2, 2, 2, 2]])),
    "index_select": lambda T, x: T.index_select(x, 1, T.tensor([3, 0, 3])),
    "index_select_dim0": lambda T, x: x.index_select(0, T.tensor([2])),
    "take_along_dim": lambda T, x: T.take_along_dim(x, T.argsort(x, dim=1), dim=1),
    "masked_fill": lambda T, x: x.masked_fill(x > 0.6, 0.5),
    "masked_fill_tensor": lambda T, x: x.masked_fill(T.tensor([True, False, True, False]),
                                                     T.tensor(2.0, dtype=x.dtype)),
    "sort": lambda T, x: T.sort(x, dim=1).values,
    "sort_descending": lambda T, x: T.sort(x, dim=0, descending=True).values,
    "topk": lambda T, x: T.topk(x, 2).values,
    "topk_smallest": lambda T, x: x.topk(2, dim=0, largest=False).values,
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    x = autotape.tensor(A, requires_grad=True)
    assert autotape.autograd.gradcheck(lambda t: CASES[name](autotape, t), [x])


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(torch, name):
    results = []
    for lib in (autotape, torch):
        x = lib.tensor(A, requires_grad=True)
        y = CASES[name](lib, x)
        (y * y).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy(), type(y.grad_fn).__name__))
    (ours, our_grad, our_fn), (ref, ref_grad, ref_fn) = results
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    np.testing.assert_allclose(our_grad, ref_grad, rtol=1e-12)
    if not name.startswith("masked_fill"):  # (ours is a where: WhereBackward0)
        assert our_fn == ref_fn


def test_values_and_gradients():
    x = autotape.tensor(A, requires_grad=True)
    y = autotape.gather(x, 1, autotape.tensor([[0, 0], [1, 0], [3, 2]]))
    assert y.tolist() == [[0.5, 0.5], [1.5, 3.0], [2.0, 0.25]]
    y.sum().backward()
    assert x.grad.tolist() == [[2, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]]  # repeated picks add up
    values, indices = autotape.topk(autotape.tensor([1.0, 3.0, 2.0]), 2)
    assert values.tolist() == [3.0, 2.0] and indices.tolist() == [1, 2]
    s = autotape.sort(autotape.tensor([3.0, 1.0, 2.0]))
    assert s.values.tolist() == [1.0, 2.0, 3.0] and s.indices.tolist() == [1, 2, 0]
    assert autotape.argsort(autotape.tensor([3.0, 1.0, 2.0]), descending=True).tolist() == [0, 2, 1]


def test_sort_order_of_ties_and_nan():
    nan = float("nan")
    s = autotape.sort(autotape.tensor([1.0, nan, 3.0]), descending=True)
    assert s.indices.tolist() == [1, 2, 0]  # NaN is the largest, as in PyTorch
    assert autotape.sort(autotape.tensor([1.0, nan, 3.0])).indices.tolist() == [0, 2, 1]
    assert autotape.sort(autotape.tensor([2, 1, 2, 1]), descending=True).indices.tolist() == [0, 2, 1, 3]  # stable


def test_masked_fill_in_place():
    x = autotape.arange(3.0)
    assert x.masked_fill_(autotape.tensor([True, False, True]), 2.0) is x
    assert x.tolist() == [2.0, 1.0, 2.0]


@pytest.mark.parametrize("call,error,words", [
    (lambda: autotape.gather(autotape.arange(3.0), 0, autotape.tensor([-1])), RuntimeError, "out of bounds"),
    (lambda: autotape.gather(autotape.arange(3.0), 0, autotape.tensor([0.0])), RuntimeError, "int64"),
    (lambda: autotape.gather(autotape.ones(2, 2), 0, autotape.tensor([0])), RuntimeError, "same number of dimensions"),
    (lambda: autotape.gather(autotape.ones(2, 2), 0, autotape.tensor([[0, 0, 0]])), RuntimeError, "no larger"),
    (lambda: autotape.index_select(autotape.arange(3.0), 0, autotape.tensor([3])), IndexError, "out of range"),
    (lambda: autotape.index_select(autotape.arange(3.0), 0, autotape.tensor([[0]])), IndexError, "vector"),
    (lambda: autotape.arange(3.0).masked_fill(autotape.tensor([1, 0, 1]), 2.0), RuntimeError, "boolean"),
    (lambda: autotape.arange(3.0).masked_fill(autotape.tensor([True]), autotape.tensor([2.0])), RuntimeError,
     "0-dimensional"),
    (lambda: autotape.topk(autotape.arange(3.0), 4), RuntimeError, "out of range"),
])
def test_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()
