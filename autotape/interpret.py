"""The interpreter strategy of ``autotape.compile``: a recorded tape replayed by compiled loops
over its records, forward and reverse: the program ``replay/cpu_program.py`` makes of the tape
(small values in one arena, copies and one-element arithmetic inline, the other records calling
the kernels of ``replay/cpu_forward.py`` and ``replay/cpu.py``). Each op's forward and VJP is
compiled once, on first use, so compile cost is per op kind, not per record: it suits long
tapes of tiny ops (the West graph). ``fuse.py``'s plan wraps this one (without a program) for
its guards, argument binding and fallback to the general engine."""
import time

import numpy as np

from . import profiler
from . import tape as tape_mod
from .autograd.anomaly import is_anomaly_enabled
from .autograd.engine import _SECOND_BACKWARD, _seeds
from .grad_mode import no_grad
from .ops import OPS, PYTHON
from .replay import cpu_forward, cpu_program
from .replay.cpu import ensure_compiled as ensure_vjp
from .replay.cpu import replay, tables
from .replay.cpu_kernels import cycles, entry_point, prepare
from .tape import R_WIDTH, _address
from .tensor import Tensor, _wrap


class Plan:
    """One recorded tape, ready to replay: the interpreter strategy."""

    def __init__(self, tape, flat, outputs, structure, traced_args):
        self.tape = tape
        n_rec = tape.n_records
        self.n_rec = n_rec
        R = tape.R
        self.tables_at = (R.buffer_info()[0], tape.S.buffer_info()[0], tape.SH.buffer_info()[0])
        # which slots need a gradient now that the traced arguments are known not to
        arg_slot = {}
        for k, t in traced_args:
            if t._lserial == tape.serial:
                arg_slot[k] = t._slot
        temp = {arg_slot[k] for k, t in traced_args if k in arg_slot and not flat[k]._rg}
        tape.leaves = [(s, t) for s, t in tape.leaves if s not in temp]
        needs = [0] * tape.n_slots
        for s, t in tape.leaves:
            needs[s] = 1
        for r in range(n_rec):
            if R[r * R_WIDTH] == PYTHON.code:
                _, ins, outs = tape.python[r]
                need = any(s >= 0 and needs[s] for s in ins)
                for s in outs:
                    needs[s] = needs[s] or need
            else:
                need = any(s >= 0 and needs[s] for s in tape.inputs_of(r))
                out = tape.out_of(r)
                needs[out] = needs[out] or need
        for s in range(tape.n_slots):
            tape.set_needs_grad(s, needs[s])
        self.needs = needs
        self.arg_slots = [(k, s) for k, s in arg_slot.items()]
        self.rg_args = [k for k, s in self.arg_slots if flat[k]._rg]
        self.arg_arrays = {}
        # captured tensors are read where they live: replay is right while their buffers stay
        args = {id(a) for a in flat}
        # (a tensor, its data, whether it requires grad): a change in either records again
        self.guards = [(t, t._data, True) for _, t in tape.leaves if id(t) not in args]
        self.guards += [(t, d, False) for t, d in tape.consts if id(t) not in args]
        self.sources = tape.sources
        self.outputs, self.structure = outputs, structure  # (slot, shape) per output tensor
        self.compile_s = 0.0
        self.fuse_reason = None  # why the fused strategy was not taken (see fuse.py)
        self.goff, self.ginit, size = prepare(*self.tables_at[1:], tape.n_slots)
        self.G = np.empty(max(size, 1))
        tape.state = np.zeros(n_rec, np.uint8)
        tape.forget_versions()  # a replay rewrites saved values by design
        self.pause = np.zeros(n_rec, np.uint8)
        self.live = np.zeros(1, np.int64)  # (the replay counts records it passes over: unused here)
        self.leaf_info = None
        self.program = None  # the compiled program of the tape (cpu_program.py), made by precompile
        self.forward_entry = self.replay_entry = self.deliver_entry = None
        self.latest = ()
        self.consumed = False
        tape.compiled_backward = self.backward
        tape.check_latest = self.check_latest
        self.recorded_hooks = {s: list(h) for s, h in tape.hooks.items() if h}
        # captured tensors whose values the VJPs read: changed in place between a call and its
        # backward, they would give a wrong gradient (eager mode's version counter raises then)
        read = set()
        for r in range(n_rec):
            if R[r * R_WIDTH] != PYTHON.code:
                spec = OPS[R[r * R_WIDTH]]
                read.update(s for s, v in zip(tape.inputs_of(r), spec.value_inputs) if v and s >= 0)
        captured = [t for _, t in tape.leaves] + [t for t, _ in tape.consts]
        self.read_tensors = list({id(t): t for t in captured if t._lserial == tape.serial and t._slot in read
                                  and id(t) not in args}.values())
        self.read_versions = [t._vc[0] for t in self.read_tensors]  # as of this (the recording) call

    def precompile(self):
        """Compile every forward and VJP the tape needs now: replay then never stops for it."""
        t0 = time.perf_counter()
        fwds, vjps = cpu_forward.table(), tables()[0]
        for code in set(self.tape.R[0::R_WIDTH]):
            if fwds[code] == 0:
                cpu_forward.ensure_compiled(code)
            if vjps[code] == 0:
                ensure_vjp(code)
        self.program = cpu_program.Program(self)
        self.compile_s = time.perf_counter() - t0

    # -- forward -------------------------------------------------------------------------------
    def slot_array(self, s):
        a = self.arg_arrays.get(s)
        if a is None:
            a = self.program.views.get(s) if self.program is not None else None
            if a is None:
                a = self.tape.arrays[self.tape.slot_addr(s)]
        return a

    def run(self, flat):
        """Replay the forward on this call's arguments; None when a guard fails."""
        if not self.bind(flat):
            return None
        self.replay_forward()
        outs = []
        for slot, shape in self.outputs:
            t = _wrap(self.slot_array(slot).reshape(shape).copy())
            if self.needs[slot]:
                t._tape, t._slot, t._rg = self.tape, slot, True
            outs.append(t)
        self.latest = tuple(outs)
        self.consumed = False
        return _rebuild(self.structure, iter(outs))

    def bind(self, flat):
        """Check the guards and point the tape at this call's arguments; False when a guard fails.
        Hooks registered on the previous call's outputs go (those the function itself registers
        while recording stay, as they would be registered again by every eager call)."""
        for t, d, rg in self.guards:
            if t._data is not d or t._rg != rg:
                return False
        for t, d, version, rg in self.sources:  # constants computed from a tensor changed since
            if t._vc[0] != version or t._data is not d or t._rg != rg:
                return False
        tape = self.tape
        if tape.hooks or self.recorded_hooks:
            tape.hooks = {s: list(h) for s, h in self.recorded_hooks.items()}
        if tape.retained:  # retain_grad() of an earlier call's output: no later call's gradient is its
            tape.retained = []
        self.read_versions = [t._vc[0] for t in self.read_tensors]
        if not self.arg_slots:
            return True
        loads = self.program.arg_load if self.program is not None else {}
        for k, s in self.arg_slots:
            d = flat[k]._data
            if not d.flags.c_contiguous:
                d = np.ascontiguousarray(d)
            self.arg_arrays[s] = d
            row = loads.get(s)
            if row is None:
                tape.set_addr(s, _address(d))
            else:  # copied into the arena by the forward program
                self.program.L[row, 0] = _address(d)
        if self.rg_args:
            self.leaf_info = None
            arg_of = {s: k for k, s in self.arg_slots}
            tape.leaves = [(s, flat[arg_of[s]] if s in arg_of else t) for s, t in tape.leaves]
        return True

    def replay_forward(self):
        """Recompute every slot of the tape in place, record by record."""
        tape = self.tape
        tape.state.fill(0)
        tape.epoch = tape_mod._inplace_epoch[0]
        fwds = cpu_forward.table()
        prof = profiler.current()
        if self.program is not None:
            if prof is None:
                self.run_program(fwds)
                return
            cpu_program.load(self.program.L, self.program.A)  # the record loop below reads the arena
        forward = self.forward_entry
        clock = None
        if prof is not None:
            forward = cpu_forward.forward  # the clock's type differs
            clock = np.zeros((2, self.n_rec + 1), np.int64)
            c_ref, t_ref = cycles(), time.perf_counter_ns()
        elif forward is None:
            forward = self.forward_entry = entry_point(cpu_forward.forward, 0, self.n_rec, *self.tables_at, fwds, None)
        r = 0
        while True:
            res = forward(r, self.n_rec, *self.tables_at, fwds, clock)
            if res < 0:
                break
            if tape.op_of(res) == PYTHON.code:
                self.run_function(res)
                r = res + 1
            else:
                cpu_forward.ensure_compiled(tape.op_of(res))
                r = res
        if prof is not None:
            prof.add_replay(tape, clock, c_ref, t_ref, 0, cat="forward")

    def run_program(self, fwds):
        """The forward program: Python runs only the custom Functions' records (and compiles)."""
        p = self.program
        run = p.forward_entry
        if run is None:
            run = p.forward_entry = entry_point(cpu_program.run_forward, p.forward, 0, p.K, p.L, p.A,
                                                *self.tables_at, fwds)
        i = 0
        while True:
            i = run(p.forward, i, p.K, p.L, p.A, *self.tables_at, fwds)
            if i < 0:
                return
            r = int(p.forward[4 * i + 1])
            if p.forward[4 * i] == cpu_program.PY:
                self.run_function(r)
                i += 1
            else:
                cpu_forward.ensure_compiled(self.tape.op_of(r))

    def run_function(self, rec):
        """A custom Function's record: run its forward in Python on the slots' current values."""
        tape = self.tape
        cls, args, kwargs = tape.calls[rec]
        old, in_slots, out_slots = tape.python[rec]
        new_args = []
        for a, s in zip(args, in_slots):
            if s >= 0:
                shape = tape.slot_shape(s)
                a = _wrap(self.slot_array(s).reshape(shape), True)
            new_args.append(a)
        new_args += list(args[len(in_slots):])
        ctx = cls._ctx_cls()
        ctx.needs_input_grad = old.needs_input_grad
        with no_grad():
            outputs = cls.forward(ctx, *new_args, **kwargs)
        outs = outputs if isinstance(outputs, tuple) else (outputs,)
        differentiable = [o for o in outs if isinstance(o, Tensor) and o._data.dtype.kind == "f"
                          and id(o) not in getattr(ctx, "_non_diff", ())]
        for o, s in zip(differentiable, out_slots):
            dst = self.slot_array(s)
            np.copyto(dst, np.asarray(o._data).reshape(dst.shape), casting="unsafe")
        ctx._out_dtypes = old._out_dtypes
        tape.python[rec] = (ctx, in_slots, out_slots)

    # -- backward ------------------------------------------------------------------------------
    def backward(self, t, grad_tensors, retain_graph):
        """``t.backward()`` for an output ``t`` of the latest call. Returns False to leave it to
        the general engine (profiler, anomaly mode, hooks, custom Functions)."""
        self.check_latest(t)
        if self.consumed:
            raise RuntimeError(_SECOND_BACKWARD)
        self.check_versions()
        if self.needs_engine():
            # the engine frees what this call saved: a later backward of this call raises, as there
            self.consumed = not retain_graph
            return False
        G, slot = self.G, t._slot
        o = self.goff[slot]
        if grad_tensors is None and t._data.size == 1:  # the usual scalar loss
            G[o] = 1.0
        else:
            (_, g), = _seeds([t], grad_tensors)
            G[o: o + g.size] = g.reshape(-1)
        if self.program is not None:
            self.run_backward_program(slot)
        else:
            self.run_backward(slot)
        self.deliver()
        if not retain_graph:
            self.consumed = True
        return True

    def run_backward_program(self, slot):
        """The reverse program from ``slot`` (made on its first backward)."""
        p, ginit = self.program, self.ginit
        code, ginit0, K = p.backward_program(slot, self.goff)
        ginit[:] = ginit0
        ginit[slot] = 1
        vjps = tables()[0]
        args = (K, p.A, *self.tables_at, self.G, self.goff, ginit, vjps)
        run = p.backward_entry
        if run is None:
            run = p.backward_entry = entry_point(cpu_program.run_backward, code, 0, *args)
        i = 0
        while True:
            i = run(code, i, *args)
            if i < 0:
                return
            ensure_vjp(self.tape.op_of(int(code[4 * i + 1])))

    def run_backward(self, slot):
        """The general reverse replay from ``slot`` (a plan without a program: fuse.py's)."""
        tape, G, goff, ginit = self.tape, self.G, self.goff, self.ginit
        ginit[:] = 0
        ginit[slot] = 1
        vjps, saves, inline = tables()
        r = tape.producer_of(slot)
        args = (*self.tables_at, G, goff, ginit, tape.state, self.pause, saves, vjps, inline, self.live, None)
        if self.replay_entry is None:
            self.replay_entry = entry_point(replay, r, -1, True, *args)
        while True:
            res = self.replay_entry(r, -1, True, *args)
            if res == -1:
                break
            if res <= -2:
                raise RuntimeError(f"compiled replay failed at record {-2 - res}")
            ensure_vjp(tape.op_of(res))
            r = res

    def check_versions(self):
        for t, v in zip(self.read_tensors, self.read_versions):
            if t._vc[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    "operation: a tensor the compiled function read was changed after the call and before its "
                    "backward (version counter). Call backward() first, or change a clone() of it."
                )

    def check_latest(self, t):
        if not (self.latest and t is self.latest[0]) and not any(t is o for o in self.latest):
            raise RuntimeError(
                "backward() through an output of an earlier call of a compiled function: the compiled "
                "tape now holds the values of a later call. Call backward() before calling it again."
            )

    def needs_engine(self):
        """Whether backward must run in the general engine (profiler, anomaly mode, hooks,
        retain_grad, custom Functions)."""
        tape = self.tape
        if profiler.current() is not None or tape.python or tape.hooks or tape.retained:
            return True
        if is_anomaly_enabled():
            return True
        for _, p in tape.leaves:  # a loop, not any(): this runs every backward
            if p._hooks:
                return True
        return False

    def deliver(self):
        """Every leaf's gradient into its ``.grad``, accumulating in place into a ``.grad`` this
        plan wrote or checked before (one compiled call for all leaves)."""
        leaves = [p for _, p in self.tape.leaves]
        if self.leaf_info is None or len(self.leaf_info[0]) != len(leaves):
            n = len(leaves)
            self.leaf_info = (
                np.array([s for s, _ in self.tape.leaves], np.int64),
                np.array([p._data.size for p in leaves], np.int64),
                np.zeros(n, np.int64),
                np.array([0 if p._data.itemsize == 4 else 1 for p in leaves], np.int64),
                np.zeros(n, np.int64), np.zeros(n, np.uint8), [None] * n,
            )
        slots, sizes, addrs, dts, modes, reached, known = self.leaf_info
        fresh = []
        for k, p in enumerate(leaves):
            gt = p._grad
            if gt is None:
                buf = np.empty(p._data.shape, p._data.dtype)
                addrs[k], modes[k] = _address(buf), 0
                fresh.append((k, p, buf))
            elif gt is known[k]:
                modes[k] = 1
            else:
                d = gt._data
                if (d.shape == p._data.shape and d.dtype == p._data.dtype and d.flags.c_contiguous
                        and d.flags.writeable):
                    addrs[k], modes[k] = _address(d), 1
                    known[k] = gt
                else:
                    modes[k] = -1
        args = (self.G, self.goff, self.ginit, slots, sizes, addrs, dts, modes, reached)
        if self.deliver_entry is None:
            self.deliver_entry = entry_point(cpu_forward.deliver, *args)
        self.deliver_entry(*args)
        for k, p, buf in fresh:
            if reached[k]:
                p._grad = known[k] = _wrap(buf)
        for k, p in enumerate(leaves):
            if modes[k] == -1 and self.ginit[slots[k]]:
                o = self.goff[slots[k]]
                g = self.G[o: o + sizes[k]].reshape(p._data.shape).astype(p._data.dtype)
                p._grad = _wrap(p._grad._data + g)


def _rebuild(structure, outs):
    kind, parts = structure
    if kind == "tensor":
        return next(outs)
    if kind == "value":
        return parts
    seq_type, items = parts
    return seq_type(_rebuild(s, outs) for s in items)
