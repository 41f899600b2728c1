"""What the profiler costs: backward() of the poly step and of the West graph with the profiler
off and on, side by side in one process, and how well its per-op replay times add up.

    python benchmarks/profiler_overhead.py [--repeats 20]
"""
import argparse
import math
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import autotape as at  # noqa: E402


def west_output(init, n_operations=10_000):
    """The last node of the "Fastest Autograd in the West" graph (see west.py)."""
    nodes = [*init]
    for op in range(n_operations):
        if op % 4 == 0:
            nodes.append(at.softplus(nodes[-10]))
        elif op % 4 == 1:
            nodes.append(sum(nodes[-30:-10:5]))
        elif op % 4 == 2:
            nodes.append(nodes[-20] * nodes[-10])
        else:
            nodes.extend(at.softmax(at.stack(nodes[-4:], dim=0), dim=0))
    return nodes[-1]


def poly_loss(x, y, params):
    a, b, c, d = params
    return (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()


def timed_backward(make_loss, repeats, profiled):
    """Median backward() wall time, and the profile of the last one when ``profiled``."""
    times, prof = [], None
    for _ in range(repeats):
        loss = make_loss()
        if profiled:
            with at.profiler.profile() as prof:
                t0 = time.perf_counter()
                loss.backward()
                times.append(time.perf_counter() - t0)
        else:
            t0 = time.perf_counter()
            loss.backward()
            times.append(time.perf_counter() - t0)
    return float(np.median(times)), prof


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    x = at.linspace(-math.pi, math.pi, 2000)
    y = at.sin(x)
    params = [at.randn((), requires_grad=True) for _ in range(4)]
    init = at.arange(100, dtype=at.float32).requires_grad_()
    cases = {
        "poly N=2000 (9 records)": lambda: poly_loss(x, y, params),
        "West graph (30,100 records)": lambda: west_output(init),
    }
    print(f"{'workload':<30}{'backward off':>14}{'backward on':>14}{'on/off':>8}{'per-op sum / replay':>22}")
    for name, make in cases.items():
        make().backward()  # compile outside the timings
        timed_backward(make, 2, True)
        off, _ = timed_backward(make, args.repeats, False)
        on, prof = timed_backward(make, args.repeats, True)
        per_op = sum(e["dur"] for e in prof.events if e["cat"] == "backward")
        print(f"{name:<30}{off * 1e3:>12.3f}ms{on * 1e3:>12.3f}ms{on / off:>8.2f}"
              f"{per_op / prof.replay_inside_ns:>22.3f}")
    print("on/off includes the profiler's own bookkeeping after the replay (one event per record);"
          " the last column compares the per-record times with the wall time inside the compiled replay.")


if __name__ == "__main__":
    main()
