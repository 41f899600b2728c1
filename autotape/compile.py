"""``autotape.compile``: record a function's tape once, then replay it, forward and backward, on
the current values of its inputs and of every leaf it captured.

    step = autotape.compile(lambda: loss_fn(model(x), y))
    for t in range(2000):
        loss = step()          # compiled forward replay on the current parameter values
        optimizer.zero_grad()
        loss.backward()        # compiled backward replay, accumulating into .grad
        optimizer.step()

How it works. The first call for a given signature of arguments runs the function eagerly on
a tape of its own that keeps every value's address (``_RecordingTape``), so the compiled
forward loop (``replay/cpu_forward.py``) can recompute every slot in place, record by record,
and the backward replay (``replay/cpu.py``) then reads those same buffers. Float tensor
arguments are traced (recorded as leaves, rebound to each call's arrays); parameters and other
captured leaves are read where they live, so in-place optimizer updates are seen.

What is a constant: tensors the function captures that do not require grad, and everything
computed from them alone (NumPy ran those ops once, while recording). Pass data as an argument
to have it traced. Code under ``no_grad`` inside the function is not recorded either.

Guards. A call whose arguments differ in shape, dtype, requires_grad (or, for integer tensors
and Python values, in value) records again, into a small cache keyed by that signature; so
does a call after a captured leaf's ``.data`` was replaced. Reading a traced value into Python
while recording (``item()``, ``bool()``, ``float()``, ``tolist()``, ``numpy()``, a comparison's
result used in ``if``/``where``/indexing) raises, naming the line, since a replay would silently
reuse the recorded value; ``compile(fn, fallback="eager")`` runs such functions eagerly instead.
A function whose tape holds an op without a forward kernel, or whose outputs were not recorded,
runs eagerly with a one-time warning rather than giving a wrong answer.

Strategy, chosen per tape when it is recorded. A tape of elementwise ops ending in full
reductions (the polynomial fit) is *fused*: ``fuse.py`` generates one Numba function that makes
a single pass over the data, computing the loss and its gradient together. Any other tape gets
the *interpreter* (``_Plan``): a compiled loop over the records, forward and reverse, whose
compile cost is per op kind, not per record, so it suits long tapes of tiny ops (the West
graph). ``explain()`` says which was taken and why; ``show_source()`` prints the code.
"""
import collections
import functools
import inspect
import linecache
import os
import sys
import time
import warnings
import weakref

import numba
import numpy as np

from . import dtypes
from . import profiler
from . import tape as tape_mod
from .autograd.anomaly import is_anomaly_enabled
from .autograd.engine import _seeds
from .grad_mode import is_grad_enabled, no_grad
from .ops import OPS, PYTHON
from .replay import cpu_forward
from .replay.cpu import ensure_compiled as ensure_vjp
from .replay.cpu import replay, tables
from .replay.cpu_kernels import cycles, prepare
from .tape import R_WIDTH, S_WIDTH, Tape, _address
from .tensor import Tensor, _trace, _wrap

_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep
_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second "
    "time or if you need to access saved tensors after calling backward."
)


def _entry(dispatcher, *args):
    """``dispatcher``'s compiled entry point for these arguments' types. Calling it skips the
    type resolution of every argument (~0.1 us each), so the plans use it where their calls'
    types are fixed."""
    return dispatcher.compile(tuple(map(numba.typeof, args)))


class CompileError(RuntimeError):
    """A function cannot be recorded for replay (it reads a traced value into Python)."""


def _user_frame():
    """(file, line, function, source) of the innermost frame outside autotape."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_PKG):
        f = f.f_back
    if f is None:
        return "<unknown>", 0, "?", ""
    file, line = f.f_code.co_filename, f.f_lineno
    return file, line, f.f_code.co_name, linecache.getline(file, line, f.f_globals).strip()


class _RecordingTape(Tape):
    """A tape that keeps every value's address (a forward replay writes every slot, not only
    those backward reads) and notes the calls of custom Functions."""

    def __init__(self):
        super().__init__()
        self.arrays = {}  # address -> the array there: keeps every value alive
        self.calls = {}  # record -> (Function class, args, kwargs)
        self.consts = []  # (tensor, its data) for captured tensors entered as constants
        self.compiled_backward = None  # set by the plan: ``loss.backward()`` comes there
        self.args = ()  # the traced arguments' arrays

    def _value_address(self, data):
        if any(np.may_share_memory(data, a) for a in self.args):
            data = data.copy()  # a view of an argument: a replay must not write into the caller's array
        addr = Tape._value_address(self, data)
        self.arrays[addr] = self.vals[-1]
        return addr

    def _leaf_address(self, t):
        addr = Tape._leaf_address(self, t)
        self.arrays[addr] = self.vals[-1]
        return addr

    def new_slot(self, data, needs_grad, need_value, producer=-1, code=None):
        return Tape.new_slot(self, data, needs_grad, True, producer, code)

    def slot_of(self, t, need_value):
        if t._tape is None and t._lserial != self.serial and not t._rg:
            rec = _trace.recorder
            if rec is not None and rec.tape is self:
                rec.on_const(t)
            self.consts.append((t, t._data))
        return Tape.slot_of(self, t, True)

    def _output(self, spec, out, rec):
        slot = Tape._output(self, spec, out, rec)
        if self.S[slot * S_WIDTH] == 0:
            self.S[slot * S_WIDTH] = self._value_address(out._data)
        return slot

    def on_function(self, rec, cls, args, kwargs):
        self.calls[rec] = (cls, args, kwargs)


class _Recorder:
    """Watches one recording: values read into Python, and values derived from traced ones
    by ops that are not recorded (comparisons, casts of them, detach)."""

    def __init__(self, tape, name, fallback):
        self.tape, self.name, self.fallback = tape, name, fallback
        self.tainted, self.keep = set(), []
        self.violation = None

    def traced(self, t):
        owner = t._tape
        return owner is self.tape or (owner is None and t._rg) or id(t) in self.tainted

    def derived(self, out, *inputs):
        if any(isinstance(t, Tensor) and self.traced(t) for t in inputs):
            self.tainted.add(id(out))
            self.keep.append(out)  # so its id is not reused while recording

    def on_read(self, t, what):
        if self.traced(t):
            self.violate(what)

    def on_const(self, t):
        if id(t) in self.tainted:
            self.violate("a value computed from traced values by an op the tape does not record "
                         "(a comparison, a cast of one)")

    def violate(self, what):
        file, line, func, src = _user_frame()
        where = f"{file}:{line} in {func}" + (f": `{src}`" if src else "")
        if self.fallback == "eager":
            self.violation = self.violation or (what, where)
            return
        raise CompileError(
            f"autotape.compile: {self.name} reads a traced value into Python ({what}) at {where}. "
            "A replay would reuse the value seen while recording, so data-dependent control flow would "
            "silently go wrong. Keep the computation in tensor ops (autotape.where, clamp, ...), move "
            f"the read out of the compiled function, or use autotape.compile({self.name}, "
            "fallback='eager') to run this function eagerly."
        )


def _flatten(obj, out):
    if isinstance(obj, (list, tuple)):
        for v in obj:
            _flatten(v, out)
    elif isinstance(obj, dict):
        for k in sorted(obj, key=repr):
            _flatten(obj[k], out)
    else:
        out.append(obj)
    return out


def _signature(flat):
    """The cache key of a call (grad mode is not part of it: calls under no_grad run eagerly)."""
    parts = [dtypes.get_default_dtype().name]
    for a in flat:
        if isinstance(a, Tensor):
            d = a._data
            if d.dtype.kind == "f":
                parts.append((d.shape, d.dtype.str, a._rg, a._tape is None))
            else:  # integer and boolean tensors are constants of the tape: their values count
                parts.append((d.shape, d.dtype.str, d.tobytes()))
        elif a is None or isinstance(a, (bool, int, float, str, complex)):
            parts.append((type(a), a))
        else:
            parts.append(("id", id(a)))
    return tuple(parts)


class _Eager:
    """A cache entry for a signature that runs eagerly."""

    def __init__(self, reason):
        self.reason = reason


class _Plan:
    """One recorded tape, ready to replay: the interpreter strategy."""

    def __init__(self, tape, flat, outputs, structure, traced_args):
        self.tape = tape
        n_rec = tape.n_records
        self.n_rec = n_rec
        R, S = tape.R, tape.S
        self.tables_at = (R.buffer_info()[0], tape.F.buffer_info()[0], S.buffer_info()[0], tape.SH.buffer_info()[0])
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
            base = r * R_WIDTH
            if R[base] == PYTHON.code:
                _, ins, outs = tape.python[r]
                need = any(s >= 0 and needs[s] for s in ins)
                for s in outs:
                    needs[s] = needs[s] or need
            else:
                need = any(s >= 0 and needs[s] for s in (R[base + 2], R[base + 3], R[base + 4]))
                out = R[base + 1]
                needs[out] = needs[out] or need
        for s in range(tape.n_slots):
            S[s * S_WIDTH + 4] = needs[s]
        self.needs = needs
        self.arg_slots = [(k, s) for k, s in arg_slot.items()]
        self.rg_args = [k for k, s in self.arg_slots if flat[k]._rg]
        self.arg_arrays = {}
        # captured tensors are read where they live: replay is right while their buffers stay
        args = {id(a) for a in flat}
        self.guards = [(t, t._data) for _, t in tape.leaves if id(t) not in args]
        self.guards += [(t, d) for t, d in tape.consts if id(t) not in args]
        self.outputs, self.structure = outputs, structure  # (slot, shape) per output tensor
        self.compile_s = 0.0
        self.fuse_reason = None  # why the fused strategy was not taken (see fuse.py)
        self.goff, self.ginit, size = prepare(self.tables_at[2], tape.n_slots)
        self.G = np.empty(max(size, 1))
        tape.state = np.zeros(n_rec, np.uint8)
        tape.forget_versions()  # a replay rewrites saved values by design
        self.pause = np.zeros(n_rec, np.uint8)
        self.leaf_info = None
        self.forward_entry = self.replay_entry = self.deliver_entry = None
        self.latest = ()
        self.consumed = False
        tape.compiled_backward = self.backward

    def precompile(self):
        """Compile every forward and VJP the tape needs now: replay then never stops for it."""
        t0 = time.perf_counter()
        fwds, vjps = cpu_forward.table(), tables()[0]
        for code in set(self.tape.R[0::R_WIDTH]):
            if fwds[code] == 0:
                cpu_forward.ensure_compiled(code)
            if vjps[code] == 0:
                ensure_vjp(code)
        self.compile_s = time.perf_counter() - t0

    # -- forward -------------------------------------------------------------------------------
    def slot_array(self, s):
        a = self.arg_arrays.get(s)
        if a is None:
            a = self.tape.arrays[self.tape.S[s * S_WIDTH]]
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
        """Check the guards and point the tape at this call's arguments; False when a guard fails."""
        for t, d in self.guards:
            if t._data is not d:
                return False
        if not self.arg_slots:
            return True
        tape = self.tape
        S = tape.S
        for k, s in self.arg_slots:
            d = flat[k]._data
            if not d.flags.c_contiguous:
                d = np.ascontiguousarray(d)
            self.arg_arrays[s] = d
            S[s * S_WIDTH] = _address(d)
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
        forward = self.forward_entry
        clock = None
        if prof is not None:
            forward = cpu_forward.forward  # the clock's type differs
            clock = np.zeros((2, self.n_rec + 1), np.int64)
            c_ref, t_ref = cycles(), time.perf_counter_ns()
        elif forward is None:
            forward = self.forward_entry = _entry(cpu_forward.forward, 0, self.n_rec, *self.tables_at, fwds, None)
        r = 0
        while True:
            res = forward(r, self.n_rec, *self.tables_at, fwds, clock)
            if res < 0:
                break
            if tape.R[res * R_WIDTH] == PYTHON.code:
                self.run_function(res)
                r = res + 1
            else:
                cpu_forward.ensure_compiled(tape.R[res * R_WIDTH])
                r = res
        if prof is not None:
            prof.add_replay(tape, clock, c_ref, t_ref, 0, cat="forward")

    def run_function(self, rec):
        """A custom Function's record: run its forward in Python on the slots' current values."""
        tape = self.tape
        cls, args, kwargs = tape.calls[rec]
        old, in_slots, out_slots = tape.python[rec]
        new_args = []
        for a, s in zip(args, in_slots):
            if s >= 0:
                shape = tape.shape_of(tape.slot_field(s, 3))
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
        if self.needs_engine():
            return False
        tape = self.tape
        G, goff, ginit = self.G, self.goff, self.ginit
        slot = t._slot
        o = goff[slot]
        if grad_tensors is None and t._data.size == 1:  # the usual scalar loss
            G[o] = 1.0
        else:
            (_, g), = _seeds([t], grad_tensors)
            G[o: o + g.size] = g.reshape(-1)
        ginit[:] = 0
        ginit[slot] = 1
        vjps, saves = tables()
        r = int(tape.S[slot * S_WIDTH + 5])
        args = (*self.tables_at, G, goff, ginit, tape.state, self.pause, saves, vjps, None)
        if self.replay_entry is None:
            self.replay_entry = _entry(replay, r, -1, True, *args)
        while True:
            res = self.replay_entry(r, -1, True, *args)
            if res == -1:
                break
            if res <= -2:
                raise RuntimeError(f"compiled replay failed at record {-2 - res}")
            ensure_vjp(tape.R[res * R_WIDTH])
            r = res
        self.deliver()
        if not retain_graph:
            self.consumed = True
        return True

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
            gt = p.grad
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
            self.deliver_entry = _entry(cpu_forward.deliver, *args)
        self.deliver_entry(*args)
        for k, p, buf in fresh:
            if reached[k]:
                p.grad = known[k] = _wrap(buf)
        for k, p in enumerate(leaves):
            if modes[k] == -1 and self.ginit[slots[k]]:
                o = self.goff[slots[k]]
                g = self.G[o: o + sizes[k]].reshape(p._data.shape).astype(p._data.dtype)
                p.grad = _wrap(p.grad._data + g)


def _rebuild(structure, outs):
    kind, parts = structure
    if kind == "tensor":
        return next(outs)
    if kind == "value":
        return parts
    seq_type, items = parts
    return seq_type(_rebuild(s, outs) for s in items)


def _structure(result, tape, tensors):
    """The shape of the function's result with its tensors taken out (in order), or None when
    some output tensor is not on the tape."""
    if isinstance(result, Tensor):
        if result._tape is not tape:
            return None
        tensors.append(result)
        return ("tensor", None)
    if isinstance(result, (list, tuple)) and type(result) in (list, tuple):
        parts = [_structure(v, tape, tensors) for v in result]
        if any(p is None for p in parts):
            return None
        return ("seq", (type(result), parts))
    return ("value", result)


_warned = set()


class CompiledFunction:
    """``fn`` recorded once per argument signature and replayed by compiled code."""

    def __init__(self, fn, fallback="error", cache_size=8):
        if fallback not in ("error", "eager"):
            raise ValueError(f"fallback must be 'error' or 'eager', got {fallback!r}")
        self.fn, self.fallback, self.cache_size = fn, fallback, cache_size
        self.cache = collections.OrderedDict()
        self.records = 0  # how many times the function was recorded
        self.record_s = self.compile_s = 0.0  # of the latest recording
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        if _trace.recorder is not None or not is_grad_enabled():
            return self.fn(*args, **kwargs)  # inside another recording, or nothing to record
        if args or kwargs:
            flat = _flatten((args, kwargs), [])
            key = _signature(flat)
        else:  # the training loop's call: its key is the default dtype alone
            flat, key = (), (dtypes.get_default_dtype().name,)
        entry = self.cache.get(key)
        if entry is not None:
            if isinstance(entry, _Eager):
                return self.fn(*args, **kwargs)
            out = entry.run(flat)
            if out is not None:
                if len(self.cache) > 1:
                    self.cache.move_to_end(key)
                return out
            del self.cache[key]  # a captured leaf's .data was replaced: record again
        return self._record(key, flat, args, kwargs)

    def _record(self, key, flat, args, kwargs):
        t0 = time.perf_counter()
        tape = _RecordingTape()
        name = getattr(self.fn, "__name__", "fn")
        recorder = _Recorder(tape, name, self.fallback)
        traced = [(k, a) for k, a in enumerate(flat)
                  if isinstance(a, Tensor) and a._data.dtype.kind == "f" and a._tape is None]
        tape.args = [a._data for _, a in traced]
        temp = [a for _, a in traced if not a._rg]
        for a in temp:  # a traced argument is a leaf of the tape, so every op on it is recorded
            a._rg, a._lserial = True, -1
        before = tape_mod._local.tape
        tape_mod._local.tape = weakref.ref(tape)
        _trace.recorder = recorder
        try:
            result = self.fn(*args, **kwargs)
        finally:
            _trace.recorder = None
            tape_mod._local.tape = before
            for a in temp:
                a._rg = False
        self.records += 1
        tensors = []
        structure = _structure(result, tape, tensors)
        reason = None
        if recorder.violation is not None:
            reason = f"it reads a traced value into Python ({recorder.violation[0]}) at {recorder.violation[1]}"
        elif tape.links or any(isinstance(a, Tensor) and a._tape is not None for a in flat):
            reason = "it uses a tensor that requires grad computed before the call (not a leaf)"
        elif structure is None:
            reason = "an output is not recorded on the tape (computed under no_grad, or by an op without gradient)"
        elif tape.n_records == 0:
            reason = "it records no ops"
        else:
            missing = sorted({OPS[c].name for c in set(tape.R[0::R_WIDTH]) if not cpu_forward.has_forward(OPS[c])})
            if missing:
                reason = f"ops without a compiled forward: {', '.join(missing)}"
        if reason is not None:
            self._store(key, _Eager(reason))
            if self.fallback != "eager" or recorder.violation is None:
                if (name, reason) not in _warned:
                    _warned.add((name, reason))
                    warnings.warn(f"autotape.compile: running {name} eagerly: {reason}", RuntimeWarning, stacklevel=3)
            self.record_s, self.compile_s = time.perf_counter() - t0, 0.0
            return result
        for t in tensors:  # the caller's outputs get their own memory: the tape's is rewritten by replays
            t._data = t._data.copy()
        outputs = [(t._slot, t._data.shape) for t in tensors]
        plan = _Plan(tape, flat, outputs, structure, traced)
        plan.latest = tuple(tensors)
        from .fuse import fuse  # here: fuse.py builds on this module

        fused = fuse(plan)
        if fused is None:
            plan.precompile()
        else:
            plan = fused
        self._store(key, plan)
        self.compile_s = plan.compile_s
        self.record_s = time.perf_counter() - t0 - plan.compile_s
        return result

    def _store(self, key, entry):
        self.cache[key] = entry
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)

    def explain(self):
        """One line per cached signature: how it runs, and the tape behind it."""
        lines = [f"autotape.compile({getattr(self.fn, '__name__', 'fn')}): {self.records} recording(s); latest record "
                 f"{self.record_s * 1e3:.1f} ms, compile {self.compile_s * 1e3:.1f} ms"]
        for key, entry in self.cache.items():
            if isinstance(entry, _Eager):
                lines.append(f"  eager: {entry.reason}")
            elif not isinstance(entry, _Plan):
                lines.append("  " + entry.explain())
            else:
                ops = collections.Counter(OPS[c].name for c in entry.tape.R[0::R_WIDTH])
                top = ", ".join(f"{n} x{c}" for n, c in ops.most_common(6))
                lines.append(f"  interpreter over {entry.n_rec} records, {entry.tape.n_slots} slots ({top}); "
                             f"not fused: {entry.fuse_reason}")
        return "\n".join(lines)

    def show_source(self, file=None):
        """Print the code the replay of the latest recorded tape runs: the generated fused
        function, or (interpreter) the generated elementwise loops and the other ops' kernels."""
        plans = [e for e in self.cache.values() if not isinstance(e, _Eager)]
        if not plans:
            print("(nothing recorded yet, or running eagerly)", file=file)
            return
        if not isinstance(plans[-1], _Plan):
            print(plans[-1].fusion.source, file=file)
            return
        codes = sorted(set(plans[-1].tape.R[0::R_WIDTH]))
        for code in codes:
            spec = OPS[code]
            if spec.kind in cpu_forward._INPUTS:
                print(cpu_forward._elementwise(spec), file=file)
            elif spec.name in cpu_forward.KERNELS:
                print(f"\n# {spec.name}\n" + inspect.getsource(getattr(cpu_forward, cpu_forward.KERNELS[spec.name])),
                      file=file)
            else:
                print(f"\n# {spec.name}: runs in Python (custom Function)", file=file)


def compile(fn=None, *, fallback="error", cache_size=8):
    """Record ``fn`` once and replay it (forward and backward) in compiled code on later calls.

    Use as ``step = autotape.compile(fn)``, ``@autotape.compile`` or
    ``@autotape.compile(fallback="eager")``. ``fallback="eager"`` runs a function that reads
    traced values into Python (data-dependent control flow) eagerly instead of raising.
    ``cache_size`` bounds the number of argument signatures kept."""
    if fn is None:
        return lambda f: CompiledFunction(f, fallback, cache_size)
    return CompiledFunction(fn, fallback, cache_size)
