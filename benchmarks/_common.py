"""Helpers shared by the benchmark scripts: optional peers, medians, version lines, tables.

Each script sets the single-thread environment variables itself, *before* importing this
module (or anything that pulls in NumPy, Numba, torch or JAX), because thread pools read
them once at import.
"""
import importlib
import os
import platform
import statistics
import sys

SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def set_single_thread_env():
    """Called first thing by every script (and exported to child processes)."""
    os.environ.update(SINGLE_THREAD_ENV)


def optional_import(name, note=""):
    """The module, or None with a printed note: every peer is optional, none may crash us."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # ImportError, but also broken installs raising anything else
        print(f"note: peer '{name}' not importable ({type(exc).__name__}: {exc}); skipped{note}")
        return None


def print_versions(modules):
    """One line naming the interpreter and each module's version (None = not importable)."""
    parts = [f"python {platform.python_version()}"]
    for name, mod in modules.items():
        parts.append(f"{name} {_version(name, mod) if mod is not None else '(absent)'}")
    print("versions: " + ", ".join(parts))
    print(f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, single-threaded runs")


def _version(name, mod):
    """``__version__``, else the installed distribution's (HIPS autograd has no __version__)."""
    version = getattr(mod, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(name)
        except Exception:
            version = "?"
    return version


def median(xs):
    return statistics.median(xs)


def fmt_time(seconds):
    """A time with a unit that keeps three significant figures readable."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(num, den):
    if num is None or den is None or den == 0:
        return "-"
    return f"{num / den:.2f}x"


def print_table(headers, rows):
    """A plain fixed-width table (strings in, nothing else needed to read it in a log)."""
    cols = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(headers))]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for r in cols[1:]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()
