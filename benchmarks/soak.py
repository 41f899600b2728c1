"""Memory soak: 100,000 polynomial training steps eagerly and 100,000 with the loss compiled
(``autotape.compile``), printing resident memory every 10,000 steps; then the tape's metadata
cost per record, beyond the values saved for backward.

    python benchmarks/soak.py                 # 100k + 100k steps (about a minute)
    python benchmarks/soak.py --steps 20000 --every 2000
    python benchmarks/soak.py --quick         # a smoke run of a few seconds

Exits with status 1 if resident memory grows 5% or more between the first and the last
reading of either loop. The first reading is taken after the first ``--every`` steps, so
one-time costs (Numba's compiled code, the first arena) are out of the comparison.
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import set_single_thread_env  # noqa: E402

set_single_thread_env()

import numpy as np  # noqa: E402


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def soak(torch, compiled, steps, every, n=2000):
    """Fit sin(x) with a cubic by SGD; returns [(step, rss)] and the final loss."""
    x = torch.linspace(-math.pi, math.pi, n)
    y = torch.sin(x)
    torch.manual_seed(0)
    a, b, c, d = (torch.randn((), requires_grad=True) for _ in range(4))

    def loss_fn():
        return (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()

    step = torch.compile(loss_fn) if compiled else loss_fn
    readings = []
    for t in range(steps):
        loss = step()
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= 1e-6 * p.grad
                p.grad = None
        if (t + 1) % every == 0:
            readings.append((t + 1, rss_bytes()))
    return readings, loss.item()


def report(name, readings, seconds):
    first = readings[0][1]
    print(f"\n{name}: {readings[-1][0]:,} steps in {seconds:.1f} s ({seconds / readings[-1][0] * 1e6:.1f} us/step)")
    print(f"{'step':>10} {'RSS (MiB)':>11} {'vs first':>9}")
    for step, rss in readings:
        print(f"{step:>10,} {rss / 2 ** 20:>11.2f} {100 * (rss - first) / first:>+8.2f}%")
    growth = (readings[-1][1] - first) / first
    print(f"growth first -> last: {100 * growth:+.2f}% (limit +5%)")
    return growth


def bytes_per_record(torch, records=20000):
    """Tape metadata per record, by kind of record, from tracemalloc: what recording retains
    beyond the arrays it saves for backward (those counted apart, with their headers)."""
    import tracemalloc

    from autotape.tape import current_tape

    kinds = {
        "x * 1.0 (saves nothing)": lambda v, w: v * 1.0,
        "x.sin() (saves x)": lambda v, w: v.sin(),
        "x * w (saves both)": lambda v, w: v * w,
        "x.tanh() (saves its output)": lambda v, w: v.tanh(),
    }
    rows = []
    for name, op in kinds.items():
        w = torch.ones(1, dtype=torch.float64, requires_grad=True)
        v = torch.ones(1, dtype=torch.float64, requires_grad=True) * 1.0
        tape = current_tape()
        start, alive = tape.n_records, {id(w._vc), id(v._vc)}
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(records):
            v = op(v, w)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        n = tape.n_records - start
        saved = {id(a): a for a in tape.vals if isinstance(a, np.ndarray)}
        saved_bytes = sum(sys.getsizeof(a) for a in saved.values() if a.base is None)
        # a saved tensor that died leaves its version counter to the tape, which checks it
        counters = {id(vc): vc for vc in tape.versions if id(vc) not in alive and vc is not v._vc}
        saved_bytes += sum(sys.getsizeof(vc) for vc in counters.values())
        tables = (len(tape.R) * tape.R.itemsize + len(tape.S) * tape.S.itemsize) / max(tape.n_records, 1)
        rows.append((name, n, (after - before - saved_bytes) / n, tables, saved_bytes / n))
        v.sum().backward()  # consume the tape
    print(f"\ntape metadata per record ({records:,} records of one kind, tiny values):")
    print(f"{'record':<28}{'metadata B/rec':>15}{'of which R+S':>14}{'saved values B/rec':>20}")
    for name, n, meta, tables, saved in rows:
        print(f"{name:<28}{meta:>15.1f}{tables:>14.1f}{saved:>20.1f}")
    print("(R: 10 int32 per record, S: 2 int64 per slot; a saved value adds a reference to its array "
          "and a version check, 32 bytes; saved values: the arrays and dead tensors' version counters)")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="5,000 steps each, a reading every 500")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.every = 5000, 500
    import autotape

    print(f"autotape {autotape.__version__}, numpy {np.__version__}, pid {os.getpid()}")
    growths = {}
    for name, compiled in (("eager", False), ("compiled (autotape.compile)", True)):
        if compiled and not hasattr(autotape, "compile"):
            print("\nautotape.compile is not available in this build: the compiled soak is skipped")
            continue
        t0 = time.perf_counter()
        readings, loss = soak(autotape, compiled, args.steps, args.every)
        growths[name] = report(name, readings, time.perf_counter() - t0)
        print(f"final loss {loss:.4f}")
    bytes_per_record(autotape)
    bad = {k: g for k, g in growths.items() if g >= 0.05}
    if bad:
        print(f"\nFAIL: resident memory grew 5% or more: {bad}")
        return 1
    print("\nresident memory stayed flat (growth under 5%) in every loop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
