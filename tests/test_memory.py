"""The tape's memory is released after each backward: a long training loop stays flat."""
import math
import os

import autotape as torch


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_100k_polynomial_steps_keep_resident_memory_flat():
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    a, b, c, d = (torch.randn((), requires_grad=True) for _ in range(4))
    readings = []
    for t in range(100_000):
        loss = (a + b * x + c * x ** 2 + d * x ** 3 - y).pow(2).sum()
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
