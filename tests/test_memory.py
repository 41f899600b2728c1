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


SAVES_PER_RECORD = {"saves nothing": 0, "saves its input": 1, "saves both inputs": 2, "saves its output": 1}


def metadata_per_record(op, records=20_000):
    """Bytes that recording ``records`` records of one kind retains, per record, beyond the
    values saved for backward (counted apart: each array with its object header, and the
    version counter of a saved tensor that died, which the tape keeps to check it):
    (metadata, of which the R and S tables, saved values)."""
    w = torch.ones(1, dtype=torch.float64, requires_grad=True)
    v = torch.ones(1, dtype=torch.float64, requires_grad=True) * 1.0
    tape = current_tape()
    start, alive = tape.n_records, {id(w._vc), id(v._vc)}
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
    counters = {id(vc): vc for vc in tape.versions if id(vc) not in alive and vc is not v._vc}
    saved_bytes += sum(sys.getsizeof(vc) for vc in counters.values())
    tables = (len(tape.R) * tape.R.itemsize + len(tape.S) * tape.S.itemsize) / tape.n_records
    v.sum().backward()
    return (after - before - saved_bytes) / n, tables, saved_bytes / n


def test_tape_metadata_per_record_is_at_most_64_bytes():
    """A record and its output slot are 40 + 16 = 56 bytes of tables; with the arrays' growth
    slack the measured cost stays under the issue's 64. Each saved value adds a reference to
    its array and a (counter, version, record) check: 8 + 8 + 16 = 32 bytes."""
    rows = {name: metadata_per_record(op) for name, op in RECORDS.items()}
    for name, (meta, tables, saved) in rows.items():
        print(f"{name:<18} metadata {meta:6.1f} B/record (R+S {tables:.0f}), saved values {saved:.0f} B/record")
    assert round(rows["saves nothing"][1]) == 56
    fixed = rows["saves nothing"][0]
    assert fixed <= 64
    for name, (meta, _, _) in rows.items():
        per_saved = (meta - fixed) / max(SAVES_PER_RECORD[name], 1)
        assert per_saved <= 36, f"{name}: {per_saved:.1f} bytes of bookkeeping per saved value"


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


def test_what_a_backward_did_not_reach_keeps_its_saved_values():
    """Records no gradient reached (another branch of the graph) are not freed: their saved
    values stay for a later backward through them; once every record is freed, all go."""
    x = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    y, z = x.sin(), x.exp()  # the same tape; z's branch is not part of the first loss
    tape = y._tape
    y.sum().backward()
    assert tape.vals, "the exp record's saved values were released"
    x.grad = None
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.5, 1.5]))
    assert not tape.vals and not tape.versions
