"""The "Fastest Autograd in the West" graph (arogozhnikov.github.io, 2023-12-28), autotape vs torch.

100 scalar leaves, then n_operations (10,000) scalar ops cycling softplus / sum of four earlier
nodes / product / softmax over a stack of four, then ``nodes[-1].backward()``. Every op is on a
scalar, so this measures per-op overhead: recording in eager mode and the backward replay.
Published on an M1: PyTorch eager ~113 ms per iteration, a Numba flat tape ~4.1 ms.

Reports per iteration (graph build + backward), the backward call alone, and build alone
(the difference), medians over repeats, for autotape and PyTorch eager, plus the number of
tape records and a gradient check against PyTorch.

    python benchmarks/west.py            # 10,000 ops, 10 repeats
    python benchmarks/west.py --quick    # smoke test
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import set_single_thread_env  # noqa: E402

set_single_thread_env()  # before NumPy / Numba / torch create their thread pools

import argparse  # noqa: E402
import gc  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from _common import fmt_ratio, fmt_time, median, optional_import, print_table, print_versions  # noqa: E402


def build_graph(torch, softplus, init_vars, n_operations):
    """The article's graph over ``init_vars``, written once for both libraries: its nodes."""
    nodes = [*init_vars]
    for op in range(n_operations):
        if op % 4 == 0:
            nodes.append(softplus(nodes[-10]))
        elif op % 4 == 1:
            nodes.append(sum(nodes[-30:-10:5]))
        elif op % 4 == 2:
            nodes.append(nodes[-20] * nodes[-10])
        elif op % 4 == 3:
            softmaxes = torch.softmax(torch.stack(nodes[-4:], dim=0), dim=0)
            nodes.extend(softmaxes)
    return nodes


def run_graph(torch, softplus, n_operations, dtype, retain=False):
    """The graph and its backward. Returns the leaves, the nodes and the time of the backward
    call. ``retain`` keeps every node's gradient (for the check only)."""
    init_vars = torch.arange(100, dtype=dtype).requires_grad_()
    nodes = build_graph(torch, softplus, init_vars, n_operations)
    if retain:
        for node in nodes:
            node.retain_grad()
    t0 = time.perf_counter()
    nodes[-1].backward()
    return init_vars, nodes, time.perf_counter() - t0


def grads_of(nodes):
    """Every node's gradient as float64 (0 where none reached it), one array."""
    return np.array([0.0 if n.grad is None else float(n.grad.item()) for n in nodes])


def check_against_torch(libs, n_operations, dtypes):
    """Same graph in both with every gradient retained: compare forward values and gradients.
    With 10,000 ops the leaves' gradients underflow to exactly 0 in float32 (in torch too),
    so comparing only init_vars.grad would prove little; all nodes' gradients are compared."""
    out = {}
    for name, (torch, softplus) in libs.items():
        init_vars, nodes, _ = run_graph(torch, softplus, n_operations, dtypes[name], retain=True)
        out[name] = (
            np.asarray(init_vars.grad.tolist(), dtype=np.float64),
            np.array([float(n.item()) for n in nodes]),
            grads_of(nodes),
        )
    (lg_a, val_a, g_a), (lg_t, val_t, g_t) = out["autotape"], out["torch"]
    print(f"init_vars.grad: max abs diff {np.abs(lg_a - lg_t).max():.3g} "
          f"(max |grad| autotape {np.abs(lg_a).max():.3g}, torch {np.abs(lg_t).max():.3g})")
    print(f"all {len(g_a)} nodes: forward max abs diff {np.abs(val_a - val_t).max():.3g}; "
          f"grad max abs diff {np.abs(g_a - g_t).max():.3g} (max |grad| {np.abs(g_t).max():.3g}, "
          f"nonzero grads autotape {np.count_nonzero(g_a)}, torch {np.count_nonzero(g_t)})")


def bench_compiled(autotape, n_operations, dtype, repeats):
    """``autotape.compile`` of the graph: record (and compile) once, then replay forward and
    backward per iteration. Returns (record+compile s, forward s, backward s, grad max diff)."""
    init_vars = autotape.arange(100, dtype=dtype).requires_grad_()
    step = autotape.compile(lambda: build_graph(autotape, autotape.softplus, init_vars, n_operations)[-1])
    t0 = time.perf_counter()
    out = step()
    record = time.perf_counter() - t0
    out.backward()
    init_vars.grad = None
    fwd, bwd = [], []
    for _ in range(max(repeats, 20)):
        t0 = time.perf_counter()
        out = step()
        t1 = time.perf_counter()
        out.backward()
        bwd.append(time.perf_counter() - t1)
        fwd.append(t1 - t0)
        init_vars.grad = None
    out = step()
    out.backward()
    ref_vars = autotape.arange(100, dtype=dtype).requires_grad_()
    build_graph(autotape, autotape.softplus, ref_vars, n_operations)[-1].backward()
    diff = float(np.abs(init_vars.grad.numpy(force=True).astype(np.float64)
                        - ref_vars.grad.numpy(force=True).astype(np.float64)).max())
    print(step.explain())
    return record, median(fwd), median(bwd), diff


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=10_000, help="n_operations (default 10000)")
    ap.add_argument("--repeats", type=int, default=10, help="timed iterations per library (median)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--quick", action="store_true", help="smoke test: 1000 ops, 2 repeats")
    args = ap.parse_args()
    if args.quick:
        args.ops, args.repeats = 1000, 2

    autotape = optional_import("autotape")
    torch = optional_import("torch")
    print_versions({"autotape": autotape, "torch": torch, "numpy": np})
    libs, dtypes = {}, {}
    if autotape is not None:
        libs["autotape"] = (autotape, autotape.softplus)  # autotape.nn.functional may not exist
        dtypes["autotape"] = getattr(autotape, args.dtype)
    if torch is not None:
        torch.set_num_threads(1)
        libs["torch"] = (torch, torch.nn.functional.softplus)
        dtypes["torch"] = getattr(torch, args.dtype)

    for name, (lib, softplus) in libs.items():  # warm-up: compilation, caches, allocator
        run_graph(lib, softplus, args.ops, dtypes[name])

    total = {name: [] for name in libs}
    bwd = {name: [] for name in libs}
    n_records = None
    for _ in range(args.repeats):
        for name, (lib, softplus) in libs.items():  # round-robin: drift hits both alike
            # each build starts with the collector's young generations empty, so neither library's
            # timing pays for collecting what the other left (its own collections it pays for)
            gc.collect()
            t0 = time.perf_counter()
            init_vars, nodes, tb = run_graph(lib, softplus, args.ops, dtypes[name])
            total[name].append(time.perf_counter() - t0)
            bwd[name].append(tb)
            if name == "autotape":
                tape = getattr(nodes[-1], "_tape", None)
                n_records = getattr(tape, "n_records", None)
            del init_vars, nodes  # free the graph before timing the other library

    print(f"\n== {args.ops:,} ops, {args.dtype}, median of {args.repeats} iterations ==")
    res = {name: (median(total[name]), median(bwd[name]), median([t - b for t, b in zip(total[name], bwd[name])]))
           for name in libs}
    rows = [[name, fmt_time(t), fmt_time(f), fmt_time(b)] for name, (t, b, f) in res.items()]
    print_table(["impl", "fwd+bwd / iter", "build (fwd)", "backward()"], rows)
    if n_records is not None:
        print(f"autotape tape records: {n_records:,}")
    if "autotape" in res and "torch" in res:
        (ta, ba, fa), (tt, bt, ft) = res["autotape"], res["torch"]
        print(f"torch/autotape: fwd+bwd {fmt_ratio(tt, ta)}, build {fmt_ratio(ft, fa)}, backward {fmt_ratio(bt, ba)}")
        print("\n== gradient check (every node's grad retained) ==")
        check_against_torch(libs, args.ops, dtypes)

    compiled = None
    if autotape is not None:
        print("\n== autotape.compile: record once, replay forward + backward ==")
        compiled = bench_compiled(autotape, args.ops, dtypes["autotape"], args.repeats)
        rec, cf, cb, diff = compiled
        print(f"record + compile (first call): {rec:.2f} s")
        print_table(["impl", "fwd+bwd / iter", "forward replay", "backward()"],
                    [["autotape-compiled", fmt_time(cf + cb), fmt_time(cf), fmt_time(cb)]])
        print(f"leaf gradients vs eager autotape: max abs diff {diff:.3g}")
        if "torch" in res:
            print(f"torch eager / compiled: {fmt_ratio(res['torch'][0], cf + cb)}")

    if "autotape" in res:
        ta, ba, _ = res["autotape"]
        print("\n== targets ==" + ("" if args.ops == 10_000 else " (set for 10,000 ops; this run has fewer)"))
        if "torch" in res:
            ok = res["torch"][0] / ta >= 4.0
            print(f"eager fwd+bwd >= 4x faster than torch eager: {fmt_ratio(res['torch'][0], ta)} -> "
                  f"{'MET' if ok else 'MISSED'}")
        print(f"backward replay alone < 1 ms: {fmt_time(ba)} -> {'MET' if ba < 1e-3 else 'MISSED'}")
    if compiled is not None:
        rec, cf, cb, _ = compiled
        print(f"compiled replay fwd+bwd < 0.5 ms per iteration: {fmt_time(cf + cb)} -> "
              f"{'MET' if cf + cb < 0.5e-3 else 'MISSED'}")
        print(f"record + compile < 10 s: {rec:.2f} s -> {'MET' if rec < 10 else 'MISSED'}")


if __name__ == "__main__":
    main()
