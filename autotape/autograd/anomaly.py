"""Anomaly detection, as ``torch.autograd.detect_anomaly``: while it is on, every record keeps
the line of user code that made it, and backward stops after each record to check the
gradients it produced. A NaN or Inf raises ``RuntimeError`` naming the op and that line.

    with autotape.autograd.detect_anomaly():
        loss = model(x)
        loss.backward()   # RuntimeError: Function 'LogBackward0' returned nan values ...

The state is per thread. Off, it costs nothing: recording runs the plain ``Tape._output``
and backward runs the compiled replay straight through. On, recording goes through
``_output_with_origin`` (swapped in like the profiler's timer, and calling whatever
``_output`` was there before it), and backward pauses the replay before every record.
Like PyTorch's, it checks backward only: forward may produce NaN freely.
"""
import functools
import linecache
import os
import sys
import threading
import warnings

import numpy as np

from .. import tape as tape_mod

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class _State(threading.local):
    enabled = False
    check_nan = True


_state = _State()
_lock = threading.Lock()
_threads_on = set()  # ids of the threads with anomaly mode on: the swap stays while any has it
_next_output = [None]  # the Tape._output that ours calls


def is_anomaly_enabled():
    return _state.enabled


def is_anomaly_check_nan_enabled():
    return _state.enabled and _state.check_nan


def _set(enabled, check_nan=True):
    _state.enabled, _state.check_nan = bool(enabled), bool(check_nan)
    me = threading.get_ident()
    with _lock:
        if enabled:
            _threads_on.add(me)
            if tape_mod.Tape._output is not _output_with_origin:
                _next_output[0] = tape_mod.Tape._output
                tape_mod.Tape._output = _output_with_origin
        else:
            _threads_on.discard(me)
            # Unhook only if ours is outermost; if a profiler wrapped it since, ours stays in
            # the chain (it does nothing for threads with anomaly mode off) and the profiler
            # puts it back when it exits.
            if not _threads_on and tape_mod.Tape._output is _output_with_origin:
                tape_mod.Tape._output = _next_output[0]


def _output_with_origin(self, spec, out, rec):
    if _state.enabled and rec not in self.origins:  # a Function with several outputs comes here once each
        self.origins[rec] = user_frame()
    return _next_output[0](self, spec, out, rec)


def user_frame():
    """(file, line, function, source line) of the innermost caller outside the autotape package."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_PACKAGE):
        f = f.f_back
    if f is None:
        return ("<unknown>", 0, "<unknown>", "")
    code = f.f_code
    return (code.co_filename, f.f_lineno, code.co_name, linecache.getline(code.co_filename, f.f_lineno).strip())


def describe_origin(tape, rec):
    """' It was recorded at file:line in fn: source' for a record made in anomaly mode, else ''."""
    origin = tape.origins.get(rec)
    if origin is None:
        return ""
    path, line, fn, source = origin
    return f" It was recorded at {path}:{line}, in {fn}" + (f": {source}" if source else "") + "."


class detect_anomaly:
    """Context manager and decorator that turns anomaly detection on (``check_nan=False``: keep
    where each op was recorded, for error messages, without checking gradients)."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
            "enabled for debugging.", stacklevel=2,
        )

    def __enter__(self):
        self._prev = (_state.enabled, _state.check_nan)
        _set(True, self.check_nan)
        return self

    def __exit__(self, *exc):
        _set(*self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """``set_detect_anomaly(True)`` turns anomaly detection on at once (for this thread); used
    as a context manager it restores the previous setting on exit."""

    def __init__(self, mode, check_nan=True):
        self._prev = (_state.enabled, _state.check_nan)
        _set(mode, check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(*self._prev)
        return False


# -- the backward-side check, called by the engine only in anomaly mode -------------------------

def check_record(tape, rec, G, goff, ginit):
    """Raise if the gradients record ``rec`` just wrote into its inputs hold NaN or Inf."""
    from ..ops import OPS, PYTHON

    op = tape.op_of(rec)
    if op == PYTHON.code:
        ctx, slots, _ = tape.python[rec]
        name = type(ctx).__name__
    else:
        spec = OPS[op]
        name = spec.grad_fn
        # (a Linear layer's record: its inputs in PyTorch's addmm order, bias first)
        slots = tape.input_slots(rec) if spec.name == "linear" else list(tape.inputs_of(rec))
        if spec.kind == "ew3":  # where(c, x1, x2): the condition has no gradient output
            slots = slots[1:]
    for k, s in enumerate(slots):
        if s < 0 or goff[s] < 0 or not ginit[s]:
            continue
        o = goff[s]
        g = G[o: o + tape.slot_size(s)]
        if np.isfinite(g).all():
            continue
        kind = "nan" if np.isnan(g).any() else "inf"
        raise RuntimeError(
            f"Function '{name}' returned {kind} values in its {k}th output."
            + (describe_origin(tape, rec) or " (Run the forward pass in anomaly mode too to see the line that "
               "recorded it.)")
            + " Look for an op whose derivative is infinite there (log or sqrt at 0, division by 0, "
            "pow with a negative base) and keep its input inside the domain, e.g. x.clamp(min=1e-12)."
        )
