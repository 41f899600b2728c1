"""nn.utils (gradient clipping, parameters as a vector), nn.ModuleDict, F.one_hot, F.normalize:
fixed expectations and PyTorch parity."""
import numpy as np
import pytest

import autotape
from autotape import nn
from autotape.nn import functional as F


def _params(lib, grads):
    params = []
    for g in grads:
        p = lib.nn.Parameter(lib.zeros(len(g), dtype=lib.float64))
        p.grad = lib.tensor(g, dtype=lib.float64)
        params.append(p)
    return params


GRADS = [[3.0, 4.0], [12.0], [-1.0, 0.5, 2.0]]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_matches_torch(torch, norm_type):
    results = []
    for lib in (autotape, torch):
        params = _params(lib, GRADS)
        total = lib.nn.utils.clip_grad_norm_(params, 1.5, norm_type=norm_type)
        results.append((total.item(), [p.grad.numpy().copy() for p in params]))
    (total, grads), (ref_total, ref_grads) = results
    assert total == pytest.approx(ref_total, rel=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-12)


def test_clip_grad_norm_values():
    params = _params(autotape, [[3.0, 4.0], [12.0]])
    assert nn.utils.clip_grad_norm_(params, 1.0).item() == pytest.approx(13.0)
    np.testing.assert_allclose(params[0].grad.numpy(), [3 / (13 + 1e-6), 4 / (13 + 1e-6)])
    small = _params(autotape, [[0.3, 0.4]])
    nn.utils.clip_grad_norm_(small[0], 1.0)  # a norm below max_norm: unchanged
    assert small[0].grad.tolist() == [0.3, 0.4]
    assert nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(_params(autotape, [[float("inf")]]), 1.0, error_if_nonfinite=True)


def test_clip_grad_value_and_vectors():
    params = _params(autotape, [[3.0, -4.0], [0.5]])
    nn.utils.clip_grad_value_(params, 1.0)
    assert params[0].grad.tolist() == [1.0, -1.0] and params[1].grad.tolist() == [0.5]
    a, b = nn.Parameter(autotape.tensor([1.0, 2.0])), nn.Parameter(autotape.tensor([[3.0]]))
    vec = nn.utils.parameters_to_vector([a, b])
    assert vec.tolist() == [1.0, 2.0, 3.0] and vec.grad_fn is not None
    nn.utils.vector_to_parameters(autotape.tensor([5.0, 6.0, 7.0]), [a, b])
    assert a.tolist() == [5.0, 6.0] and b.tolist() == [[7.0]]


def test_module_dict():
    d = nn.ModuleDict({"a": nn.Linear(1, 2), "b": nn.ReLU()})
    assert list(d.keys()) == ["a", "b"] and "a" in d and len(d) == 2
    assert len(list(d.parameters())) == 2
    d["c"] = nn.Linear(2, 1)
    assert [name for name, _ in d.named_parameters()] == ["a.weight", "a.bias", "c.weight", "c.bias"]
    assert isinstance(d.pop("a"), nn.Linear) and list(d) == ["b", "c"]
    del d["c"]
    assert not list(d.parameters())
    with pytest.raises(TypeError, match="not a Module"):
        d["x"] = 3


def test_one_hot():
    assert F.one_hot(autotape.tensor([0, 2]), -1).tolist() == [[1, 0, 0], [0, 0, 1]]
    out = F.one_hot(autotape.tensor([[1], [0]]), 3)
    assert out.shape == (2, 1, 3) and out.dtype == autotape.int64
    for bad, words in [(autotape.tensor([0.0]), "LongTensor"), (autotape.tensor([3]), "smaller"),
                       (autotape.tensor([-1]), "non-negative")]:
        with pytest.raises(RuntimeError, match=words):
            F.one_hot(bad, 3)


def test_normalize_matches_torch(torch):
    data = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -2.0]])
    results = []
    for lib in (autotape, torch):
        x = lib.tensor(data, requires_grad=True)
        y = lib.nn.functional.normalize(x, dim=1)
        (y * lib.tensor([[1.0, 2.0]], dtype=lib.float64)).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)
    assert F.normalize(autotape.tensor([3.0, 4.0]), dim=0).tolist() == pytest.approx([0.6, 0.8])
