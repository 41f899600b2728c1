"""The Wengert tape: a flat list of records kept as parallel arrays, one tape per thread.

A record is 40 bytes in ``R`` (10 int32 per record; ``F`` is the same buffer read as float64,
5 per record): opcode, output slot, two input slots, then attributes. A kernel op (reduction,
shape op, matmul) keeps up to four int32 attributes in ``R[10r+4 : 10r+8]`` and one float in
``F[5r+4]``; an elementwise op keeps its third input (``where``'s) in ``R[10r+4]``, its float
``a`` in ``F[5r+4]`` and ``b`` in ``F[5r+3]``; a stack's record holds up to five input slots
in ``R[10r+2 : 10r+7]`` and three ints after them (``record_pieces``). A *slot* is a value on
the tape (``S``, 2 int64 each): the address of its contiguous data (0 until backward needs
it), and an info word packing its shape id (low 32 bits: an offset into ``SH``, whose entries
are size, ndim, dims), its dtype code (2 bits), whether it needs a gradient (1 bit) and the
record that produced it (the rest, signed: -1 for leaves and constants). So a record and its
output slot cost 56 bytes; the compiled replay reads the size from the shape table. (Nine
int64, two float64 and six int64 per slot cost 136.)

The arrays are ``array.array``s, so appending is cheap and they grow by doubling; the compiled
replay reads them through raw pointers. Values saved for backward are read by address inside
compiled code; ``vals`` holds the arrays so those addresses stay valid.
"""
import ctypes
import itertools
import struct
import threading
import weakref
from array import array

import numpy as np
from numba import njit


R_WIDTH, S_WIDTH = 10, 2  # int32 per record, int64 per slot
ZERO_INTS = (0, 0, 0, 0)
DT_INT64 = 2  # dtype code of integer index maps (values: 0 float32, 1 float64)
SHAPE_MASK = 0xFFFFFFFF
# Rows are appended as packed bytes: ``array.frombytes(pack(...))`` costs a third of
# ``array.extend(tuple)``, which converts item by item (measured: 350 vs 900 ns for a record).
# ("<": no padding; both layouts are 40 bytes.)
_pack_kernel = struct.Struct("<8id").pack  # op, out, in0, in1, four ints, one float
_pack_elementwise = struct.Struct("<6idd").pack  # op, out, in0, in1, in2, unused, b, a
_pack_pieces = struct.Struct("<10i").pack  # op, out, five pieces, first, count, outer
# A slot's info word as two int32 halves: the shape id, then (producer << 3) | (needs grad << 2) |
# dtype code, which are small ints (the int64 word would be a multi-digit Python int: slower).
_pack_slot = struct.Struct("<qIi").pack
_pack_version = struct.Struct("2q").pack
_unpack_floats = struct.Struct("<dd").unpack_from
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64))  # by dtype code
_SMALL = 4096  # one-element saved values per buffer (``Tape._saved_address``), 8 bytes each


# an op output's high info bits for "needs a gradient" and its dtype code, by its item size
_NEEDS_GRAD_AND_DTYPE = {4: 4 | 0, 8: 4 | 1}

def _check_int32(spec, ints):
    """Before anything is appended: a record's int attributes are int32."""
    for v in ints:  # (a loop: max() costs 0.25 us in Python 3.11)
        if v > 0x7FFFFFFF:
            raise RuntimeError(f"{spec.name}: a tensor of {v} elements along one axis is too large for "
                               "autotape's tape (at most 2**31 - 1); split it into smaller tensors")


serials = itertools.count(1)  # tapes of both devices (cuda/backward.py): the order backward replays them in
class _Local(threading.local):
    tape = None  # a class default keeps the lookup cheap for a thread that has no tape yet
    shapes = None  # the shape table of the thread's last retired tape, to start the next one with


_local = _Local()
# Bumped by every in-place op anywhere, so backward can skip version checks when none happened.
_inplace_epoch = [0]


@njit(cache=True)
def _numba_address(a):
    return a.ctypes.data


# An ndarray's data pointer read straight from its object (``PyArrayObject``: the object header,
# then ``char *data``): 0.2 us, where the Numba call above costs 0.35-0.45 us (typing its
# argument) and ``a.ctypes.data`` 2 us. Checked once here; where the layout differs, Numba.
# (Every taker of a saved value's address comes here: the tape, fuse.py, interpret.py.)
_read_pointer = ctypes.c_void_p.from_address
_DATA_OFFSET = object.__basicsize__


def _pointer_address(a):
    if type(a) is not np.ndarray:  # (a subclass may add fields; a NumPy scalar has no pointer)
        return _numba_address(a)
    return _read_pointer(id(a) + _DATA_OFFSET).value or 0


_probe = np.zeros(3)[1:]
_address = _pointer_address if _pointer_address(_probe) == _numba_address(_probe) else _numba_address
del _probe


def bump_inplace_epoch():
    _inplace_epoch[0] += 1


class Tape:
    """One flat tape. Non-leaf tensors hold their tape; the thread holds its tape weakly, so
    a tape nobody can backward through any more is freed with its saved values."""

    __slots__ = (
        "serial", "R", "S", "SH", "shape_ids", "vals", "leaves", "links", "python",
        "versions", "version_at", "epoch", "state", "hooks", "retained", "n_slots", "origins", "small", "n_small",
        "__weakref__",
    )

    def __init__(self, shapes=None):
        """``shapes``: a shape table and its index to start with (copied)."""
        self.serial = next(serials)
        self.R, self.S = array("i"), array("q")
        if shapes is None:
            self.SH, self.shape_ids = array("q"), {}
        else:
            self.SH, self.shape_ids = array("q", shapes[0]), shapes[1].copy()
        self.vals = []  # arrays whose addresses are in S; keeps them alive
        # the buffer of one-element saved values: (float32 view, float64 view, address)
        self.small, self.n_small = None, _SMALL
        self.leaves = []  # (slot, tensor) for leaves that require grad
        self.links = []  # (slot, tensor, its tape and slot then) for inputs made on another tape
        self.python = {}  # record -> (Function ctx, input slots, output slots)
        # saved tensors' version counters, and (version at save, record) pairs: flat, not a tuple
        # per saved value (less memory, and nothing for the garbage collector to track)
        self.versions, self.version_at = [], array("q")
        self.hooks = {}  # slot -> [hook] for non-leaf tensors
        self.retained = []  # (slot, tensor) for retain_grad()
        self.epoch = _inplace_epoch[0]
        self.state = None  # per record: 0 live, 1 freed by a backward, 2 saved value modified
        self.n_slots = 0
        self.origins = {}  # record -> (file, line, function, source) while anomaly mode is on

    @property
    def n_records(self):
        return len(self.R) // R_WIDTH

    def shape_id(self, shape):
        sid = self.shape_ids.get(shape)
        if sid is None:
            sid = self.shape_ids[shape] = len(self.SH)
            size = 1
            for d in shape:
                size *= d
            self.SH.append(size)
            self.SH.append(len(shape))
            self.SH.extend(shape)
        return sid

    def _value_address(self, data):
        if not data.flags.c_contiguous:
            data = np.ascontiguousarray(data)
        self.vals.append(data)
        return _address(data)

    def _saved_address(self, data):
        """The address of a value a record saves. One element (every value of scalar code) is
        copied into the tape's buffer of such values: releasing them drops one reference per 4096,
        not one per value, each a cache miss after a long forward (West's 10,000 scalar ops: the
        release 180-210 -> 100-110 us), and backward reads them from a few pages, not scattered
        heap blocks. (Copying costs less than taking an array's address.) The copy is never seen
        to differ: a value changed in place after it was saved fails backward's version check.
        A compiled plan's tape keeps every array (it replays into them)."""
        if data.size != 1 or type(self) is not Tape:
            return self._value_address(data)
        i = self.n_small
        if i == _SMALL:
            buf = np.empty(_SMALL)
            self.vals.append(buf)
            self.small = (memoryview(buf).cast("B").cast("f"), memoryview(buf), _address(buf))
            i = 0
        self.n_small = i + 1
        small = self.small
        if data.itemsize == 4:  # (a float32 in the low half of its 8 bytes; item() is exact both ways)
            small[0][2 * i] = data.item()
        else:
            small[1][i] = data.item()
        return small[2] + 8 * i

    def saved_value(self, slot):
        """The array backward reads as slot ``slot``'s value (a view of a saved array, or of the
        buffer of one-element values), or None once it was released."""
        addr, size, dtype = self.S[slot * 2], self.slot_size(slot), _DTYPES[self.slot_dtype(slot)]
        for a in self.vals:
            start = _address(a)
            if a.size and start <= addr and addr + size * dtype.itemsize <= start + a.nbytes:
                return np.frombuffer(a, dtype, size, addr - start).reshape(self.slot_shape(slot))
        return None

    def _leaf_address(self, t):
        """A leaf's value address, cached on the tensor (its buffer outlives tapes; ``.data``
        assignment resets the cache)."""
        addr = t._addr
        if addr:
            self.vals.append(t._data)
            return addr
        addr = self._value_address(t._data)
        if self.vals[-1] is t._data:
            t._addr = addr
        return addr

    def new_slot(self, data, needs_grad, need_value, producer=-1, code=None):
        # the address first: if it raises, the tape must not count a slot that S lacks
        addr = self._value_address(data) if need_value else 0
        slot = self.n_slots
        self.n_slots = slot + 1
        if code is None:  # float32 or float64: integer data never gets a slot of its own
            code = 0 if data.itemsize == 4 else 1
        shape = data.shape
        sid = self.shape_ids.get(shape)
        if sid is None:
            sid = self.shape_id(shape)
        self.S.frombytes(_pack_slot(addr, sid, (producer << 3) | (needs_grad << 2) | code))
        return slot

    def const_slot(self, data):
        """A value backward reads that is no tensor of the user's (an index map)."""
        return self.new_slot(data, 0, True, code=DT_INT64 if data.dtype.kind in "iu" else None)

    def slot_of(self, t, need_value):
        """The slot of tensor ``t`` on this tape, made on first use."""
        owner = t._tape
        if owner is self:
            slot = t._slot
        elif owner is None and t._lserial == self.serial:
            slot = t._slot
        else:
            rg = t._rg
            if owner is not None:  # produced on an older tape: backward continues there
                slot = self.new_slot(t._data, 1, need_value)
                self.links.append((slot, t, owner, t._slot))
                return slot
            data = t._data
            addr = self._leaf_address(t) if need_value else 0
            slot = self.n_slots
            self.n_slots = slot + 1
            sid = self.shape_ids.get(data.shape)
            if sid is None:
                sid = self.shape_id(data.shape)
            code = 0 if data.itemsize == 4 else 1
            self.S.frombytes(_pack_slot(addr, sid, -8 | (rg << 2) | code))
            t._lserial, t._slot = self.serial, slot
            if rg:
                self.leaves.append((slot, t))
            return slot
        if need_value and self.S[slot * 2] == 0:
            self.S[slot * 2] = self._leaf_address(t) if owner is None else self._saved_address(t._data)
        return slot

    def _output(self, spec, out, rec):
        """The output's slot; a tensor written by several records (the pieces of a cat or
        stack) keeps one slot, produced by the last of them. (new_slot, inlined: this runs
        once per op.)"""
        if out._tape is self:
            self.set_producer(out._slot, rec)
            return out._slot
        data = out._data
        slot = self.n_slots
        self.n_slots = slot + 1
        sid = self.shape_ids.get(data.shape)
        if sid is None:
            sid = self.shape_id(data.shape)
        if spec.uses_output:
            addr = self._saved_address(data)
            self.save_version(out._vc, rec)
        else:
            addr = 0
        self.S.frombytes(_pack_slot(addr, sid, (rec << 3) | _NEEDS_GRAD_AND_DTYPE[data.itemsize]))
        out._tape = self  # (one assignment a statement: see tensor._wrap)
        out._slot = slot
        out._rg = True
        return slot

    def _input(self, t, need_value, rec):
        """The slot of input ``t`` of record ``rec`` (``slot_of`` and ``save_version`` with
        their common cases inlined: this runs for every input of every op)."""
        owner = t._tape
        if owner is self or (owner is None and t._lserial == self.serial):
            slot = t._slot
            if not need_value:
                return slot
            S = self.S
            if S[slot * 2] == 0:
                S[slot * 2] = self._leaf_address(t) if owner is None else self._saved_address(t._data)
        elif owner is None and type(self) is Tape:  # a leaf or constant new to this tape: slot_of's
            data = t._data
            addr = 0
            if need_value:  # (_leaf_address, inlined)
                addr = t._addr
                if not addr:
                    if not data.flags.c_contiguous:
                        data = np.ascontiguousarray(data)
                    addr = _address(data)
                    if data is t._data:
                        t._addr = addr
                self.vals.append(data)
            slot = self.n_slots
            self.n_slots = slot + 1
            shape = data.shape
            sid = self.shape_ids.get(shape)
            if sid is None:
                sid = self.shape_id(shape)
            rg = t._rg
            self.S.frombytes(_pack_slot(addr, sid, -8 | (rg << 2) | (0 if data.itemsize == 4 else 1)))
            t._lserial = self.serial
            t._slot = slot
            if rg:
                self.leaves.append((slot, t))
            if not need_value:
                return slot
        else:
            slot = self.slot_of(t, need_value)
            if not need_value:
                return slot
        vc = t._vc
        self.versions.append(vc)
        self.version_at.frombytes(_pack_version(vc[0], rec))
        return slot

    # Recording: one of these runs for every op in eager code, so the common shapes are unrolled,
    # and the commonest input, one of this tape whose value backward does not read, is inlined.
    def record_ew1(self, spec, out, x, a=0.0, b=0.0):
        """An elementwise record of one input, with float attributes a and b."""
        rec = len(self.R) // R_WIDTH
        v = spec.value_inputs[0]
        xs = x._slot if x._tape is self and not v else self._input(x, v, rec)
        self.R.frombytes(_pack_elementwise(spec.code, self._output(spec, out, rec), xs, -1, -1, 0, b, a))

    def record_ew2(self, spec, out, x1, x2, v1, v2):
        """``v1``, ``v2``: whether backward reads each input's value (the op's ``value_inputs``,
        or less where the caller knows better: a product saves an input only for the other's
        gradient)."""
        rec = len(self.R) // R_WIDTH
        s1 = x1._slot if x1._tape is self and not v1 else self._input(x1, v1, rec)
        s2 = x2._slot if x2._tape is self and not v2 else self._input(x2, v2, rec)
        self.R.frombytes(_pack_elementwise(spec.code, self._output(spec, out, rec), s1, s2, -1, 0, 0.0, 0.0))

    def record_ew3(self, spec, out, c, x1, x2):
        """``where``'s record: the condition and the two values."""
        rec = len(self.R) // R_WIDTH
        vi = spec.value_inputs
        s1, s2, s3 = self._input(c, vi[0], rec), self._input(x1, vi[1], rec), self._input(x2, vi[2], rec)
        self.R.frombytes(_pack_elementwise(spec.code, self._output(spec, out, rec), s1, s2, s3, 0, 0.0, 0.0))

    def record1(self, spec, out, x, ints=ZERO_INTS, f=0.0):
        """A kernel op's record with one input, up to four int attributes and one float."""
        if ints is not ZERO_INTS:
            for v in ints:  # (_check_int32's loop, inlined: a reduction's record comes here every step)
                if v > 0x7FFFFFFF:
                    _check_int32(spec, ints)
        rec = len(self.R) // R_WIDTH
        v = spec.value_inputs[0]
        xs = x._slot if x._tape is self and not v else self._input(x, v, rec)
        self.R.frombytes(_pack_kernel(spec.code, self._output(spec, out, rec), xs, -1, *ints, f))

    def record2(self, spec, out, x1, x2, ints=ZERO_INTS, f=0.0):
        if ints is not ZERO_INTS:
            _check_int32(spec, ints)
        rec = len(self.R) // R_WIDTH
        s1 = self._input(x1, spec.value_inputs[0], rec)
        s2 = self._input(x2, spec.value_inputs[1], rec)
        self.R.frombytes(_pack_kernel(spec.code, self._output(spec, out, rec), s1, s2, *ints, f))

    def record_linear(self, spec, out, x, w, b):
        """``x @ w.T + b`` (x (m, k), w (n, k), b (n,)): inputs x, w, then b at R[10r+4] as an
        elementwise op's third input; m, k, n after it. Like a product, each of x and w is
        saved only for the other's gradient."""
        rec = len(self.R) // R_WIDTH
        (m, k), n = x._data.shape, w._data.shape[0]
        if m > 0x7FFFFFFF or k > 0x7FFFFFFF or n > 0x7FFFFFFF:
            _check_int32(spec, (m, k, n))
        sx = self._input(x, w._rg, rec)
        sw = self._input(w, x._rg, rec)
        sb = self._input(b, False, rec)
        self.R.frombytes(_pack_kernel(spec.code, self._output(spec, out, rec), sx, sw, sb, m, k, n, 0.0))

    def record_slices(self, spec, outs, x, outer, total):
        """One record per output: output ``i`` is x[:, i, :] of ``x`` viewed as (outer, total,
        inner), as ``unbind`` makes them; ``x``'s slot is looked up once for all of them."""
        if outer > 0x7FFFFFFF or total > 0x7FFFFFFF:
            _check_int32(spec, (outer, total))
        rec = len(self.R) // R_WIDTH
        xs = x._slot if x._tape is self else self._input(x, False, rec)  # (a view's VJP reads no value)
        code = spec.code
        if type(self) is not Tape or spec.uses_output or not outs:
            R, output = self.R, self._output
            for i, out in enumerate(outs):
                R.frombytes(_pack_kernel(code, output(spec, out, rec + i), xs, -1, outer, total, i, 1, 0.0))
            return
        # (_output, for outputs of one shape and dtype that save nothing: looked up once for all)
        data = outs[0]._data
        sid = self.shape_ids.get(data.shape)
        if sid is None:
            sid = self.shape_id(data.shape)
        bits = _NEEDS_GRAD_AND_DTYPE[data.itemsize]
        slot = self.n_slots
        self.n_slots = slot + len(outs)
        add_slot, add_record = self.S.frombytes, self.R.frombytes
        for i, out in enumerate(outs):
            add_slot(_pack_slot(0, sid, ((rec + i) << 3) | bits))
            add_record(_pack_kernel(code, slot, xs, -1, outer, total, i, 1, 0.0))
            out._tape = self
            out._slot = slot
            out._rg = True
            slot += 1

    def record_pieces(self, spec, out, pieces, first, outer):
        """One record of up to five tensors that are pieces ``first``, ``first + 1``, ... of
        ``out`` viewed as (outer, pieces, inner), a stack's: one record for the four scalars of a
        stack, not four. A piece that needs no gradient has slot -1."""
        if outer > 0x7FFFFFFF:
            _check_int32(spec, (outer,))
        rec = len(self.R) // R_WIDTH
        slots = [-1, -1, -1, -1, -1]
        j = 0
        for t in pieces:
            if t._tape is self:
                slots[j] = t._slot
            elif t._rg:
                slots[j] = self._input(t, False, rec)
            j += 1
        self.R.frombytes(_pack_pieces(spec.code, self._output(spec, out, rec), *slots, first, len(pieces), outer))

    def record_link(self, spec, out, x):
        """The record of ``out``, a CPU copy of CUDA tensor ``x`` (``x.cpu()``): its input is a
        link, whose gradient the engine hands to x's tape, or into x.grad, on the GPU."""
        rec = len(self.R) // R_WIDTH
        slot = self.new_slot(x._data, 1, False)
        self.links.append((slot, x, x._tape, x._slot))
        self.R.frombytes(_pack_elementwise(spec.code, self._output(spec, out, rec), slot, -1, -1, 0, 0.0, 0.0))

    def record_python(self, code, out_slot):
        """The record of a custom Function (its inputs and outputs are kept in ``python``)."""
        self.R.frombytes(_pack_kernel(code, out_slot, -1, -1, 0, 0, 0, 0, 0.0))

    def save_version(self, vc, rec):
        """Record ``rec`` reads a value whose version counter is ``vc``, as it is now."""
        self.versions.append(vc)
        self.version_at.frombytes(_pack_version(vc[0], rec))

    def modified_records(self):
        """Records whose saved values were modified in place since they were recorded."""
        at = self.version_at
        return [at[2 * k + 1] for k, vc in enumerate(self.versions) if vc[0] != at[2 * k]]

    def forget_versions(self):
        self.versions, self.version_at = [], array("q")

    def release_saved(self):
        """Drop the values kept for backward (every record that reads them is freed)."""
        self.vals = []
        self.small, self.n_small = None, _SMALL  # (its views hold the buffer; the next value starts a new one)
        self.forget_versions()

    # Reading the tables from Python (the compiled code has its own readers in replay/cpu_kernels.py).
    def op_of(self, rec):
        return self.R[rec * R_WIDTH]

    def out_of(self, rec):
        return self.R[rec * R_WIDTH + 1]

    def inputs_of(self, rec):
        """The input slots of record ``rec`` (-1: none); a Function's are in ``python``."""
        base = rec * R_WIDTH
        return inputs_in(self.R[base: base + R_WIDTH])

    def grad_fn_name(self, rec):
        from .ops import OPS, PYTHON

        code = self.R[rec * R_WIDTH]
        return type(self.python[rec][0]).__name__ if code == PYTHON.code else OPS[code].grad_fn

    def input_slots(self, rec):
        """Record ``rec``'s inputs as ``grad_fn.next_functions`` lists them: -1 for one that needs
        no gradient (a Function's argument)."""
        from .ops import OPS, PYTHON

        code = self.R[rec * R_WIDTH]
        if code == PYTHON.code:
            return list(self.python[rec][1])
        if OPS[code].name == "stack":  # all the records of this stack; a piece that needs no gradient is None
            out, first = self.R[rec * R_WIDTH + 1], rec
            while first and self.R[(first - 1) * R_WIDTH] == code and self.R[(first - 1) * R_WIDTH + 1] == out:
                first -= 1
            return [s for r in range(first, rec + 1) for s in self.inputs_of(r)]
        if OPS[code].name == "linear":  # PyTorch's addmm lists the bias first
            x, w, b = self.inputs_of(rec)
            return [b, x, w]
        return [s for s in self.inputs_of(rec) if s >= 0]

    def floats_of(self, rec):
        """Record ``rec``'s float attributes: (a, b) of an elementwise op; a kernel op's one
        float first (its second is the bits of two int attributes)."""
        b, a = _unpack_floats(self.R, rec * 4 * R_WIDTH + 24)
        return a, b

    def slot_addr(self, slot):
        return self.S[slot * 2]

    def set_addr(self, slot, addr):
        self.S[slot * 2] = addr

    def slot_shape_id(self, slot):
        return self.S[slot * 2 + 1] & SHAPE_MASK

    def slot_size(self, slot):
        return self.SH[self.S[slot * 2 + 1] & SHAPE_MASK]

    def slot_dtype(self, slot):
        return (self.S[slot * 2 + 1] >> 32) & 3

    def slot_needs_grad(self, slot):
        return (self.S[slot * 2 + 1] >> 34) & 1

    def set_needs_grad(self, slot, needs):
        info = self.S[slot * 2 + 1]
        self.S[slot * 2 + 1] = (info & ~(1 << 34)) | (int(needs) << 34)

    def producer_of(self, slot):
        return self.S[slot * 2 + 1] >> 35

    def set_producer(self, slot, rec):
        self.S[slot * 2 + 1] = (rec << 35) | (self.S[slot * 2 + 1] & ((1 << 35) - 1))

    def shape_of(self, sid):
        n = self.SH[sid + 1]
        return tuple(self.SH[sid + 2: sid + 2 + n])

    def slot_shape(self, slot):
        return self.shape_of(self.S[slot * 2 + 1] & SHAPE_MASK)


def inputs_in(row):
    """The input slots of the record whose 10 ints are ``row`` (-1: none): three, or a stack
    record's pieces (see ``Tape.record_pieces``). Every Python reader of a record's inputs
    comes here, so a new layout is taught in one place."""
    from .ops import OPS

    spec = OPS[row[0]]
    if spec.name == "stack":
        return tuple(row[2: 2 + row[8]])
    return row[2], row[3], row[4] if spec.kind == "ew3" or spec.name == "linear" else -1


def current_tape():
    """The thread's tape, made anew when the last one was consumed or dropped."""
    ref = _local.tape
    tape = ref() if ref is not None else None
    if tape is None:
        tape = Tape(_local.shapes)  # (a training step's tape starts with the last step's shapes)
        _local.tape = weakref.ref(tape)
    return tape


def record_device_copy(spec, out, x):
    """Record ``out``, a copy of ``x`` (which requires grad) on the other device, on the tape of
    ``out``'s device. Backward replays tapes newest first, by one serial count for both devices,
    so the copy's tape must be newer than ``x``'s: an older one is left for a fresh one (its
    records stay where they are, reached through links as after a backward)."""
    source = x._tape
    if out.is_cuda:
        from .cuda import backward as cuda_backward

        tape = cuda_backward.current_tape()
        if source is not None and tape.serial < source.serial:
            cuda_backward.leave_current()
            tape = cuda_backward.current_tape()
        tape.record(spec, out, (x,), attrs=(x._data.dtype,))
    else:
        tape = current_tape()
        if source is not None and tape.serial < source.serial:
            _local.tape = None  # (not retire(): this tape's records are live)
            tape = current_tape()
        tape.record_link(spec, out, x)


_SEED_SHAPES_MAX = 1024  # SH entries; beyond that, copying the table costs more than it saves


def retire(tape):
    """After a backward that freed ``tape``: new records go to a fresh tape."""
    ref = _local.tape
    if ref is not None and ref() is tape:
        _local.tape = None
        _local.shapes = (tape.SH, tape.shape_ids) if len(tape.SH) <= _SEED_SHAPES_MAX else None
