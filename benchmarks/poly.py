"""Polynomial regression from the PyTorch tutorials, autotape side by side with its peers.

Fits sin(x) on N points of linspace(-pi, pi) with a + b x + c x^2 + d x^3, loss
``(y_pred - y).pow(2).sum()``, plain SGD (lr = 1e-6 * 2000 / N, so large N stays stable).
Times one training step (forward, backward, update, grad reset) of:

  autotape  the tutorial's code verbatim with ``import autotape as torch``
  autotape-compiled  the same loop with the loss function wrapped in ``autotape.compile``
            (recorded once, as JAX's step is jitted once; each step replays forward and backward)
  autotape-compiled-replay  its replay alone, without the eager update (not in the default set)
  autotape-compiled-optim  the compiled loss with ``optim.SGD`` doing the update (the issue's loop)
  torch     the same code with PyTorch eager (one thread)
  jax       ``jax.jit`` of one step, called from the Python loop (block_until_ready)
  autograd  HIPS autograd (``autograd.value_and_grad`` = ``autograd.grad`` plus the loss)
  numpy     the tutorial's NumPy version with the hand-derived gradient
  numba     one hand-fused @njit pass per step computing loss, gradient and update
            (the practical limit for this model)

Every peer is optional. Implementations run round-robin within each repeat, so drift on a
shared machine hits them alike; the table shows the median over repeats.

    python benchmarks/poly.py                 # full run: N=2000 and 1e6, float32 and float64
    python benchmarks/poly.py --quick         # a smoke test of a few seconds
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import set_single_thread_env  # noqa: E402  (no heavy imports in _common)

set_single_thread_env()  # before NumPy / Numba / torch / JAX create their thread pools

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from _common import fmt_ratio, fmt_time, median, optional_import, print_table, print_versions  # noqa: E402

LARGE = 100_000  # from this size on a step is long, so fewer steps are timed (--large-steps)


# --- the eager PyTorch-API version: one function for autotape and torch alike ----------------
def tutorial_loop(torch, loss_of, params, learning_rate, steps):
    """The tutorial's training loop (``torch`` is autotape or PyTorch): the loss, backward, and
    the update by hand under no_grad. Returns (seconds, final loss)."""
    a, b, c, d = params
    t0 = time.perf_counter()
    for t in range(steps):
        loss = loss_of()
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    elapsed = time.perf_counter() - t0
    return elapsed, loss.item()


def cubic(torch, x, y, init):
    """The four parameters and the loss of the tutorial's cubic."""
    a, b, c, d = (torch.tensor(float(v), dtype=x.dtype, requires_grad=True) for v in init)
    return (a, b, c, d), lambda: (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()


def eager_train(torch, x, y, init, learning_rate, steps):
    params, loss_of = cubic(torch, x, y, init)
    return tutorial_loop(torch, loss_of, params, learning_rate, steps)


class CompiledCubic:
    """The cubic's parameters and its loss wrapped in ``autotape.compile``, recorded and
    compiled once, as JAX's step is jitted once: a timed run sets the parameters to its start
    values in place and replays (recording and the first calls' one-off costs stay out of the
    timings, as XLA's compilation does)."""

    def __init__(self, torch, x_np, y_np):
        self.torch = torch
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
        self.params, loss_of = cubic(torch, x, y, [0.0] * 4)
        self.step = torch.compile(loss_of)

    def start(self, init):
        """The parameters set to ``init`` (in place: the compiled step reads them by address)."""
        with self.torch.no_grad():
            for p, v in zip(self.params, init):
                p.fill_(float(v))
                p.grad = None


def setup_compiled(torch, x_np, y_np):
    """The tutorial loop, the loss compiled: the update stays the eager one under no_grad."""
    cc = CompiledCubic(torch, x_np, y_np)

    def train(init, lr, steps):
        cc.start(init)
        return tutorial_loop(torch, cc.step, cc.params, lr, steps)

    return train


def setup_compiled_optim(torch, x_np, y_np):
    """The compiled loss with the update by ``optim.SGD`` (the loop of the issue's example):
    zero_grad, backward, and one compiled call updating all four parameters."""
    cc = CompiledCubic(torch, x_np, y_np)
    optimizer = torch.optim.SGD(cc.params, lr=1.0)

    def train(init, lr, steps):
        cc.start(init)
        optimizer.param_groups[0]["lr"] = lr
        step = cc.step
        t0 = time.perf_counter()
        for t in range(steps):
            loss = step()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - t0, loss.item()

    return train


def setup_compiled_replay(torch, x_np, y_np):
    """The compiled step's replay alone (forward, backward, delivery into .grad, which
    accumulates): the part of a step the update under no_grad does not take."""
    cc = CompiledCubic(torch, x_np, y_np)

    def train(init, lr, steps):
        cc.start(init)
        step = cc.step
        t0 = time.perf_counter()
        for t in range(steps):
            loss = step()
            loss.backward()
        return time.perf_counter() - t0, loss.item()

    return train


def setup_eager(torch, x_np, y_np):
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    return lambda init, lr, steps: eager_train(torch, x, y, init, lr, steps)


# --- the nn + optim version (the tutorial's case 3/4): Linear(3, 1) on (x, x^2, x^3) --------
def nn_train(torch, xx, y, init, opt_name, steps, compiled=False):
    """A full training step: forward, loss, zero_grad, backward, optimizer.step(); with
    ``compiled`` the forward is ``autotape.compile``d (recorded before timing)."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1)).to(xx.dtype)
    with torch.no_grad():  # the same start for both libraries
        model[0].bias.copy_(torch.tensor([float(init[0])], dtype=xx.dtype))
        model[0].weight.copy_(torch.tensor([[float(v) for v in init[1:]]], dtype=xx.dtype))
    loss_fn = torch.nn.MSELoss(reduction="sum")
    if opt_name == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-6 * 2000 / len(y))
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    forward = lambda: loss_fn(model(xx), y)  # noqa: E731
    if compiled:
        forward = torch.compile(forward)
        forward()
    t0 = time.perf_counter()
    for t in range(steps):
        loss = forward()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - t0
    return elapsed, loss.item()


def setup_nn(torch, x_np, y_np, opt_name, compiled=False):
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))  # the features, made once as in the tutorial
    return lambda init, lr, steps: nn_train(torch, xx, y, init, opt_name, steps, compiled)


# --- JAX: jit of one whole step ---------------------------------------------------------------
def setup_jax(jax, x_np, y_np, lr):
    jnp = jax.numpy
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)

    def loss_fn(p, x, y):
        y_pred = p[0] + p[1] * x + p[2] * x ** 2 + p[3] * x ** 3
        return ((y_pred - y) ** 2).sum()

    @jax.jit
    def step(p, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        return p - lr * g, loss  # a Python float is weakly typed: float32 stays float32

    def train(init, _lr, steps):
        p = jnp.asarray(init)
        t0 = time.perf_counter()
        for t in range(steps):
            p, loss = step(p, x, y)
            p.block_until_ready()
        elapsed = time.perf_counter() - t0
        return elapsed, float(loss)

    return train


# --- HIPS autograd ----------------------------------------------------------------------------
def setup_autograd(autograd, x, y):
    anp = autograd.numpy

    def loss_fn(params, x, y):
        a, b, c, d = params
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        return anp.sum((y_pred - y) ** 2)

    value_and_grad = autograd.value_and_grad(loss_fn)  # same trace as autograd.grad, keeps the loss

    def train(init, lr, steps):
        params = tuple(init)
        t0 = time.perf_counter()
        for t in range(steps):
            loss, g = value_and_grad(params, x, y)
            params = tuple(p - lr * gi for p, gi in zip(params, g))
        elapsed = time.perf_counter() - t0
        return elapsed, float(loss)

    return train


# --- NumPy with the hand-derived gradient (the tutorial's first version) -----------------------
def setup_numpy(x, y):
    def train(init, learning_rate, steps):
        a, b, c, d = init  # NumPy scalars of the data's dtype
        t0 = time.perf_counter()
        for t in range(steps):
            y_pred = a + b * x + c * x ** 2 + d * x ** 3
            loss = np.square(y_pred - y).sum()
            grad_y_pred = 2.0 * (y_pred - y)
            grad_a = grad_y_pred.sum()
            grad_b = (grad_y_pred * x).sum()
            grad_c = (grad_y_pred * x ** 2).sum()
            grad_d = (grad_y_pred * x ** 3).sum()
            a -= learning_rate * grad_a
            b -= learning_rate * grad_b
            c -= learning_rate * grad_c
            d -= learning_rate * grad_d
        elapsed = time.perf_counter() - t0
        return elapsed, float(loss)

    return train


# --- hand-fused Numba: one pass over the data per step ----------------------------------------
def setup_numba(numba, x, y):
    # fastmath lets LLVM reorder the sums and vectorize: this is the limit, not a fair peer.
    @numba.njit(fastmath=True)
    def step(x, y, p, lr):
        a, b, c, d = p[0], p[1], p[2], p[3]
        zero = a - a  # accumulators in the data's dtype
        loss, ga, gb, gc, gd = zero, zero, zero, zero, zero
        for i in range(x.size):
            xi = x[i]
            x2 = xi * xi
            r = a + b * xi + c * x2 + d * x2 * xi - y[i]
            loss += r * r
            g = r + r
            ga += g
            gb += g * xi
            gc += g * x2
            gd += g * x2 * xi
        p[0] = a - lr * ga
        p[1] = b - lr * gb
        p[2] = c - lr * gc
        p[3] = d - lr * gd
        return loss

    def train(init, lr, steps):
        p = np.array(init, dtype=x.dtype)
        t0 = time.perf_counter()
        for t in range(steps):
            loss = step(x, y, p, lr)
        elapsed = time.perf_counter() - t0
        return elapsed, float(loss)

    return train


def bench_case(n, dtype_name, steps, repeats, mods, impls):
    """Time every implementation at one (size, dtype); returns {name: (per-step s, loss)}."""
    dtype = np.dtype(dtype_name)
    x = np.linspace(-math.pi, math.pi, n, dtype=dtype)
    y = np.sin(x)
    lr = 1e-6 * 2000 / n
    init = [dtype.type(v) for v in np.random.default_rng(0).standard_normal(4)]  # same start for all

    makers = {
        "autotape": lambda: setup_eager(mods["autotape"], x, y),
        "autotape-compiled": lambda: setup_compiled(mods["autotape"], x, y),
        "autotape-compiled-replay": lambda: setup_compiled_replay(mods["autotape"], x, y),
        "autotape-compiled-optim": lambda: setup_compiled_optim(mods["autotape"], x, y),
        "torch": lambda: setup_eager(mods["torch"], x, y),
        "jax": lambda: setup_jax(mods["jax"], x, y, lr),
        "autograd": lambda: setup_autograd(mods["autograd"], x, y),
        "numpy": lambda: setup_numpy(x, y),
        "numba": lambda: setup_numba(mods["numba"], x, y),
    }
    for lib in ("autotape", "torch"):
        for opt in ("sgd", "adam"):
            makers[f"{lib}-nn-{opt}"] = (lambda lib=lib, opt=opt: setup_nn(mods[lib], x, y, opt))
    for opt in ("sgd", "adam"):
        makers[f"autotape-compiled-nn-{opt}"] = (lambda opt=opt: setup_nn(mods["autotape"], x, y, opt, True))
    trains = {}
    for name in impls:
        if name in makers and (name == "numpy" or mods.get(name.split("-")[0]) is not None):
            trains[name] = makers[name]()
            trains[name](init, lr, 3)  # warm-up: Numba / XLA compilation stays out of the timings
    times = {name: [] for name in trains}
    losses = {}
    for _ in range(repeats):
        for name, train in trains.items():
            elapsed, losses[name] = train(init, lr, steps)
            times[name].append(elapsed / steps)
    return {name: (median(ts), losses[name]) for name, ts in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=None, help="comma-separated N (default 2000,1000000; --quick: 2000,100000)")
    ap.add_argument("--dtypes", default="float32,float64", help="comma-separated (default float32,float64)")
    ap.add_argument("--steps", type=int, default=2000, help="SGD steps per timed run for N < 100000")
    ap.add_argument("--large-steps", type=int, default=100, help="SGD steps per timed run for N >= 100000")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per implementation (median reported)")
    ap.add_argument("--impls", default="autotape,autotape-compiled,autotape-compiled-optim,torch,jax,autograd,numpy,numba,autotape-nn-sgd,"
                    "autotape-compiled-nn-sgd,torch-nn-sgd,autotape-nn-adam,autotape-compiled-nn-adam,torch-nn-adam",
                    help="which to run")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (few steps, 2 repeats, N up to 1e5)")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.large_steps, args.repeats = 20, 2, 2
    if args.sizes is None:
        args.sizes = "2000,100000" if args.quick else "2000,1000000"

    mods = {"autotape": optional_import("autotape"), "numpy": np}
    for name in ("torch", "jax", "autograd", "numba"):
        mods[name] = optional_import(name)
    if mods["torch"] is not None:
        mods["torch"].set_num_threads(1)
    if mods["jax"] is not None:
        mods["jax"].config.update("jax_enable_x64", True)  # else float64 silently runs as float32
    print_versions(mods)

    impls = [s.strip() for s in args.impls.split(",") if s.strip()]
    summary, nn_summary, compiled_summary = [], [], []
    for n in [int(float(s)) for s in args.sizes.split(",")]:
        steps = args.steps if n < LARGE else args.large_steps
        for dtype_name in args.dtypes.split(","):
            print(f"\n== N={n:,}  {dtype_name}  lr={1e-6 * 2000 / n:.3g}  {steps} steps x {args.repeats} repeats ==")
            res = bench_case(n, dtype_name, steps, args.repeats, mods, impls)
            ref = res.get("autotape", (None, None))[0]
            rows = [[name, fmt_time(t), fmt_ratio(t, ref), f"{loss:.6g}"] for name, (t, loss) in res.items()]
            print_table(["impl", "per step", "time / autotape", "final loss"], rows)
            at, pt, npy = (res.get(k, (None, None)) for k in ("autotape", "torch", "numpy"))
            if at[0] is not None and pt[0] is not None:
                rel = abs(at[1] - pt[1]) / max(abs(pt[1]), 1e-30)
                print(f"torch/autotape = {fmt_ratio(pt[0], at[0])}   final loss autotape {at[1]:.8g} "
                      f"vs torch {pt[1]:.8g} (rel diff {rel:.2e})")
            if at[0] is not None and npy[0] is not None:
                print(f"numpy/autotape = {fmt_ratio(npy[0], at[0])}")
            for opt in ("sgd", "adam"):
                ours, theirs = res.get(f"autotape-nn-{opt}"), res.get(f"torch-nn-{opt}")
                if ours and theirs:
                    rel = abs(ours[1] - theirs[1]) / max(abs(theirs[1]), 1e-30)
                    print(f"nn+{opt}: torch/autotape = {fmt_ratio(theirs[0], ours[0])}   final loss rel diff {rel:.2e}")
                    nn_summary.append((n, dtype_name, opt, ours[0], theirs[0]))
            summary.append((n, dtype_name, at[0], pt[0], npy[0]))
            for variant in ("autotape-compiled", "autotape-compiled-optim"):
                compiled_summary.append((n, dtype_name, variant, res.get(variant, (None,))[0],
                                         res.get("numba", (None,))[0], res.get("jax", (None,))[0]))
            comp = res.get("autotape-compiled", (None, None))
            if comp[0] is not None and at[0] is not None:
                rel = abs(comp[1] - at[1]) / max(abs(at[1]), 1e-30)
                print(f"compiled: eager/compiled = {fmt_ratio(at[0], comp[0])}   final loss rel diff vs eager {rel:.2e}")
            replay = res.get("autotape-compiled-replay", (None, None))[0]
            if comp[0] is not None and replay is not None:
                print(f"compiled step split: replay (forward + backward + .grad) {fmt_time(replay)}, "
                      f"the eager update under no_grad and grad = None {fmt_time(comp[0] - replay)}")

    # The design's targets: >= 2x torch eager at N=2000; no slower than hand NumPy at N=1e6.
    print("\n== targets ==")
    for n, dt, at, pt, npy in summary:
        if at is None:
            continue
        if n == 2000 and pt is not None:
            ok = pt / at >= 2.0
            print(f"N={n} {dt}: autotape >= 2x faster than torch eager: {fmt_ratio(pt, at)} -> {'MET' if ok else 'MISSED'}")
        for n2, dt2, opt, ours, theirs in nn_summary:
            if (n2, dt2) == (n, dt) and n == 2000:
                ok = theirs / ours >= 2.0
                print(f"N={n} {dt}: nn + {opt} training step >= 2x faster than torch eager: "
                      f"{fmt_ratio(theirs, ours)} -> {'MET' if ok else 'MISSED'}")
        if n == 1_000_000 and npy is not None:
            ok = at <= npy
            print(f"N={n} {dt}: autotape no slower than NumPy: numpy/autotape {fmt_ratio(npy, at)} -> "
                  f"{'MET' if ok else 'MISSED'}")
    # issue 5 (autotape.compile): within 1.5x of hand-fused Numba and >= 3x JAX jit at N=2000; 1.3x at 1e6
    for n, dt, variant, comp, nb, jx in compiled_summary:
        if comp is None:
            continue
        if nb is not None and n in (2000, 1_000_000):
            bound = 1.5 if n == 2000 else 1.3
            print(f"N={n} {dt}: {variant} step within {bound}x of hand-fused Numba: {variant}/numba "
                  f"{comp / nb:.2f}x -> {'MET' if comp <= bound * nb else 'MISSED'}")
        if jx is not None and n == 2000:
            print(f"N={n} {dt}: {variant} step >= 3x faster than JAX jit: {fmt_ratio(jx, comp)} -> "
                  f"{'MET' if jx >= 3 * comp else 'MISSED'}")


if __name__ == "__main__":
    main()
