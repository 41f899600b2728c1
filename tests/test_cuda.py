"""CUDA tensors, checked against the CPU backend op by op, on the polynomial fit and through
nn + optim. Runs on numba-cuda's simulator where there is no GPU (``conftest.py`` sets
``NUMBA_ENABLE_CUDASIM=1``): shapes stay tiny, since the simulator runs a Python thread per
CUDA thread. Tests marked ``gpu`` need real hardware and skip on the simulator."""
import functools
import math

import numpy as np
import pytest

import autotape
from autotape.compile import CompileError
from autotape.cuda import COPIES
from autotape.cuda.backward import CUDA_VJPS
from autotape.ops import OPS

from op_cases import all_cases, draw

pytest.importorskip("numba.cuda")
pytestmark = pytest.mark.skipif(not autotape.cuda.is_available(), reason="no CUDA device and no simulator")
SIMULATED = __import__("numba").config.ENABLE_CUDASIM
gpu = pytest.mark.skipif(SIMULATED, reason="needs a real GPU (runs on the simulator)")

_FACTORIES = {"tensor", "ones", "zeros", "full", "arange", "linspace", "rand", "randn", "eye", "empty"}


class _OnCuda:
    """``autotape`` with its factories making CUDA tensors: runs the shared op cases on the device."""

    __name__ = "autotape"

    def __getattr__(self, name):
        f = getattr(autotape, name)
        return functools.partial(f, device="cuda") if name in _FACTORIES else f


TC = _OnCuda()


def _run(fn, T, arrays, device):
    xs = [autotape.tensor(a, device=device, requires_grad=True) for a in arrays]
    out = fn(T, *xs)
    w = np.random.default_rng(1).uniform(0.5, 1.5, out.shape).astype(out._data.dtype)
    out.backward(gradient=autotape.tensor(w, device=device))
    return out, xs


def _close(a, b, dtype, what):
    tol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


# every case in float64, the first case of each op in float32 too (the simulator is slow)
COVERED = [(*c, np.float64) for c in all_cases()] + [(*c, np.float32) for c in all_cases() if c[1] == 0]


@pytest.mark.parametrize("name,k,fn,shapes,domain,dtype", COVERED,
                         ids=[f"{c[0]}-{c[1]}-{np.dtype(c[5]).name}" for c in COVERED])
def test_op_matches_cpu(name, k, fn, shapes, domain, dtype):
    rng = np.random.default_rng(k)
    arrays = [draw(rng, s, domain).astype(dtype) for s in shapes]
    ref, ref_xs = _run(fn, autotape, arrays, None)
    out, xs = _run(fn, TC, arrays, "cuda")
    assert out.device == "cuda:0" and out.dtype == ref.dtype and out.shape == ref.shape
    assert out.grad_fn.name() == ref.grad_fn.name()
    _close(out.cpu().numpy(force=True), ref.numpy(force=True), dtype, f"{name} forward")
    for x, rx in zip(xs, ref_xs):
        assert x.grad.device == "cuda:0" and x.grad.dtype == rx.grad.dtype
        _close(x.grad.cpu().numpy(), rx.grad.numpy(), dtype, f"{name} gradient")


def test_registry_every_op_has_cuda_kernels():
    import autotape.cuda.ops  # noqa: F401  (registers the VJPs: loaded on the first CUDA op otherwise)
    import autotape.cuda.ops_dim  # noqa: F401

    covered = set()
    for spec in OPS:
        if spec.kind in ("ew1", "ew2", "ew3") and spec.fwd is not None:  # kernels generated from the table
            covered.add(spec.name)
        if spec.name in CUDA_VJPS:
            covered.add(spec.name)
    names = {spec.name for spec in OPS}
    lacking = names - covered
    assert not lacking, f"ops with no CUDA forward/VJP (add their kernels in autotape/cuda/): {sorted(lacking)}"


def test_device_plumbing():
    assert autotape.cuda.is_available() and autotape.cuda.device_count() >= 1
    x = autotape.tensor([1.0, 2.0], device="cuda")
    assert x.device == "cuda:0" and repr(x.device) == "device(type='cuda', index=0)" and x.is_cuda
    assert x.device == autotape.device("cuda:0") and autotape.device("cuda", 0) == x.device
    assert repr(x) == "tensor([1., 2.], device='cuda:0')"
    assert x.cpu().device == "cpu" and not x.cpu().is_cuda and x.cuda() is x and x.to("cuda") is x
    y = autotape.ones(2, 3).to(autotape.device("cuda"))
    assert y.is_cuda and y.shape == (2, 3) and y.to(autotape.float64).is_cuda
    assert y.to("cpu", autotape.float64).dtype == autotape.float64
    assert autotape.ones(2).to(x).is_cuda and x.to(autotape.ones(1, dtype=autotape.float64)).device == "cpu"
    autotape.cuda.manual_seed(3)
    r = autotape.randn(3, device="cuda")
    autotape.manual_seed(3)
    assert r.tolist() == autotape.randn(3).tolist()  # the same numbers on both devices
    assert x.tolist() == [1.0, 2.0] and x.sum().item() == 3.0 and float(x.unsqueeze(0).sum()) == 3.0
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu()"):
        x.numpy()
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        np.asarray(x)
    z = autotape.zeros_like(x)
    assert z.is_cuda and z.tolist() == [0.0, 0.0] and autotape.randn_like(x).is_cuda
    assert autotape.arange(3, device="cuda").tolist() == [0, 1, 2]
    assert (autotape.arange(3, device="cuda") * 2).tolist() == [0, 2, 4]
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        autotape.ones(2, device="cuda:1")
    w = autotape.ones(2, device="cuda", requires_grad=True)
    assert repr(w * 2) == "tensor([2., 2.], device='cuda:0', grad_fn=<MulBackward0>)"


def test_mixing_devices_raises_naming_both():
    x = autotape.ones(3, device="cuda")
    msg = "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
    for f in (lambda: x + autotape.ones(3), lambda: autotape.ones(3) * x, lambda: x @ autotape.ones(3),
              lambda: autotape.ones(3) @ x):
        with pytest.raises(RuntimeError, match=msg):
            f()
    assert (x + 2).tolist() == [3.0] * 3 and (2.5 * x).tolist() == [2.5] * 3  # Python numbers mix
    assert (x + autotape.tensor(2.0)).tolist() == [3.0] * 3  # so do 0-d CPU tensors, as in PyTorch
    assert (x == x).tolist() == [True] * 3 and (x > 2).tolist() == [False] * 3


def test_broadcast_pow_as_in_the_tutorial():
    x = autotape.linspace(-1, 1, 5, device="cuda")
    p = autotape.tensor([1, 2, 3], device="cuda")
    xx = x.unsqueeze(-1).pow(p)
    ref = autotape.linspace(-1, 1, 5).unsqueeze(-1).pow(autotape.tensor([1, 2, 3]))
    assert xx.shape == (5, 3) and xx.is_cuda
    np.testing.assert_allclose(xx.cpu().numpy(), ref.numpy(), rtol=1e-6)


def test_reductions_over_dims_match_cpu():
    a = np.random.default_rng(0).standard_normal((3, 4, 5))
    for kw in ({}, {"dim": 1}, {"dim": (0, 2)}, {"dim": -1, "keepdim": True}, {"dim": (0, 1, 2)}):
        for op in ("sum", "mean"):
            ref = getattr(autotape.tensor(a), op)(**kw)
            out = getattr(autotape.tensor(a, device="cuda"), op)(**kw)
            assert out.shape == ref.shape, (op, kw)
            np.testing.assert_allclose(out.cpu().numpy(), ref.numpy(), rtol=1e-12, err_msg=f"{op} {kw}")


def test_large_sum_uses_two_pass_tree_reduction():
    # more elements than one block's chunk: partial sums per block, then a second launch
    n = 4 * 256 * 8 + 3 if not SIMULATED else 3 * 32 * 8 + 3
    a = np.random.default_rng(0).standard_normal(n)
    assert abs(autotape.tensor(a, device="cuda").sum().item() - a.sum()) < 1e-9 * n


def test_autograd_semantics_on_cuda():
    x = autotape.tensor([1.0, 2.0, 3.0], device="cuda", requires_grad=True)
    assert x.is_leaf and x.grad_fn is None
    y = (x * x).sum()
    assert y.grad_fn.name() == "SumBackward0"
    assert y.grad_fn.next_functions[0][0].name() == "MulBackward0"
    y.backward(retain_graph=True)
    y.backward()  # accumulates
    assert x.grad.is_cuda and x.grad.tolist() == [4.0, 8.0, 12.0]
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    with autotape.no_grad():
        z = x * 2
    assert not z.requires_grad and z.grad_fn is None
    (g,) = autotape.autograd.grad((x ** 3).sum(), x)
    assert g.is_cuda and g.tolist() == [3.0, 12.0, 27.0]
    u, v = x * 2, x * x
    autotape.autograd.backward([u.sum(), v.sum()])
    assert x.grad.tolist() == [4.0 + 4, 8.0 + 6, 12.0 + 8]
    x.grad = None
    (x * (x * 2)).sum().backward(inputs=[x])
    assert x.grad.tolist() == [4.0, 8.0, 12.0]  # (x * 2x)' = 4x
    h = x * 2
    h.retain_grad()
    (h * h).sum().backward()
    assert h.grad.tolist() == [4.0, 8.0, 12.0]
    w = x.detach().clone().requires_grad_()
    s = w.sin()  # saves w
    with autotape.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (s * w).sum().backward()


def test_hooks_on_cuda_tensors():
    x = autotape.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    seen = []
    h = x * 3
    h.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    x.register_hook(lambda g: g + 1)
    (h * h).sum().backward()
    assert seen == [[6.0, 12.0]] and x.grad.tolist() == [181.0, 361.0]


def test_cuda_without_a_gpu_is_unavailable_cleanly():
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = ("import sys, autotape\nassert 'numba.cuda' not in sys.modules\nprint(autotape.cuda.is_available())\n"
            "try:\n    autotape.ones(2, device='cuda')\nexcept RuntimeError as e:\n    print(e)\n")
    if __import__("glob").glob("/dev/nvidia[0-9]*"):
        pytest.skip("this machine has a GPU")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("False") and "is_available() is False" in out, out


def test_inplace_update_and_version_counter():
    w = autotape.ones(3, device="cuda", requires_grad=True)
    (w * 3).sum().backward()
    with autotape.no_grad():
        w -= 0.5 * w.grad
    assert w.is_cuda and w.tolist() == [-0.5] * 3
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.add_(1)
    w.grad.zero_()
    assert w.grad.tolist() == [0.0] * 3


def _poly_steps(device, steps, n=12, dtype=autotape.float32):
    x = autotape.linspace(-math.pi, math.pi, n, dtype=dtype, device=device)
    y = autotape.sin(x)
    autotape.manual_seed(0)
    a, b, c, d = (autotape.randn((), dtype=dtype, device=device, requires_grad=True) for _ in range(4))
    losses = []
    for _ in range(steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss)
        loss.backward()
        with autotape.no_grad():
            for p in (a, b, c, d):
                p -= 1e-3 * p.grad
                p.grad = None
    return [v.item() for v in losses], [p.item() for p in (a, b, c, d)]


def test_polynomial_fit_matches_cpu_and_stays_on_the_device():
    ref_losses, ref_params = _poly_steps(None, 3, dtype=autotape.float64)
    before = dict(COPIES)
    losses, params = _poly_steps("cuda", 3, dtype=autotape.float64)
    # linspace and the four randn leaves are made on the host and copied once each; the loop
    # itself copies only the losses and parameters that are read with item() at the end
    assert COPIES["to_device"] - before["to_device"] == 5
    assert COPIES["to_host"] - before["to_host"] == len(losses) + len(params)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-10)
    np.testing.assert_allclose(params, ref_params, rtol=1e-10)
    from autotape.cuda import kernels

    n = kernels.LAUNCHES[0]
    _poly_steps("cuda", 1)
    # 12 forward, 13 backward, 4 updates written in place, 5 to make the data: a guard, not a law
    assert kernels.LAUNCHES[0] - n <= 36
    losses32, _ = _poly_steps("cuda", 2)
    np.testing.assert_allclose(losses32, _poly_steps(None, 2)[0], rtol=1e-5)


def _nn_fit(device, make_opt, steps=2):
    autotape.manual_seed(0)
    x = autotape.linspace(-1, 1, 8).unsqueeze(-1).pow(autotape.tensor([1, 2, 3]))
    y = autotape.sin(autotape.linspace(-1, 1, 8)).unsqueeze(-1)
    model = autotape.nn.Sequential(autotape.nn.Linear(3, 2), autotape.nn.Linear(2, 1), autotape.nn.Flatten(0, 1))
    if device:
        model.to(device)
        x, y = x.to(device), y.to(device)
    loss_fn = autotape.nn.MSELoss(reduction="sum")
    opt = make_opt(model.parameters())
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(x), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss)
    return [v.item() for v in losses], [p.detach().cpu().numpy() for p in model.parameters()], model, opt


@pytest.mark.parametrize("make_opt", [
    lambda ps: autotape.optim.SGD(ps, lr=1e-2),
    lambda ps: autotape.optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=0.1),
    lambda ps: autotape.optim.Adam(ps, lr=1e-2),
    lambda ps: autotape.optim.AdamW(ps, lr=1e-2, amsgrad=True),
    lambda ps: autotape.optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True, weight_decay=0.1),
], ids=["sgd", "sgd-nesterov", "adam", "adamw-amsgrad", "rmsprop"])
def test_nn_and_optim_match_cpu(make_opt):
    ref_losses, ref_params, _, _ = _nn_fit(None, make_opt)
    before = dict(COPIES)
    losses, params, model, opt = _nn_fit("cuda", make_opt)
    assert all(p.is_cuda and p.grad.is_cuda for p in model.parameters())
    assert all(v.is_cuda for st in opt.state.values() for k, v in st.items() if k != "step")
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-5)
    for p, r in zip(params, ref_params):
        np.testing.assert_allclose(p, r, rtol=2e-5, atol=1e-6)
    # the model's parameters and the data go over once; then only item() and the final reads copy
    assert COPIES["to_host"] - before["to_host"] == len(losses) + len(params)
    assert model.cpu() is model and all(not p.is_cuda for p in model.parameters())


def test_module_cuda_and_linear_device():
    lin = autotape.nn.Linear(2, 3, device="cuda")
    assert lin.weight.is_cuda and lin.bias.is_cuda and isinstance(lin.weight, autotape.nn.Parameter)
    assert lin(autotape.ones(4, 2, device="cuda")).shape == (4, 3)
    p = autotape.nn.Parameter(autotape.zeros(2, device="cuda"))
    assert p.is_cuda and p.requires_grad and p.is_leaf


def test_errors_are_clear():
    x = autotape.ones(2, 3, device="cuda", requires_grad=True)
    with pytest.raises(NotImplementedError, match="not implemented on CUDA yet"):
        x.isnan()  # (not an op of the table: no CUDA kernel yet)
    with pytest.raises(RuntimeError, match=r"shape '\[4\]' is invalid for input of size 6"):
        x.reshape(4)
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        x + autotape.ones(4, device="cuda")
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        x @ x


def _mixed_graph(dev):
    """CPU work, a copy to ``dev``, work there, a copy back, more CPU work using both sides."""
    a = autotape.tensor([0.5, -1.0, 2.0], dtype=autotape.float64, requires_grad=True)
    c = autotape.tensor([1.5, 2.0, -0.5], dtype=autotape.float64, device=dev, requires_grad=True)
    k = autotape.tensor(0.75, dtype=autotape.float64, requires_grad=True)  # a 0-d CPU tensor in device ops
    h = a * 2
    s = (h.to(dev) * c * k).sin()
    loss = (s.cpu() * h).sum() + a.sum() + c.cpu().pow(2).sum()
    return loss, (a, c, k)


def test_gradients_flow_across_device_copies():
    loss, leaves = _mixed_graph("cuda")
    ref_loss, ref_leaves = _mixed_graph("cpu")
    assert loss.grad_fn.name() == "AddBackward0" and leaves[0].cuda().grad_fn.name() == "ToCopyBackward0"
    assert leaves[1].cpu().requires_grad and not leaves[1].cpu().is_leaf
    grads = autotape.autograd.grad(loss, leaves, retain_graph=True)
    loss.backward()
    ref_loss.backward()
    np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=1e-12)
    for t, g, ref in zip(leaves, grads, ref_leaves):
        assert t.grad.device == t.device and g.device == t.device
        np.testing.assert_allclose(t.grad.cpu().numpy(), ref.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(g.cpu().numpy(), ref.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()  # the second backward fails on whichever device it meets a freed record
    with autotape.no_grad():
        assert not leaves[0].cuda().requires_grad
    step = autotape.compile(lambda: (leaves[0].cuda() * 2).sum())
    with pytest.raises(CompileError, match="copies a tensor that requires grad between devices"):
        step()  # (a replay would not repeat the copy)


@gpu
def test_large_poly_step_on_gpu_is_fast():
    import time

    n = 10_000_000
    x = autotape.linspace(-math.pi, math.pi, n, device="cuda")
    y = autotape.sin(x)
    a, b, c, d = (autotape.randn((), device="cuda", requires_grad=True) for _ in range(4))
    for step in range(3):
        if step == 1:
            autotape.cuda.synchronize()
            t0 = time.perf_counter()
        loss = (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()
        loss.backward()
    autotape.cuda.synchronize()
    assert (time.perf_counter() - t0) / 2 < 0.1


def test_device_buffers_are_reused_and_training_memory_stays_flat():
    from autotape.cuda import array

    x = autotape.ones(5, device="cuda")
    y = x * 2
    buf = id(y._data.a)
    del y
    assert id((x * 3)._data.a) == buf  # the dead tensor's buffer, taken again
    v = (x * 4).reshape(5, 1)  # a live view keeps its buffer
    assert id((x * 5)._data.a) != id(v._data.a)

    def pooled():
        return sum(len(b) for b in array._pool.values())

    _poly_steps("cuda", 2)
    n = pooled()
    _poly_steps("cuda", 2)  # the same steps again take the buffers the first run let go
    assert pooled() == n
    autotape.cuda.empty_cache()
    assert pooled() < n


def test_prod_with_zeros_and_max_dim_indices_match_cpu():
    a = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, -2.0, 4.0]])
    for dev in (None, "cuda"):
        x = autotape.tensor(a, device=dev, requires_grad=True)
        x.prod(1).sum().backward()
        if dev is None:
            ref = x.grad.numpy()
        else:
            np.testing.assert_allclose(x.grad.cpu().numpy(), ref)
    m = autotape.tensor(a, device="cuda").max(dim=1)
    r = autotape.tensor(a).max(dim=1)
    assert m.indices.tolist() == r.indices.tolist() and m.values.tolist() == r.values.tolist()
    assert m.indices.dtype == autotape.int64 and m.indices.is_cuda
    c, h = autotape.tensor(a, device="cuda"), autotape.tensor(a)
    for f in (lambda t: t.argmax(), lambda t: t.argmin(1), lambda t: t.argmax(0, keepdim=True), lambda t: t.all(),
              lambda t: t.any(1), lambda t: t.eq(t).all(), lambda t: (t > 1).any(0, keepdim=True)):
        assert f(c).tolist() == f(h).tolist() and f(c).dtype == f(h).dtype and f(c).is_cuda


def test_compile_fuses_the_poly_step_into_one_kernel():
    x = autotape.linspace(-math.pi, math.pi, 16, device="cuda", dtype=autotape.float64)
    y = autotape.sin(x)
    autotape.manual_seed(0)
    params = [autotape.randn((), device="cuda", dtype=autotape.float64, requires_grad=True) for _ in range(4)]
    w = autotape.full((16,), 0.5, device="cuda", dtype=autotape.float64, requires_grad=True)  # a full-size leaf
    a, b, c, d = params

    def loss_fn():
        return ((a + b * x + c * x ** 2 + d * x ** 3 - y) ** 2 * w.exp()).mean()

    step = autotape.compile(loss_fn)
    from autotape.cuda import kernels

    for k in range(3):
        for p in params + [w]:
            p.grad = None
        expect = loss_fn()
        expect.backward()
        want = [p.grad.cpu().numpy() for p in params + [w]]
        for p in params + [w]:
            p.grad = None
        n0 = kernels.LAUNCHES[0]
        loss = step()
        loss.backward()
        if k:  # the fused pass, and one that adds up the blocks' sums of the loss and gradients
            assert kernels.LAUNCHES[0] - n0 == 2
        assert abs(loss.item() - expect.item()) < 1e-12 and loss.grad_fn.name() == "MeanBackward0"
        for p, g in zip(params + [w], want):
            np.testing.assert_allclose(p.grad.cpu().numpy(), g, rtol=1e-10)
        with autotape.no_grad():
            for p in params + [w]:
                p -= 0.01 * p.grad  # the replay reads the updated values
    assert "fused CUDA kernel" in step.explain()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_compile_runs_what_it_cannot_fuse_eagerly_and_models_copy():
    import copy

    x = autotape.linspace(-1, 1, 6, device="cuda")
    w = autotape.ones((), device="cuda", requires_grad=True)
    masked = autotape.compile(lambda: (w * x * (w * x > 0).float()).sum())  # a mask made from w
    with pytest.warns(RuntimeWarning, match="mask"):
        first = masked()
    first.backward()
    assert masked().item() == first.item() and w.grad.is_cuda
    m = autotape.ones(6, 1, device="cuda")
    step = autotape.compile(lambda: (x.unsqueeze(0) @ (m * w)).sum())
    with pytest.warns(RuntimeWarning, match="CUDA tensors and "):
        step()
    assert "eagerly" in step.explain()
    model = autotape.nn.Linear(2, 1).cuda()
    twin = copy.deepcopy(model)
    assert twin.weight.is_cuda and twin.weight.tolist() == model.weight.tolist()
    sd = twin.state_dict()
    model.load_state_dict(sd)
    assert model.weight.is_cuda
    model.zero_grad(set_to_none=False)


@gpu
def test_training_on_gpu_keeps_device_memory_flat():
    from numba import cuda

    x = autotape.linspace(-math.pi, math.pi, 1_000_000, device="cuda")
    y = autotape.sin(x)
    a, b = (autotape.randn((), device="cuda", requires_grad=True) for _ in range(2))
    free = []
    for _ in range(20):
        loss = (a + b * x - y).pow(2).sum()
        loss.backward()
        with autotape.no_grad():
            for p in (a, b):
                p -= 1e-7 * p.grad
                p.grad = None
        cuda.synchronize()
        free.append(cuda.current_context().get_memory_info()[0])
    assert free[5] - free[-1] < 16 * 2**20  # the pool hands the same buffers out every step


def test_in_place_through_a_copied_view_raises_and_setitem_writes_on_the_device():
    """Slices, select, unbind, transpose, expand and basic indexing are copies on CUDA where the CPU
    makes views: writing in place into one side while the other lives would leave the other
    stale, so it raises; once the view is gone the write goes through. ``x[key] = v`` writes on
    the device and matches the CPU."""
    ref = np.arange(12, dtype=np.float32).reshape(4, 3)
    x = autotape.tensor(ref, device="cuda")
    for make in (lambda t: t[0], lambda t: t[1:3], lambda t: t[:, 1], lambda t: t.T, lambda t: t.unbind(0)[2],
                 lambda t: t[0:1].expand(2, 3), lambda t: t[None, 1], lambda t: t.split(2)[1]):
        v = make(x)
        with pytest.raises(RuntimeError, match="a copy"):
            v.add_(1.0)
        with pytest.raises(RuntimeError, match="a copy"):
            x.mul_(2.0)
        with pytest.raises(RuntimeError, match="a copy"):
            x[0] = 7.0
        del v
    x.add_(1.0)  # no view left: allowed
    ref = ref + 1
    r = x.reshape(12)  # a real view (one buffer): in place through it is seen by x
    r.mul_(2.0)
    ref = ref * 2
    g = x[[0, 2]]  # advanced indexing is a copy on the CPU as well: no restriction
    x.sub_(1.0)
    ref = ref - 1
    del r, g
    cpu = autotape.tensor(ref)
    for key, value in [(lambda t: 1, 5.0), (lambda t: (slice(None), 0), autotape.arange(4.0)),
                       (lambda t: t > 20, -1.0), (lambda t: (0, slice(1, None)), autotape.tensor([8.0, 9.0])),
                       (lambda t: [3, 1], autotape.tensor([[1.0], [2.0]]))]:
        x[key(x)] = value.cuda() if isinstance(value, autotape.Tensor) else value
        cpu[key(cpu)] = value
        np.testing.assert_array_equal(x.cpu().numpy(), cpu.numpy())
    with pytest.raises(RuntimeError, match="shape mismatch"):
        x[0] = autotape.ones(2, device="cuda")
    with pytest.raises(RuntimeError, match="cuda:0 and cpu"):
        x[0] = autotape.ones(3)


def test_an_optimizer_step_refuses_a_parameter_with_a_kept_copied_view():
    w = autotape.randn(3, 2, device="cuda", requires_grad=True)
    opt = autotape.optim.SGD([w], lr=0.1)
    (autotape.ones(4, 3, device="cuda") @ w).sum().backward()
    before = w.detach().cpu().numpy().copy()
    opt.step()  # w.T's of the forward are gone
    np.testing.assert_allclose(w.detach().cpu().numpy(), before - 0.1 * 4, rtol=1e-6)
    kept = w.T  # noqa: F841 (on the CPU it would show the update; here it would not)
    with pytest.raises(RuntimeError, match="a copy"):
        opt.step()


@pytest.mark.parametrize("name", ["mse", "bce_logits_weights", "bce_weight", "nll_weight", "nll_1d",
                                  "cross_entropy_weight_smoothing", "cross_entropy_3d", "cross_entropy_probs"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_losses_match_cpu(name, reduction):
    import test_losses

    fn, x0, rest = test_losses.CASES[name]
    results = []
    for device in ("cpu", "cuda"):
        x = autotape.tensor(x0, device=device, requires_grad=True)
        out = fn(autotape, autotape.nn.functional, x, *(autotape.tensor(r, device=device) for r in rest),
                 reduction=reduction)
        out.backward(autotape.ones_like(out))
        results.append((out.grad_fn.name(), out.detach().cpu().numpy(), x.grad.cpu().numpy()))
    (name_cpu, v_cpu, g_cpu), (name_cuda, v_cuda, g_cuda) = results
    assert name_cuda == name_cpu
    np.testing.assert_allclose(v_cuda, v_cpu, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g_cuda, g_cpu, rtol=1e-12, atol=1e-15)


def test_fused_loss_of_an_alias_keeps_its_scale():
    """A compiled CUDA step ending in mse_loss (its mean an alias of sum, named MseLossBackward0)
    is fused with the mean's scale."""
    w = autotape.tensor([0.5, -1.0, 2.0], device="cuda", requires_grad=True)
    x = autotape.tensor([1.0, 2.0, 3.0], device="cuda")
    y = autotape.tensor([0.0, 1.0, 0.5], device="cuda")
    step = autotape.compile(lambda: autotape.nn.functional.mse_loss(w * x, y))
    for _ in range(2):
        w.grad = None
        loss = step()
        loss.backward()
        want = ((w * x - y) ** 2).mean()
        np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-6)
        np.testing.assert_allclose(w.grad.cpu().numpy(), (2 * (w * x - y) * x / 3).detach().cpu().numpy(),
                                   rtol=1e-6)
    assert "fused CUDA kernel" in step.explain()


def _f64(values, device="cpu"):
    return autotape.tensor(values, dtype=autotape.float64, device=device, requires_grad=True)


def test_in_place_after_a_copy_or_a_new_tape_keeps_the_copys_gradient():
    # a link reads the tensor as it was: an in-place op since must not route the copy's gradient through it
    a = _f64([0.5, -1.0, 2.0])
    h = a * 1.0
    b = h.to("cuda")
    h.mul_(3)
    (b.sum().cpu() + h.sum()).backward()
    assert a.grad.tolist() == [4.0, 4.0, 4.0]
    a = _f64([0.5, -1.0, 2.0])
    h = a.cuda() * 1
    b = h.cpu()
    h.mul_(3)
    (b.sum() + h.sum().cpu()).backward()
    assert a.grad.tolist() == [4.0, 4.0, 4.0]
    # a copy to the CPU starts a new CPU tape; an in-place op on an older tensor after it links back
    a, c = _f64([0.5, -1.0, 2.0]), _f64([1.0, 2.0, 3.0], "cuda")
    h = a * 1.0
    y = (c * 2).cpu()
    h.mul_(3)
    (h.sum() + y.sum()).backward(retain_graph=True)  # (hung, replaying one tape again and again)
    assert a.grad.tolist() == [3.0, 3.0, 3.0] and c.grad.tolist() == [2.0, 2.0, 2.0]
    # the CUDA tape's turn: a copy to the GPU of a CPU tensor newer than the CUDA tape
    a, c = _f64([0.5, -1.0, 2.0]), _f64([1.0, 2.0, 3.0], "cuda")
    c0 = c * 2
    h = a * c0.cpu()
    (h.cuda() * c0).sum().backward()
    assert a.grad.tolist() == [4.0, 16.0, 36.0] and c.grad.tolist() == [4.0, -16.0, 48.0]


def test_leaf_hooks_see_the_gradient_from_both_devices_once():
    a, calls = _f64([0.5, -1.0, 2.0]), []
    a.register_hook(lambda g: (calls.append(g.tolist()), g.clamp(max=4.0))[1])
    ((a.cuda() * 2).sum().cpu() + (a * 3).sum()).backward()
    assert calls == [[5.0, 5.0, 5.0]] and a.grad.tolist() == [4.0, 4.0, 4.0]
    c, calls = _f64([1.0, 2.0, 3.0], "cuda"), []
    c.register_hook(lambda g: (calls.append(g.tolist()), g)[1])
    ((c.cpu() * 3).sum() + (c * c).sum().cpu()).backward()
    assert calls == [[5.0, 7.0, 9.0]] and c.grad.tolist() == [5.0, 7.0, 9.0] and c.grad.is_cuda


def test_outputs_on_both_devices_and_backward_inputs():
    for cuda_first in (False, True):
        a = _f64([0.5, -1.0, 2.0])
        outs = [a * 2, a.cuda() ** 2]
        grads = [autotape.ones(3, dtype=autotape.float64), autotape.ones(3, dtype=autotape.float64, device="cuda")]
        if cuda_first:
            outs, grads = outs[::-1], grads[::-1]
        autotape.autograd.backward(outs, grads)
        assert a.grad.tolist() == [3.0, 0.0, 6.0]
    with pytest.raises(RuntimeError, match="found at least two devices"):
        autotape.autograd.backward([_f64([1.0]) * 2], [autotape.ones(1, dtype=autotape.float64, device="cuda")])
    c = _f64([0.5, -1.0, 2.0], "cuda")
    for _ in range(2):
        (c.cpu() * 2).sum().backward(inputs=[c])
    assert c.grad.tolist() == [4.0, 4.0, 4.0] and c.grad.is_cuda
    a = _f64([0.5, -1.0, 2.0])
    assert [type(f).__name__ for f, _ in (a * 2).cuda().grad_fn.next_functions] == ["MulBackward0"]
    assert [type(f).__name__ for f, _ in c.cpu().grad_fn.next_functions] == ["AccumulateGrad"]
