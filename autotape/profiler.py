"""Where a training step's time goes: recording (forward), compiled replay (backward) per op,
custom Functions, and one-time Numba compilation.

    with autotape.profiler.profile() as prof:
        loss = model_loss()
        loss.backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")

Replay time per record is read from the CPU's cycle counter inside the compiled replay (a
separately compiled variant of it, so replay without the profiler pays nothing). Forward time
of a record is the wall time since the previous record (or the block's start): the op's own
NumPy work and recording, plus any user code in between.
"""
import html
import json
import time

import numpy as np

from . import tape as tape_mod
from .ops import OPS, PYTHON
from .tape import R_WIDTH

_active = []  # the profiles now open (innermost last)
_ns_per_cycle = []


def current():
    return _active[-1] if _active else None


def ns_per_cycle():
    """Calibrated once per process against perf_counter_ns."""
    if not _ns_per_cycle:
        from .replay.cpu_kernels import cycles

        cycles()
        c0, t0 = cycles(), time.perf_counter_ns()
        while time.perf_counter_ns() - t0 < 20_000_000:
            pass
        c1, t1 = cycles(), time.perf_counter_ns()
        _ns_per_cycle.append((t1 - t0) / max(c1 - c0, 1))
    return _ns_per_cycle[0]


def _output_profiled(self, spec, out, rec):
    prof = current()
    if prof is not None and not (prof._stamps and prof._stamps[-1][:2] == (self, rec)):  # once per record
        prof._stamps.append((self, rec, time.perf_counter_ns()))
    return _next_output[0](self, spec, out, rec)


# The Tape._output that ours wraps: the plain one, or another wrapper (anomaly mode's).
_next_output = [tape_mod.Tape._output]


class profile:
    """Context manager collecting forward, backward and compile events."""

    def __init__(self, record_shapes=False, with_stack=False, **unused):
        self._events = []  # dicts: name, cat, ts (ns), dur (ns), bytes, rec
        self._replays = []  # raw per-record replay timings, turned into events when read
        self._stamps = []
        # wall time of the compiled replay calls, measured around them in Python and inside them
        self.replay_wall_ns = self.replay_inside_ns = 0
        self._start = None

    def __enter__(self):
        ns_per_cycle()
        _active.append(self)
        if tape_mod.Tape._output is not _output_profiled:  # recording is timed only inside a profile
            _next_output[0] = tape_mod.Tape._output
            tape_mod.Tape._output = _output_profiled
        _warm_up()
        self._events, self._replays, self._stamps = [], [], []
        self.replay_wall_ns = self.replay_inside_ns = 0
        self._start = time.perf_counter_ns()
        return self

    def __exit__(self, *exc):
        _active.remove(self)
        if not _active and tape_mod.Tape._output is _output_profiled:
            # (if another wrapper went on top of ours since, ours stays under it, idle)
            tape_mod.Tape._output = _next_output[0]
        self._forward_events()
        return False

    # -- collection (called by the engine) -----------------------------------------------
    def _forward_events(self):
        last = self._start
        for tape, rec, ts in self._stamps:
            if tape is None:  # the end of a backward: the next record's time starts here
                last = ts
                continue
            code = tape.op_of(rec)
            name = OPS[code].name if code != PYTHON.code else type(tape.python[rec][0])._backward_cls.__name__
            self._events.append(dict(name=name, cat="forward", ts=last, dur=ts - last,
                                     bytes=_saved_bytes(tape, rec), rec=rec))
            last = ts
        self._stamps = []

    def add_replay(self, tape, clock, c_ref, t_ref, wall_ns, cat="backward"):
        """Events for the records one compiled replay ran (``clock`` from it; ``wall_ns`` the
        wall time of the replay calls): a backward, or a compiled function's forward."""
        scale = ns_per_cycle()
        done = np.nonzero(clock[1, :-1])[0]
        if cat == "backward":
            self.replay_wall_ns += wall_ns
            self.replay_inside_ns += clock[0, -1] * scale
            done = done[::-1]  # replay order: last record first
        durs = clock[0, done] * scale
        # kept raw: one Python object per record here would cost more than the replay itself
        self._replays.append((tape, done, t_ref + (clock[1, done] - c_ref) * scale - durs, durs, cat))

    @property
    def events(self):
        """Every event so far, as dicts: name, cat (forward, backward, python, engine, compile,
        optimizer), ts and dur (ns), bytes saved, record index."""
        for tape, done, starts, durs, cat in self._replays:
            codes = np.frombuffer(tape.R, dtype=np.int32)[::R_WIDTH][done].tolist()  # a copy: no view is kept
            for r, code, ts, dur in zip(done.tolist(), codes, starts.tolist(), durs.tolist()):
                self._events.append(dict(name=OPS[code].name, cat=cat, ts=ts, dur=dur, bytes=0, rec=r))
        self._replays = []
        return self._events

    def add(self, name, cat, ts, dur):
        """An event of the engine's or an optimizer's; the next record's forward time starts
        after it, not before."""
        self._events.append(dict(name=name, cat=cat, ts=ts, dur=dur, bytes=0, rec=-1))
        self._stamps.append((None, -1, ts + dur))

    # -- results ---------------------------------------------------------------------------
    def key_averages(self):
        return EventTable(self.events)

    def export_chrome_trace(self, path):
        """Chrome trace event format (Perfetto, chrome://tracing): one slice per record."""
        tids = {"forward": 1, "backward": 2, "python": 2, "engine": 3, "compile": 4, "optimizer": 5}
        names = {1: "forward (recording)", 2: "backward (replay)", 3: "backward (engine, Python)", 4: "numba compile",
                 5: "optimizer"}
        trace = [dict(name="thread_name", ph="M", pid=0, tid=t, args=dict(name=n)) for t, n in names.items()]
        for e in sorted(self.events, key=lambda e: e["ts"]):
            trace.append(dict(name=e["name"], cat=e["cat"], ph="X", pid=0, tid=tids.get(e["cat"], 2),
                              ts=(e["ts"] - self._start) / 1000.0, dur=e["dur"] / 1000.0,
                              args=dict(record=e["rec"], bytes_saved=e["bytes"])))
        with open(path, "w") as f:
            json.dump(dict(traceEvents=trace, displayTimeUnit="ms"), f)

    def _repr_html_(self):
        return self.key_averages()._repr_html_()

    def __repr__(self):
        return self.key_averages().table(row_limit=15)


def _warm_up():
    """One tiny backward, so that the profiled replay is compiled (or loaded) before timing."""
    from .tensor import _wrap

    x = _wrap(np.ones(1), True)
    (x * x).sum().backward()


def _saved_bytes(tape, rec):
    """Bytes of the values record ``rec`` keeps for backward."""
    code = tape.op_of(rec)
    if code == PYTHON.code:
        return 0
    spec, total = OPS[code], 0
    slots = list(zip(tape.inputs_of(rec), spec.value_inputs))
    slots.append((tape.out_of(rec), spec.uses_output))
    for slot, saved in slots:
        if saved and slot >= 0:
            total += tape.slot_size(slot) * (4 if tape.slot_dtype(slot) == 0 else 8)
    return total


_SORT_KEYS = {
    "self_cpu_time_total": "total", "cpu_time_total": "total", "cpu_time": "avg", "count": "count",
    "forward_time": "forward", "backward_time": "backward", "bytes": "bytes", "compile_time": "compile",
}


class EventTable:
    """Per-op totals, as ``torch.profiler``'s key_averages(): one row per op name."""

    def __init__(self, events):
        rows = {}
        for e in events:
            row = rows.setdefault(e["name"], dict(name=e["name"], count=0, forward=0.0, backward=0.0, python=0.0,
                                                  engine=0.0, optimizer=0.0, compile=0.0, bytes=0, replayed=0))
            row[e["cat"]] = row.get(e["cat"], 0.0) + e["dur"]
            row["calls"] = row.get("calls", 0) + 1
            if e["cat"] == "forward":
                row["count"] += 1
                row["bytes"] += e["bytes"]
            elif e["cat"] in ("backward", "python"):
                row["replayed"] += 1
        for row in rows.values():
            row["backward"] += row.pop("engine") + row["python"]
            row["forward"] += row.pop("optimizer")  # an optimizer step runs outside backward
            row["total"] = row["forward"] + row["backward"] + row["compile"]
            # per record for ops, per call for the engine and optimizers
            row["avg"] = row["total"] / max(row["count"] or row["calls"], 1)
        self.rows = list(rows.values())
        self.total = sum(r["total"] for r in self.rows) or 1.0

    def sorted(self, sort_by="self_cpu_time_total"):
        key = _SORT_KEYS.get(sort_by, sort_by)
        return sorted(self.rows, key=lambda r: r[key], reverse=True)

    def table(self, sort_by="self_cpu_time_total", row_limit=100):
        head = (f"{'Name':<22}{'Records':>9}{'Forward':>12}{'Backward':>12}{'Compile':>12}"
                f"{'Total':>12}{'%':>8}{'Avg':>11}{'Saved':>11}")
        lines = [head, "-" * len(head)]
        rows = self.sorted(sort_by)
        for r in rows[:row_limit]:
            lines.append(
                f"{r['name'][:21]:<22}{r['count']:>9}{_fmt(r['forward']):>12}{_fmt(r['backward']):>12}"
                f"{_fmt(r['compile']):>12}{_fmt(r['total']):>12}{100 * r['total'] / self.total:>7.1f}%"
                f"{_fmt(r['avg']):>11}{_bytes(r['bytes']):>11}"
            )
        if len(rows) > row_limit:
            lines.append(f"... {len(rows) - row_limit} more ops")
        lines.append("-" * len(head))
        sums = {k: sum(r[k] for r in self.rows) for k in ("forward", "backward", "compile")}
        lines.append(f"Forward (recording) {_fmt(sums['forward'])}, backward (replay and engine) "
                     f"{_fmt(sums['backward'])}, Numba compile {_fmt(sums['compile'])}, "
                     f"records {sum(r['count'] for r in self.rows)}")
        return "\n".join(lines)

    def __str__(self):
        return self.table()

    def _repr_html_(self):
        cells = "".join(
            f"<tr><td>{html.escape(r['name'])}</td><td>{r['count']}</td><td>{_fmt(r['forward'])}</td>"
            f"<td>{_fmt(r['backward'])}</td><td>{_fmt(r['compile'])}</td><td>{_fmt(r['total'])}</td>"
            f"<td>{100 * r['total'] / self.total:.1f}%</td><td>{_bytes(r['bytes'])}</td></tr>"
            for r in self.sorted()
        )
        head = "".join(f"<th>{h}</th>" for h in ("op", "records", "forward", "backward", "compile", "total", "%",
                                                 "saved"))
        return f"<table><tr>{head}</tr>{cells}</table>"

    def plot(self, ax=None, row_limit=15):
        """Bar chart of forward and backward time per op (needs matplotlib)."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("plot() needs matplotlib: pip install matplotlib") from None
        rows = self.sorted()[:row_limit][::-1]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1))
        names = [r["name"] for r in rows]
        fwd = [r["forward"] / 1e3 for r in rows]
        bwd = [r["backward"] / 1e3 for r in rows]
        ax.barh(names, fwd, label="forward (recording)")
        ax.barh(names, bwd, left=fwd, label="backward (replay)")
        ax.set_xlabel("time (µs)")
        ax.legend()
        return ax


def _fmt(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.2f}s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f}ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f}us"
    return f"{ns:.0f}ns"


def _bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024


def listing(t, limit=40):
    """The Wengert list behind tensor ``t`` (or a tape): one line per record, like a listing.
    Long tapes show their first and last records."""
    tape = t._tape if hasattr(t, "_tape") else t
    if tape is None:
        return "(a leaf: no records)"
    n = tape.n_records
    keep = list(range(n)) if n <= limit else list(range(limit // 2)) + list(range(n - limit // 2, n))
    lines = [f"tape #{tape.serial}: {n} records, {tape.n_slots} slots",
             f"{'rec':>6}  {'op':<14}{'inputs':<18}{'output':<8}{'shape':<16}{'dtype':<9}{'saved':>9}"]
    for k, rec in enumerate(keep):
        if k and rec != keep[k - 1] + 1:
            lines.append(f"{'...':>6}  ({rec - keep[k - 1] - 1} records)")
        code = tape.op_of(rec)
        name = OPS[code].name if code != PYTHON.code else type(tape.python[rec][0])._backward_cls.__name__
        ins = tape.inputs_of(rec)
        if code == PYTHON.code:
            ins = [s for s in tape.python[rec][1] if s >= 0]
        out = tape.out_of(rec)
        shape = tape.slot_shape(out)
        dtype = "float32" if tape.slot_dtype(out) == 0 else "float64"
        inputs = ", ".join(f"%{s}" for s in ins if s >= 0)
        lines.append(f"{rec:>6}  {name[:13]:<14}{inputs[:17]:<18}{'%' + str(out):<8}{str(list(shape))[:15]:<16}"
                     f"{dtype:<9}{_bytes(_saved_bytes(tape, rec)):>9}")
    return "\n".join(lines)

