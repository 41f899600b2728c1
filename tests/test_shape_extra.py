"""tril, triu, diag, diagonal, trace, roll, tile, movedim, ravel, cumprod, addmm, einsum, and
LayerNorm, Embedding, ParameterList, pad, cosine_similarity, pairwise_distance: values, gradients
and grad_fn names against PyTorch, gradients against finite differences (float64), on CUDA (the
simulator) against CPU, and replayed by autotape.compile."""
import numpy as np
import pytest

import autotape

R = np.random.default_rng(0)
A = R.standard_normal((3, 4))
B = R.standard_normal((2, 3, 4))
A[1, 2] = 0.0  # (cumprod's gradient through a zero)
V = R.standard_normal(4)

# name: (fn of (library, *inputs), inputs, whether grad_fn's name is PyTorch's)
CASES = {
    "tril": (lambda T, x: x.tril(), (A,), True),
    "tril_k": (lambda T, x: T.tril(x, -1), (B,), True),
    "triu_k": (lambda T, x: T.triu(x, 2), (A,), True),
    "triu_t": (lambda T, x: x.t().triu(), (A,), True),
    "diag_of_matrix": (lambda T, x: T.diag(x, 1), (A,), False),  # (PyTorch's: DiagonalBackward0_copy)
    "diag_of_vector": (lambda T, v: T.diag(v, -1), (V,), True),
    "diagonal": (lambda T, x: x.diagonal(1, 2, 0), (B,), True),
    "trace": (lambda T, x: x.trace(), (A,), True),
    "roll": (lambda T, x: x.roll((1, -2), (0, 2)), (B,), True),
    "roll_flat": (lambda T, x: T.roll(x, 5), (A,), True),
    "tile": (lambda T, x: x.tile((2, 1, 3)), (A,), True),
    "movedim": (lambda T, x: T.movedim(x, (0, 2), (2, 1)), (B,), True),
    "moveaxis": (lambda T, x: x.moveaxis(-1, 0), (B,), True),
    "ravel": (lambda T, x: x.ravel(), (A,), True),
    "ravel_t": (lambda T, x: x.t().ravel(), (A,), True),
    "cumprod": (lambda T, x: x.cumprod(1), (A,), True),
    "cumprod_dim0": (lambda T, x: T.cumprod(x, 0), (B,), True),
    "addmm": (lambda T, v, a, b: T.addmm(v, a.t(), b, beta=0.5, alpha=2.0), (V, A, A), True),
    "addmm_method": (lambda T, c, a: c.addmm(a.t(), a), (np.ones((4, 4)), A), True),
    "einsum_mm": (lambda T, a, b: T.einsum("ij,kj->ik", a, b), (A, A), False),
    "einsum_bmm": (lambda T, a, b: T.einsum("bij,bkj->bki", a, b), (B, B), False),
    "einsum_sum": (lambda T, a: T.einsum("ijk->j", a), (B,), True),
    "einsum_diag": (lambda T, a: T.einsum("ii->i", a[:, :3]), (A,), False),
    "einsum_outer": (lambda T, a, b: T.einsum("i,j", a, b), (V, V[:3]), False),
    "einsum_three": (lambda T, a, b, c: T.einsum("ij,jk,k->i", a, b, c), (A, A.T, V[:3]), False),
    "einsum_ellipsis": (lambda T, a, b: T.einsum("...ij,...jk->...ik", a, b), (B, A.T), False),
    "einsum_ellipsis_implicit": (lambda T, a: T.einsum("...ii", a[..., :3]), (B,), False),
    "einsum_broadcast": (lambda T, a, b: T.einsum("ij,j->ij", a, b), (A, V[:1]), False),
    "einsum_list": (lambda T, a, b: T.einsum("bij,j->bi", [a, b]), (B, V), False),
    "layer_norm": (lambda T, x: T.nn.functional.layer_norm(x, (3, 4)), (B,), False),
    "layer_norm_affine": (lambda T, x, w, b: T.nn.functional.layer_norm(x, (4,), w, b, 1e-3), (B, V, V[::-1].copy()),
                          False),
    "embedding": (lambda T, w: T.nn.functional.embedding(T.tensor([[0, 2, 2], [1, 0, 2]]), w), (A,), True),
    "embedding_padding": (lambda T, w: T.nn.functional.embedding(T.tensor([0, 2, 1, 2]), w, padding_idx=-1),
                          (A,), True),
    "pad": (lambda T, x: T.nn.functional.pad(x, (1, 2, 0, 1), value=0.5), (B,), True),
    "pad_crop": (lambda T, x: T.nn.functional.pad(x, (-1, 2, 1, -2, 1, 0)), (B,), True),
    "cosine_similarity": (lambda T, a, b: T.nn.functional.cosine_similarity(a, b, dim=-1), (B, A), True),
    "pairwise_distance": (lambda T, a, b: T.nn.functional.pairwise_distance(a, b, p=3.0, keepdim=True),
                          (A, 0.5 - A[::-1]), False),  # (PyTorch's: NormBackward1)
}


def _inputs(lib, arrays):
    return [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in arrays]


# padding_idx's row gets no gradient, by design: not the derivative finite differences see
@pytest.mark.parametrize("name", [name for name in CASES if name != "embedding_padding"])
def test_gradcheck(name):
    fn, arrays, _ = CASES[name]
    assert autotape.autograd.gradcheck(lambda *xs: fn(autotape, *xs), _inputs(autotape, arrays))


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(torch, name):
    fn, arrays, same_name = CASES[name]
    results = []
    for lib in (autotape, torch):
        xs = _inputs(lib, arrays)
        y = fn(lib, *xs)
        (y * y).sum().backward()
        results.append((y.detach().numpy(), [x.grad.numpy() for x in xs], type(y.grad_fn).__name__))
    (ours, our_grads, our_fn), (ref, ref_grads, ref_fn) = results
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    for g, r in zip(our_grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
    if same_name:
        assert our_fn == ref_fn


def test_tril_keeps_infinities_out():
    x = autotape.tensor([[1.0, np.inf], [np.nan, 2.0]])
    assert x.tril().tolist()[0] == [1.0, 0.0] and x.triu().tolist() == [[1.0, np.inf], [0.0, 2.0]]


def test_cosine_similarity_of_a_zero_vector(torch):
    results = []
    for lib in (autotape, torch):
        a = lib.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=lib.float64, requires_grad=True)
        b = lib.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=lib.float64, requires_grad=True)
        y = lib.nn.functional.cosine_similarity(a, b)
        y.sum().backward()
        results.append((y.detach().numpy(), a.grad.numpy(), b.grad.numpy()))
    for ours, ref in zip(*results):
        np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_integer_inputs(torch):
    a = np.arange(12).reshape(3, 4)
    for fn in (lambda T, x: x.tril(), lambda T, x: x.cumprod(1), lambda T, x: T.diag(x),
               lambda T, x: x[:, :3].trace(), lambda T, x: x.roll(1, 1)):
        ours, ref = fn(autotape, autotape.tensor(a)), fn(torch, torch.tensor(a))
        assert ours.dtype == autotape.int64 and ours.tolist() == ref.tolist()


def test_errors():
    x = autotape.zeros(3, 4)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        autotape.tril(autotape.zeros(3))
    with pytest.raises(RuntimeError, match="diagonal dimensions cannot be identical"):
        x.diagonal(0, 1, 1)
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        x.roll((1, 2), 0)
    with pytest.raises(RuntimeError, match="does not match the number of dimensions"):
        autotape.einsum("ijk->i", x)
    with pytest.raises(RuntimeError, match="does not appear"):
        autotape.einsum("ij->k", x)
    with pytest.raises(RuntimeError, match="do not broadcast"):
        autotape.einsum("ij,kj->ik", x, autotape.zeros(5, 3))
    with pytest.raises(RuntimeError, match="normalized_shape"):
        autotape.nn.functional.layer_norm(x, (3,))
    with pytest.raises(RuntimeError, match="divisible by 2"):
        autotape.nn.functional.pad(x, (1,))
    with pytest.raises(NotImplementedError, match="constant"):
        autotape.nn.functional.pad(x, (1, 1), mode="reflect")
    with pytest.raises(IndexError, match="index out of range"):
        autotape.nn.functional.embedding(autotape.tensor([3]), x)


def test_layers_match_torch(torch):
    autotape.manual_seed(0)
    emb = autotape.nn.Embedding(6, 3, padding_idx=2)
    assert emb.weight.shape == (6, 3) and emb.weight[2].tolist() == [0.0, 0.0, 0.0]
    assert abs(float(autotape.nn.Embedding(200, 50).weight.std())) == pytest.approx(1.0, abs=0.05)  # N(0, 1)
    idx = [[2, 0], [5, 2]]
    ref = torch.nn.Embedding(6, 3, padding_idx=2)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(emb.weight.detach().numpy()))
    for m, T in ((emb, autotape), (ref, torch)):
        (m(T.tensor(idx)) ** 2).sum().backward()
    np.testing.assert_allclose(emb.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-6)
    assert emb.weight.grad[2].tolist() == [0.0, 0.0, 0.0]
    assert repr(emb) == repr(ref)

    ln, ref = autotape.nn.LayerNorm((3, 4), eps=1e-3), torch.nn.LayerNorm((3, 4), eps=1e-3)
    assert repr(ln) == repr(ref) and [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    x = B.astype(np.float32)
    np.testing.assert_allclose(ln(autotape.tensor(x)).detach().numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert list(autotape.nn.LayerNorm(4, bias=False).parameters())[0].shape == (4,)
    assert not list(autotape.nn.LayerNorm(4, elementwise_affine=False).parameters())


def test_parameter_list():
    pl = autotape.nn.ParameterList([autotape.randn(2), autotape.nn.Parameter(autotape.randn(3))])
    pl.append(autotape.zeros(4))
    assert len(pl) == 3 and [p.shape[0] for p in pl] == [2, 3, 4]
    assert all(isinstance(p, autotape.nn.Parameter) and p.requires_grad for p in pl)
    owner = autotape.nn.Module()
    owner.params = pl
    assert [n for n, _ in owner.named_parameters()] == ["params.0", "params.1", "params.2"]
    assert pl[-1] is list(pl)[2] and len(pl[:2]) == 2


def test_inside_compile():
    x = autotape.tensor(A, requires_grad=True)
    step = autotape.compile(lambda: (autotape.einsum("ij,kj->ik", x.tril(), x.roll(1, 0)) ** 2).sum())
    for _ in range(3):
        x.grad = None
        loss = step()
        loss.backward()
        got = (loss.item(), x.grad.numpy().copy())
    x.grad = None
    eager = (autotape.einsum("ij,kj->ik", x.tril(), x.roll(1, 0)) ** 2).sum()
    eager.backward()
    assert got[0] == pytest.approx(eager.item(), rel=1e-12)
    np.testing.assert_allclose(got[1], x.grad.numpy(), rtol=1e-12)


ON_CUDA = ["tril_k", "diag_of_vector", "diagonal", "trace", "roll", "cumprod", "addmm", "einsum_three",
           "embedding_padding", "layer_norm_affine", "pad_crop", "cosine_similarity"]


@pytest.mark.parametrize("name", ON_CUDA)
def test_cuda_matches_cpu(name):
    pytest.importorskip("numba.cuda")
    if not autotape.cuda.is_available():
        pytest.skip("no CUDA device and no simulator")
    fn, arrays, _ = CASES[name]
    results = []
    for device in ("cpu", "cuda"):
        xs = [autotape.tensor(a, device=device, requires_grad=True) for a in arrays]
        y = fn(autotape, *xs)
        (y * y).sum().backward()
        assert y.device.type == device
        results.append((y.detach().cpu().numpy(), [x.grad.cpu().numpy() for x in xs]))
    (ours, grads), (ref, ref_grads) = results[1], results[0]
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


def test_layers_inside_compile():
    """Embedding (no padding_idx: its detached copy would be a constant of the replay), LayerNorm,
    cumprod, pad and einsum replayed: equal to eager after the weights change."""
    autotape.manual_seed(0)
    emb, ln = autotape.nn.Embedding(5, 4, dtype=autotape.float64), autotape.nn.LayerNorm(4, dtype=autotape.float64)
    idx = autotape.tensor([[0, 1, 2], [3, 4, 0]])
    F = autotape.nn.functional

    def f():
        h = ln(emb(idx))
        padded = F.pad(h, (1, 1), value=2.0)
        return (h.cumprod(1) ** 2).sum() + (padded ** 2).sum() + autotape.einsum("...ij,...kj", h, h).sum()

    step, params = autotape.compile(f), [emb.weight, ln.weight, ln.bias]
    for k in range(3):
        with autotape.no_grad():
            for p in params:
                p.add_(0.1 * k)
        results = []
        for fn in (step, f):
            for p in params:
                p.grad = None
            loss = fn()
            loss.backward()
            results.append([loss.item()] + [p.grad.numpy().copy() for p in params])
        for ours, ref in zip(*results):
            np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
