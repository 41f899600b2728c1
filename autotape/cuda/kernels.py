"""numba-cuda kernels. Elementwise kernels are generated from the op table's expressions
(``fwd`` for the forward, ``vjp`` for each gradient), so a new elementwise op gets its CUDA
kernels from its table entry; reductions and ``matmul`` are written out below.

Every generated kernel reads its inputs at output index ``i`` in one of three ways, fixed
when the kernel is generated: the same index (an input of the output's size), index 0 (one
element, broadcast) or through strides (NumPy broadcasting, permutations). Reductions add
in float64 whatever the dtype; each block reduces its part in shared memory (a tree), and a
second launch reduces the blocks' partial sums, so no address is updated by many threads.

``python -m autotape.cuda.kernels`` prints the generated source of every op's kernels.
"""
import atexit
import json
import math
import os

import numpy as np

from .array import CudaArray, empty, nbcuda, simulated

# threads per block (most), and the size of the reduction's shared array; smaller on the
# simulator, which runs a Python thread per CUDA thread, so that tests reach multi-block paths
TPB = 32 if simulated() else 256
_MAX_GRID_Y = 65535
_kernels = {}  # key -> compiled kernel
SOURCES = {}  # key -> generated source (for show_source and the PTX check)
LAUNCHES = [0]  # kernels launched so far (the benchmark reports kernels per training step)
# (key, argument types) of every launch, when recording for the PTX check (``ptxcheck.py``)
SIGNATURES = set() if os.environ.get("AUTOTAPE_CUDA_SIGNATURES") else None
_ns = None


def _namespace():
    global _ns
    if _ns is None:
        from numba import float64

        _ns = {"cuda": nbcuda(), "math": math, "float64": float64}
    return _ns


_HEADER = "import math\n\nfrom numba import cuda, float64\n\n\n"


def _compile(key, source):
    """The kernel ``k`` defined by ``source``, written to a module file in autotape's cache
    directory so that numba-cuda caches what it compiles (``cache=True``): a new process
    loads the kernels instead of compiling each one again (a third of a second each)."""
    k = _kernels.get(key)
    if k is None:
        from ..replay.cpu import load_generated

        module = load_generated("cuda_" + key[0].replace("-", "_"), _HEADER + source)
        SOURCES[key] = source
        k = _kernels[key] = nbcuda().jit(cache=True)(module.k)
    return k


def launch(key, grid, block, *args):
    LAUNCHES[0] += 1
    if SIGNATURES is not None:
        SIGNATURES.add((key, tuple(_type_name(a) for a in args)))
    _kernels[key][grid, block](*args)


def _type_name(a):
    if isinstance(a, bool):
        return "boolean"
    if isinstance(a, int):
        return "int64"
    if isinstance(a, float):
        return "float64"
    if isinstance(a, tuple):
        return f"tuple{len(a)}"
    return f"array:{a.dtype}"


def _dump_signatures():
    with open(os.environ["AUTOTAPE_CUDA_SIGNATURES"], "w") as f:
        json.dump([[list(k), SOURCES[k], list(sig)] for k, sig in sorted(SIGNATURES, key=repr)], f)


if SIGNATURES is not None:
    atexit.register(_dump_signatures)


def _loads(names, modes, as_float):
    """The statements reading each input at flat index ``_i``. ``as_float``: as a double, for
    the op table's expressions, which are written in Python floats (``(x > 0.0) - (x < 0.0)``).
    The kernels' own variables start with ``_``: the table's names (x, c, g, a, ...) are free."""
    out = []
    for name, mode in zip(names, modes):
        if mode == 2:  # the element offset of flat index _i, from the input's strides
            out += ["_j = 0", "_r = _i", "for _d in range(len(shape) - 1, -1, -1):", "    _q = _r // shape[_d]",
                    f"    _j += (_r - _q * shape[_d]) * st_{name}[_d]", "    _r = _q"]
        at = "_i" if mode == 0 else "0" if mode == 1 else "_j"
        out.append(f"{name} = float({name}_[{at}])" if as_float else f"{name} = {name}_[{at}]")
    return out


def _params(names, modes):
    p = [f"{n}_" for n in names] + ["n", "a", "b"]
    if 2 in modes:
        p += ["shape"] + [f"st_{n}" for n, m in zip(names, modes) if m == 2]
    return p


def map_source(expr, names, modes, as_float=False):
    body = "\n        ".join(_loads(names, modes, as_float))
    return f"""def k(out_, acc, {', '.join(_params(names, modes))}):
    _i = cuda.grid(1)
    if _i < n:
        {body}
        _v = {expr}
        if acc:
            out_[_i] += _v
        else:
            out_[_i] = _v
"""


_INIT = {"sum": "0.0", "prod": "1.0", "max": "-math.inf", "min": "math.inf"}


def _combine(op, a, b):
    """``a`` op ``b``; max and min propagate NaN, as PyTorch's (Python's max(-inf, nan) is -inf)."""
    if op in ("sum", "prod"):
        return f"{a} + {b}" if op == "sum" else f"{a} * {b}"
    return f"({a} if ({a} != {a} or {a} {'>' if op == 'max' else '<'} {b}) else {b})"


def tree_source(expr, names, modes, as_float=False, op="sum"):
    """Reduces ``expr`` (``op``: sum, max or min) over the middle axis of a virtual (outer, red,
    inner) array whose flat index is ``_i``: block (c, o) reduces chunk c of output o's elements."""
    body = "\n        ".join(_loads(names, modes, as_float))
    return f"""def k(out_, part, acc, scale, outer, red, inner, nchunk, {', '.join(_params(names, modes))}):
    _sm = cuda.shared.array({TPB}, float64)
    _tid = cuda.threadIdx.x
    _c = cuda.blockIdx.x
    _o = cuda.blockIdx.y
    _oo = _o // inner
    _ii = _o - _oo * inner
    _s = {_INIT[op]}
    _k = _c * cuda.blockDim.x + _tid
    _step = nchunk * cuda.blockDim.x
    while _k < red:
        _i = (_oo * red + _k) * inner + _ii
        {body}
        _s = {_combine(op, "_s", "(" + expr + ")")}
        _k += _step
    _sm[_tid] = _s
    cuda.syncthreads()
    _h = cuda.blockDim.x // 2
    while _h > 0:
        if _tid < _h:
            _sm[_tid] = {_combine(op, "_sm[_tid]", "_sm[_tid + _h]")}
        cuda.syncthreads()
        _h //= 2
    if _tid == 0:
        if nchunk == 1:
            _v = _sm[0] * scale
            if acc:
                out_[_o] += _v
            else:
                out_[_o] = _v
        else:
            part[_o * nchunk + _c] = _sm[0]
"""


_SERIAL = """def k(out_, acc, scale, x_, outer, red, inner):
    o = cuda.grid(1)
    if o < outer * inner:
        oo = o // inner
        ii = o - oo * inner
        s = {init}
        for r in range(red):
            s = {combine}
        v = s * scale
        if acc:
            out_[o] += v
        else:
            out_[o] = v
"""


def _contiguous_strides(shape):
    st, acc = [], 1
    for s in reversed(shape):
        st.append(acc)
        acc *= s
    return tuple(reversed(st))


def broadcast_strides(shape, out_shape):
    """Element strides that read a contiguous array of ``shape`` broadcast to ``out_shape``."""
    pad = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    st = _contiguous_strides(pad)
    return tuple(0 if p == 1 and o != 1 else s for p, s, o in zip(pad, st, out_shape))


def _inputs(inputs, out_shape, n):
    """(names, modes, device arrays, strides of the strided ones) for ``inputs``: a list of
    (name, CudaArray) or (name, CudaArray, explicit strides)."""
    names, modes, arrays, strides = [], [], [], []
    for item in inputs:
        name, arr = item[0], item[1]
        names.append(name)
        arrays.append(arr.a)
        if len(item) == 3:
            modes.append(2)
            strides.append(tuple(int(s) for s in item[2]))
        elif arr.size == n:
            modes.append(0)
        elif arr.size == 1:
            modes.append(1)
        else:
            modes.append(2)
            strides.append(broadcast_strides(arr.shape, out_shape))
    return tuple(names), tuple(modes), arrays, strides


def _blocks(n, tpb=TPB):
    t = min(tpb, max(n, 1))
    return (n + t - 1) // t, t


def elementwise(expr, out, inputs, a=0.0, b=0.0, acc=False, as_float=False):
    """``out[i] = expr`` (or ``+=`` with ``acc``) over ``out``'s elements, the names in ``expr``
    bound to ``inputs`` broadcast to ``out``'s shape."""
    n = out.size
    if n == 0:
        return out
    names, modes, arrays, strides = _inputs(inputs, out.shape, n)
    key = ("map", expr, names, modes, as_float)
    _compile(key, map_source(expr, names, modes, as_float))
    extra = [tuple(int(s) for s in out.shape)] + strides if 2 in modes else []
    grid, tpb = _blocks(n)
    launch(key, grid, tpb, out.a, bool(acc), *arrays, n, float(a), float(b), *extra)
    return out


def _pow2(n):
    p = 1
    while p < n and p < TPB:
        p *= 2
    return p


_dummy = {}


def _part_dummy():
    if "p" not in _dummy:
        _dummy["p"] = nbcuda().device_array(1, np.float64)
    return _dummy["p"]


def reduce_expr(expr, out, inputs, outer, red, inner, scale=1.0, acc=False, a=0.0, b=0.0, vshape=None,
                as_float=False, op="sum"):
    """``out[o] = scale * sum over r of expr`` at flat index ``(oo*red + r)*inner + ii`` of a
    virtual array of shape ``vshape`` (default (outer, red, inner)) that ``inputs`` broadcast to."""
    n_out = outer * inner
    if n_out == 0:
        return out
    if red == 0:
        if not acc:
            fill(out, 0.0 * scale)  # (a mean of nothing: scale NaN)
        return out
    vshape = (outer, red, inner) if vshape is None else vshape
    n = outer * red * inner
    names, modes, arrays, strides = _inputs(inputs, vshape, n)
    extra = [tuple(int(s) for s in vshape)] + strides if 2 in modes else []
    if names == ("x",) and modes == (0,) and (red <= 32 or n_out > _MAX_GRID_Y):
        key = ("serial", op)
        _compile(key, _SERIAL.format(init=_INIT[op], combine=_combine(op, "s", "x_[(oo * red + r) * inner + ii]")))
        grid, tpb = _blocks(n_out)
        launch(key, grid, tpb, out.a, bool(acc), float(scale), arrays[0], outer, red, inner)
        return out
    if n_out > _MAX_GRID_Y:
        tmp = empty(vshape, np.float64)  # materialize the elements, then reduce them serially
        elementwise(expr, tmp, inputs, a, b, as_float=as_float)
        return reduce_expr("x", out, [("x", tmp)], outer, red, inner, scale, acc, op=op)
    key = ("tree", expr, names, modes, as_float, op)
    _compile(key, tree_source(expr, names, modes, as_float, op))
    threads = _pow2(red)
    nchunk = max(1, min(-(-red // (threads * 8)), max(1, 1024 // n_out)))
    if nchunk == 1:
        launch(key, (1, n_out), threads, out.a, _part_dummy(), bool(acc), float(scale), outer, red, inner, 1,
               *arrays, n, float(a), float(b), *extra)
        return out
    part = empty((n_out * nchunk,), np.float64)
    launch(key, (nchunk, n_out), threads, out.a, part.a, bool(acc), float(scale), outer, red, inner, nchunk,
           *arrays, n, float(a), float(b), *extra)
    return reduce_expr("x", out, [("x", part)], n_out, nchunk, 1, scale, acc, op=op)


def sum_axes(x, axes, scale=1.0, out=None, acc=False, op="sum"):
    """Sum (or max, min: ``op``) of ``x`` over ``axes`` (sorted, distinct), as a CudaArray of the
    kept dims' shape (or added into ``out``). Runs of adjacent axes are reduced one launch
    each, last first."""
    shape = list(x.shape)
    keep = tuple(s for d, s in enumerate(shape) if d not in axes)
    runs = []
    for d in sorted(axes):
        if runs and runs[-1][1] == d:
            runs[-1][1] = d + 1
        else:
            runs.append([d, d + 1])
    cur = x
    for k, (lo, hi) in enumerate(reversed(runs)):
        last = k == len(runs) - 1
        outer = math.prod(shape[:lo])
        red = math.prod(shape[lo:hi])
        inner = math.prod(shape[hi:])
        new_shape = shape[:lo] + shape[hi:]
        dst = out.reshape(keep) if last and out is not None else empty(new_shape, x.dtype if last else np.float64)
        reduce_expr("x", dst, [("x", cur.reshape(-1))], outer, red, inner,
                    scale if last else 1.0, acc if last else False, op=op)
        cur, shape = dst, new_shape
    if not runs:
        if out is None:
            return elementwise("x * a", empty(x.shape, x.dtype), [("x", x)], a=scale)
        return elementwise("x * a", out, [("x", x)], a=scale, acc=acc)
    return cur.reshape(keep)


def sum_to_shape(g, shape, out=None, acc=False):
    """``g`` (of a broadcast shape) summed back to ``shape``, as broadcasting's VJP does."""
    shape = tuple(shape)
    lead = g.ndim - len(shape)
    axes = list(range(lead)) + [lead + d for d, s in enumerate(shape) if s == 1 and g.shape[lead + d] != 1]
    return sum_axes(g, axes, out=out, acc=acc).reshape(shape) if out is None else \
        sum_axes(g, axes, out=out, acc=acc)


def fill(out, value):
    return elementwise("a", out, [], a=value)


def cast(x, dtype):
    out = empty(x.shape, dtype)
    return elementwise("x != 0" if dtype == np.bool_ else "x", out, [("x", x)])


def permute(x, perm):
    st = _contiguous_strides(x.shape)
    out = empty(tuple(x.shape[p] for p in perm), x.dtype)
    return elementwise("x", out, [("x", x, tuple(st[p] for p in perm))])


_SCATTER = """def k(out_, acc, x_, n, shape, st):
    _i = cuda.grid(1)
    if _i < n:
        _j = 0
        _r = _i
        for _d in range(len(shape) - 1, -1, -1):
            _q = _r // shape[_d]
            _j += (_r - _q * shape[_d]) * st[_d]
            _r = _q
        if acc:
            out_[_j] += x_[_i]
        else:
            out_[_j] = x_[_i]
"""


def window(x, dim, start, length):
    """The (contiguous) part ``start:start+length`` of ``x`` along ``dim``."""
    shape = list(x.shape)
    st = _contiguous_strides(shape)
    shape[dim] = length
    out = empty(shape, x.dtype)
    if out.size:
        elementwise("x", out, [("x", CudaArray(x.a[start * st[dim]:], (x.size - start * st[dim],)), st)])
    return out


def put_window(out, dim, start, src, acc=False):
    """Write (or add) ``src`` into the part of ``out`` at ``start`` along ``dim``."""
    if src.size == 0:
        return out
    st = _contiguous_strides(out.shape)
    _compile(("scatter",), _SCATTER)
    grid, tpb = _blocks(src.size)
    launch(("scatter",), grid, tpb, out.a[start * st[dim]:], bool(acc), src.a, src.size,
           tuple(int(s) for s in src.shape), tuple(int(s) for s in st))
    return out


# Ops along one axis of an (outer, red, inner) view: one thread per row, looping over the row
# (a first slice: rows of a training loop are short; a parallel scan would serve long ones).
_CUMSUM = """def k(out_, x_, outer, red, inner, reverse):
    o = cuda.grid(1)
    if o < outer * inner:
        oo = o // inner
        base = oo * red * inner + (o - oo * inner)
        s = 0.0
        for t in range(red):
            r = red - 1 - t if reverse else t
            s += x_[base + r * inner]
            out_[base + r * inner] = s
"""

_ARG_EXTREME = """def k(val_, idx_, x_, outer, red, inner, is_max):
    o = cuda.grid(1)
    if o < outer * inner:
        oo = o // inner
        base = oo * red * inner + (o - oo * inner)
        best = x_[base]
        at = 0
        for r in range(1, red):
            v = x_[base + r * inner]
            if best == best and ((v > best if is_max else v < best) or v != v):  # the first NaN wins
                best = v
                at = r
        val_[o] = best
        idx_[o] = at
"""

_PICK_ADD = """def k(out_, g_, idx_, outer, red, inner):
    o = cuda.grid(1)
    if o < outer * inner:
        oo = o // inner
        out_[(oo * red + idx_[o]) * inner + (o - oo * inner)] += g_[o]
"""


_GATHER = """def k(out_, x_, idx_, n):
    i = cuda.grid(1)
    if i < n:
        out_[i] = x_[idx_[i]]
"""

# an index may repeat (x[[0, 0]]): its gradients add up atomically
_SCATTER_ADD = """def k(out_, g_, idx_, n):
    i = cuda.grid(1)
    if i < n:
        cuda.atomic.add(out_, idx_[i], g_[i])
"""


_SCATTER_SET = """def k(out_, v_, idx_, n):
    i = cuda.grid(1)
    if i < n:
        out_[idx_[i]] = v_[i]
"""


def _scatter(key, source, out, idx, v):
    """``out.flat[idx]`` written (or added to) from ``v``: one thread per element of ``v``."""
    _compile((key,), source)
    if v.size:
        grid, tpb = _blocks(v.size)
        launch((key,), grid, tpb, out.a, v.a, idx.a, v.size)
    return out


def scatter_set(out, idx, v):
    """``out.flat[idx] = v`` (``v`` in ``idx``'s shape)."""
    return _scatter("scatter_set", _SCATTER_SET, out, idx, v)


def gather(x, idx):
    """``x.flat[idx]``, in ``idx``'s shape."""
    out = empty(idx.shape, x.dtype)
    _compile(("gather",), _GATHER)
    if out.size:
        grid, tpb = _blocks(out.size)
        launch(("gather",), grid, tpb, out.a, x.a, idx.a, out.size)
    return out


def scatter_add(out, idx, g):
    """``out.flat[idx] += g``, repeated indices included."""
    return _scatter("scatter_add", _SCATTER_ADD, out, idx, g)


def _rows(shape, dim):
    return math.prod(shape[:dim]), shape[dim], math.prod(shape[dim + 1:])


def cumsum(x, dim, reverse=False, out=None):
    out = empty(x.shape, x.dtype) if out is None else out
    outer, red, inner = _rows(x.shape, dim)
    _compile(("cumsum",), _CUMSUM)
    if outer * inner and red:
        grid, tpb = _blocks(outer * inner)
        launch(("cumsum",), grid, tpb, out.a, x.a, outer, red, inner, bool(reverse))
    return out


def arg_extreme(x, dim, is_max):
    """(values, int64 indices) of the max (or min) along ``dim``, the dim dropped."""
    outer, red, inner = _rows(x.shape, dim)
    shape = x.shape[:dim] + x.shape[dim + 1:]
    val, idx = empty(shape, x.dtype), empty(shape, np.int64)
    _compile(("argext",), _ARG_EXTREME)
    if val.size:
        grid, tpb = _blocks(val.size)
        launch(("argext",), grid, tpb, val.a, idx.a, x.a, outer, red, inner, bool(is_max))
    return val, idx


def pick_add(out, dim, g, idx):
    """``out[..., idx, ...] += g`` along ``dim`` (one index per row of ``out``)."""
    outer, red, inner = _rows(out.shape, dim)
    _compile(("pick",), _PICK_ADD)
    if g.size:
        grid, tpb = _blocks(g.size)
        launch(("pick",), grid, tpb, out.a, g.a, idx.a, outer, red, inner)
    return out


def expand(x, shape):
    return elementwise("x", empty(shape, x.dtype), [("x", x)])


_MM = """from numba import {dt} as DT


def k(A, B, C, M, K, N, sab, sam, sak, sbb, sbk, sbn, acc):
    T = {tile}
    sA = cuda.shared.array(({tile}, {tile}), DT)
    sB = cuda.shared.array(({tile}, {tile}), DT)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    col = cuda.blockIdx.x * T + tx
    row = cuda.blockIdx.y * T + ty
    z = cuda.blockIdx.z
    s = 0.0
    for t in range((K + T - 1) // T):
        k = t * T + tx
        sA[ty, tx] = A[z * sab + row * sam + k * sak] if (row < M and k < K) else 0
        k = t * T + ty
        sB[ty, tx] = B[z * sbb + k * sbk + col * sbn] if (k < K and col < N) else 0
        cuda.syncthreads()
        for j in range(T):
            s += sA[ty, j] * sB[j, tx]
        cuda.syncthreads()
    if row < M and col < N:
        o = (z * M + row) * N + col
        if acc:
            C[o] += s
        else:
            C[o] = s
"""


def _tile():
    return 4 if simulated() else 16  # the simulator runs a Python thread per CUDA thread


def matmul(a, b, c, nb, m, k, n, sa, sb, acc=False):
    """``c[z] (+)= a[z] @ b[z]`` for z < nb: ``a`` read as (M, K) with element strides
    ``sa`` = (batch, row, col), ``b`` as (K, N) with ``sb``; ``c`` contiguous (nb, M, N).
    Tiled: each block multiplies TILE x TILE tiles staged in shared memory."""
    if c.size == 0:
        return c
    if k == 0:
        if not acc:
            fill(c, 0.0)
        return c
    tile = _tile()
    key = ("mm", str(a.dtype), tile)
    _compile(key, _MM.format(tile=tile, dt=str(a.dtype)))
    grid = ((n + tile - 1) // tile, (m + tile - 1) // tile, nb)
    launch(key, grid, (tile, tile), a.a, b.a, c.a, m, k, n, *map(int, sa), *map(int, sb), bool(acc))
    return c


def show_source(file=None):
    """Print the generated forward and VJP kernels of every elementwise op in the table."""
    from ..ops import OPS
    from .backward import vjp_exprs

    for spec in OPS:
        if spec.kind not in ("ew1", "ew2", "ew3") or spec.fwd is None:
            continue
        names = {"ew1": ("x",), "ew2": ("x1", "x2"), "ew3": ("c", "x1", "x2")}[spec.kind]
        print(f"# {spec.name}: forward", file=file)
        print(map_source(spec.fwd, names, (0,) * len(names), True), file=file)
        for t, (expr, used) in enumerate(vjp_exprs(spec)):
            print(f"# {spec.name}: gradient of input {t}", file=file)
            print(map_source(expr, used, (0,) * len(used), True), file=file)


if __name__ == "__main__":
    show_source()
