"""Numba code for the CPU replay: value access by address, and the VJPs of the ops that are
not elementwise (their elementwise cousins are generated from the op table in ``cpu.py``).

Every VJP takes ``(r, R, F, S, SH, G, goff, ginit)``, all raw pointers but ``r``: the record
index; the record table (read as int32 and, ``F``, as float64), the slot and shape tables; the
float64 gradient arena; each slot's offset in it (-1: no gradient wanted); whether that slot's
gradient has been written yet. Raw pointers, not arrays: no reference counting per call, and
far less code for LLVM to optimise. Each VJP is compiled as a ``cfunc`` the first time a tape
holds its op, so compile time grows with the ops a program uses, not with the table.
"""
import math

import numba
import numpy as np
from numba import njit, types
from numba.extending import intrinsic


def _pointer_intrinsic(numba_type):
    @intrinsic
    def pointer(typingctx, addr):
        sig = types.CPointer(numba_type)(types.int64)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

    return pointer


_p32 = _pointer_intrinsic(types.float32)
_p64 = _pointer_intrinsic(types.float64)
_pi32 = _pointer_intrinsic(types.int32)
_pi64 = _pointer_intrinsic(types.int64)
_pu8 = _pointer_intrinsic(types.uint8)

_I32P, _I64P, _F64P = types.CPointer(types.int32), types.CPointer(types.int64), types.CPointer(types.float64)
# (r, R, F, S, SH, G, goff, ginit); F is R's buffer read as float64
VJP_SIGNATURE = types.void(types.int64, _I32P, _F64P, _I64P, _I64P, _F64P, _I64P, types.CPointer(types.uint8))


# --- the tape's tables, as autotape/tape.py lays them out ---------------------------------------
# Record r: R[10r] opcode, R[10r+1] output slot, R[10r+2], R[10r+3] inputs, R[10r+4 : 10r+8]
# int attributes (an elementwise op's third input at R[10r+4]), F[5r+4] the float attribute
# (an elementwise op's a; its b at F[5r+3]). Slot s: S[2s] address, S[2s+1] info word.
@njit(cache=True)
def size_of(S, SH, s):
    """Slot ``s``'s element count (its shape's entry in SH: size, ndim, dims)."""
    return SH[S[s * 2 + 1] & 0xFFFFFFFF]


@njit(cache=True)
def shape_of(S, s):
    """Where slot ``s``'s shape entry starts in SH."""
    return S[s * 2 + 1] & 0xFFFFFFFF


@njit(cache=True)
def dtype_of(S, s):
    """Slot ``s``'s dtype code: 0 float32, 1 float64, 2 int64."""
    return (S[s * 2 + 1] >> 32) & 3


@njit(cache=True)
def needs_grad_of(S, s):
    return (S[s * 2 + 1] >> 34) & 1


def entry_point(dispatcher, *args):
    """``dispatcher``'s compiled entry point for these arguments' types. Calling it skips the
    type resolution of every argument (~0.1 us each): for calls whose types are fixed, made
    every step (a compiled plan's replay, an optimizer's kernel)."""
    return dispatcher.compile(tuple(map(numba.typeof, args)))


@intrinsic
def call_vjp(typingctx, address, r, R, F, S, SH, G, goff, ginit):
    """Call the compiled VJP at ``address`` (a cfunc of VJP_SIGNATURE)."""
    sig = types.void(address, r, R, F, S, SH, G, goff, ginit)

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        arg_types = [context.get_value_type(t) for t in signature.args[1:]]
        fn = builder.inttoptr(args[0], ir.FunctionType(ir.VoidType(), arg_types).as_pointer())
        builder.call(fn, args[1:])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def prefetch(typingctx, addr):
    """Ask the CPU to bring the cache line at ``addr`` in (a hint: it never faults, so any
    address will do, a released value's too)."""
    def codegen(context, builder, signature, args):
        from llvmlite import ir

        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
        # read (0), keep in all cache levels (3), data cache (1)
        builder.call(fn, [builder.inttoptr(args[0], i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(types.int64), codegen


@intrinsic
def _read_cycle_counter(typingctx):
    def codegen(context, builder, signature, args):
        from llvmlite import ir

        fn = builder.module.declare_intrinsic("llvm.readcyclecounter", fnty=ir.FunctionType(ir.IntType(64), []))
        return builder.call(fn, [])

    return types.int64(), codegen


@njit(cache=True)
def cycles():
    """The CPU's cycle counter (the profiler times replay with it, inside compiled code)."""
    return _read_cycle_counter()


@njit(cache=True)
def tick(clock, r, last):
    """The profiler's clock: record ``r`` took the cycles since ``last``; returns now."""
    now = cycles()
    clock[0, r] = now - last
    clock[1, r] = now
    return now


@njit(cache=True, error_model="numpy")
def ld(addr, dt, i):
    """Element ``i`` of the value at ``addr`` (dtype code ``dt``), as float64."""
    if dt == 1:
        return _p64(addr)[i]
    if dt == 0:
        return np.float64(_p32(addr)[i])
    return np.float64(_pi64(addr)[i])


@njit(cache=True, error_model="numpy")
def ldi(addr, i):
    return _pi64(addr)[i]


@njit(cache=True, error_model="numpy")
def gtarget(s, goff, ginit):
    """(offset of slot ``s``'s gradient or -1 if it wants none, 1 if it already holds a
    gradient to add to, 0 if the caller writes it first): saves a zeroing pass."""
    if s < 0 or goff[s] < 0:
        return -1, 1
    held = ginit[s]
    ginit[s] = 1
    return goff[s], held


@njit(cache=True, error_model="numpy")
def gslot(s, S, SH, G, goff, ginit):
    """Offset of slot ``s``'s gradient, zeroed on first touch; -1 if it wants none."""
    if s < 0:
        return -1
    o = goff[s]
    if o < 0:
        return -1
    if ginit[s] == 0:
        for i in range(size_of(S, SH, s)):
            G[o + i] = 0.0
        ginit[s] = 1
    return o


@njit(cache=True, error_model="numpy")
def _odometer_add(G, go, gi, shape_at, SH, step):
    """G[gi + j] += G[go + i] over the output's elements i, where the input index j moves by
    ``step[k]`` along output dim k (0 for a broadcast dim, a permuted stride for a permute)."""
    nd = SH[shape_at + 1]
    idx = np.zeros(nd, np.int64)
    n = 1
    for k in range(nd):
        n *= SH[shape_at + 2 + k]
    j = 0
    for i in range(n):
        G[gi + j] += G[go + i]
        k = nd - 1
        while k >= 0:
            idx[k] += 1
            j += step[k]
            if idx[k] < SH[shape_at + 2 + k]:
                break
            j -= step[k] * idx[k]
            idx[k] = 0
            k -= 1


def k_expand(r, R, F, S, SH, G, goff, ginit):
    out, a = R[r * 10 + 1], R[r * 10 + 2]
    gi = gslot(a, S, SH, G, goff, ginit)
    if gi < 0:
        return
    osh, ish = shape_of(S, out), shape_of(S, a)
    nd, ind = SH[osh + 1], SH[ish + 1]
    step = np.zeros(nd, np.int64)
    st = 1
    for k in range(ind - 1, -1, -1):
        d = SH[ish + 2 + k]
        if d != 1:
            step[k + nd - ind] = st
        st *= d
    _odometer_add(G, goff[out], gi, osh, SH, step)


def k_permute(r, R, F, S, SH, G, goff, ginit):
    out, a, perm = R[r * 10 + 1], R[r * 10 + 2], R[r * 10 + 4]
    gi = gslot(a, S, SH, G, goff, ginit)
    if gi < 0:
        return
    ish = shape_of(S, a)
    nd = SH[ish + 1]
    strides = np.empty(nd, np.int64)
    st = 1
    for k in range(nd - 1, -1, -1):
        strides[k] = st
        st *= SH[ish + 2 + k]
    step = np.empty(nd, np.int64)
    for k in range(nd):
        step[k] = strides[SH[perm + 2 + k]]
    _odometer_add(G, goff[out], gi, shape_of(S, out), SH, step)


@njit(cache=True, error_model="numpy")
def _rows_add(G, dst, dst_rows, dst_off, src, src_rows, src_off, outer, rk, inner):
    """G[dst][:, dst_off:dst_off+rk, :] += G[src][:, src_off:src_off+rk, :], both viewed as
    (outer, rows, inner): the VJP of taking a slice along one dim, and of joining slices."""
    for o in range(outer):
        for j in range(rk):
            d = dst + (o * dst_rows + dst_off + j) * inner
            s = src + (o * src_rows + src_off + j) * inner
            for k in range(inner):
                G[d + k] += G[s + k]


def k_narrow(r, R, F, S, SH, G, goff, ginit):
    """out = in[:, off:off+rk, :] viewed as (outer, rtot, inner)."""
    out, a = R[r * 10 + 1], R[r * 10 + 2]
    gi = gslot(a, S, SH, G, goff, ginit)
    if gi < 0:
        return
    outer, rtot, off, rk = R[r * 10 + 4], R[r * 10 + 5], R[r * 10 + 6], R[r * 10 + 7]
    n = size_of(S, SH, out)
    if n == 1:  # one element (outer, rk and inner are 1): unbind's usual piece, without a division
        G[gi + off] += G[goff[out]]
        return
    _rows_add(G, gi, rtot, off, goff[out], rk, 0, outer, rk, n // max(outer * rk, 1))


def k_cat_piece(r, R, F, S, SH, G, goff, ginit):
    """The input is the piece out[:, off:off+rk, :] of a cat/stack along one dim."""
    out, a = R[r * 10 + 1], R[r * 10 + 2]
    outer, rtot, off, rk = R[r * 10 + 4], R[r * 10 + 5], R[r * 10 + 6], R[r * 10 + 7]
    n = size_of(S, SH, a)
    if n == 1:  # a piece of one element (stack of scalars): written, or added, in one step
        gi, held = gtarget(a, goff, ginit)
        if gi >= 0:
            G[gi] = (G[gi] + G[goff[out] + off]) if held else G[goff[out] + off]
        return
    gi = gslot(a, S, SH, G, goff, ginit)
    if gi < 0:
        return
    _rows_add(G, gi, rk, 0, goff[out], rtot, off, outer, rk, n // max(outer * rk, 1))


def k_gather(r, R, F, S, SH, G, goff, ginit):
    """out.flat[i] = in.flat[index[i]]: scatter-add the gradient back."""
    out, a, ix = R[r * 10 + 1], R[r * 10 + 2], R[r * 10 + 4]
    gi = gslot(a, S, SH, G, goff, ginit)
    if gi < 0:
        return
    go, addr = goff[out], S[ix * 2]
    for i in range(size_of(S, SH, out)):
        G[gi + ldi(addr, i)] += G[go + i]


@njit(cache=True, error_model="numpy")
def _along_io(r, R, S, SH, G, goff, ginit):
    """What every op along one dim needs: the input's gradient offset (-1: none wanted), the
    output's, the (outer, red, inner) view of the input, and both values' addresses and dtypes."""
    out, a = R[r * 10 + 1], R[r * 10 + 2]
    outer, red = R[r * 10 + 4], R[r * 10 + 5]
    n = size_of(S, SH, a)
    inner = 1 if outer * red == n else n // max(outer * red, 1)  # (a division costs more than the test)
    return (gslot(a, S, SH, G, goff, ginit), goff[out], outer, red, inner,
            S[a * 2], dtype_of(S, a), S[out * 2], dtype_of(S, out))


def k_sum(r, R, F, S, SH, G, goff, ginit):
    """Sum or mean (scale F[r * 5 + 4]) over the middle axis of (outer, red, inner)."""
    gi, go, outer, red, inner, xa, xd, ya, yd = _along_io(r, R, S, SH, G, goff, ginit)
    if gi < 0:
        return
    scale = F[r * 5 + 4]
    if inner == 1:  # the common full or last-dim reduction: a broadcast of one value per row
        for o in range(outer):
            gv = G[go + o] * scale
            base = gi + o * red
            for j in range(red):
                G[base + j] += gv
        return
    for o in range(outer):
        for j in range(red):
            base = gi + (o * red + j) * inner
            for k in range(inner):
                G[base + k] += G[go + o * inner + k] * scale


def k_prod(r, R, F, S, SH, G, goff, ginit):
    gi, go, outer, red, inner, xa, xd, ya, yd = _along_io(r, R, S, SH, G, goff, ginit)
    if gi < 0:
        return
    for o in range(outer):
        for k in range(inner):
            g = G[go + o * inner + k]
            zeros, zero_at, rest = 0, -1, 1.0
            for j in range(red):
                x = ld(xa, xd, (o * red + j) * inner + k)
                if x == 0.0:
                    zeros += 1
                    zero_at = j
                else:
                    rest *= x
            for j in range(red):
                at = (o * red + j) * inner + k
                if zeros == 0:
                    G[gi + at] += g * rest / ld(xa, xd, at)
                elif zeros == 1 and j == zero_at:
                    G[gi + at] += g * rest


def k_extreme(r, R, F, S, SH, G, goff, ginit):
    """PyTorch's three gradients of an extreme (R[r * 10 + 6] is the mode): amax/amin (0) share it
    among the ties, and a NaN extreme, which no element equals, makes the row's gradient NaN (its
    g / 0 * 0); max()/min() (2) share it among the ties, the NaN elements for a NaN extreme; max/min
    with dim (1) give it to the first of those, the index they return."""
    gi, go, outer, red, inner, xa, xd, ya, yd = _along_io(r, R, S, SH, G, goff, ginit)
    if gi < 0:
        return
    mode = R[r * 10 + 6]
    for o in range(outer):
        for k in range(inner):
            y = ld(ya, yd, o * inner + k)
            nan_ties = y != y and mode != 0
            ties = 0
            for j in range(red):
                v = ld(xa, xd, (o * red + j) * inner + k)
                if v == y or (nan_ties and v != v):
                    ties += 1
            g = G[go + o * inner + k]
            for j in range(red):
                at = (o * red + j) * inner + k
                v = ld(xa, xd, at)
                if ties == 0:
                    G[gi + at] += math.nan
                elif v == y or (nan_ties and v != v):
                    if mode == 1:
                        G[gi + at] += g
                        break
                    G[gi + at] += g / ties


def k_norm(r, R, F, S, SH, G, goff, ginit):
    gi, go, outer, red, inner, xa, xd, ya, yd = _along_io(r, R, S, SH, G, goff, ginit)
    if gi < 0:
        return
    p = F[r * 5 + 4]
    for o in range(outer):
        for k in range(inner):
            y = ld(ya, yd, o * inner + k)
            g = G[go + o * inner + k]
            for j in range(red):
                at = (o * red + j) * inner + k
                x = ld(xa, xd, at)
                # PyTorch's cases: sign(x) |x|^(p-1), which is 0 at x = 0 for p > 1 (x |x|^(p-2) is
                # 0 * inf there for p < 2) and is made 0 there for p < 1; none for the count p = 0
                if p == 1.0:
                    d = (x > 0.0) - (x < 0.0)
                elif p == 0.0:
                    d = 0.0
                elif p < 1.0:
                    d = (0.0 if x == 0.0 else ((x > 0.0) - (x < 0.0)) * abs(x) ** (p - 1.0)) * y ** (1.0 - p)
                elif y == 0.0:
                    d = 0.0
                elif p == 2.0:
                    d = x / y
                else:
                    d = ((x > 0.0) - (x < 0.0)) * abs(x) ** (p - 1.0) / y ** (p - 1.0)
                G[gi + at] += g * d


def k_var(r, R, F, S, SH, G, goff, ginit):
    """var (R[r * 10 + 6] == 0) or std (1) with Bessel-style correction F[r * 5 + 4]."""
    gi, go, outer, red, inner, xa, xd, ya, yd = _along_io(r, R, S, SH, G, goff, ginit)
    if gi < 0:
        return
    corr, is_std = F[r * 5 + 4], R[r * 10 + 6] == 1
    for o in range(outer):
        for k in range(inner):
            mean = 0.0
            for j in range(red):
                mean += ld(xa, xd, (o * red + j) * inner + k)
            mean /= red
            g = G[go + o * inner + k] / (red - corr)
            if is_std:  # d std / dx is 0 where std is 0 (a constant row), as PyTorch defines it
                y = ld(ya, yd, o * inner + k)
                g = 0.0 if y == 0.0 else g / y
            else:
                g = 2.0 * g
            for j in range(red):
                at = (o * red + j) * inner + k
                G[gi + at] += g * (ld(xa, xd, at) - mean)


def k_logsumexp(r, R, F, S, SH, G, goff, ginit):
    gi, go, outer, red, inner, xa, xd, ya, yd = _along_io(r, R, S, SH, G, goff, ginit)
    if gi < 0:
        return
    for o in range(outer):
        for k in range(inner):
            y = ld(ya, yd, o * inner + k)
            g = G[go + o * inner + k]
            for j in range(red):
                at = (o * red + j) * inner + k
                G[gi + at] += g * math.exp(ld(xa, xd, at) - y)


@njit(cache=True, error_model="numpy")
def _softmax_vjp(py, G, gi, go, outer, red, inner, is_log):
    """The VJP of softmax (or log_softmax) from its output, read through a typed pointer."""
    for o in range(outer):
        for k in range(inner):
            dot = 0.0
            for j in range(red):
                at = (o * red + j) * inner + k
                dot += G[go + at] if is_log else G[go + at] * np.float64(py[at])
            for j in range(red):
                at = (o * red + j) * inner + k
                y = np.float64(py[at])
                if is_log:
                    G[gi + at] += G[go + at] - math.exp(y) * dot
                else:
                    G[gi + at] += y * (G[go + at] - dot)


def k_softmax(r, R, F, S, SH, G, goff, ginit):
    """softmax (R[r * 10 + 6] == 0) or log_softmax (1) along the middle axis; reads only the output."""
    gi, go, outer, red, inner, xa, xd, ya, yd = _along_io(r, R, S, SH, G, goff, ginit)
    if gi < 0:
        return
    is_log = R[r * 10 + 6] == 1
    if yd == 1:
        _softmax_vjp(_p64(ya), G, gi, go, outer, red, inner, is_log)
    else:
        _softmax_vjp(_p32(ya), G, gi, go, outer, red, inner, is_log)


def k_cumsum(r, R, F, S, SH, G, goff, ginit):
    gi, go, outer, red, inner, xa, xd, ya, yd = _along_io(r, R, S, SH, G, goff, ginit)
    if gi < 0:
        return
    for o in range(outer):
        for k in range(inner):
            acc = 0.0
            for j in range(red - 1, -1, -1):
                at = (o * red + j) * inner + k
                acc += G[go + at]
                G[gi + at] += acc


def k_matmul(r, R, F, S, SH, G, goff, ginit):
    """(B, M, K) @ (B, K, N); bit 1 (a) or 2 (b) of F[r * 5 + 4] set when that side has one batch shared by all."""
    out, a, b = R[r * 10 + 1], R[r * 10 + 2], R[r * 10 + 3]
    nb, m, kk, n = R[r * 10 + 4], R[r * 10 + 5], R[r * 10 + 6], R[r * 10 + 7]
    shared = int(F[r * 5 + 4])
    a_shared, b_shared = (shared & 1) != 0, (shared & 2) != 0
    ga = gslot(a, S, SH, G, goff, ginit)
    gb = gslot(b, S, SH, G, goff, ginit)
    aa, ad, ba, bd = S[a * 2], dtype_of(S, a), S[b * 2], dtype_of(S, b)
    go = goff[out]
    for bi in range(nb):
        ao = 0 if a_shared else bi * m * kk
        bo = 0 if b_shared else bi * kk * n
        oo = go + bi * m * n
        if ga >= 0:  # dA = dOut @ B^T
            for i in range(m):
                for k in range(kk):
                    acc = 0.0
                    for j in range(n):
                        acc += G[oo + i * n + j] * ld(ba, bd, bo + k * n + j)
                    G[ga + ao + i * kk + k] += acc
        if gb >= 0:  # dB = A^T @ dOut
            if n <= 8:  # few columns (a Linear layer's weight): sum over the rows in registers
                for k in range(kk):
                    for j in range(n):
                        acc = 0.0
                        for i in range(m):
                            acc += ld(aa, ad, ao + i * kk + k) * G[oo + i * n + j]
                        G[gb + bo + k * n + j] += acc
            else:  # rows of dOut streamed in order
                for i in range(m):
                    for k in range(kk):
                        x = ld(aa, ad, ao + i * kk + k)
                        for j in range(n):
                            G[gb + bo + k * n + j] += x * G[oo + i * n + j]


@njit(cache=True, error_model="numpy")
def _column_dot(G, go, n, j, px, kk, k, m, ones):
    """sum over i < m of G[go + i n + j] * (1.0 if ``ones`` else px[i kk + k]) in four partial
    sums: one running sum is a chain of dependent adds (4 cycles each), four run side by side."""
    s0 = s1 = s2 = s3 = 0.0
    i = 0
    while i + 4 <= m:
        if ones:
            s0 += G[go + i * n + j]
            s1 += G[go + (i + 1) * n + j]
            s2 += G[go + (i + 2) * n + j]
            s3 += G[go + (i + 3) * n + j]
        else:
            s0 += G[go + i * n + j] * np.float64(px[i * kk + k])
            s1 += G[go + (i + 1) * n + j] * np.float64(px[(i + 1) * kk + k])
            s2 += G[go + (i + 2) * n + j] * np.float64(px[(i + 2) * kk + k])
            s3 += G[go + (i + 3) * n + j] * np.float64(px[(i + 3) * kk + k])
        i += 4
    while i < m:
        s0 += G[go + i * n + j] * (1.0 if ones else np.float64(px[i * kk + k]))
        i += 1
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, error_model="numpy")
def _linear_vjp(px, pw, G, go, gx, gw, gb, m, kk, n):
    """The gradients of y = x @ w.T + b (x (m, kk), w (n, kk)) from dy at G[go:], with the
    pointers typed once (no dtype test per element); -1: that input wants none."""
    if gb >= 0:  # db = the column sums of dy
        for j in range(n):
            G[gb + j] += _column_dot(G, go, n, j, px, kk, 0, m, True)
    if gx >= 0:  # dx = dy @ w
        for i in range(m):
            for k in range(kk):
                acc = 0.0
                for j in range(n):
                    acc += G[go + i * n + j] * np.float64(pw[j * kk + k])
                G[gx + i * kk + k] += acc
    if gw >= 0:  # dw = dy.T @ x
        for j in range(n):
            for k in range(kk):
                G[gw + j * kk + k] += _column_dot(G, go, n, j, px, kk, k, m, False)


def k_linear(r, R, F, S, SH, G, goff, ginit):
    """``x @ w.T + b``: inputs x, w at R[10r+2], R[10r+3], b at R[10r+4]; m, k, n after it."""
    out, x, w, b = R[r * 10 + 1], R[r * 10 + 2], R[r * 10 + 3], R[r * 10 + 4]
    m, kk, n = R[r * 10 + 5], R[r * 10 + 6], R[r * 10 + 7]
    gx, gw, gb = gslot(x, S, SH, G, goff, ginit), gslot(w, S, SH, G, goff, ginit), gslot(b, S, SH, G, goff, ginit)
    if dtype_of(S, out) == 1:
        _linear_vjp(_p64(S[x * 2]), _p64(S[w * 2]), G, goff[out], gx, gw, gb, m, kk, n)
    else:
        _linear_vjp(_p32(S[x * 2]), _p32(S[w * 2]), G, goff[out], gx, gw, gb, m, kk, n)


@njit(cache=True, error_model="numpy")
def prepare_into(S_at, SH_at, n, goff, ginit):
    """Each of the ``n`` slots' offset in the gradient arena (-1: no gradient) into ``goff``,
    the written-yet flags cleared in ``ginit``; returns the arena's size. The buffers are
    reused between backward calls: allocating and boxing two arrays cost more than the loop."""
    S, SH = _pi64(S_at), _pi64(SH_at)
    total = 0
    for s in range(n):
        ginit[s] = 0
        if needs_grad_of(S, s):
            goff[s] = total
            total += size_of(S, SH, s)
        else:
            goff[s] = -1
    return total


def prepare(S_at, SH_at, n):
    """``prepare_into`` with new buffers: (goff, ginit, arena size)."""
    goff, ginit = np.empty(n, np.int64), np.empty(n, np.uint8)
    return goff, ginit, prepare_into(S_at, SH_at, n, goff, ginit)


@njit(cache=True, error_model="numpy")
def all_saved_freed(R_at, n, state, saves):
    """Whether every one of the ``n`` records that saved values has been freed by a backward."""
    R = _pi32(R_at)
    for r in range(n):
        if saves[R[r * 10]] and state[r] == 0:
            return False
    return True


def k_stack(r, R, F, S, SH, G, goff, ginit):
    """Up to five pieces of a stack: slots R[10r+2 : 10r+2+count] (-1: needs no gradient),
    piece ``first + j`` being out[:, first + j, :] of the output viewed as (outer, pieces,
    inner); R[10r+7] first, R[10r+8] count, R[10r+9] outer (see ``Tape.record_pieces``)."""
    out, first, count, outer = R[r * 10 + 1], R[r * 10 + 7], R[r * 10 + 8], R[r * 10 + 9]
    go = goff[out]
    for j in range(count):
        s = R[r * 10 + 2 + j]
        gi = gslot(s, S, SH, G, goff, ginit)
        if gi < 0:
            continue
        inner = size_of(S, SH, s) // max(outer, 1)
        pieces = size_of(S, SH, out) // max(outer * inner, 1)
        _rows_add(G, gi, 1, 0, go, pieces, first + j, outer, 1, inner)
