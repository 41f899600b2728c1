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
computed from them alone (NumPy ran those ops once, while recording). When such a captured
tensor is changed in place (or given new ``.data``), the next call records again, so a replay
never reuses stale constants; data that changes every call is better passed as an argument,
which is traced. Code under ``no_grad`` inside the function is not recorded either.

Guards. A call whose arguments differ in shape, dtype, requires_grad (or, for integer tensors
and Python values, in value) records again, into a small cache keyed by that signature; so
does a call after a captured leaf's ``.data`` was replaced, or after a name the function reads
was rebound to another tensor, Module or function (``captures.py``: its globals and closure
cells, followed through the helper functions and Modules they hold; not items of containers). Reading a traced value into Python
while recording (``item()``, ``bool()``, ``float()``, ``tolist()``, ``numpy()``, a comparison's
result used in ``if``/``where``/indexing) raises, naming the line, since a replay would silently
reuse the recorded value; so do drawing random numbers and changing a tensor from outside the
function in place (a replay would not repeat the change). ``compile(fn, fallback="eager")`` runs
such functions eagerly instead.
A function whose tape holds an op without a forward kernel, or whose outputs were not recorded,
runs eagerly with a one-time warning rather than giving a wrong answer.

Strategy, chosen per tape when it is recorded. A tape of elementwise ops ending in full
reductions (the polynomial fit) is *fused*: ``fuse.py`` generates one Numba function that makes
a single pass over the data, computing the loss and its gradient together. Any other tape gets
the *interpreter* (``interpret.py``): a compiled loop over the records, forward and reverse, whose
compile cost is per op kind, not per record, so it suits long tapes of tiny ops (the West
graph). ``explain()`` says which was taken and why; ``show_source()`` prints the code.
"""
import collections
import functools
import inspect
import linecache
import os
import sys
import threading
import time
import warnings
import weakref

import numpy as np

from . import captures, dtypes
from . import tape as tape_mod
from .grad_mode import _state as _grad_state
from .ops import OPS
from .replay import cpu_forward
from .tape import R_WIDTH, Tape
from .tensor import Tensor, _recordings, _trace
from .interpret import Plan

_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep
_recordings_lock = threading.Lock()


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
        self.sources = []  # (tensor, data, version, requires_grad) the constants came from (see _Recorder)
        self.compiled_backward = None  # set by the plan: ``loss.backward()`` comes there
        self.check_latest = None  # set by the plan: refuses outputs of an earlier call
        self.args = ()  # the traced arguments' arrays
        self.derivations = {}  # slot -> Derivation of the constants there elementwise ops computed

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
        if self.slot_addr(slot) == 0:
            self.set_addr(slot, self._value_address(out._data))
        return slot

    def on_function(self, rec, cls, args, kwargs):
        self.calls[rec] = (cls, args, kwargs)


MAX_DERIVED = 32  # tensors in the derivations of a tape's constants (the fused code grows with them)
# how an elementwise op computed a constant: ``value`` = spec(inputs, a, b), each input a Derivation
# or a captured tensor
Derivation = collections.namedtuple("Derivation", "spec a b value inputs")


class _Recorder:
    """Watches one recording: values read into Python, and values derived from traced ones
    by ops that are not recorded (comparisons, casts of them, detach).

    It also notes what the replay takes as constant: a captured tensor that does not require
    grad, and every value computed from such tensors alone, which NumPy computed once while
    recording (``x ** 2`` of a captured ``x``). ``sources`` holds the captured tensors those
    constants came from, with their data and version then: when one of them has changed in
    place (or got new ``.data``, or now requires grad), a call records again instead of reusing
    stale constants."""

    def __init__(self, tape, name, fallback):
        self.tape, self.name, self.fallback = tape, name, fallback
        self.tainted, self.keep = set(), []
        self.roots = {}  # id(value computed while recording from constants) -> the tensors it came from
        self.own = set()  # ids of tensors factories made while recording
        self.sources = {}  # id -> (captured tensor, its data, version, requires_grad) for every constant used
        # id(constant) -> ((spec, a, b) of the elementwise op that made it, its inputs, (data, version) of
        # the constant and of each input then): the fused replay may recompute it (see ``derivation``)
        self.ops = {}
        self.violation = None

    def traced(self, t):
        owner = t._tape
        return owner is self.tape or (owner is None and t._rg) or id(t) in self.tainted

    def derived(self, out, *inputs, op=None):
        """``out`` was computed from ``inputs`` by an op the tape does not record; ``op``: (spec, a, b)
        of the elementwise op (its inputs are tensors), where the call site knows it."""
        if any(isinstance(t, Tensor) and self.traced(t) for t in inputs):
            self.tainted.add(id(out))
        else:
            roots = {}
            for t in inputs:
                if isinstance(t, Tensor):
                    for r in self.roots.get(id(t), (t,)):
                        roots[id(r)] = r
            self.roots[id(out)] = tuple(roots.values())
            if op is not None:
                self.ops[id(out)] = (op, inputs, [(t._data, t._vc[0]) for t in (out,) + inputs])
        self.keep.append(out)  # so its id is not reused while recording

    def derivation(self, t, sources, seen):
        """How the constant ``t`` was computed by elementwise ops from captured tensors the guards
        check (``sources``: id -> entry of ``tape.sources``): ``t`` itself when it is one, else a
        ``Derivation``. None when a step is not known, when ``t`` or a tensor it came from was
        changed in place since the step (recomputing from today's values would give other numbers),
        or once ``seen`` (the tensors of the derivations so far, by id) holds ``MAX_DERIVED``."""
        if id(t) in seen:
            return seen[id(t)]
        entry = self.ops.get(id(t))
        if entry is None:
            s = sources.get(id(t))
            d = t if s is not None and s[1] is t._data and s[2] == t._vc[0] else None
        elif len(seen) >= MAX_DERIVED:
            d = None
        else:
            (spec, a, b), inputs, states = entry
            d = None
            if all(u._data is data and u._vc[0] == v for u, (data, v) in zip((t,) + inputs, states)):
                parts = [self.derivation(u, sources, seen) for u in inputs]
                if all(p is not None for p in parts):
                    d = Derivation(spec, a, b, t, parts)
        seen[id(t)] = d
        return d

    def baked(self, t):
        """The replay uses ``t``'s current values as a constant."""
        for r in self.roots.get(id(t), (t,)):
            if id(r) not in self.sources:
                self.sources[id(r)] = (r, r._data, r._vc[0], r._rg)

    def on_read(self, t, what):
        if self.traced(t):
            self.violate(f"reads a traced value into Python ({what})")
        else:  # a constant read into Python (an index, a where() condition): baked into the tape
            self.baked(t)

    def made(self, t):
        """``t`` was made while recording (a factory's tensor): writing into it is the function's own business."""
        self.own.add(id(t))
        self.keep.append(t)

    def on_write(self, t):
        if t._tape is self.tape or id(t) in self.roots or id(t) in self.tainted or id(t) in self.own:
            return  # a tensor of the function's own
        self.violate("changes a tensor from outside the function in place",
                     "A replay would not repeat the change. Return the new value instead, or make the change "
                     "outside the compiled function")

    def on_const(self, t):
        if id(t) in self.tainted:
            self.violate("reads a traced value into Python (a value computed from traced values by an op the "
                         "tape does not record: a comparison, a cast of one)")
        self.baked(t)

    def violate(self, what, advice=None):
        """The function does ``what`` (a phrase: "reads a traced value into Python (item())"),
        which a replay cannot repeat: raise, naming the line, or note it for ``fallback='eager'``."""
        file, line, func, src = _user_frame()
        where = f"{file}:{line} in {func}" + (f": `{src}`" if src else "")
        if self.fallback == "eager":
            self.violation = self.violation or (what, where)
            return
        advice = advice or ("A replay would reuse the value seen while recording, so data-dependent control flow "
                            "would silently go wrong. Keep the computation in tensor ops (autotape.where, clamp, ...) "
                            "or move the read out of the compiled function")
        raise CompileError(f"autotape.compile: {self.name} {what} at {where}. {advice}, or use "
                           f"autotape.compile({self.name}, fallback='eager') to run this function eagerly.")


def _derivations(tape, recorder):
    """slot -> Derivation of every constant on ``tape`` computed by elementwise ops from captured
    tensors that are still as they were (see ``_Recorder.derivation``)."""
    sources, seen, out = {id(s[0]): s for s in tape.sources}, {}, {}
    for t, _ in tape.consts:
        if t._lserial == tape.serial and id(t) in recorder.ops:
            d = recorder.derivation(t, sources, seen)
            if d is not None:
                out[t._slot] = d
    return out


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
        self.names_hold = None  # captures.guard of the latest recording (None: it reads no names)
        self.rebinds = 0  # recordings made because such a name was rebound
        self.record_s = self.compile_s = 0.0  # of the latest recording
        # the usual call (no arguments) of the entry that ran last, when it was such a call, as one
        # generated function: every guard of the path below, then the replay (see FusedPlan.quick)
        self.quick = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        if _recordings[0] and _trace.recorder is not None or not _grad_state.enabled:
            return self.fn(*args, **kwargs)  # inside another recording, or nothing to record
        quick = self.quick
        if quick is not None and not (args or kwargs):
            try:
                out = quick()
            except captures.GUARD_ERRORS:  # a name it reads holds nothing now: the path below says so
                out = None
            if out is not None:
                return out
        self.quick = None  # (set again below: the entry that runs is the cache's latest then)
        if args or kwargs:
            flat = _flatten((args, kwargs), [])
            key = _signature(flat)
        else:  # the training loop's call: its key is the default dtype alone
            flat, key = (), (dtypes._default[0].name,)
        entry = self.cache.get(key)
        if isinstance(entry, _Eager):
            return self.fn(*args, **kwargs)
        if not self._names_held():  # (a new signature too: the entries of the others are stale)
            self._rebound()
        elif entry is not None:
            out = entry.run(flat)
            if out is not None:
                if len(self.cache) > 1:
                    self.cache.move_to_end(key)
                if not flat:
                    self.quick = getattr(entry, "quick_call", None)
                return out
            del self.cache[key]  # a captured leaf's .data was replaced: record again
        return self._record(key, flat, args, kwargs)

    def _names_held(self):
        """Whether every name the function reads holds what it held at the latest recording."""
        holds = self.names_hold
        try:
            return holds is None or holds()
        except captures.GUARD_ERRORS:  # a closure cell it reads was emptied, a global deleted
            return False

    def _rebound(self):
        """A name the function reads holds another object now: every cached entry is stale. Done
        every few calls, that is data that belongs in the arguments: say so, once."""
        self.cache.clear()
        self.rebinds += 1
        if self.rebinds == 3:
            name = getattr(self.fn, "__name__", "fn")
            warnings.warn(
                f"autotape.compile: {name} recorded again {self.rebinds} times because a name it reads was rebound "
                f"({', '.join(self.names_hold.rebound())}); pass tensors that change between calls as arguments "
                "(they are traced, not recorded again)", RuntimeWarning, stacklevel=3)

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
        with _recordings_lock:
            _recordings[0] += 1
        _trace.recorder = recorder
        try:
            result = self.fn(*args, **kwargs)
        finally:
            _trace.recorder = None
            with _recordings_lock:
                _recordings[0] -= 1
            tape_mod._local.tape = before
            for a in temp:
                a._rg = False
        self.records += 1
        self.names_hold = captures.guard(self.fn)  # (after the call: the objects its names hold now)
        tensors = []
        structure = _structure(result, tape, tensors)
        reason = None
        if any(isinstance(t, Tensor) and t.is_cuda for t in _flatten(result, [])):
            from .cuda.fuse import fuse_cuda  # one fused kernel, or eager with the reason why not

            plan, why = fuse_cuda(result, flat, recorder) if recorder.violation is None else \
                (None, f"it {recorder.violation[0]} at {recorder.violation[1]}")
            if plan is not None:
                self._store(key, plan)
                self.record_s, self.compile_s = time.perf_counter() - t0 - plan.compile_s, plan.compile_s
                return result
            reason = f"it computes on CUDA tensors and {why}, so it runs eagerly"
        elif recorder.violation is not None:
            reason = f"it {recorder.violation[0]} at {recorder.violation[1]}"
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
        args = {id(a) for a in flat}
        tape.sources = [s for s in recorder.sources.values() if id(s[0]) not in args]
        tape.derivations = _derivations(tape, recorder)
        plan = Plan(tape, flat, outputs, structure, traced)
        for t in tensors:  # computed only from arguments that do not require grad: as eager, no history
            if not plan.needs[t._slot]:
                t._tape, t._rg = None, False
        plan.latest = tuple(tensors)
        from .fuse import fuse  # here: fuse.py builds on this module

        fused = fuse(plan)
        if fused is None:
            plan.precompile()
        else:
            plan = fused
            if not flat:  # the key is the default dtype alone; the names guard, where it reads names
                holds, env = self.names_hold, {"DEFAULT": dtypes._default, "DTYPE": dtypes._default[0]}
                cond, cells = "DEFAULT[0] is DTYPE", {}
                if holds is not None:
                    env.update(holds.env)
                    cond, cells = f"{cond} and {holds.source}", holds.cells
                plan.quick_call = plan.quick(cond, env, cells)
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
            elif not isinstance(entry, Plan):
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
        if not isinstance(plans[-1], Plan):
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
