"""Cold start: a fresh Python process that imports autotape, builds a tiny graph and calls the
first ``backward()``, with an empty and then a warm Numba + autotape cache.

The first backward compiles (or loads from the cache) the generated Numba replay, so this is
the delay a user sees at the top of a notebook. Each child prints its own import and
first-backward times; the parent times the whole process (interpreter start-up included).
Cold runs point NUMBA_CACHE_DIR and AUTOTAPE_CACHE_DIR at a fresh temporary directory; warm
runs reuse the directory the last cold run filled. (Python's own .pyc files are left as they
are: they are not ours to measure.) ``import torch`` + first backward is timed the same way
for comparison when PyTorch is installed.

    python benchmarks/coldstart.py             # 2 cold, 5 warm, 5 torch runs
    python benchmarks/coldstart.py --quick     # no cold run (it compiles from scratch): 1 warm with the
                                               # default caches, 1 torch
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import set_single_thread_env  # noqa: E402

set_single_thread_env()  # inherited by the children

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from _common import fmt_time, median, print_table  # noqa: E402

# The child: times are taken inside it, so interpreter start-up shows only in the wall time.
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import {module} as torch
t1 = time.perf_counter()
x = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
y = (torch.sin(x) * x + x ** 2).sum()
y.backward()
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "first_backward": t2 - t1, "grad": x.grad.tolist(),
                   "version": torch.__version__}}))
"""


def run_child(module, env_extra=None, timeout=600):
    """One fresh process; returns (wall seconds, the child's JSON report)."""
    env = dict(os.environ)
    env.update(env_extra or {})
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD.format(module=module)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child importing {module} failed:\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def cache_env(root):
    return {"NUMBA_CACHE_DIR": os.path.join(root, "numba"), "AUTOTAPE_CACHE_DIR": os.path.join(root, "autotape")}


def summarize(label, runs):
    walls = [w for w, _ in runs]
    return [label, str(len(runs)), fmt_time(median(walls)), fmt_time(max(walls)),
            fmt_time(median([r["import"] for _, r in runs])), fmt_time(median([r["first_backward"] for _, r in runs]))]


def bench_autotape(args, rows):
    """Cold runs (each with a fresh cache dir), then warm runs; appends table rows."""
    results = {}
    roots = []
    try:
        cold = []
        for _ in range(args.cold):  # each cold run gets its own empty cache
            roots.append(tempfile.mkdtemp(prefix="autotape-coldstart-"))
            cold.append(run_child("autotape", cache_env(roots[-1])))
        # Warm: the cache the last cold run filled (or, with no cold run, the default caches).
        warm_env = cache_env(roots[-1]) if roots else {}
        warm = [run_child("autotape", warm_env) for _ in range(args.repeats)]
        print(f"autotape {warm[0][1]['version']}; grad {warm[0][1]['grad']}")
        if cold:
            rows.append(summarize("autotape, cold cache", cold))
            results["cold"] = median([w for w, _ in cold])
        rows.append(summarize("autotape, warm cache" if cold else "autotape, default caches", warm))
        results["warm"] = median([w for w, _ in warm])
        if roots:
            files = sum(len(fs) for _, _, fs in os.walk(roots[-1]))
            print(f"cache dir {roots[-1]}: {files} files after the runs")
    finally:
        for root in roots[:-1] + ([] if args.keep_cache else roots[-1:]):
            shutil.rmtree(root, ignore_errors=True)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cold", type=int, default=2,
                    help="cold runs, each with a fresh cache dir (0: warm runs use the default caches)")
    ap.add_argument("--repeats", type=int, default=5, help="warm runs (and torch runs)")
    ap.add_argument("--quick", action="store_true", help="smoke test: no cold run, one warm, one torch")
    ap.add_argument("--keep-cache", action="store_true", help="print and keep the temporary cache dir")
    args = ap.parse_args()
    if args.quick:
        args.cold, args.repeats = 0, 1

    have = {m: importlib.util.find_spec(m) is not None for m in ("autotape", "torch")}
    rows, results = [], {}
    if not have["autotape"]:
        print("note: autotape not importable; skipped")
    else:
        try:
            results.update(bench_autotape(args, rows))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:  # report, and still time torch
            print(f"note: autotape child failed; autotape rows skipped\n{exc}")
    if not have["torch"]:
        print("note: torch not importable; skipped")
    else:
        try:
            runs = [run_child("torch") for _ in range(args.repeats)]
            print(f"torch {runs[0][1]['version']}; grad {runs[0][1]['grad']}")
            rows.append(summarize("torch", runs))
            results["torch"] = median([w for w, _ in runs])
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"note: torch child failed; skipped\n{exc}")

    print()
    print_table(["process", "runs", "wall (median)", "wall (max)", "import", "first backward"], rows)
    if "warm" in results:
        print("\n== targets ==")
        if "cold" in results:
            print(f"cold start < 15 s: {fmt_time(results['cold'])} -> {'MET' if results['cold'] < 15 else 'MISSED'}")
        else:
            print("cold start: not run (--cold 0 / --quick)")
        print(f"warm start < 2 s: {fmt_time(results['warm'])} -> {'MET' if results['warm'] < 2 else 'MISSED'}")
        if "torch" in results:
            print(f"warm autotape / torch wall: {results['warm'] / results['torch']:.2f}x")


if __name__ == "__main__":
    main()
