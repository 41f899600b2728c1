"""Bad input is refused with PyTorch's error type and a message that says what to do; corner
values get PyTorch's defined results (no NaN where PyTorch has none); no input crashes the
interpreter or shows a Numba error. (The basic cases are in test_tensor.py and
test_autograd.py; these go further.)"""
import math
import warnings

import numpy as np
import pytest
import autotape as torch
from autotape import tape as tape_mod


def raises(exc, *fragments):
    """pytest.raises for ``exc`` whose message contains every fragment (plain text, not regex)."""
    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(exc)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *e):
            self.ctx.__exit__(*e)
            msg = str(self.info.value)
            for f in fragments:
                assert f in msg, f"{f!r} not in {msg!r}"
            return True

    return Check()


# -- shapes ---------------------------------------------------------------------------------------

def test_shape_mismatches_name_both_shapes():
    x = torch.ones(2, 3, requires_grad=True)
    with raises(RuntimeError, "[2, 3]", "[4]", "size of tensor a (3) must match the size of tensor b (4)"):
        x + torch.ones(4)
    with raises(RuntimeError, "[2, 3]", "[2]"):
        torch.maximum(x, torch.ones(2))
    with raises(RuntimeError, "[3]", "[2]"):
        torch.where(torch.ones(3) > 0, torch.ones(3), torch.ones(2))
    with raises(RuntimeError, "(2x3 and 2x3)"):
        x @ x
    with raises(RuntimeError, "[[2, 3], [2, 4]]", "except in dimension 0"):
        torch.cat([x, torch.ones(2, 4)])
    with raises(RuntimeError, "[2, 3] at entry 0", "[3] at entry 1"):
        torch.stack([x, torch.ones(3)])
    with raises(RuntimeError, "shape '[4, 2]' is invalid for input of size 6"):
        x.reshape(4, 2)
    with raises(RuntimeError, "[2, 4]", "[2, 3]"):
        x.expand(2, 4)
    with raises(RuntimeError, "[2]", "[3]"):
        torch.dot(torch.ones(2), torch.ones(3))
    h = x * 1.0
    with raises(RuntimeError, "output with shape [2, 3] doesn't match the broadcast shape [4, 2, 3]"):
        h.add_(torch.ones(4, 2, 3))
    with torch.no_grad():  # the unrecorded in-place path (an optimizer's update) says the same
        with raises(RuntimeError, "output with shape [] doesn't match the broadcast shape [2]"):
            torch.tensor(1.0).sub_(torch.ones(2))
        with raises(RuntimeError, "[3]", "[2]"):
            torch.ones(3).add_(torch.ones(2))
    with raises(RuntimeError, "start (2) + length (5) exceeds dimension size (3)"):
        x.narrow(1, 2, 5)
    with raises(RuntimeError, "split_sizes to sum exactly to 3"):
        x.split([1, 1], 1)


def test_dtype_problems():
    with raises(RuntimeError, "only Tensors of floating point dtype can require gradients", ".float()"):
        torch.tensor([1, 2], requires_grad=True)
    with raises(RuntimeError, "floating point", ".float()"):
        torch.zeros(2, dtype=torch.int64).requires_grad_()
    with raises(RuntimeError, "floating point"):
        torch.ones(2, dtype=torch.bool, requires_grad=True)
    x = torch.ones(3, requires_grad=True)
    with raises(RuntimeError, "must be floating point", ".float()"):
        x.data = torch.tensor([1, 2, 3])
    with raises(RuntimeError, "does not require grad"):
        torch.autograd.grad((x * 2).sum(), torch.tensor([1, 2, 3]))
    with raises(RuntimeError, "does not require grad"):
        (torch.tensor([1, 2]) * 2).sum().backward()  # integer results have no gradient
    with raises(RuntimeError, "Input dtype must be either a floating point", ".float()"):
        torch.tensor([1, 2]).mean()
    with raises(RuntimeError, "same dtype", ".to(dtype)"):
        torch.ones(2, 2) @ torch.ones(2, 2, dtype=torch.float64)
    with raises(TypeError, "float16", "autotape.tensor(array)"):
        torch.from_numpy(np.ones(3, np.float16))
    with raises(TypeError, ">f8", "native-byte-order"):
        torch.from_numpy(np.ones(3, ">f8"))
    assert torch.tensor(np.ones(2, ">f8")).dtype == torch.float64  # a copy converts
    assert torch.as_tensor(np.ones(2, np.float16)).dtype == torch.float32
    assert torch.tensor(np.float64(2.0)).dtype == torch.float64  # NumPy scalars keep their dtype
    with raises(TypeError, "expected a Tensor or a number"):
        x + "a"
    with raises(TypeError, "expected a Tensor or a number"):
        None * x
    with raises(TypeError, "numbers only"):
        torch.tensor([object()])


def test_backward_misuse():
    x = torch.ones(3, requires_grad=True)
    with raises(RuntimeError, "does not require grad", "requires_grad=True"):
        torch.ones(3).sum().backward()
    with raises(RuntimeError, "does not require grad"):
        (x * 2).detach().sum().backward()
    y = (x.exp() * 2).sum()
    y.backward()
    with raises(RuntimeError, "second time", "retain_graph=True"):
        y.backward()
    z = x.exp()
    with raises(RuntimeError, "Mismatch in shape", "[2]", "[3]", "gradient of the output's shape"):
        z.backward(torch.ones(2))
    with raises(RuntimeError, "implicitly created only for scalar outputs", "gradient="):
        z.backward()
    with raises(RuntimeError, "got 2 gradients for 1 tensors"):
        torch.autograd.backward([z], [torch.ones(3), torch.ones(3)])
    with raises(NotImplementedError, "create_graph"):
        z.sum().backward(create_graph=True)


def test_saved_tensor_modified_in_place():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = h.sin()  # saves h
    with torch.no_grad():
        h.add_(1)
    with raises(RuntimeError, "modified by an inplace operation", "SinBackward0", "clone()"):
        y.sum().backward()
    d = x.exp()  # saves its output; a detached alias shares its version counter, as in PyTorch
    d.detach().zero_()
    with raises(RuntimeError, "modified by an inplace operation", "ExpBackward0"):
        d.sum().backward()
    # A recorded in-place op is fine (PyTorch saves the original for mul_ and log_ too)
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    k = w * 1.0
    k.mul_(w)
    k.log_()
    k.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 1.0])


def test_function_backward_wrong_number_or_shape():
    def fn(result):
        class F(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                return a * b

            @staticmethod
            def backward(ctx, g):
                return result(g)

        return F

    a, b = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    with raises(RuntimeError, "incorrect number of gradients (expected 2, got 1)", "one gradient (or None) per"):
        fn(lambda g: g).apply(a, b).sum().backward()
    with raises(RuntimeError, "invalid gradient at index 1 - got [1] but expected shape compatible with [3]",
                "input's shape"):
        fn(lambda g: (g, torch.ones(1))).apply(a, b).sum().backward()  # PyTorch does not broadcast it up
    with raises(TypeError, "returned a float as gradient 0", "Tensor or None"):
        fn(lambda g: (1.0, None)).apply(a, b).sum().backward()
    # a gradient of a shape the input broadcasts to is summed back, as in PyTorch
    c = torch.ones(1, 3, requires_grad=True)
    fn(lambda g: (torch.ones(2, 3), None)).apply(c, b).sum().backward()
    np.testing.assert_allclose(c.grad.numpy(), [[2.0, 2.0, 2.0]])


def test_hooks_that_change_the_gradient():
    x = torch.ones(3, requires_grad=True)
    h = x * 2
    h.register_hook(lambda g: torch.ones(2))
    with raises(RuntimeError, "has changed the size of value", "[2]", "[3]"):
        (h * h).sum().backward()
    y = torch.ones(3, requires_grad=True)
    y.register_hook(lambda g: torch.ones(4))
    with raises(RuntimeError, "has changed the size of value"):
        (y * y).sum().backward()
    z = torch.ones(3, requires_grad=True)
    z.register_hook(lambda g: 3.0)
    with raises(TypeError, "returned a float", "Tensor"):
        (z * z).sum().backward()
    w = torch.ones(3, requires_grad=True)
    with raises(RuntimeError, "assigned grad", "different size", "[2]", "[3]"):
        w.grad = torch.ones(2)
    v = torch.ones(3, requires_grad=True)
    u = v * v
    v.data = torch.ones(4)
    with raises(RuntimeError, "shape [3]", "[4]", ".data was replaced"):
        u.sum().backward()


def test_unknown_devices():
    # (CUDA tensors: tests/test_cuda.py)
    for device in ("mps", "meta", "xla:0"):
        with raises(RuntimeError, f"device '{device}' is not available", "device='cpu'"):
            torch.ones(2, device=device)
    x = torch.ones(2, requires_grad=True)
    with raises(RuntimeError, "not available"):
        x.to("mps")
    assert x.to("cpu") is x and x.device == "cpu"


def test_item_and_indexing():
    with raises(RuntimeError, "with 3 elements cannot be converted to Scalar", ".tolist()"):
        torch.ones(3).item()
    with raises(RuntimeError, "with 0 elements"):
        torch.ones(0).item()
    assert torch.ones(1, 1).item() == 1.0
    x = torch.arange(6.0).reshape(2, 3).requires_grad_()
    for key in (2, -3, (0, 3), (slice(None), 5), [0, 2], (slice(None), [0, 3])):
        with pytest.raises(IndexError):
            x[key]
    with raises(IndexError, "out of bounds"):
        x[torch.tensor([5])]
    with raises(IndexError, "index 3 is out of bounds for dimension 1 with size 3"):
        x.select(1, 3)
    with raises(IndexError, "0-dim"):
        torch.tensor(1.0)[0]
    with raises(IndexError, "0-dim"):
        torch.tensor(1.0).select(0, 0)
    with raises(IndexError, "Dimension out of range"):
        x.sum(dim=2)
    with raises(IndexError, "Dimension out of range"):
        torch.tensor(1.0).sum(1)  # a 0-d tensor has dims 0 and -1 only
    with raises(IndexError, "Dimension out of range"):
        torch.tensor(1.0).softmax(1)
    with raises(IndexError, "Dimension out of range"):
        x.unsqueeze(4)
    with raises(IndexError, "boolean index did not match"):
        x[torch.tensor([True, False, True])]
    with pytest.raises(IndexError):
        x[1.5]
    y = x[[]]  # an empty index list selects nothing
    assert tuple(y.shape) == (0, 3)


def test_read_only_memory_is_not_written():
    e = torch.ones(3).expand(2, 3)
    with raises(RuntimeError, "read-only", "clone()"):
        e.add_(1)
    with raises(RuntimeError, "read-only"):
        e.mul_(torch.ones(3))
    with raises(RuntimeError, "read-only"):
        e[0] = 5.0
    ro = np.ones(3)
    ro.flags.writeable = False
    with raises(RuntimeError, "read-only"):
        torch.from_numpy(ro).zero_()


def test_empty_and_zero_size_reductions():
    with raises(RuntimeError, "Specify the reduction dim"):
        torch.ones(0).max()
    with raises(IndexError, "Expected reduction dim 1 to have non-zero size"):  # (PyTorch's type)
        torch.ones(3, 0).amax(1)
    x = torch.ones(0, 3, requires_grad=True)
    for out in (x.amax(1), x.softmax(0), x.log_softmax(1), x.logsumexp(1), x.sum(0), x.cumsum(0)):
        out.sum().backward()
        assert tuple(x.grad.shape) == (0, 3)
        x.grad = None


# -- corner values: PyTorch's definitions, no NaN where PyTorch has none ----------------------------

CORNERS = [
    # (what, fn, input values, expected value, expected gradient of value.sum())
    ("x ** 0 at 0", lambda T, x: x ** 0, [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]),
    ("x ** 2 at 0", lambda T, x: x ** 2, [0.0, -1.0], [0.0, 1.0], [0.0, -2.0]),
    ("x ** 1.5 at 0", lambda T, x: x ** 1.5, [0.0, 1.0], [0.0, 1.0], [0.0, 1.5]),
    ("pow(0, y) in y", lambda T, x: T.zeros(3, dtype=T.float64) ** x, [0.0, 1.0, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
    ("0 ** y", lambda T, x: 0.0 ** x, [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]),
    ("abs at 0", lambda T, x: x.abs(), [0.0, -1.0], [0.0, 1.0], [0.0, -1.0]),
    ("relu at 0", lambda T, x: T.relu(x), [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]),
    ("norm of 0", lambda T, x: x.norm().reshape(1), [0.0, 0.0], [0.0], [0.0, 0.0]),
    ("3-norm of 0", lambda T, x: x.norm(p=3).reshape(1), [0.0, 0.0], [0.0], [0.0, 0.0]),
    ("std of a constant", lambda T, x: x.std().reshape(1), [1.0, 1.0], [0.0], [0.0, 0.0]),
    ("prod with one 0", lambda T, x: x.prod().reshape(1), [0.0, 2.0, 3.0], [0.0], [6.0, 0.0, 0.0]),
    ("prod with two 0s", lambda T, x: x.prod().reshape(1), [0.0, 0.0, 3.0], [0.0], [0.0, 0.0, 0.0]),
    ("softmax with -inf", lambda T, x: T.softmax(x, 0) * T.tensor([1.0, 2.0, 3.0], dtype=T.float64),
     [-math.inf, 0.0, 0.0], [0.0, 1.0, 1.5], [0.0, -0.25, 0.25]),
    ("log_softmax with -inf", lambda T, x: T.log_softmax(x, 0)[1:], [-math.inf, 0.0, 0.0],
     [-math.log(2), -math.log(2)], [0.0, 0.0, 0.0]),
    ("logsumexp with -inf", lambda T, x: T.logsumexp(x, 0).reshape(1), [-math.inf, 0.0], [0.0], [0.0, 1.0]),
    ("max ties share", lambda T, x: x.max().reshape(1), [1.0, 1.0, 0.0], [1.0], [0.5, 0.5, 0.0]),
    ("maximum ties share", lambda T, x: T.maximum(x, T.ones(2, dtype=T.float64)), [1.0, 0.0], [1.0, 1.0],
     [0.5, 0.0]),
    ("clamp at its bounds", lambda T, x: x.clamp(0.0, 1.0), [0.0, 1.0, 0.5], [0.0, 1.0, 0.5], [1.0, 1.0, 1.0]),
    ("sign at 0", lambda T, x: x.sign(), [0.0, 2.0], [0.0, 1.0], [0.0, 0.0]),
    ("0 * log(0) in a where", lambda T, x: T.where(x > 0, x, T.ones(2, dtype=T.float64)).log() * x,
     [0.0, 1.0], [0.0, 0.0], [0.0, 1.0]),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("what,fn,values,value,grad", CORNERS, ids=[c[0] for c in CORNERS])
def test_corner_values_as_pytorch_defines_them(what, fn, values, value, grad):
    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    out = fn(torch, x)
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), value, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), grad, atol=1e-12)
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("what,fn,values,value,grad", CORNERS, ids=[c[0] for c in CORNERS])
def test_corner_values_match_torch(request, what, fn, values, value, grad):
    pt = request.getfixturevalue("torch")
    x = pt.tensor(values, dtype=pt.float64, requires_grad=True)
    out = fn(pt, x)
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), value, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), grad, atol=1e-12)


# -- no input crashes the interpreter or shows a Numba error ----------------------------------------

BAD_VALUES = [None, "a", [1.0, [2.0]], [[1.0, 2.0], [3.0]], object(), 1j, [1j], float("nan"), float("inf"), -1, 0,
              1e300, True, (), [], [[]], np.ones(2, np.float16), np.ones(2, ">f8"), np.ones(2, np.uint8),
              np.ones((2, 0)), np.ones(3)[::2], np.float32(1.5), slice(None), Ellipsis, 2 ** 70]

ACTIONS = {
    "tensor": lambda v: torch.tensor(v),
    "tensor_rg": lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True),
    "from_numpy": lambda v: torch.from_numpy(v),
    "as_tensor": lambda v: torch.as_tensor(v),
    "zeros": lambda v: torch.zeros(v),
    "add": lambda v: torch.ones(2, requires_grad=True) + v,
    "radd": lambda v: v + torch.ones(2, requires_grad=True),
    "mul_": lambda v: (torch.ones(2, requires_grad=True) * 1.0).mul_(v),
    "pow": lambda v: torch.ones(2, requires_grad=True) ** v,
    "sum_dim": lambda v: torch.ones(2, 3, requires_grad=True).sum(dim=v),
    "softmax_dim": lambda v: torch.ones(2, 3, requires_grad=True).softmax(v),
    "index": lambda v: torch.ones(2, 3, requires_grad=True)[v],
    "setitem": lambda v: torch.ones(2, 3).__setitem__(0, v),
    "reshape": lambda v: torch.ones(2, 3, requires_grad=True).reshape(v),
    "backward_gradient": lambda v: (torch.ones(2, requires_grad=True) * 2).backward(v),
    "grad_outputs": lambda v: torch.autograd.grad((torch.ones(2, requires_grad=True) * 2).sum(),
                                                  torch.ones(2, requires_grad=True), v, allow_unused=True),
    "data": lambda v: setattr(torch.ones(2, requires_grad=True), "data", v),
    "clamp": lambda v: torch.ones(2, requires_grad=True).clamp(v, None),
    "where": lambda v: torch.where(torch.ones(2) > 0, torch.ones(2, requires_grad=True), v),
    "matmul": lambda v: torch.ones(2, 2, requires_grad=True) @ v,
    "cat": lambda v: torch.cat([torch.ones(2, requires_grad=True), v]),
}


def _then_backward(result):
    """Carry on with what an action made: a backward through it, when it can have one."""
    if isinstance(result, torch.Tensor) and result.requires_grad:
        result.float().sum().backward() if result.numel() else None


@pytest.mark.filterwarnings("ignore")
def test_bad_input_raises_a_python_error_and_leaves_autotape_working():
    """Every action on every odd value (all pairs): a Python error or a result, never a Numba
    error or an AttributeError from inside autotape; and the thread's tape keeps working."""
    import numba.core.errors

    wrong = []
    for action in sorted(ACTIONS):
        for value in BAD_VALUES:
            try:
                _then_backward(ACTIONS[action](value))
            except (RuntimeError, TypeError, ValueError, IndexError, NotImplementedError, OverflowError) as e:
                if isinstance(e, numba.core.errors.NumbaError) or "numba" in type(e).__module__:
                    wrong.append(f"{action}({value!r}): Numba error {e}")
            except Exception as e:  # noqa: BLE001 - the point of the test
                wrong.append(f"{action}({value!r}): {type(e).__name__}: {e}")
            x = torch.tensor([1.0, 2.0], requires_grad=True)
            (x * x).sum().backward()
            if x.grad is None or x.grad.tolist() != [2.0, 4.0]:
                wrong.append(f"after {action}({value!r}) the tape is broken: {x.grad}")
    assert not wrong, "\n".join(wrong)


def test_a_failure_inside_recording_leaves_the_tape_consistent(monkeypatch):
    """If taking a value's address raises mid-record (out of memory, say), the tape must not
    count a slot it has no row for: the compiled replay would read past its tables."""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    tape = h._tape
    real = tape_mod._address
    calls = []

    def failing(a):
        calls.append(1)
        raise MemoryError("simulated")

    monkeypatch.setattr(tape_mod, "_address", failing)
    with pytest.raises(MemoryError):
        h * torch.tensor([3.0, 4.0])  # saves both values: takes their addresses
    monkeypatch.setattr(tape_mod, "_address", real)
    assert calls and tape.n_slots * tape_mod.S_WIDTH == len(tape.S)
    (h.exp() * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([2.0, 4.0]) * np.array([1.0, 2.0]) + np.exp([2.0, 4.0]))


def test_attributes_past_int32_are_refused_before_the_tape_changes():
    """A record's int attributes are int32 (an axis of 2**31 elements would not fit): the
    record is refused with advice, and the tape keeps no half of it."""
    from autotape.ops.reduce import SUM

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    tape = h._tape
    n_rec, n_slots = tape.n_records, tape.n_slots
    with pytest.raises(RuntimeError, match="too large.*split it"):
        tape.record1(SUM, torch.tensor(0.0), h, ints=(1, 2 ** 31, 0, 0), f=1.0)
    assert (tape.n_records, tape.n_slots) == (n_rec, n_slots)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_no_numba_typing_error_for_odd_arrays():
    """Arrays NumPy allows but compiled code cannot read as they are: converted or refused."""
    odd = [np.arange(6.0).reshape(2, 3).T, np.arange(5.0)[::-1], np.broadcast_to(np.arange(3.0), (2, 3)),
           np.frombuffer(b"\0" * 25, dtype=np.uint8)[1:].view(np.float64), np.asfortranarray(np.ones((2, 2)))]
    for a in odd:
        x = torch.tensor(a, requires_grad=True)
        (x * x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * a)
        if a.dtype.isnative:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = torch.from_numpy(a).requires_grad_()
            (y.exp() * y).sum().backward()
            np.testing.assert_allclose(y.grad.numpy(), np.exp(a) * (a + 1))


def test_autograd_misuse_pytorch_refuses_is_refused():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="cannot be empty"):
        (x * 2).sum().backward(inputs=[])
    with pytest.raises(RuntimeError, match="cannot be empty"):
        torch.autograd.grad((x * 2).sum(), [])
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        torch.ones(2).retain_grad()
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).sum().backward(torch.tensor([1.0]))
    with pytest.raises(TypeError, match="must be a Tensor"):
        (x * 2).sum().backward(2.0)

    class Saves(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(2.0)
            return a * 2

    with pytest.raises(TypeError, match="save_for_backward can only save tensors"):
        Saves.apply(x)


def test_a_function_may_return_trailing_nones_beyond_its_inputs():
    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2, None

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    Double.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_more_pytorch_conventions():
    with pytest.raises(ValueError, match="only one element tensors"):
        float(torch.tensor([1.0, 2.0]))
    assert f"{torch.tensor(2.5):.2f}" == "2.50"
    with pytest.raises(TypeError, match="missing required argument 'dim'"):
        torch.softmax(torch.ones(2, 3))
    x = torch.arange(24.0).reshape(2, 3, 4) / 10
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = torch.nn.functional.softmax(x)  # PyTorch's legacy choice for 3-d input: dim 0
    np.testing.assert_allclose(y.numpy(), torch.softmax(x, 0).numpy())
    r = torch.tensor([math.nan, 1.0, -1.0], requires_grad=True)
    torch.relu(r).sum().backward()
    np.testing.assert_allclose(r.grad.numpy(), [1.0, 1.0, 0.0])  # as PyTorch: nan is not <= 0


def test_arange_and_slices_refuse_what_pytorch_refuses():
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        torch.arange(10, 0)
    assert torch.arange(5, 5).numel() == 0 and "dtype=" in repr(torch.arange(5, 5))  # an empty int64 names its dtype
    with pytest.raises(ValueError, match="step must be greater than zero"):
        torch.ones(3, 3)[:, ::-1]
    np.testing.assert_allclose(torch.arange(4.0)[::2].numpy(), [0.0, 2.0])


def test_nan_corners_as_pytorch_defines_them():
    a = torch.tensor([math.nan, 1.0, 2.0, 3.0], requires_grad=True)
    b = torch.tensor([2.0, math.nan, 2.0, 1.0], requires_grad=True)
    torch.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1.0, 1.0, 0.5, 1.0])  # a NaN on either side: both get it
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0, 0.5, 0.0])
    a.grad = b.grad = None
    torch.minimum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1.0, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0, 0.5, 1.0])
    np.testing.assert_array_equal(torch.sign(torch.tensor([math.nan, -1.0, 0.0, 2.0])).numpy(), [0.0, -1.0, 0.0, 1.0])
