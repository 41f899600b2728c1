"""Backward: seed the gradient arena, run the compiled replay over a tape, deliver gradients.

The compiled replay runs until it finishes or meets a record that needs Python (a custom
Function, a tensor hook); we handle that record here and resume it. A graph that spans tapes
(a tensor made before an earlier backward, used after it) continues on the older tape.
"""
import threading
import time

import numpy as np

from .. import dtypes, profiler
from . import anomaly
from .. import tape as tape_mod
from ..grad_mode import no_grad
from ..tape import SHAPE_MASK, _address
from ..tensor import Tensor, _wrap
from ..cuda.array import CudaArray
from ..ops import OPS, PYTHON
from ..replay.cpu import ensure_compiled, prepare_seed_at, replay, replay_at, seed_replay_at, tables
from ..replay.cpu import tables_at as tables_at_
from ..replay.cpu_kernels import all_saved_freed, cycles, entry_point

_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second "
    "time or if you need to access saved tensors after calling backward."
)


_ONE = np.ones(())


_workspaces = threading.local()


class _Workspace:
    """The gradient arena and the per-slot offsets and written flags, reused from one backward
    to the next on this thread: fresh ones the size of a large model's gradients cost their
    page faults (and small ones their allocation) on every step. Nothing keeps a view of them
    after a backward (gradients are copied out), and every slot is written before it is read,
    so the arena needs no zeroing. A backward run from inside another (a hook's) gets its own.
    ``no_pause`` is all zeros: replay stops at no record unless hooks or anomaly mode ask.
    ``at`` holds the addresses of G, goff, ginit, no_pause and live, for ``replay_at``."""

    __slots__ = ("G", "goff", "ginit", "no_pause", "live", "at")

    def __init__(self):
        self.G = np.empty(1024)
        self.live = np.zeros(1, np.int64)  # the replay's count of passed-over records that saved values
        self.goff, self.ginit, self.no_pause = np.empty(0, np.int64), np.empty(0, np.uint8), np.zeros(0, np.uint8)
        self._address()

    def _address(self):
        self.at = tuple(_address(a) for a in (self.G, self.goff, self.ginit, self.no_pause, self.live))

    def fit(self, n_slots, n_rec):
        if len(self.goff) < n_slots or len(self.no_pause) < n_rec:
            if len(self.goff) < n_slots:
                n = max(2 * n_slots, 64)
                self.goff, self.ginit = np.empty(n, np.int64), np.empty(n, np.uint8)
            if len(self.no_pause) < n_rec:
                self.no_pause = np.zeros(max(2 * n_rec, 64), np.uint8)
            self._address()

    def arena(self, size):
        if self.G.size < size:
            self.G = np.empty(size)
            self._address()
        return self.G


def _take_workspace():
    ws = getattr(_workspaces, "free", None)
    _workspaces.free = None
    return _Workspace() if ws is None else ws


def _release(ws):
    _workspaces.free = ws


def _check_create_graph(create_graph):
    if create_graph:
        raise NotImplementedError(
            "create_graph=True (higher-order derivatives) is not supported by autotape yet; "
            "compute first derivatives only, or use finite differences for the second"
        )


def _seeds(tensors, grad_tensors):
    """(tensor, float64 gradient array) per output, checked as PyTorch checks them."""
    if grad_tensors is None and type(tensors) is list and len(tensors) == 1:  # loss.backward()
        t = tensors[0]
        if t._rg and t._data.ndim == 0 and type(t._data) is not CudaArray:
            return [(t, _ONE)]
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    elif isinstance(grad_tensors, Tensor) or not isinstance(grad_tensors, (list, tuple)):
        grad_tensors = [grad_tensors]
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"got {len(grad_tensors)} gradients for {len(tensors)} tensors; pass one per output")
    seeds = []
    for k, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not t._rg:
            raise RuntimeError(
                f"element {k} of tensors does not require grad and does not have a grad_fn; "
                "set requires_grad=True on the inputs you want gradients for"
            )
        if type(t._data) is CudaArray:  # a device array in the output's dtype
            from ..cuda.backward import device_grad

            seeds.append((t, device_grad(t, g, k)))
            continue
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (this output has shape "
                    f"{list(t._data.shape)}); pass gradient=... of that shape to backward()"
                )
            g = _ONE if t._data.ndim == 0 else np.ones(t._data.shape)
        else:
            if not isinstance(g, Tensor):
                raise TypeError(f"gradient {k} must be a Tensor of the output's shape (or None), not "
                                f"{type(g).__name__}: pass autotape.tensor(...) of shape {list(t._data.shape)}")
            if type(g._data) is CudaArray:
                raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                                   f"cpu and cuda:0! (gradient {k} of backward: pass it on the output's device)")
            g = np.asarray(g._data, dtype=np.float64)
            if g.shape != t._data.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{k}] has a shape of {list(g.shape)} and output[{k}] "
                    f"has a shape of {list(t._data.shape)}. Pass a gradient of the output's shape."
                )
        seeds.append((t, g))
    return seeds


def _check_hook_result(hook, new, shape, dtype):
    if not isinstance(new, Tensor):
        raise TypeError(f"hook '{getattr(hook, '__name__', hook)}' returned a {type(new).__name__}; "
                        "a hook returns a Tensor (the new gradient) or None")
    if new._data.dtype != dtype:
        raise RuntimeError(
            f"hook '{getattr(hook, '__name__', hook)}' has changed the type of value: it returned {new.dtype} for a "
            f"gradient of dtype {dtypes.from_numpy_dtype(dtype)}; return the gradient in its own dtype"
        )
    if tuple(new._data.shape) != tuple(shape):
        raise RuntimeError(
            f"hook '{getattr(hook, '__name__', hook)}' has changed the size of value: it returned shape "
            f"{list(new._data.shape)} for a gradient of shape {list(shape)}"
        )


def _serial(tape):
    return tape.serial


def _copy_grad(g):
    if type(g) is CudaArray:
        from ..cuda.kernels import cast

        return cast(g, g.dtype)
    return np.array(g, np.float64)  # (a view of the reused arena, often)


def _add_grads(a, b):
    """``a + b``, two gradients of one tensor (``a`` is ours to change)."""
    if type(a) is CudaArray:
        from ..cuda.kernels import elementwise

        elementwise("x", a, [("x", b.reshape(a.shape))], acc=True)
        return a
    a += b.reshape(a.shape)
    return a


def _on_device_of(t, g):
    """Gradient ``g`` as ``t``'s device holds gradients: a float64 NumPy array for a CPU tensor,
    a device array in t's dtype for a CUDA tensor (``g`` crossed a copy between devices)."""
    on_cuda = type(t._data) is CudaArray
    if (type(g) is CudaArray) == on_cuda:
        return g
    if on_cuda:
        from ..cuda.array import to_device

        return to_device(np.ascontiguousarray(g, t._data.dtype).reshape(t._data.shape))
    return np.asarray(g.host(), np.float64)


_entries = {}


def _fast(dispatcher, *args):
    """Call ``dispatcher`` through its compiled entry point for the engine's argument types
    (fixed: addresses, counts and arrays it allocates itself), skipping the per-argument type
    resolution of a dispatcher call (~1 us for the replay's 15 arguments)."""
    entry = _entries.get(dispatcher)
    if entry is None:
        entry = _entries[dispatcher] = entry_point(dispatcher, *args)
    return entry(*args)


class _Run:
    """One backward over the tapes the outputs reach; ``capture`` maps (tape serial, slot) to
    the input it stands for, when gradients are returned rather than accumulated."""

    def __init__(self, retain, capture=None):
        self.retain, self.capture, self.captured = retain, capture, {}
        self.pending = {}
        self.held = {}  # id -> (leaf, gradient so far) of leaves with hooks, delivered after every tape

    def seed(self, t, g):
        """Gradient ``g`` for output ``t``."""
        self.link(t._tape, t._slot, t, g)

    def link(self, owner, slot, t, g):
        """Gradient ``g`` for ``t`` as it was when a record of another tape (of either device)
        read it: slot ``slot`` of tape ``owner`` then (an in-place op since has moved ``t``), or
        a leaf (``owner`` None)."""
        if owner is None:
            self.deliver_leaf(t, g)
            return
        g = _on_device_of(t, g)
        check = getattr(owner, "check_latest", None)  # a compiled tape holds its latest call's values
        if check is not None:
            check(t)
        self.pending.setdefault(owner, []).append((slot, g))

    def run(self):
        # The newest tape first: its records may feed older tapes. CPU and CUDA tapes share one
        # serial count, and a copy between devices records on a tape newer than its source's
        # (tape.record_device_copy), so this order holds across devices too.
        while self.pending:
            tape = max(self.pending, key=_serial) if len(self.pending) > 1 else next(iter(self.pending))
            replay_in = getattr(tape, "replay_in", None)  # a CUDA tape replays itself (cuda/backward.py)
            if replay_in is None:
                self.replay_tape(tape, self.pending.pop(tape))
            else:
                replay_in(self, self.pending.pop(tape))
        held, self.held = self.held, None
        for t, g in held.values():
            self.deliver_leaf(t, g)

    def deliver_leaf(self, t, g):
        """Leaf ``t``'s gradient ``g`` (float64), through its hooks: into ``.grad``, or returned
        by ``autograd.grad``. A leaf set to ``requires_grad=False`` since the graph was built
        gets none, as in PyTorch."""
        capture = self.capture is not None
        if (id(t) not in self.capture) if capture else not t._rg:
            return
        g = _on_device_of(t, g)
        if t._hooks and self.held is not None:  # its hooks see its whole gradient, from every tape, once
            have = self.held.get(id(t))
            self.held[id(t)] = (t, _copy_grad(g) if have is None else _add_grads(have[1], g))
            return
        if type(g) is CudaArray:  # a CUDA leaf
            from ..cuda.backward import deliver

            deliver(t, g, self.capture, self.captured)
            return
        if g.size != t._data.size:
            raise RuntimeError(
                f"the gradient of a leaf has shape {list(g.shape)} but the leaf now has shape "
                f"{list(t._data.shape)}: its .data was replaced by one of another shape after it was used"
            )
        if t._hooks:
            for hook in t._hooks:
                given = _wrap(g.reshape(t._data.shape).astype(t._data.dtype))
                new = hook(given)
                if new is not None:
                    _check_hook_result(hook, new, t._data.shape, t._data.dtype)
                else:  # (a hook may change its argument in place)
                    new = given
                g = np.asarray(new._data, dtype=np.float64)
        if capture:
            self.captured[id(t)] = self.captured.get(id(t), 0) + g
            return
        g = g.reshape(t._data.shape).astype(t._data.dtype)  # a copy: G is reused
        held = t._grad
        if held is None:
            t._grad = _wrap(g)
            return
        d = held._data
        if d.shape != g.shape or d.dtype != g.dtype:
            raise RuntimeError(
                f"the leaf's .grad has shape {list(d.shape)} and dtype {held.dtype} but its gradient has shape "
                f"{list(g.shape)} and dtype {dtypes.from_numpy_dtype(g.dtype)}: set .grad = None (or a tensor "
                "of the leaf's shape and dtype) before backward"
            )
        if d.flags.writeable:  # accumulated in place, as PyTorch does: a reference to .grad sees it
            np.add(d, g, out=d)
            held._vc[0] += 1
        else:
            t._grad = _wrap(d + g)

    def replay_tape(self, tape, seeds):
        n_rec = tape.n_records
        # The compiled code reads the tape's arrays by address: no NumPy views of them exist,
        # so nothing can pin their buffers (an exception's traceback, say) and stop recording.
        tables_at = (tape.R.buffer_info()[0], tape.S.buffer_info()[0], tape.SH.buffer_info()[0])
        state = tape.state
        if state is None or len(state) < n_rec:
            state = np.zeros(n_rec, np.uint8)
            if tape.state is not None:
                state[: len(tape.state)] = tape.state
            tape.state = state
        if tape.versions and tape_mod._inplace_epoch[0] != tape.epoch:
            for rec in tape.modified_records():
                if state[rec] == 0:
                    state[rec] = 2
        ws = _take_workspace()
        ws.fit(tape.n_slots, n_rec)
        # one seed of one element (``loss.backward()``) is written by the compiled preparation
        seed, value = -1, 0.0
        if len(seeds) == 1 and seeds[0][1].size == 1:
            seed, g = seeds[0]
            value = 1.0 if g is _ONE else g.item()
        hooked = {slot: hooks for slot, hooks in tape.hooks.items() if hooks} if tape.hooks else {}
        # Anomaly mode: stop before every record, and check what it wrote once it has run.
        check = anomaly.is_anomaly_check_nan_enabled()
        pause = ws.no_pause
        if hooked or check:
            pause = np.full(n_rec, 1 if check else 0, np.uint8)  # records where replay hands over to Python
            for slot in hooked:
                pause[tape.producer_of(slot)] = 1
        ws.live[0] = 0
        prof = profiler.current()
        clock = np.zeros((2, n_rec + 1), np.int64) if prof is not None else None
        if prof is not None:
            t_begin, replay_ns = time.perf_counter_ns(), 0
            c_ref, t_ref = cycles(), time.perf_counter_ns()
        state_at = _address(state)
        at = ws.at
        pause_at = at[3] if pause is ws.no_pause else _address(pause)
        if seed >= 0 and clock is None:  # seeded, and the replay's first stretch run, in one compiled call
            res, start = _fast(seed_replay_at, self.retain, *tables_at, at[0], at[1], at[2], state_at, pause_at,
                               *tables_at_(), at[4], tape.n_slots, ws.G.size, seed, value)
            if start < 0:  # the arena is too small: nothing was seeded or replayed
                ws.arena(res)
                at, seed, res = ws.at, -1, None
        else:
            res, start = None, -1
            size = _fast(prepare_seed_at, tables_at[1], tables_at[2], tape.n_slots, at[1], at[2], at[0], ws.G.size,
                         seed, value)
            if size > ws.G.size:
                ws.arena(size)
                at, seed = ws.at, -1
            elif seed >= 0:
                start = tape.S[2 * seed + 1] >> 35  # (tape.producer_of, inlined)
        G, goff, ginit = ws.G, ws.goff, ws.ginit
        if seed < 0:
            for slot, g in seeds:
                o = goff[slot]
                if ginit[slot]:
                    G[o: o + g.size] += g.ravel()
                elif g.size == 1:
                    G[o] = g.flat[0]
                    ginit[slot] = 1
                else:
                    G[o: o + g.size] = g.ravel()
                    ginit[slot] = 1
                start = max(start, tape.producer_of(slot))
        r, skip, done = start, -1, -1
        while True:
            if res is None:  # (the first stretch may have run with the seeding)
                if clock is None:
                    res = _fast(replay_at, r, skip, self.retain, *tables_at, at[0], at[1], at[2], state_at, pause_at,
                                *tables_at_(), at[4])
                else:  # (the profiler's variant)
                    vjps, saves, inline = tables()
                    t0 = time.perf_counter_ns()
                    res = replay(r, skip, self.retain, *tables_at, G, goff, ginit, state, pause, saves, vjps, inline,
                                 ws.live, clock)
                    replay_ns += time.perf_counter_ns() - t0
            if done >= 0:
                if res >= -1:  # (below -1, record ``done`` itself failed before running)
                    anomaly.check_record(tape, done, G, goff, ginit)
                done = -1
            if res == -1:
                break
            if res <= -2:
                _release(ws)
                self.fail(tape, -2 - res, state)
            op = tape.op_of(res)
            t0 = time.perf_counter_ns()
            if op == PYTHON.code:
                with no_grad():  # Python code run by backward records nothing
                    self.python_record(tape, res, G, goff, ginit, state)
                if check:
                    anomaly.check_record(tape, res, G, goff, ginit)
                r, skip = res - 1, -1
                if prof is not None:
                    name = type(tape.python[res][0])._backward_cls.__name__
                    prof.add(name, "python", t0, time.perf_counter_ns() - t0)
            elif tables()[0][op] == 0:  # first use of this op: compile its VJP, then go on
                ensure_compiled(op)
                r = res
                if prof is not None:
                    prof.add(f"compile {OPS[op].name}", "compile", t0, time.perf_counter_ns() - t0)
            else:
                out = tape.out_of(res)
                with no_grad():
                    self.run_hooks(hooked.pop(out, ()), out, G, goff, tape)
                r, skip = res, res
                if check:
                    done = res
            res = None
        still_saved = ws.live[0]
        self.deliver(tape, G, goff, ginit)
        _release(ws)
        if prof is not None:
            engine_ns = time.perf_counter_ns() - t_begin - replay_ns
            prof.add_replay(tape, clock, c_ref, t_ref, replay_ns)
            prof.add("autograd engine", "engine", t_begin, engine_ns)
        if not self.retain:
            tape_mod.retire(tape)
            # nothing left reads saved values: every record was replayed or freed before
            if still_saved == 0 if start == n_rec - 1 else all_saved_freed(tables_at[0], n_rec, state, tables()[1]):
                tape.release_saved()

    def fail(self, tape, rec, state):
        if state[rec] == 2:
            spec = OPS[tape.op_of(rec)]
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: it was saved by {spec.grad_fn} and changed afterwards (version counter)."
                + (anomaly.describe_origin(tape, rec) or " Hint: enable anomaly detection with "
                   "autotape.autograd.set_detect_anomaly(True) to find the op that saved it.")
                + " Make the change out of place (x = x + 1, not x += 1) or clone() the tensor first."
            )
        raise RuntimeError(_SECOND_BACKWARD + anomaly.describe_origin(tape, rec))

    def grad_of(self, tape, G, goff, slot):
        o = goff[slot]
        return G[o: o + tape.slot_size(slot)]

    def run_hooks(self, hooks, slot, G, goff, tape):
        """A non-leaf's hooks see its gradient in its own dtype (the arena holds float64)."""
        shape = tape.slot_shape(slot)
        dtype = np.dtype(np.float32 if tape.slot_dtype(slot) == 0 else np.float64)
        for hook in list(hooks):
            g = self.grad_of(tape, G, goff, slot)
            given = _wrap(g.reshape(shape).astype(dtype))
            new = hook(given)
            if new is not None:
                _check_hook_result(hook, new, shape, dtype)
            else:  # (a hook may change its argument in place)
                new = given
            g[:] = np.asarray(new._data, dtype=np.float64).reshape(-1)

    def deliver(self, tape, G, goff, ginit):
        plain = self.capture is None
        S, SH = tape.S, tape.SH
        for slot, t in tape.leaves:
            if ginit[slot]:
                o = goff.item(slot)
                data = t._data
                n = SH[S[2 * slot + 1] & SHAPE_MASK]  # (tape.slot_size, inlined)
                if plain and t._grad is None and not t._hooks and n == data.size and t._rg:
                    # the usual case in a few calls: a copy (G is reused) in the leaf's dtype and shape
                    t._grad = _wrap(np.array(G.item(o), data.dtype) if data.ndim == 0 else
                                   G[o: o + n].astype(data.dtype).reshape(data.shape))
                else:
                    self.deliver_leaf(t, G[o: o + n])
        if self.capture is not None:
            for key, t in self.capture.items():
                if isinstance(key, tuple) and key[0] == tape.serial and ginit[key[1]]:
                    slot = key[1]
                    g = self.grad_of(tape, G, goff, slot).reshape(t._data.shape).copy()
                    self.captured[id(t)] = self.captured.get(id(t), 0) + g
        else:
            for slot, t in tape.retained:
                if ginit[slot]:
                    g = self.grad_of(tape, G, goff, slot).reshape(t._data.shape).astype(t._data.dtype)
                    t._grad = _wrap(g) if t._grad is None else _wrap(t._grad._data + g)
        for slot, t, owner, src in tape.links:
            if ginit[slot] and (owner is not None or type(t._data) is CudaArray):  # (a CUDA leaf: x.cpu())
                self.link(owner, src, t, self.grad_of(tape, G, goff, slot).reshape(t._data.shape).copy())

    def python_record(self, tape, rec, G, goff, ginit, state):
        ctx, in_slots, out_slots = tape.python[rec]
        if not any(ginit[s] for s in out_slots):
            return
        if state[rec]:
            self.fail(tape, rec, state)
        if not self.retain:
            state[rec] = 1
        grads = []
        for s in out_slots:
            shape = tape.slot_shape(s)
            g = self.grad_of(tape, G, goff, s).reshape(shape) if ginit[s] else np.zeros(shape)
            grads.append(_wrap(g.astype(ctx._out_dtypes[len(grads)])))
        result = type(ctx)._backward_cls.backward(ctx, *grads)
        result = ctx._check_backward_result(result, in_slots, tape)
        for s, g in zip(in_slots, result):
            if s < 0 or g is None or goff[s] < 0:
                continue
            o, n = goff[s], tape.slot_size(s)
            if not ginit[s]:
                G[o: o + n] = 0.0
                ginit[s] = 1
            shape = tape.slot_shape(s)
            G[o: o + n] += np.broadcast_to(np.asarray(g._data, dtype=np.float64), shape).ravel()


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(sum of tensors * grad_tensors)/d(leaf) into each leaf's ``.grad``."""
    _check_create_graph(create_graph)
    if inputs is None and type(tensors) is list and len(tensors) == 1:
        t = tensors[0]
        tape = getattr(t, "_tape", None)
        if type(tape) is tape_mod.Tape and grad_tensors is None and t._rg and t._data.ndim == 0:
            run = _Run(bool(retain_graph))  # loss.backward() of an eager tape (_seeds and seed, inlined)
            run.pending[tape] = [(t._slot, _ONE)]
            run.run()
            return
        # autotape.compile's fast path
        run_compiled = getattr(tape, "compiled_backward", None)
        if run_compiled is not None and run_compiled(tensors[0], grad_tensors, retain_graph):
            return
    seeds = _seeds(tensors, grad_tensors)
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty: leave it out for every leaf")
        grads = grad([t for t, _ in seeds], inputs, [_wrap(g) for _, g in seeds],
                     retain_graph=retain_graph, allow_unused=True)
        for t, g in zip(inputs, grads):
            if g is not None:
                t._grad = g if t._grad is None else t._grad + g
        return
    run = _Run(bool(retain_graph))
    for t, g in seeds:
        run.seed(t, g)
    run.run()


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned, not accumulated."""
    _check_create_graph(create_graph)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if not inputs:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty: name the tensors to differentiate by")
    for k, t in enumerate(inputs):
        if not t._rg:
            raise RuntimeError(f"One of the differentiated Tensors (input {k}) does not require grad")
    capture = {}
    for t in inputs:
        capture[id(t)] = t
        if t._tape is not None:
            capture[(t._tape.serial, t._slot)] = t
    run = _Run(bool(retain_graph), capture)
    for t, g in _seeds(outputs, grad_outputs):
        run.seed(t, g)
    run.run()
    out = []
    for k, t in enumerate(inputs):
        g = run.captured.get(id(t))
        if g is None:
            if materialize_grads:
                g = np.zeros(t._data.shape)
            elif not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (input {k}) appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
        if g is not None and type(t._data) is CudaArray:  # reached through a copy from it (x.cpu())
            g = _on_device_of(t, g)
            from ..cuda.kernels import cast

            out.append(_wrap(cast(g.reshape(t._data.shape), t._data.dtype)))
            continue
        out.append(None if g is None else _wrap(np.asarray(g).reshape(t._data.shape).astype(t._data.dtype)))
    return tuple(out)

