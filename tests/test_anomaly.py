"""Anomaly detection: a NaN or Inf made by backward names the op and the user's line that
recorded it; off, nothing is recorded or checked."""
import threading
import warnings

import numpy as np
import pytest

import autotape as torch
from autotape import tape as tape_mod
from autotape.autograd import anomaly

pytestmark = [pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]  # NumPy, on the NaN made on purpose
PLAIN_OUTPUT = tape_mod.Tape._output


def _line_of(marker):
    """The number of the line of this file that contains ``marker``."""
    with open(__file__) as f:
        for k, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return k
    raise AssertionError(marker)


def test_nan_in_backward_names_op_and_line():
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with torch.autograd.detect_anomaly():
        y = x.log()  # the log at 0
        z = (y * 0).sum()
        with pytest.raises(RuntimeError) as err:
            z.backward()
    msg = str(err.value)
    assert "Function 'LogBackward0' returned nan values in its 0th output." in msg
    assert f"test_anomaly.py:{_line_of('# the log at 0')}" in msg and "y = x.log()" in msg
    assert "clamp" in msg  # says what to do
    assert tape_mod.Tape._output is PLAIN_OUTPUT  # and the swap is undone


def test_inf_in_backward_and_decorator_and_grad():
    @torch.autograd.detect_anomaly()
    def run():
        x = torch.tensor([0.0, 4.0], requires_grad=True)
        r = x.sqrt()  # infinite slope at 0
        return torch.autograd.grad(r.sum(), x)

    with pytest.raises(RuntimeError, match=r"Function 'SqrtBackward0' returned inf values in its 0th output") as err:
        run()
    assert "r = x.sqrt()" in str(err.value)


def test_nan_from_a_custom_function_and_second_input():
    class Bad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g, g * float("nan")

    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    with torch.autograd.set_detect_anomaly(True):
        out = Bad.apply(a, b).sum()  # custom function
        with pytest.raises(RuntimeError, match=r"Function 'BadBackward' returned nan values in its 1th output"):
            out.backward()
    # a two-input op: the gradient of its second input is the bad one
    x = torch.tensor([1.0, 2.0])
    zero = torch.tensor([0.0, 1.0], requires_grad=True)
    with torch.autograd.detect_anomaly():
        q = x / zero
        with pytest.raises(RuntimeError, match=r"'DivBackward0' returned inf values in its 1th output.*q = x / zero"):
            q.sum().backward()


def test_linear_names_its_outputs_in_addmms_order():
    """A Linear layer's one record counts its gradients as PyTorch's addmm(bias, input, weight.t())."""
    inf = float("inf")
    for bad, k in (("w", 1), ("x", 2)):  # an inf and a -inf in one column: that product's gradient is nan
        x, w = torch.ones(2, 2, requires_grad=True), torch.ones(2, 2, requires_grad=True)
        with torch.no_grad():
            (w if bad == "w" else x)[:, 0] = torch.tensor([inf, -inf])
        b = torch.zeros(2, requires_grad=True)
        with torch.autograd.detect_anomaly():
            y = torch.nn.functional.linear(x, w, b)
            with pytest.raises(RuntimeError, match=f"'AddmmBackward0' returned nan values in its {k}th output"):
                y[:, 1].sum().backward()


def test_no_false_alarm_and_same_gradients():
    """A finite backward gives the same gradients with and without anomaly mode, hooks and a
    custom Function included, across two tapes."""
    from op_cases import legendre

    def grads(mode):
        x = torch.tensor([0.3, -0.7, 1.2], dtype=torch.float64, requires_grad=True)
        w = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64, requires_grad=True)
        with torch.autograd.set_detect_anomaly(mode):
            early = x + 0.1  # saves nothing: a second backward may pass through it
            (early * 1).sum().backward()  # a first backward: the next one spans two tapes
            h = legendre(torch).apply(early * w).exp()
            h.register_hook(lambda g: g * 3)
            loss = (torch.softmax(h, -1) * x).sum() + w.norm() + torch.where(x > 0, x, x * x).sum()
            loss.backward()
        return x.grad.numpy().copy(), w.grad.numpy().copy()

    plain, checked = grads(False), grads(True)
    for a, b in zip(plain, checked):
        np.testing.assert_array_equal(a, b)


def test_forward_nan_is_allowed():
    """PyTorch's anomaly mode checks backward only."""
    x = torch.tensor([-1.0, 4.0], requires_grad=True)
    with torch.autograd.detect_anomaly():
        y = x.sqrt()  # NaN in forward, recorded, but no gradient flows back through it
        assert np.isnan(y.detach().numpy()[0])
        (x * 2 + y.detach()).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_off_records_nothing_and_nan_flows_through():
    assert not torch.autograd.is_anomaly_enabled() and not torch.is_anomaly_enabled()
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    y = (x.log() * 0).sum()
    assert y._tape.origins == {} and tape_mod.Tape._output is PLAIN_OUTPUT
    y.backward()
    assert np.isnan(x.grad.numpy()[0])


def test_set_detect_anomaly_as_call_and_context_and_check_nan_false():
    torch.autograd.set_detect_anomaly(True)
    try:
        assert torch.autograd.is_anomaly_enabled() and torch.autograd.is_anomaly_check_nan_enabled()
        with torch.autograd.set_detect_anomaly(False):
            assert not torch.autograd.is_anomaly_enabled()
        assert torch.autograd.is_anomaly_enabled()
    finally:
        torch.autograd.set_detect_anomaly(False)
    assert not torch.autograd.is_anomaly_enabled() and tape_mod.Tape._output is PLAIN_OUTPUT
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        ctx = torch.autograd.detect_anomaly(check_nan=False)
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with ctx:
        assert torch.autograd.is_anomaly_enabled() and not torch.autograd.is_anomaly_check_nan_enabled()
        y = x.log() * 0
        assert len(y._tape.origins) == 2  # where each op was made is kept...
        y.sum().backward()  # ...but gradients are not checked
    assert np.isnan(x.grad.numpy()[0])


def test_inplace_error_says_where_the_saved_value_was_recorded():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    with torch.autograd.detect_anomaly():
        z = (h * h).sum()  # saves h
    with torch.no_grad():
        h.mul_(10)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*z = \(h \* h\)\.sum\(\).*out of place"):
        z.backward()
    x2 = torch.tensor([1.0, 2.0], requires_grad=True)
    h2 = x2 * 2
    z2 = (h2 * h2).sum()
    with torch.no_grad():
        h2.mul_(10)
    with pytest.raises(RuntimeError, match="set_detect_anomaly"):  # off: a hint to turn it on
        z2.backward()


def test_anomaly_mode_is_per_thread():
    seen = {}

    def other():
        x = torch.tensor([0.0, 1.0], requires_grad=True)
        y = (x.log() * 0).sum()
        seen["enabled"] = torch.autograd.is_anomaly_enabled()
        seen["origins"] = len(y._tape.origins)
        y.backward()  # no check here: this thread never turned it on
        seen["grad"] = x.grad.numpy().copy()

    with torch.autograd.detect_anomaly():
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert torch.autograd.is_anomaly_enabled()
    assert seen["enabled"] is False and seen["origins"] == 0 and np.isnan(seen["grad"][0])


def test_composes_with_the_profiler():
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with torch.autograd.detect_anomaly():
        with torch.profiler.profile() as prof:
            y = x.log()  # profiled and anomaly-checked
            z = (y * 0).sum()
        assert len(z._tape.origins) == 3
        with pytest.raises(RuntimeError, match="LogBackward0.*y = x.log"):
            z.backward()
    assert any(e["cat"] == "forward" and e["name"] == "log" for e in prof.events)
    # the other order, and interleaved exits: recording ends up plain again
    prof = torch.profiler.profile()
    prof.__enter__()
    with torch.autograd.detect_anomaly():
        w = torch.ones(2, requires_grad=True) * 3
        assert len(w._tape.origins) == 1
    prof.__exit__(None, None, None)
    assert tape_mod.Tape._output is PLAIN_OUTPUT
    prof = torch.profiler.profile()
    mode = torch.autograd.detect_anomaly()
    mode.__enter__()
    prof.__enter__()
    mode.__exit__(None, None, None)
    v = torch.ones(2, requires_grad=True) * 3
    assert v._tape.origins == {}
    prof.__exit__(None, None, None)
    assert tape_mod.Tape._output in (PLAIN_OUTPUT, anomaly._output_with_origin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly():
            pass
    assert tape_mod.Tape._output is PLAIN_OUTPUT


@pytest.mark.skipif(not hasattr(torch, "compile"), reason="autotape.compile is not in this build")
def test_compiled_functions_are_checked_too():
    """A compiled function's backward takes the general engine in anomaly mode."""
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with torch.autograd.detect_anomaly():
        step = torch.compile(lambda: (x.log() * 0).sum())  # recorded on its first call, below
        loss = step()
        with pytest.raises(RuntimeError, match="LogBackward0.*step = torch.compile"):
            loss.backward()
    loss = step()  # recorded in anomaly mode, checked outside it: nothing is checked
    loss.backward()
    assert np.isnan(x.grad.numpy()[0])
    x.grad = None
    with torch.autograd.detect_anomaly():
        loss = step()
        with pytest.raises(RuntimeError, match="LogBackward0"):
            loss.backward()
