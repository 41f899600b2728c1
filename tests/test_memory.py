"""The tape's memory is released after each backward: a long training loop stays flat, eager
and compiled; and what the tape itself costs per record, beyond the values it saves.
(``python benchmarks/soak.py`` prints the same figures as a report.)"""
import math
import os
import sys
import tracemalloc

import numpy as np
import pytest

import autotape as torch
from autotape.tape import current_tape


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_100k_polynomial_steps_keep_resident_memory_flat(compiled):
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    a, b, c, d = (torch.randn((), requires_grad=True) for _ in range(4))

    def loss_fn():
        return (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()

    step = torch.compile(loss_fn) if compiled else loss_fn
    readings = []
    for t in range(100_000):
        loss = step()
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= 1e-6 * p.grad
                p.grad = None
        if t % 10_000 == 9_999:
            readings.append(_rss_bytes())
    growth = (readings[-1] - readings[0]) / readings[0]
    assert growth < 0.05, f"resident memory grew {growth:.1%}: {readings}"
    assert loss.item() < 20.0  # and it did fit


RECORDS = {
    "saves nothing": lambda v, w: v * 1.0,
    "saves its input": lambda v, w: v.sin(),
    "saves both inputs": lambda v, w: v * w,
    "saves its output": lambda v, w: v.tanh(),
}


def metadata_per_record(op, records=20_000):
    """Bytes that recording ``records`` records of one kind retains, per record, beyond the
    arrays saved for backward (counted apart, with their object headers): (metadata, of which
    the R, F and S tables, saved arrays)."""
    w = torch.ones(1, dtype=torch.float64, requires_grad=True)
    v = torch.ones(1, dtype=torch.float64, requires_grad=True) * 1.0
    tape = current_tape()
    start = tape.n_records
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(records):
            v = op(v, w)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    n = tape.n_records - start
    saved = {id(a): a for a in tape.vals}
    saved_bytes = sum(sys.getsizeof(a) for a in saved.values() if a.base is None)
    tables = (len(tape.R) + len(tape.F) + len(tape.S)) * 8 / tape.n_records
    v.sum().backward()
    return (after - before - saved_bytes) / n, tables, saved_bytes / n


def test_tape_metadata_per_record_is_measured_and_bounded():
    """The fixed part is 9 + 2 + 6 int64/float64 = 136 bytes per record (R, F, one slot);
    a saved value adds a reference and its version check. These bounds catch regressions."""
    rows = {name: metadata_per_record(op) for name, op in RECORDS.items()}
    for name, (meta, tables, saved) in rows.items():
        print(f"{name:<18} metadata {meta:6.1f} B/record (R+F+S {tables:.0f}), saved arrays {saved:.0f} B/record")
    assert round(rows["saves nothing"][1]) == 136
    assert rows["saves nothing"][0] < 160
    assert all(meta < 420 for meta, _, _ in rows.values())


@pytest.mark.xfail(strict=True, reason="the issue's target of 64 bytes of metadata per record is not met: R alone "
                                       "is 72 bytes (9 int64), S 48 per slot, F 16; see the report in "
                                       "benchmarks/soak.py and the README")
def test_tape_metadata_meets_64_bytes_per_record():
    assert all(metadata_per_record(op, 5000)[0] <= 64 for op in RECORDS.values())


def test_saved_values_are_released_by_backward_not_kept_by_the_tape():
    """After backward, the tape lets go of what it saved, even while the loss is still alive."""
    x = torch.ones(100_000, dtype=torch.float64, requires_grad=True)
    (x.sin() * x.exp()).sum().backward()  # the same once: the thread's gradient arena, reused, is sized
    x.grad = None
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        loss = (x.sin() * x.exp()).sum()  # saves x (twice) and exp's output: 800 kB
        mid = tracemalloc.get_traced_memory()[0]
        loss.backward()
        x.grad = None
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert mid - before > 700_000
    assert after - before < 50_000, f"{after - before} bytes still held after backward"
    assert np.isfinite(loss.item())
