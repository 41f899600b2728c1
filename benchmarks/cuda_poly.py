"""The tutorial's polynomial fit on a GPU: ``a + b x + c x^2 + d x^3`` on ``x = linspace(-pi, pi,
N)``, ``y = sin(x)``, loss ``(y_pred - y).pow(2).sum()``, plain SGD, N = 10,000,000 float32.
Times one training step (forward, backward, update, grad reset) of:

  autotape           the tutorial's loop with ``device="cuda"`` (eager: one kernel per op)
  autotape-compiled  the loss wrapped in ``autotape.compile``: one generated kernel computes the
                     loss and the four gradients (cuda/fuse.py); the update stays the tutorial's
  torch              PyTorch eager on CUDA (skipped when torch has no CUDA)
  numba-fused        a hand-written numba-cuda kernel: one pass over x and y computing the
                     loss and the four gradient sums (block tree reductions), one tiny launch
                     for the update (the practical limit)

GB/s is 2 N itemsize bytes (reading x and y once, what the fused kernel needs) over the step
time, so it compares implementations on one scale. Runs end to end under numba-cuda's
simulator at a tiny N (``NUMBA_ENABLE_CUDASIM=1 python benchmarks/cuda_poly.py --n 64 --steps 2``).
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from numba import cuda, float64  # noqa: E402  (the simulator swaps a module global ``cuda`` only)

TPB = 256


def _sync():
    cuda.synchronize()


def _poly_problem(torch, n, dtype):
    """The tutorial cubic on the GPU, the same code for autotape and PyTorch: (loss_fn, params, lr)."""
    dt = getattr(torch, dtype)
    x = torch.linspace(-math.pi, math.pi, n, dtype=dt, device="cuda")
    y = torch.sin(x)
    torch.manual_seed(0)
    a, b, c, d = (torch.randn((), dtype=dt, device="cuda", requires_grad=True) for _ in range(4))

    def loss_fn():
        return (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()

    return loss_fn, (a, b, c, d), 1e-6 * 2000 / n


def autotape_loop(n, steps, dtype, compiled=False):
    import autotape as torch

    loss_fn, params, lr = _poly_problem(torch, n, dtype)
    if compiled:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (the "runs eagerly on CUDA" notice)
            loss_fn = torch.compile(loss_fn)
            loss_fn()
    from autotape.cuda import kernels

    n0 = kernels.LAUNCHES[0]
    result = _time(lambda: _tutorial_step(torch, loss_fn, params, lr), steps)
    print(f"note: autotape{'-compiled' if compiled else ''} launches {(kernels.LAUNCHES[0] - n0) / (steps + 1):.0f} "
          "kernels per step")
    return result


def _tutorial_step(torch, loss_fn, params, lr):
    loss = loss_fn()
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss


def torch_loop(n, steps, dtype):
    import torch

    loss_fn, params, lr = _poly_problem(torch, n, dtype)
    return _time(lambda: _tutorial_step(torch, loss_fn, params, lr), steps, torch.cuda.synchronize)


def _time(step, steps, sync=_sync):
    loss = step()  # warm up: compiles kernels
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync()
    return (time.perf_counter() - t0) / steps, float(loss.item())


def fused_kernels(jit=cuda.jit):
    """The hand-written kernels: one pass over x and y for the loss and the four gradient sums
    (block tree reductions into per-block partials), and a one-block launch adding the blocks
    and updating the parameters on the device."""

    def partials(x, y, p, part, n):
        # each block: sums of r^2 and of 2r, 2rx, 2rx^2, 2rx^3 over its grid-stride elements
        sm = cuda.shared.array((5, TPB), float64)
        tid = cuda.threadIdx.x
        s0 = s1 = s2 = s3 = s4 = 0.0
        i = cuda.blockIdx.x * cuda.blockDim.x + tid
        while i < n:
            xi = float64(x[i])
            r = p[0] + p[1] * xi + p[2] * xi * xi + p[3] * xi * xi * xi - y[i]
            s0 += r * r
            g = 2.0 * r
            s1 += g
            s2 += g * xi
            s3 += g * xi * xi
            s4 += g * xi * xi * xi
            i += cuda.gridDim.x * cuda.blockDim.x
        sm[0, tid], sm[1, tid], sm[2, tid], sm[3, tid], sm[4, tid] = s0, s1, s2, s3, s4
        cuda.syncthreads()
        h = cuda.blockDim.x // 2
        while h > 0:
            if tid < h:
                for k in range(5):
                    sm[k, tid] += sm[k, tid + h]
            cuda.syncthreads()
            h //= 2
        if tid == 0:
            for k in range(5):
                part[k, cuda.blockIdx.x] = sm[k, 0]

    def update(part, p, loss, nblocks, lr):
        k = cuda.threadIdx.x  # thread k < 5 adds row k of the partials
        if k < 5:
            s = 0.0
            for j in range(nblocks):
                s += part[k, j]
            if k == 0:
                loss[0] = s
            else:
                p[k - 1] -= lr * s

    return jit(partials), jit(update)


def numba_fused(n, steps, dtype):
    partials, update = fused_kernels()
    np_dt = np.dtype(dtype)
    x = cuda.to_device(np.linspace(-math.pi, math.pi, n).astype(np_dt))
    y = cuda.to_device(np.sin(np.linspace(-math.pi, math.pi, n)).astype(np_dt))
    p = cuda.to_device(np.random.default_rng(0).standard_normal(4).astype(np_dt))
    threads = min(TPB, 1 << max(n - 1, 1).bit_length())
    nblocks = max(1, min(1024, -(-n // (threads * 8))))
    part = cuda.device_array((5, nblocks), np.float64)
    loss = cuda.device_array(1, np.float64)
    lr = 1e-6 * 2000 / n

    def step():
        partials[nblocks, threads](x, y, p, part, n)
        update[1, 32](part, p, loss, nblocks, lr)
        return _Loss(loss)

    return _time(step, steps)


class _Loss:
    def __init__(self, dev):
        self.dev = dev

    def item(self):
        return float(self.dev.copy_to_host()[0])


IMPLS = {"autotape": autotape_loop, "autotape-compiled": lambda n, s, d: autotape_loop(n, s, d, compiled=True),
         "torch": torch_loop, "numba-fused": numba_fused}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--impls", default=",".join(IMPLS))
    args = ap.parse_args(argv)
    from numba import config

    sim = bool(config.ENABLE_CUDASIM)
    if not cuda.is_available():
        print("no CUDA GPU (and NUMBA_ENABLE_CUDASIM is not set): nothing to measure")
        return 0
    where = "numba-cuda SIMULATOR (times mean nothing)" if sim else cuda.get_current_device().name
    print(f"N={args.n:,} {args.dtype}, {args.steps} steps, on {where}")
    results = {}
    for name in args.impls.split(","):
        if name == "torch":
            try:
                import torch

                if not torch.cuda.is_available() or sim:
                    print("note: torch has no CUDA device here; skipped")
                    continue
            except ImportError:
                print("note: torch not importable; skipped")
                continue
        results[name] = IMPLS[name](args.n, args.steps, args.dtype)
    nbytes = 2 * args.n * np.dtype(args.dtype).itemsize
    ref = results.get("numba-fused", (None,))[0]
    print(f"{'impl':<20}{'time/step':>12}{'GB/s':>10}{'vs numba-fused':>16}{'final loss':>16}")
    for name, (t, loss) in results.items():
        ratio = f"{t / ref:.2f}x" if ref else "-"
        print(f"{name:<20}{t * 1e3:>10.3f}ms{nbytes / t / 1e9:>10.1f}{ratio:>16}{loss:>16.6g}")
    if "torch" in results and "autotape" in results:
        print(f"autotape eager / torch eager: {results['autotape'][0] / results['torch'][0]:.2f}x time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
