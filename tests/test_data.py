"""autotape.utils.data against torch.utils.data: the same batches, collation and errors."""
import numpy as np
import pytest

import autotape
from autotape.utils.data import DataLoader, Dataset, TensorDataset, default_collate


def _pairs(n=10):
    x = autotape.arange(n * 2, dtype=autotape.float64).reshape(n, 2)
    y = autotape.arange(n)
    return x, y


def test_batches_in_order_match_torch(torch):
    x, y = _pairs()
    for bs, drop in [(1, False), (3, False), (3, True), (10, False), (64, False)]:
        ours = list(DataLoader(TensorDataset(x, y), batch_size=bs, drop_last=drop))
        ref = list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x.numpy()),
                                                                                torch.tensor(y.numpy())),
                                               batch_size=bs, drop_last=drop))
        assert len(ours) == len(ref) == len(DataLoader(TensorDataset(x, y), batch_size=bs, drop_last=drop))
        for (xb, yb), (rx, ry) in zip(ours, ref):
            assert isinstance((xb, yb), tuple) and type(ours[0]) is list
            np.testing.assert_array_equal(xb.numpy(), rx.numpy())
            np.testing.assert_array_equal(yb.numpy(), ry.numpy())
            assert xb.dtype == autotape.float64 and yb.dtype == autotape.int64


def test_shuffle_covers_every_sample_once_and_repeats_with_the_seed():
    x, y = _pairs(25)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)
    autotape.manual_seed(3)
    first = [yb.tolist() for _, yb in loader]
    assert [len(b) for b in first] == [4] * 6 + [1]
    seen = sorted(v for b in first for v in b)
    assert seen == list(range(25)) and sum(first, []) != list(range(25))
    for xb, yb in loader:  # rows stay paired
        np.testing.assert_array_equal(xb.numpy()[:, 0], 2 * yb.numpy())
    autotape.manual_seed(3)
    assert [yb.tolist() for _, yb in loader] == first


class Squares(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(2, float(i)), "y": i * i, "w": 0.5 * i, "name": f"s{i}",
                "t": autotape.tensor([i, -i], dtype=autotape.float32)}


def test_default_collate_matches_torch(torch):
    ours = next(iter(DataLoader(Squares(), batch_size=3)))
    samples = [Squares()[i] for i in range(3)]
    for s in samples:
        s["t"] = torch.tensor(s["t"].numpy())
    ref = torch.utils.data.default_collate(samples)
    assert ours.keys() == ref.keys() and ours["name"] == ref["name"] == ["s0", "s1", "s2"]
    for key in ("x", "y", "w", "t"):
        np.testing.assert_array_equal(ours[key].numpy(), ref[key].numpy())
        assert str(ours[key].dtype).split(".")[-1] == str(ref[key].dtype).split(".")[-1], key
    assert default_collate([(1, 2.0), (3, 4.0)])[1].dtype == autotape.float64
    single = list(DataLoader(Squares(), batch_size=None))
    assert len(single) == 5 and single[2]["y"] == 4


def test_minibatch_training_matches_torch(torch):
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((50, 3))
    y_np = x_np @ np.array([1.0, -2.0, 0.5]) + 0.3
    results = []
    for lib in (autotape, torch):
        lib.manual_seed(0)
        model = lib.nn.Linear(3, 1).double()
        with lib.no_grad():
            model.weight.copy_(lib.tensor([[0.1, 0.2, 0.3]], dtype=lib.float64))
            model.bias.zero_()
        opt = lib.optim.SGD(model.parameters(), lr=0.05)
        data = lib.utils.data.TensorDataset(lib.tensor(x_np), lib.tensor(y_np))
        for _ in range(20):
            for xb, yb in lib.utils.data.DataLoader(data, batch_size=8):
                loss = lib.nn.functional.mse_loss(model(xb).squeeze(1), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
        results.append(np.concatenate([model.weight.detach().numpy().ravel(), model.bias.detach().numpy()]))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)
    assert np.abs(results[0] - [1.0, -2.0, 0.5, 0.3]).max() < 0.1  # it learned


def test_errors_are_pytorchs():
    x, y = _pairs()
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        DataLoader(TensorDataset(x, y), batch_size=0)
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(x, y[:3])
    with pytest.raises(TypeError, match="shuffle should be a boolean value"):
        DataLoader(TensorDataset(x, y), shuffle="yes")
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(TensorDataset(x, y), sampler=range(10), shuffle=True)
    with pytest.raises(NotImplementedError, match="should implement __getitem__"):
        Dataset()[0]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (3,)])


def test_random_split_and_subsets(torch):
    from autotape.utils.data import Subset, random_split

    x, y = _pairs(10)
    data = TensorDataset(x, y)
    autotape.manual_seed(1)
    parts = random_split(data, [7, 3])
    assert [len(p) for p in parts] == [7, 3]
    seen = sorted(parts[0].indices + parts[1].indices)
    assert seen == list(range(10))
    batches = list(DataLoader(parts[1], batch_size=2))
    assert [b[1].tolist() for b in batches] == [parts[1].indices[:2], parts[1].indices[2:]]
    np.testing.assert_array_equal(batches[0][0].numpy(), x.numpy()[parts[1].indices[:2]])
    # fractions: PyTorch's counts, the remainder handed out from the first part on
    assert [len(p) for p in random_split(range(10), [0.34, 0.33, 0.33])] == \
        [len(p) for p in torch.utils.data.random_split(range(10), [0.34, 0.33, 0.33])]
    sub = Subset(Squares(), [4, 0])
    assert sub[0]["y"] == 16 and [s["y"] for s in sub[[1, 0]]] == [0, 16]
    assert next(iter(DataLoader(sub, batch_size=2)))["y"].tolist() == [16, 0]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(data, [5, 4])
