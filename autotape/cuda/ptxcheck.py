"""Compile the CUDA kernels autotape launched to PTX for a real GPU, without one.

The simulator runs kernels as Python, so it accepts code that numba-cuda cannot compile for
a GPU. This closes that gap where NVVM is installed (``pip install nvidia-cuda-nvcc-cu12
nvidia-cuda-nvrtc-cu12``, or the ``cuda`` extra; no driver needed)::

    AUTOTAPE_CUDA_SIGNATURES=/tmp/sigs.json NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/test_cuda.py
    python -m autotape.cuda.ptxcheck /tmp/sigs.json

The first command records each launched kernel's source and argument types; the second
compiles every one with ``numba.cuda.compile_ptx`` for compute capability 9.0 and reports
the failures.
"""
import json
import sys
import time


def _numba_type(name):
    import numpy as np
    from numba import from_dtype, types

    if name.startswith("array:"):
        return types.Array(from_dtype(np.dtype(name[6:])), 1, "C")
    if name.startswith("tuple"):
        n = int(name[5:])
        return types.UniTuple(types.int64, n) if n else types.Tuple(())
    return getattr(types, name)


def main(path, cc=(9, 0)):
    import os

    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        raise SystemExit("run without NUMBA_ENABLE_CUDASIM=1: this compiles for a real GPU")
    from numba import cuda

    from .kernels import _namespace

    entries = json.load(open(path))
    failed = 0
    t0 = time.perf_counter()
    for key, source, sig in entries:
        ns = dict(_namespace())
        exec(compile(source, f"<kernel {key[0]}>", "exec"), ns)
        args = tuple(_numba_type(s) for s in sig)
        try:
            cuda.compile_ptx(ns["k"], args, cc=cc)
        except Exception as e:  # report every kernel that does not compile, not just the first
            failed += 1
            print(f"FAILED {key} {sig}:\n{source}\n{type(e).__name__}: {str(e)[:2000]}\n")
    print(f"{len(entries) - failed} of {len(entries)} kernels compiled to PTX for sm_{cc[0]}{cc[1]} "
          f"in {time.perf_counter() - t0:.1f} s")
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/autotape_cuda_signatures.json") else 0)
