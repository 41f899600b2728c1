"""A compiled tape's replay as a program of small instructions (``autotape.compile``'s interpreter).

A recorded tape is replayed many times, so what the general loops work out per record on
every call (sizes, dtypes, offsets, which records a gradient reaches, whether a gradient is
written first or added) is worked out once here. Small values move into one arena, in the
layout they had (views stay views); the records whose work is a move or one arithmetic
operation on one element (copies of pieces by unbind/stack/select/reshape, + - * / and their
scalar forms, softplus) or a softmax of a short vector become instructions the loop runs
inline, on arena offsets (a stack's pieces live in its bytes where they can: no copy); every
other record is one instruction that calls the record's compiled kernel, as the general loops
do, through the slot table (which then names the arena). The results are the same: the inline instructions
are the very expressions of the op table, on the same float64 values.

Instructions are four int32: (kind, a, b, c). Forward: values in the arena (``a`` the
output's element offset in the arena viewed as its dtype). Backward: ``a`` and ``b`` are
gradient-arena offsets. ``K`` holds the records' float attributes the instructions read (and,
for the kinds that need more than three operands, the arena offset of the value they read).
"""
import math

import numpy as np
from numba import njit

from ..ops import OPS, PYTHON
from ..tape import inputs_in
from .cpu_forward import _softmax_rows
from .cpu_kernels import _p32, _p64, _pi32, _pi64, _pu8, _softmax_vjp, call_vjp

# forward kinds (+ 1 for float64 values); CALL and PY take the record in ``a``
(F_COPY, F_ADD, F_SUB, F_MUL, F_DIV, F_ADDK, F_SUBK, F_RSUBK, F_MULK, F_DIVK, F_NEG, F_SOFTPLUS,
 F_SOFTMAX) = range(0, 26, 2)
# backward kinds (+ 1: added to a gradient already there, else written; the softmaxes only add)
(B_MOV, B_NEG, B_MULK, B_DIVK, B_MULV32, B_MULV64, B_ZERO, B_SOFTPLUS32, B_SOFTPLUS64, B_SOFTMAX32,
 B_SOFTMAX64) = range(0, 22, 2)
CALL, PY = 100, 101

_FWD = {"x": F_COPY, "x1 + x2": F_ADD, "x1 - x2": F_SUB, "x1 * x2": F_MUL, "x1 / x2": F_DIV, "x + a": F_ADDK,
        "x - a": F_SUBK, "a - x": F_RSUBK, "x * a": F_MULK, "x / a": F_DIVK, "-x": F_NEG,
        "x if x * a > b else (max(x * a, 0.0) + math.log1p(math.exp(-abs(x * a)))) / a": F_SOFTPLUS}
# a VJP expression -> (kind, the input whose value it reads, or None)
_VJP = {"g": (B_MOV, None), "-g": (B_NEG, None), "g * a": (B_MULK, None), "g / a": (B_DIVK, None),
        "g * x2": (B_MULV32, 1), "g * x1": (B_MULV32, 0),
        "g if x * a > b else g / (1.0 + math.exp(-x * a))": (B_SOFTPLUS32, 0)}  # (softplus's, as spelled out below)
SHORT = 8  # elements: a softmax of a vector this short runs inline
SMALL = 4096  # bytes: a value (with its views) this small lives in the arena
_PIECES = ("k_narrow", "k_cat_piece")  # (by their VJP) unbind, select, slice, split; cat, stack
_ITEM = (4, 8, 8)


@njit(cache=True, error_model="numpy")
def load(L, A):
    """Copy the leaves' and arguments' current values into the arena ``A`` (``L``: per row the
    source address, the arena byte offset and the byte count)."""
    B = _pu8(A.ctypes.data)
    for k in range(L.shape[0]):
        src, dst = _pu8(L[k, 0]), L[k, 1]
        for j in range(L[k, 2]):
            B[dst + j] = src[j]


@njit(cache=True, error_model="numpy")
def run_forward(P, start, K, L, A, R_at, S_at, SH_at, fwds):
    """Run instructions start, ...; returns -1 when done, else the instruction that needs Python
    (a custom Function's record, or a kernel not compiled yet). From the start, it first loads
    the leaves and arguments."""
    R, F, S, SH = _pi32(R_at), _p64(R_at), _pi64(S_at), _pi64(SH_at)
    if start == 0:
        load(L, A)
    base = A.ctypes.data
    V32, V64, Kp = _p32(base), _p64(base), _p64(K.ctypes.data)
    Q = _pi32(P.ctypes.data)
    for i in range(start, P.size // 4):
        k, a, b, c = Q[4 * i], Q[4 * i + 1], Q[4 * i + 2], Q[4 * i + 3]
        if k == CALL:
            address = fwds[R[a * 10]]
            if address == 0:
                return i
            call_vjp(address, a, R, F, S, SH, _p64(0), _pi64(0), _pu8(0))
        elif k == PY:
            return i
        elif k >= F_SOFTMAX:  # the kernel's own loop on one row (c: its length * 2 + is log)
            if k & 1:
                _softmax_rows(_p64(base + 8 * b), _p64(base + 8 * a), 1, c >> 1, 1, (c & 1) == 1)
            else:
                _softmax_rows(_p32(base + 4 * b), _p32(base + 4 * a), 1, c >> 1, 1, (c & 1) == 1)
        elif k & 1:
            _forward_op(k - 1, a, b, c, V64, Kp)
        else:
            _forward_op(k, a, b, c, V32, Kp)
    return -1


@njit(cache=True, error_model="numpy", inline="always")
def _forward_op(k, a, b, c, V, K):
    """One inline instruction on values of one dtype (``V``): the op table's ``fwd`` expression,
    in float64 and stored in the value's dtype, as the generated forwards do."""
    if k == F_COPY:
        if c == 1:  # (the usual one element: no loop to set up)
            V[a] = V[b]
        else:
            for j in range(c):
                V[a + j] = V[b + j]
    elif k == F_ADD:
        V[a] = np.float64(V[b]) + np.float64(V[c])
    elif k == F_MUL:
        V[a] = np.float64(V[b]) * np.float64(V[c])
    elif k == F_ADDK:
        V[a] = np.float64(V[b]) + K[c]
    elif k == F_SUB:
        V[a] = np.float64(V[b]) - np.float64(V[c])
    elif k == F_DIV:
        V[a] = np.float64(V[b]) / np.float64(V[c])
    elif k == F_SUBK:
        V[a] = np.float64(V[b]) - K[c]
    elif k == F_RSUBK:
        V[a] = K[c] - np.float64(V[b])
    elif k == F_MULK:
        V[a] = np.float64(V[b]) * K[c]
    elif k == F_DIVK:
        V[a] = np.float64(V[b]) / K[c]
    elif k == F_SOFTPLUS:  # (a, b: beta, threshold)
        x, a_, b_ = np.float64(V[b]), K[c], K[c + 1]
        V[a] = x if x * a_ > b_ else (max(x * a_, 0.0) + math.log1p(math.exp(-abs(x * a_)))) / a_
    else:  # F_NEG
        V[a] = -np.float64(V[b])


@njit(cache=True, error_model="numpy")
def run_backward(P, start, K, A, R_at, S_at, SH_at, G, goff, ginit, vjps):
    """Run backward instructions start, ...; returns -1 when done, else the instruction whose
    kernel is not compiled yet."""
    R, F, S, SH = _pi32(R_at), _p64(R_at), _pi64(S_at), _pi64(SH_at)
    Gp, goffp, ginitp = _p64(G.ctypes.data), _pi64(goff.ctypes.data), _pu8(ginit.ctypes.data)
    V32, V64, K = _p32(A.ctypes.data), _p64(A.ctypes.data), _p64(K.ctypes.data)
    Q = _pi32(P.ctypes.data)
    for i in range(start, P.size // 4):
        k, a, b, c = Q[4 * i], Q[4 * i + 1], Q[4 * i + 2], Q[4 * i + 3]
        if k == CALL:
            address = vjps[R[a * 10]]
            if address == 0:
                return i
            call_vjp(address, a, R, F, S, SH, Gp, goffp, ginitp)
            continue
        add = k & 1
        k -= add
        if k == B_MOV:
            if c == 1:  # (the usual one element: no loop to set up)
                Gp[a] = Gp[a] + Gp[b] if add else Gp[b]
            elif add:
                for j in range(c):
                    Gp[a + j] += Gp[b + j]
            else:
                for j in range(c):
                    Gp[a + j] = Gp[b + j]
        elif k == B_MULV32:
            v = Gp[b] * np.float64(V32[c])
            Gp[a] = Gp[a] + v if add else v
        elif k == B_MULV64:
            v = Gp[b] * V64[c]
            Gp[a] = Gp[a] + v if add else v
        elif k == B_ZERO:
            for j in range(c):
                Gp[a + j] = 0.0
        elif k == B_SOFTPLUS32 or k == B_SOFTPLUS64:  # K[c:c + 3]: beta, threshold, x's offset
            at = int(K[c + 2])
            x = np.float64(V32[at]) if k == B_SOFTPLUS32 else V64[at]
            g, a_, b_ = Gp[b], K[c], K[c + 1]
            v = g if x * a_ > b_ else g / (1.0 + math.exp(-x * a_))
            Gp[a] = Gp[a] + v if add else v
        elif k == B_SOFTMAX32 or k == B_SOFTMAX64:  # K[c:c + 2]: y's offset, its length * 2 + is log
            at, n = int(K[c]), int(K[c + 1])
            if k == B_SOFTMAX32:
                _softmax_vjp(_p32(A.ctypes.data + 4 * at), Gp, a, b, 1, n >> 1, 1, (n & 1) == 1)
            else:
                _softmax_vjp(_p64(A.ctypes.data + 8 * at), Gp, a, b, 1, n >> 1, 1, (n & 1) == 1)
        elif k == B_NEG:
            if add:
                for j in range(c):
                    Gp[a + j] += -Gp[b + j]
            else:
                for j in range(c):
                    Gp[a + j] = -Gp[b + j]
        elif k == B_MULK:
            v = Gp[b] * K[c]
            Gp[a] = Gp[a] + v if add else v
        else:  # B_DIVK
            v = Gp[b] / K[c]
            Gp[a] = Gp[a] + v if add else v
    return -1


class Tables:
    """The tape's records and slots as Python lists (read one by one while the programs are
    made: far quicker than NumPy scalars), from copies (the tape's own arrays stay unpinned)."""

    def __init__(self, tape):
        n = tape.n_records
        R = np.array(tape.R, np.int32).reshape(n, 10)
        S = np.array(tape.S, np.int64).reshape(tape.n_slots, 2)
        info = S[:, 1]
        dt = (info >> 32) & 3
        self.rows = R.tolist()
        floats = R.view(np.float64).reshape(n, 5)
        self.a, self.b = floats[:, 4].tolist(), floats[:, 3].tolist()  # an elementwise record's a, b
        self.addr = S[:, 0].tolist()
        self.size = np.array(tape.SH, np.int64)[info & 0xFFFFFFFF]
        self.nbytes = (self.size * np.where(dt == 0, 4, 8)).tolist()
        self.size, self.dt, self.producer = self.size.tolist(), dt.tolist(), (info >> 35).tolist()

    def inputs(self, r):
        """Record r's input slots (-1: none), as ``Tape.inputs_of``."""
        return inputs_in(self.rows[r])


class Program:
    """The arena and the forward program of one plan; backward programs per seed slot."""

    def __init__(self, plan):
        tape = plan.tape
        self.tape = tape
        self.T = Tables(tape)
        self.place(plan)
        self.consts = [0.0]
        self.forward = self.forward_program(plan)
        self.K = np.array(self.consts)  # the forward program's constants
        self.backwards = {}
        self.forward_entry = self.backward_entry = None  # compiled entry points (interpret.py)

    # -- the arena ---------------------------------------------------------------------------
    def place(self, plan):
        """Group the slots whose bytes overlap (a value and its views), and give each small
        group of float values a place in the arena, its bytes laid out as before."""
        T = self.T
        addr, nbytes, dt = T.addr, T.nbytes, T.dt
        groups, cur, end = [], [], 0
        for s in sorted((s for s in range(len(addr)) if addr[s] and nbytes[s]), key=addr.__getitem__):
            if cur and addr[s] < end:
                cur.append(s)
                end = max(end, addr[s] + nbytes[s])
            else:
                if cur:
                    groups.append((cur, end))
                cur, end = [s], addr[s] + nbytes[s]
        if cur:
            groups.append((cur, end))
        arg_slots = {s for _, s in plan.arg_slots}
        self.off = off = [-1] * len(addr)  # byte offset in the arena, -1: not there
        loads, placed, size = [], [], 0
        inside = self.inside_stacks(groups, arg_slots)
        later = []
        for slots, end in groups:
            start = addr[slots[0]]
            if end - start > SMALL or any(dt[s] == 2 or (addr[s] - start) % _ITEM[dt[s]] for s in slots):
                continue
            if len(slots) > 1 and any(s in arg_slots for s in slots):
                continue  # an argument is rebound alone on every call
            if slots[0] in inside:
                later.append((slots, end))
                continue
            at = (size + 7) // 8 * 8 + start % 8
            for s in slots:
                off[s] = at + addr[s] - start
            if any(T.producer[s] < 0 for s in slots):  # a leaf, constant or argument: copied in every call
                loads.append([start, at, end - start])
            placed.append((at, start, end - start))
            size = at + end - start
        for (s,), end in later:  # in its stack's bytes where that is in the arena, else on its own
            out, o = inside[s]
            if off[out] >= 0:
                off[s] = off[out] + o
            else:
                off[s] = at = (size + 7) // 8 * 8 + addr[s] % 8
                placed.append((at, addr[s], nbytes[s]))
                size = at + nbytes[s]
        self.A = np.zeros(size + 16, np.uint8)
        base = self.A.ctypes.data
        load(np.array([[start, at, n] for at, start, n in placed], np.int64).reshape(-1, 3), self.A)
        self.L = np.array(loads, np.int64).reshape(-1, 3)
        self.arg_load = {}  # argument slot -> its row in L
        row_of = {src: k for k, (src, _, _) in enumerate(loads)}
        for s in arg_slots:
            if off[s] >= 0:
                self.arg_load[s] = row_of[addr[s]]
        self.views = {}
        for s, o in enumerate(off):
            if o >= 0:
                self.views[s] = self.A[o: o + nbytes[s]].view(np.float32 if dt[s] == 0 else np.float64)
                self.tape.set_addr(s, base + o)

    def inside_stacks(self, groups, arg_slots):
        """The pieces of stacks (of outer 1) that can live in their stack's bytes, so that the
        forward copies nothing: piece slot -> (stack slot, byte offset). Only a value that is
        alone in its bytes (no views), written by its producer alone, computed (not a leaf or an
        argument), a piece of that one stack once; and a stack alone in its bytes, written by
        its stack records only (not modified in place)."""
        T = self.T
        writes, other = [0] * len(T.addr), set()  # records that write a slot; slots other records write
        uses, found = {}, {}
        for r, row in enumerate(T.rows):
            outs = self.tape.python[r][2] if row[0] == PYTHON.code else (row[1],)
            for s in outs:
                writes[s] += 1
            if row[0] == PYTHON.code or OPS[row[0]].vjp != "k_stack" or row[9] != 1:
                other.update(outs)
                continue
            for j, s in enumerate(inputs_in(row)):
                if s >= 0:
                    uses[s] = uses.get(s, 0) + 1
                    found[s] = (row[1], (row[7] + j) * T.nbytes[s])
        alone = {slots[0] for slots, _ in groups if len(slots) == 1}
        return {s: (out, o) for s, (out, o) in found.items()
                if uses[s] == 1 and writes[s] == 1 and s in alone and out in alone and out not in other
                and T.producer[s] >= 0 and s not in arg_slots and T.dt[s] == T.dt[out]}

    def at(self, s):
        """Slot s's element offset in the arena viewed as its dtype (-1: not in the arena)."""
        o = self.off[s]
        return -1 if o < 0 else o // _ITEM[self.T.dt[s]]

    def const(self, v):
        """The index of float ``v`` among the constants of the program being made."""
        self.consts.append(float(v))
        return len(self.consts) - 1

    # -- forward -----------------------------------------------------------------------------
    def forward_program(self, plan):
        """Every record whose value something reads (an output, a later record, a Function)."""
        T, rows = self.T, self.T.rows
        live = [False] * len(T.addr)
        for s, _ in plan.outputs:
            live[s] = True
        keep = []
        for r in range(len(rows) - 1, -1, -1):
            row = rows[r]
            ins = self.tape.python[r][1] if row[0] == PYTHON.code else T.inputs(r) if live[row[1]] else None
            if ins is not None:
                keep.append(r)
                for s in ins:
                    if s >= 0:
                        live[s] = True
        code = []
        for r in reversed(keep):
            code += self.forward_instruction(r)
        return np.array(code, np.int32)

    def forward_instruction(self, r):
        T = self.T
        row = T.rows[r]
        op, out = row[0], row[1]
        if op == PYTHON.code:
            return [PY, r, 0, 0]
        spec = OPS[op]
        dt, y = T.dt[out], self.at(out)
        if y >= 0 and spec.vjp in _PIECES and row[4] == 1:  # outer == 1: one contiguous piece
            x = row[2]
            a = self.at(x)
            if a >= 0 and T.dt[x] == dt:
                off, rk = row[6], row[7]
                inner = T.size[out if spec.vjp == "k_narrow" else x] // max(rk, 1)
                dst, src = (y, a + off * inner) if spec.vjp == "k_narrow" else (y + off * inner, a)
                return [] if dst == src else [F_COPY + dt, dst, src, rk * inner]
        if y >= 0 and spec.vjp == "k_stack" and row[9] == 1:  # outer == 1: each piece one copy
            def piece(s, at, n):  # (none for a piece that lives there: see inside_stacks)
                return [] if y + at == self.at(s) else [F_COPY + dt, y + at, self.at(s), n]

            code = self.stack_pieces(r, piece, lambda s: self.at(s) >= 0 and T.dt[s] == dt)
            if code is not None:
                return code
        if y >= 0 and spec.vjp == "k_softmax":
            x = row[2]
            n = T.size[x]
            if row[4] == 1 and row[5] == n <= SHORT and self.at(x) >= 0 and T.dt[x] == dt:  # one contiguous row
                return [F_SOFTMAX + dt, y, self.at(x), 2 * n + (row[6] == 1)]
        kind = _FWD.get(spec.fwd) if spec.kind in ("ew1", "ew2") else None
        if kind is not None and y >= 0:
            ins = [s for s in T.inputs(r) if s >= 0]
            xs = [self.at(s) for s in ins]
            n = T.size[out]
            if all(x >= 0 and T.dt[s] == dt and T.size[s] == n for x, s in zip(xs, ins)):
                if kind == F_COPY:
                    return [] if xs[0] == y else [F_COPY + dt, y, xs[0], n]
                if n == 1:
                    third = xs[1] if len(xs) > 1 else self.const(T.a[r])
                    if kind == F_SOFTPLUS:
                        self.const(T.b[r])  # (K[third + 1])
                    return [kind + dt, y, xs[0], third]
        return [CALL, r, 0, 0]

    def stack_pieces(self, r, piece, fits):
        """A stack record (of outer 1) as ``piece(slot, its offset in the output, its size)``
        per piece that is not a constant, or None when some piece does not ``fits(slot)``."""
        row = self.T.rows[r]
        pieces = [(j, s) for j, s in enumerate(inputs_in(row)) if s >= 0]
        if not all(fits(s) for _, s in pieces):
            return None
        code = []
        for j, s in pieces:
            n = self.T.size[s]
            code += piece(s, (row[7] + j) * n, n)
        return code

    # -- backward ----------------------------------------------------------------------------
    def backward_program(self, seed, goff):
        """The reverse program from output slot ``seed``: only records a gradient reaches, each
        target's gradient written at its first touch and added after. Returns (program, the
        written-yet flags to start from: set where an instruction, not a kernel, writes first,
        its constants)."""
        prog = self.backwards.get(seed)
        if prog is not None:
            return prog
        rows = self.T.rows
        touched = bytearray(len(self.T.addr))  # 0 no, 1 by an instruction, 2 by a kernel
        touched[seed] = 2
        code, self.consts = [], [0.0]
        goff = goff.tolist()
        for r in range(self.T.producer[seed], -1, -1):
            if touched[rows[r][1]]:
                code += self.backward_instruction(r, goff, touched)
        ginit0 = (np.frombuffer(touched, np.uint8) == 1).astype(np.uint8)
        prog = self.backwards[seed] = (np.array(code, np.int32), ginit0, np.array(self.consts))
        return prog

    def backward_instruction(self, r, goff, touched):
        T = self.T
        row = T.rows[r]
        spec = OPS[row[0]]
        out = row[1]
        go = goff[out]
        ins = T.inputs(r)
        if spec.kind == "ew3":
            ins = (-1,) + ins[1:]  # where's condition takes no gradient
        targets = [(k, s) for k, s in enumerate(ins) if s >= 0 and goff[s] >= 0]
        if spec.vjp in _PIECES and row[4] == 1:  # outer == 1: one contiguous piece
            if not targets:
                return []
            (_, s), = targets
            off, rk = row[6], row[7]
            n = T.size[out if spec.vjp == "k_narrow" else s]
            inner = n // max(rk, 1)
            if spec.vjp == "k_narrow":  # the piece's gradient into the input's, zeroed on first touch
                code = [] if touched[s] else [B_ZERO, goff[s], 0, T.size[s]]
                touched[s] = touched[s] or 1
                return code + [B_MOV + 1, goff[s] + off * inner, go, n]
            code = [B_MOV + (touched[s] != 0), goff[s], go + off * inner, n]
            touched[s] = touched[s] or 1
            return code
        if spec.vjp == "k_stack" and row[9] == 1:  # outer == 1: each piece's gradient one move
            def piece(s, at, n):
                if goff[s] < 0:
                    return []
                code = [B_MOV + (touched[s] != 0), goff[s], go + at, n]
                touched[s] = touched[s] or 1
                return code

            return self.stack_pieces(r, piece, lambda s: True) if targets else []
        if spec.vjp == "k_softmax" and targets and self.at(out) >= 0:
            (_, s), = targets
            n = T.size[s]
            if row[4] == 1 and row[5] == n <= SHORT:  # one contiguous row: zeroed first, then added, as the kernel
                code = [] if touched[s] else [B_ZERO, goff[s], 0, n]
                touched[s] = touched[s] or 1
                c = self.const(self.at(out))
                self.const(2 * n + (row[6] == 1))
                return code + [B_SOFTMAX32 + 2 * T.dt[out] + 1, goff[s], go, c]
        exprs = spec.vjp if isinstance(spec.vjp, tuple) else (spec.vjp,)
        if spec.kind in ("ew1", "ew2"):
            code = self.elementwise_vjp(r, exprs, ins, targets, go, goff)
            if code is not None:
                flat = []
                for (_, s), (kind, a, b, c) in zip(targets, code):
                    flat += [kind + (touched[s] != 0), a, b, c]
                    touched[s] = touched[s] or 1
                return flat
        for _, s in targets:
            touched[s] = touched[s] or 2
        return [CALL, r, 0, 0]

    def elementwise_vjp(self, r, exprs, ins, targets, go, goff):
        """One instruction per target, or None when some target's VJP is not an inline kind."""
        T = self.T
        n = T.size[T.rows[r][1]]
        code = []
        for k, s in targets:
            kind, reads = _VJP.get(exprs[k], (None, None))
            if kind is None or T.size[s] != n:
                return None
            if kind in (B_MOV, B_NEG):
                code.append((kind, goff[s], go, n))
            elif n != 1:
                return None
            elif kind == B_SOFTPLUS32:
                x = self.at(ins[0])
                if x < 0:
                    return None
                c = self.const(T.a[r])
                self.const(T.b[r])
                self.const(x)
                code.append((kind + 2 * T.dt[ins[0]], goff[s], go, c))
            elif reads is None:
                code.append((kind, goff[s], go, self.const(T.a[r])))
            else:
                v = ins[reads]
                if self.at(v) < 0:
                    return None
                code.append((kind + 2 * T.dt[v], goff[s], go, self.at(v)))
        return code
