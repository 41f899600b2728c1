"""Threads: each records on its own tape and replays it while others do the same; grad mode
(no_grad) is per thread. The interpreter is made to switch threads every few microseconds, so
recording, replay and their Python hand-overs interleave."""
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import autotape as torch

from test_random_tapes import programs


@pytest.fixture
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_together(*jobs, repeat=1):
    """Run each job in its own thread, all starting at once; return their results (or raise
    the first exception one of them met)."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def work(k, job):
        try:
            barrier.wait()
            results[k] = [job() for _ in range(repeat)]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k, job)) for k, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _outcome(prog):
    """What one program gives in autotape: its loss and leaf gradients, or its error."""
    try:
        loss, leaves, _ = prog.run(torch)
        if loss.requires_grad:
            loss.backward()
        return float(loss), [None if t.grad is None else t.grad.numpy().copy() for t in leaves]
    except RuntimeError as e:
        return type(e).__name__, str(e).split(":")[0]


def _same(a, b):
    if isinstance(a[0], str) or isinstance(b[0], str):
        return a == b
    return a[0] == b[0] and len(a[1]) == len(b[1]) and \
        all((x is None and y is None) or np.array_equal(x, y) for x, y in zip(a[1], b[1]))


@settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(first=programs(), second=programs())
def test_two_threads_replay_their_own_random_tapes(fast_switching, first, second):
    """Two random programs (custom Functions, hooks-free, in-place updates, no_grad islands)
    run in two threads at once, five times each, give exactly what each gives alone."""
    alone = [_outcome(first), _outcome(second)]
    together = _run_together(lambda: _outcome(first), lambda: _outcome(second), repeat=5)
    for k in range(2):
        for result in together[k]:
            assert _same(result, alone[k]), (k, result, alone[k])


def test_grad_mode_is_per_thread(fast_switching):
    """While one thread sits in no_grad, the other records; each sees only its own mode."""
    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def quiet():
        with torch.no_grad():
            inside.set()
            outside.wait(5)
            x = torch.ones(3, requires_grad=True)
            seen["quiet"] = (torch.is_grad_enabled(), (x * 2).requires_grad)

    def busy():
        inside.wait(5)
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = (x * x).sum()
        seen["busy"] = (torch.is_grad_enabled(), y.requires_grad)
        y.backward()
        seen["grad"] = x.grad.numpy().copy()
        outside.set()

    _run_together(quiet, busy)
    assert seen["quiet"] == (False, False)
    assert seen["busy"] == (True, True)
    np.testing.assert_array_equal(seen["grad"], [2.0, 4.0, 6.0])
    assert torch.is_grad_enabled()


def test_training_loops_in_two_threads(fast_switching):
    """Two polynomial fits, each with its own parameters, its own no_grad updates, a hook and a
    custom Function, running at once, end exactly where each ends alone."""
    from op_cases import legendre

    def fit(seed, steps=150):
        rng = np.random.default_rng(seed)
        x = torch.tensor(np.linspace(-1, 1, 50), dtype=torch.float64)
        y = torch.sin(x * (1 + seed))
        params = [torch.tensor(rng.standard_normal(), dtype=torch.float64, requires_grad=True) for _ in range(4)]
        P3 = legendre(torch)
        seen = []
        params[0].register_hook(lambda g: seen.append(1) or g)
        for _ in range(steps):
            a, b, c, d = params
            pred = a + b * x + c * x ** 2 + d * P3.apply(x)
            loss = (pred - y).pow(2).mean()
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= 0.1 * p.grad
                    p.grad = None
        return [p.item() for p in params] + [loss.item(), len(seen)]

    alone = [fit(0), fit(1)]
    together = _run_together(lambda: fit(0), lambda: fit(1))
    assert together == [[alone[0]], [alone[1]]]
