"""autotape.save / autotape.load: tensors (dtype, shape, requires_grad; a tensor with a history
comes back a leaf, as torch.save's), Parameters, views, module and optimizer state_dicts, CUDA
tensors and map_location, weights_only, and PyTorch's errors."""
import io
import pickle
from collections import Counter

import numpy as np
import pytest

import autotape as at
import autotape.nn as nn
import autotape.optim as optim


def _round_trip(obj, **kwargs):
    buf = io.BytesIO()
    at.save(obj, buf)
    buf.seek(0)
    return at.load(buf, **kwargs)


@pytest.mark.parametrize("dtype", [at.float32, at.float64, at.int64, at.int32, at.bool])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4)])
def test_tensor_values_dtype_shape(dtype, shape):
    rng = np.random.default_rng(0)
    t = at.tensor(rng.standard_normal(shape) * 10).to(dtype)
    out = _round_trip(t)
    assert type(out) is at.Tensor and out.dtype == dtype and out.shape == t.shape and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), t.numpy())
    assert not np.shares_memory(out.numpy(), t.numpy())


def test_requires_grad_and_history(torch):
    """A tensor with a history pickles as a leaf with its values, keeping requires_grad, as in
    PyTorch; a leaf that requires grad stays one, and backward through it works."""
    x = at.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (x * 2).exp()
    out = _round_trip({"x": x, "y": y, "d": y.detach(), "s": y.sum()})
    tx = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    ty = (tx * 2).exp()
    buf = io.BytesIO()
    torch.save({"x": tx, "y": ty, "d": ty.detach(), "s": ty.sum()}, buf)
    buf.seek(0)
    ref = torch.load(buf)
    for k in ("x", "y", "d", "s"):
        assert out[k].is_leaf and out[k].grad_fn is None
        assert out[k].requires_grad == ref[k].requires_grad == (k != "d")
        np.testing.assert_allclose(out[k].detach().numpy(), ref[k].detach().numpy(), rtol=1e-6)
    assert out["s"].shape == () and out["x"].requires_grad
    (out["y"] * out["y"]).sum().backward()
    np.testing.assert_allclose(out["y"].grad.numpy(), 2 * y.detach().numpy(), rtol=1e-6)


def test_parameters_views_and_sharing():
    p = nn.Parameter(at.arange(12.0).reshape(3, 4))
    frozen = nn.Parameter(at.ones(2), requires_grad=False)
    base = at.arange(24.0).reshape(4, 6)
    objs = [p, frozen, base[1], base.t(), base[:, ::2], base[2, 3], base.reshape(2, 12), p]
    out = _round_trip(objs)
    assert type(out[0]) is nn.Parameter and out[0].requires_grad and out[0].is_leaf
    assert type(out[1]) is nn.Parameter and not out[1].requires_grad
    for a, b in zip(objs, out):
        assert b.shape == a.shape and b.dtype == a.dtype
        np.testing.assert_array_equal(b.detach().numpy(), a.detach().numpy())
    assert out[7] is out[0]  # one object stays one object
    # a tensor and its detach() share one array: they still share it after loading
    pair = _round_trip([base, base.detach()])
    pair[0].add_(1)
    assert pair[1][0, 0].item() == 1.0
    # what is loaded is writable: an in-place op and an optimizer step on it work
    out[0].grad = at.ones(3, 4)
    optim.SGD([out[0]], lr=0.5).step()
    np.testing.assert_array_equal(out[0].detach().numpy(), np.arange(12.0).reshape(3, 4) - 0.5)
    out[3].mul_(2)
    np.testing.assert_array_equal(out[3].numpy(), 2 * np.arange(24.0).reshape(4, 6).T)


def test_model_and_optimizer_checkpoint(tmp_path):
    """model.load_state_dict(autotape.load(path)), and a resumed Adam run takes the very steps
    the uninterrupted one takes."""

    def make():
        at.manual_seed(0)
        m = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))
        return m, optim.Adam(m.parameters(), lr=0.05)

    rng = np.random.default_rng(2)
    X, Y = at.tensor(rng.standard_normal((16, 3)), dtype=at.float32), at.tensor(rng.standard_normal((16, 1)),
                                                                                  dtype=at.float32)

    def train(m, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.mse_loss(m(X), Y).backward()
            opt.step()

    m, opt = make()
    train(m, opt, 4)
    at.save(m.state_dict(), tmp_path / "model.pt")
    at.save({"model": m.state_dict(), "optimizer": opt.state_dict(), "epoch": 4}, str(tmp_path / "ckpt.pt"))
    m2 = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))
    assert not m2.load_state_dict(at.load(tmp_path / "model.pt")).missing_keys
    for a, b in zip(m.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    ck = at.load(str(tmp_path / "ckpt.pt"))
    assert ck["epoch"] == 4 and set(ck["optimizer"]["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    m3, opt3 = make()
    m3.load_state_dict(ck["model"])
    opt3.load_state_dict(ck["optimizer"])
    train(m, opt, 3)
    train(m3, opt3, 3)
    for a, b in zip(m.parameters(), m3.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_file_objects_and_paths(tmp_path):
    t = at.tensor([[1.5, 2.5]], requires_grad=True)
    with open(tmp_path / "t.pt", "wb") as f:
        at.save(t, f)
        at.save({"again": t}, f)  # two objects one after the other in one file
    with open(tmp_path / "t.pt", "rb") as f:
        a, b = at.load(f), at.load(f)
    assert a.tolist() == [[1.5, 2.5]] and a.requires_grad and b["again"].tolist() == [[1.5, 2.5]]


def test_scheduler_state_and_plain_values_load_weights_only():
    opt = optim.SGD([nn.Parameter(at.ones(1))], lr=0.1)
    s = optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4])
    obj = {"sched": s.state_dict(), "set": {1, 2}, "np": np.float64(0.25), "arr": np.arange(3),
           "dtype": at.float64, "device": at.device("cpu"), "shape": at.ones(2, 3).shape, "t": (1, None, "x")}
    out = _round_trip(obj)
    assert out["sched"]["milestones"] == Counter([2, 4]) and out["sched"]["base_lrs"] == [0.1]
    assert out["set"] == {1, 2} and out["np"] == 0.25 and out["arr"].tolist() == [0, 1, 2]
    assert out["dtype"] is at.float64 and out["device"] == "cpu" and out["shape"] == (2, 3)
    assert type(out["shape"]) is at.Size and out["t"] == (1, None, "x")


class _Custom:
    def __init__(self, v):
        self.v = v


def test_weights_only():
    with pytest.raises(pickle.UnpicklingError, match="(?s)Weights only load failed.*Unsupported global: GLOBAL "
                                                     "test_serialization._Custom"):
        _round_trip({"c": _Custom(3)})
    assert _round_trip({"c": _Custom(3)}, weights_only=False)["c"].v == 3
    m = nn.Linear(2, 3)
    with pytest.raises(pickle.UnpicklingError, match="autotape.nn.layers.Linear"):
        _round_trip(m)
    m2 = _round_trip(m, weights_only=False)
    assert type(m2) is nn.Linear and type(m2.weight) is nn.Parameter
    np.testing.assert_array_equal(m2.weight.detach().numpy(), m.weight.detach().numpy())
    with pytest.raises(RuntimeError, match="Can not safely load weights when explicit pickle_module is specified"):
        _round_trip(1, pickle_module=pickle)
    assert _round_trip(1, pickle_module=pickle, weights_only=False) == 1


def test_errors(tmp_path):
    with pytest.raises(AttributeError, match="expected 'f' to be string, path, or a file-like object with a 'write'"):
        at.save(at.ones(1), 5)
    with pytest.raises(AttributeError, match="'read' attribute"):
        at.load(5)
    with pytest.raises(FileNotFoundError):
        at.load(tmp_path / "missing.pt")
    with pytest.raises(pickle.UnpicklingError, match="not a file written by autotape.save"):
        at.load(io.BytesIO(b"garbage, not a checkpoint"))


def test_torch_files_are_refused(torch):
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    buf.seek(0)
    with pytest.raises(RuntimeError, match="PyTorch's zip format"):
        at.load(buf)


needs_cuda = pytest.mark.skipif(not at.cuda.is_available(), reason="no CUDA device and no simulator")


@needs_cuda
def test_cuda_tensors_and_map_location(monkeypatch):
    c = at.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    p = nn.Parameter(at.tensor([[3.0]], device="cuda"))
    obj = {"c": c, "p": p, "cpu": at.tensor([4.0])}
    # plain pickle too (it recursed forever before)
    again = pickle.loads(pickle.dumps(c))
    assert again.is_cuda and again.tolist() == [1.0, 2.0] and again.requires_grad
    out = _round_trip(obj)
    assert out["c"].is_cuda and out["c"].requires_grad and out["c"].tolist() == [1.0, 2.0]
    assert type(out["p"]) is nn.Parameter and out["p"].is_cuda and out["p"].tolist() == [[3.0]]
    assert not out["cpu"].is_cuda
    for where in ("cpu", at.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage):
        out = _round_trip(obj, map_location=where)
        assert not out["c"].is_cuda and out["c"].tolist() == [1.0, 2.0] and out["c"].requires_grad
        assert type(out["p"]) is nn.Parameter and not out["p"].is_cuda
    out = _round_trip(obj, map_location="cuda")
    assert out["cpu"].is_cuda and out["cpu"].tolist() == [4.0]
    # where CUDA is missing: PyTorch's error and its hint, unless mapped to the CPU
    buf = io.BytesIO()
    at.save(obj, buf)
    monkeypatch.setattr(at.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="Attempting to deserialize object on a CUDA device.*map_location"):
        at.load(io.BytesIO(buf.getvalue()))
    assert at.load(io.BytesIO(buf.getvalue()), map_location="cpu")["p"].tolist() == [[3.0]]


def test_pickle_file_is_compact():
    """The arrays' bytes are stored raw (not as protocol 2's text encoding): about their size."""
    t = at.randn(10000, dtype=at.float64)
    buf = io.BytesIO()
    at.save({"t": t}, buf)
    assert 80000 < len(buf.getvalue()) < 80400
