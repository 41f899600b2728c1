"""The profiler's structure and arithmetic (never its wall-clock values)."""
import json
import math

import autotape as torch


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * g * x ** 2


def _step(a, b, x, y):
    loss = (a + b * x + Cube.apply(x * b) - y).pow(2).sum()
    loss.backward()
    return loss


def test_counts_times_and_trace(tmp_path):
    x = torch.linspace(-math.pi, math.pi, 500)
    y = torch.sin(x)
    a, b = torch.zeros((), requires_grad=True), torch.ones((), requires_grad=True)
    _step(a, b, x, y)  # compile outside the block
    with torch.profiler.profile() as prof:
        for _ in range(3):
            loss = _step(a, b, x, y)
    table = prof.key_averages()
    rows = {r["name"]: r for r in table.rows}
    records = loss._tape.n_records
    assert sum(r["count"] for r in table.rows) == 3 * records
    assert rows["mul"]["count"] == 6 and rows["Cube"]["count"] == 3 and rows["sum"]["count"] == 3
    assert rows["mul"]["replayed"] == 6 and rows["Cube"]["replayed"] == 3
    assert rows["mul"]["bytes"] == 6 * (500 + 1) * 4  # b*x and x*b each save x (500 floats) and b
    per_op = sum(e["dur"] for e in prof.events if e["cat"] == "backward")
    assert abs(per_op - prof.replay_inside_ns) <= 0.1 * prof.replay_inside_ns
    assert prof.replay_inside_ns <= prof.replay_wall_ns
    text = table.table(sort_by="self_cpu_time_total", row_limit=3)
    assert text.splitlines()[0].split()[:3] == ["Name", "Records", "Forward"]
    assert "more ops" in text and f"records {3 * records}" in text
    assert "<table>" in prof._repr_html_()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())["traceEvents"]
    slices = [e for e in trace if e["ph"] == "X"]
    assert {e["cat"] for e in slices} >= {"forward", "backward", "python", "engine"}
    assert all({"name", "ts", "dur", "pid", "tid"} <= set(e) for e in slices)
    assert sum(e["cat"] == "forward" for e in slices) == 3 * records


def test_compile_rows_appear_when_compiling_inside():
    from autotape.ops import BY_NAME
    from autotape.replay import cpu

    x = torch.ones(3, requires_grad=True)
    cpu.tables()[0][BY_NAME["tan"].code] = 0  # forget it: the next backward compiles (or loads) it
    with torch.profiler.profile() as prof:
        x.tan().sum().backward()
    assert any(e["cat"] == "compile" and e["name"] == "compile tan" for e in prof.events)
    assert x.grad is not None


def test_listing_is_short_for_long_tapes():
    x = torch.ones(2, requires_grad=True)
    y = x
    for _ in range(100):
        y = y * 1.5
    text = torch.profiler.listing(y, limit=10)
    lines = text.splitlines()
    assert lines[0].startswith("tape #") and "100 records" in lines[0]
    assert len(lines) == 2 + 10 + 1 and "(90 records)" in text
    assert "mul_scalar" in lines[2] and "[2]" in lines[2]
    assert torch.profiler.listing(x) == "(a leaf: no records)"


def test_compiled_function_is_profiled_per_record():
    x = torch.linspace(-1, 1, 100, dtype=torch.float64)
    w = torch.ones((), dtype=torch.float64, requires_grad=True)
    step = torch.compile(lambda: (w * x).sin().sum())
    step().backward()
    step().backward()  # the replayed path, compiled
    with torch.profiler.profile() as prof:
        loss = step()
        loss.backward()
    forward = [e for e in prof.events if e["cat"] == "forward"]
    backward = [e for e in prof.events if e["cat"] == "backward"]
    assert [e["name"] for e in forward] == ["mul", "sin", "sum"]  # the compiled forward, in order
    assert sorted(e["name"] for e in backward) == ["mul", "sin", "sum"]
    assert all(e["dur"] >= 0 for e in forward + backward)
