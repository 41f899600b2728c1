"""Random programs over the op table: fan-out, a tensor reused many times, detach, no_grad
islands, in-place updates (under no_grad, and recorded ones). The gradients of the compiled
replay must equal central finite differences and PyTorch's; where PyTorch refuses a program
(a value saved for backward was modified in place), autotape must refuse it too.

A program is a list of steps over a growing list of values; its ``repr`` is Python source
that runs with ``import autotape as torch`` (or real torch), so a failure shrinks (hypothesis)
to a small program that the test prints and you can paste.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, note, settings
from hypothesis import strategies as st

import autotape

from op_cases import legendre

try:
    import torch
except ImportError:  # pragma: no cover - finite differences still run
    torch = None

# Every value has one of these shapes; any two of them broadcast, to at most (2, 3).
SHAPES = [(), (1,), (3,), (1, 1), (1, 3), (2, 1), (2, 3)]
E = "{0}.expand(2, 3)"

# Steps: source with {0} (and {1}) for the inputs. Each maps any shapes of SHAPES into SHAPES
# (a test checks it), and grows values slowly, so finite differences stay accurate. Kinks and
# ties are moved off the points where exact values land: 0 (x - x) and equality of two
# arguments (x and x.detach() are equal, but only one of them moves under differentiation).
TEMPLATES = {
    # elementwise, broadcasting
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * torch.tanh({1})",
    "div": "{0} / ({1} * {1} + 1.0)",
    "pow": "({1} * {1} + 0.5) ** torch.tanh({0})",
    "minimum": "torch.minimum({0}, {1} + 0.1)",
    "maximum": "torch.maximum({0}, {1} - 0.1)",
    "where": "torch.where({0} > {1} + 0.05, {0} * 2.0, {1}.sin())",
    "sin": "{0}.sin()",
    "cos": "torch.cos({0}) - 1.0",
    "exp": "torch.exp(torch.tanh({0}))",
    "log": "torch.log({0} * {0} + 1.0)",
    "log1p": "torch.log1p({0} * {0})",
    "sqrt": "({0} * {0} + 0.5).sqrt()",
    "rsqrt": "torch.rsqrt({0} * {0} + 0.5)",
    "sigmoid": "torch.sigmoid({0}) * 2.0",
    "softplus": "torch.nn.functional.softplus({0} * 3.0) / 3.0",
    "relu": "torch.relu({0} - 0.37)",
    "abs": "({0} + 0.21).abs()",
    "clamp": "{0}.clamp(-0.8, 0.9)",
    "square": "torch.square(torch.tanh({0}))",
    "pow_scalar": "({0} * {0} + 1.0) ** 1.5",
    "rpow": "2.0 ** torch.tanh({0})",
    "neg": "0.5 - {0}",
    "div_scalar": "{0} / 3.0 + 1.0 / ({0} * {0} + 2.0)",
    "python": "P3.apply(torch.tanh({0}))",
    "reuse": "{0} * {0} + {0} * 0.5 - {0}.sin() * {0}",
    # reductions (keepdim: shapes stay in SHAPES)
    "sum": "{0}.sum()",
    "sum_dim": "({0}.sum(-1, keepdim=True) if {0}.dim() else {0} * 1.0)",
    "mean_dim": "({0}.mean(0, keepdim=True) if {0}.dim() else {0} + 0.0)",
    "prod": "(torch.tanh({0}) + 1.5).prod()",
    "amax": "(" + E + ").amax(-1, keepdim=True)",
    "max": "(" + E + ").max()",
    "min_dim": "(" + E + ").min(0, keepdim=True).values",
    "logsumexp": "torch.logsumexp(" + E + ", -1, keepdim=True)",
    "norm": "({0} + 0.13).norm()",
    "var": "(" + E + ").var(-1, keepdim=True)",
    # (spread out: the std of equal values is 0 up to rounding, where its slope is noise)
    "std": "(" + E + " + {0} * {0} + torch.arange(6.0, dtype=torch.float64).reshape(2, 3) * 0.3).std()",
    "softmax": "(torch.softmax({0}, -1) if {0}.dim() else {0} * 1.0)",
    "log_softmax": "(torch.log_softmax(" + E + ", 0) * 0.3)",
    "cumsum": "(" + E + ").cumsum(-1) * 0.5",
    # shapes, indexing, products
    "expand": E + " * 1.0",
    "transpose": "(" + E + ").T.sin().T",
    "view": "(" + E + " * 1.0).view(3, 2).reshape(2, 3)",
    "unsqueeze": "{0}.unsqueeze(0).squeeze(0) * 1.5",
    "select": "(" + E + ")[1]",
    "slice": "(" + E + ")[:, 1:2]",
    "index": "(" + E + ")[[1, 0]][:, [2, 0, 0]]",
    "mask": "(" + E + ")[(" + E + ") > 0.1].sum()",
    "unbind": "(" + E + ").unbind(0)[1]",
    "split": "(" + E + ").split(1, 0)[1]",
    "cat": "torch.cat([" + E + ", " + E.replace("{0}", "{1}") + "], -1).narrow(-1, 2, 3)",
    "stack": "torch.stack([" + E + ", " + E.replace("{0}", "{1}") + " - 0.1, " + E + "]).amax(0)",
    "mm": "((" + E + ") @ (" + E.replace("{0}", "{1}") + ").T @ (" + E + ")) * 0.2",
    "clone": "{0}.clone()",
}
ARITY = {name: 2 if "{1}" in src else 1 for name, src in TEMPLATES.items()}
# Producers of a fresh tensor that no op saved: a recorded in-place update may target them.
FRESH = {"add", "sub", "mul", "div", "minimum", "maximum", "where", "neg", "clone"}


class Program:
    """Leaves (shape, requires_grad) and steps; runs with any module that has torch's API."""

    def __init__(self, leaves, steps, outputs, seed):
        self.leaves, self.steps, self.outputs, self.seed = leaves, steps, outputs, seed

    def leaf_values(self):
        rng = np.random.default_rng(self.seed)
        return [np.array(rng.standard_normal(shape)) for shape, _ in self.leaves]

    def source(self):
        """The program as Python (the test's failure report)."""
        lines = ["import torch  # or: import autotape as torch", "from op_cases import legendre",
                 "P3 = legendre(torch)"]
        for k, ((shape, rg), a) in enumerate(zip(self.leaves, self.leaf_values())):
            lines.append(f"v{k} = torch.tensor({a.tolist()!r}, dtype=torch.float64, requires_grad={rg})")
        n = len(self.leaves)
        for step in self.steps:
            kind = step[0]
            if kind == "op":
                _, name, args = step
                lines.append(f"v{n} = {TEMPLATES[name].format(*[f'v{i}' for i in args])}")
                n += 1
            elif kind == "no_grad":
                _, name, args = step
                lines += ["with torch.no_grad():", f"    v{n} = {TEMPLATES[name].format(*[f'v{i}' for i in args])}"]
                n += 1
            elif kind == "detach":
                lines.append(f"v{n} = v{step[1]}.detach()")
                n += 1
            elif kind == "inplace_no_grad":
                _, target, src = step
                lines += ["with torch.no_grad():", f"    v{target}.add_(torch.tanh(v{src}.sum()) * 0.1)"]
            else:  # recorded in-place
                _, target, src = step
                lines.append(f"v{target}.mul_(torch.tanh(v{src}.sum()) + 1.5)")
        terms = " + ".join(f"(v{i} * {c}).sum()" for i, c in self.outputs)
        lines += [f"loss = {terms}", "loss.backward()"]
        return "\n".join(lines)

    def __repr__(self):
        return "\n" + self.source() + "\n"

    def run(self, T, leaves=None, frozen=None):
        """Run with module ``T``. ``frozen``: the values that the program computes outside
        autograd (detach, no_grad, in-place deltas), from a base run, so that finite
        differences see them as constants as autograd does. Returns (loss, leaf tensors,
        the values computed outside autograd)."""
        P3 = legendre(T)
        env = {"torch": T, "P3": P3, **EXTRA_NAMES}
        data = self.leaf_values() if leaves is None else leaves
        vals = [T.tensor(a, dtype=T.float64, requires_grad=rg and frozen is None)
                for a, (_, rg) in zip(data, self.leaves)]
        outside = []
        replay = iter(frozen) if frozen is not None else None

        def constant(compute):
            if replay is not None:
                return T.tensor(next(replay), dtype=T.float64)
            value = compute()
            outside.append(value.detach().numpy().copy())
            return value

        def call(name, args):
            fn = eval("lambda torch, P3, *v: " + TEMPLATES[name].format(*[f"v[{k}]" for k in range(len(args))]), env)
            return fn(T, P3, *[vals[i] for i in args])

        for step in self.steps:
            kind = step[0]
            if kind == "op":
                vals.append(call(step[1], step[2]))
            elif kind == "no_grad":
                def island(step=step):
                    with T.no_grad():
                        return call(step[1], step[2])
                vals.append(constant(island))
            elif kind == "detach":
                vals.append(constant(lambda step=step: vals[step[1]].detach()))
            elif kind == "inplace_no_grad":
                def delta(step=step):
                    with T.no_grad():
                        return T.tanh(vals[step[2]].sum()) * 0.1
                d = constant(delta)
                with T.no_grad():
                    vals[step[1]].add_(d)
            else:
                vals[step[1]].mul_(T.tanh(vals[step[2]].sum()) + 1.5)
        loss = sum((vals[i] * c).sum() for i, c in self.outputs)
        return loss, vals[: len(self.leaves)], outside


@st.composite
def programs(draw, templates=None, max_steps=10):
    names = sorted(templates or TEMPLATES)
    n_leaves = draw(st.integers(1, 3))
    leaves = [(draw(st.sampled_from(SHAPES)), draw(st.booleans()) or k == 0) for k in range(n_leaves)]
    leaves += [(draw(st.sampled_from(SHAPES)), False) for _ in range(draw(st.integers(0, 1)))]  # constants
    n = len(leaves)
    used = set()  # values some step has read: in-place updates go only to unused ones
    fresh = set()  # unused recorded values whose producer saved nothing
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(["op"] * 8 + ["no_grad", "detach", "inplace_no_grad", "inplace"]))
        if kind in ("op", "no_grad"):
            name = draw(st.sampled_from(names))
            args = [draw(st.integers(0, n - 1)) for _ in range(ARITY.get(name, 1))]
            steps.append((kind, name, args))
            used.update(args)
            fresh.difference_update(args)
            if kind == "op" and name in FRESH:
                fresh.add(n)
            n += 1
        elif kind == "detach":
            i = draw(st.integers(0, n - 1))
            steps.append(("detach", i))
            used.add(i)
            fresh.discard(i)
            n += 1
        elif kind == "inplace_no_grad":
            targets = [i for i in range(len(leaves)) if i not in used]
            if targets:
                target, src = draw(st.sampled_from(targets)), draw(st.integers(0, n - 1))
                steps.append(("inplace_no_grad", target, src))
                used.add(src)
        else:
            if fresh:
                target, src = draw(st.sampled_from(sorted(fresh))), draw(st.integers(0, n - 1))
                steps.append(("inplace", target, src))
                used.add(src)
                fresh.discard(src)
    picked = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3, unique=True))
    outputs = [(i, draw(st.sampled_from([1.0, -0.5, 2.0]))) for i in picked]
    return Program(leaves, steps, outputs, draw(st.integers(0, 2 ** 16)))


def _outcome(T, prog):
    """('ok', loss, leaf grads) or ('error', stage, exception)."""
    try:
        loss, leaves, _ = prog.run(T)
    except RuntimeError as e:
        return "error", "forward", e
    if not loss.requires_grad:
        return "ok", loss.item(), [None for _ in leaves]
    try:
        loss.backward()
    except RuntimeError as e:
        return "error", "backward", e
    return "ok", loss.item(), [None if t.grad is None else t.grad.numpy().copy() for t in leaves]


def _finite_differences(prog, eps=1e-6):
    base = prog.leaf_values()
    _, _, frozen = prog.run(autotape, base)
    grads = []
    with autotape.no_grad():
        for k, (_, rg) in enumerate(prog.leaves):
            if not rg:
                grads.append(None)
                continue
            g = np.zeros(base[k].shape)
            for i in range(base[k].size):
                pert = [a.copy() for a in base]
                h = eps * max(1.0, abs(pert[k].flat[i]))
                pert[k].flat[i] += h
                up = float(prog.run(autotape, pert, frozen)[0])
                pert[k].flat[i] -= 2 * h
                down = float(prog.run(autotape, pert, frozen)[0])
                g.flat[i] = (up - down) / (2 * h)
            grads.append(g)
    return grads


def _close(a, b, rtol, atol):
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    return np.allclose(a, b, rtol=rtol, atol=atol * scale)


def problems(prog):
    """What is wrong with autotape on ``prog`` (empty: nothing)."""
    ours = _outcome(autotape, prog)
    theirs = _outcome(torch, prog) if torch is not None else None
    if theirs is not None and ours[0] != theirs[0]:
        return [f"autotape: {ours[0]} ({ours[2] if ours[0] == 'error' else 'gradients'}); "
                f"torch: {theirs[0]} ({theirs[2] if theirs[0] == 'error' else 'gradients'})"]
    if ours[0] == "error":
        if theirs is not None and ours[1] != theirs[1]:
            return [f"autotape refused it in {ours[1]}, torch in {theirs[1]}"]
        return [] if theirs is not None else [f"autotape refused a program: {ours[2]}"]
    found = []
    _, loss, grads = ours
    if theirs is not None:
        if not np.isclose(loss, theirs[1], rtol=1e-10, atol=1e-12):
            found.append(f"loss {loss} != torch's {theirs[1]}")
        for k, (a, b) in enumerate(zip(grads, theirs[2])):
            if (a is None) != (b is None) or (a is not None and not _close(a, b, 1e-9, 1e-12)):
                found.append(f"grad of v{k}: {a} != torch's {b}")
    for k, (a, fd) in enumerate(zip(grads, _finite_differences(prog) if any(g is not None for g in grads) else [])):
        if fd is not None and not _close(np.zeros_like(fd) if a is None else a, fd, 1e-5, 1e-6):
            found.append(f"grad of v{k}: {a} != finite differences {fd}")
    return found


RUNS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def test_templates_keep_shapes_in_the_family():
    """Every step maps shapes of SHAPES into SHAPES, in both libraries."""
    P3 = legendre(autotape)
    for name, src in TEMPLATES.items():
        fn = eval("lambda torch, P3, *v: " + src.format("v[0]", "v[1]"))
        for s0 in SHAPES:
            for s1 in SHAPES if ARITY[name] == 2 else [()]:
                out = fn(autotape, P3, autotape.ones(s0, dtype=autotape.float64) * 0.3,
                         autotape.ones(s1, dtype=autotape.float64) * -0.2)
                assert tuple(out.shape) in SHAPES, f"{name} on {s0}, {s1} gives {tuple(out.shape)}"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@RUNS
@given(prog=programs())
def test_random_programs_match_finite_differences_and_torch(prog):
    note(prog.source())
    assert not problems(prog)


def test_a_wrong_gradient_shrinks_to_a_small_printed_program():
    """With a VJP broken on purpose (a custom Function whose backward is off by a factor),
    hypothesis finds a failing program and shrinks it to a few steps, printed as source."""

    class Wrong(autotape.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a  # should be 2 * g * a

    def fails(prog):
        ours = _outcome(autotape, prog)
        if ours[0] == "error" or all(g is None for g in ours[2]):
            return False
        return any(g is not None and not _close(g, fd, 1e-5, 1e-6)
                   for g, fd in zip(ours[2], _finite_differences(prog)))

    TEMPLATES["wrong"], ARITY["wrong"], EXTRA_NAMES["Wrong"] = "Wrong.apply({0})", 1, Wrong
    try:
        menu = {"wrong", "add", "mul", "sin", "sum_dim", "stack", "python"}  # (a short search)
        smallest = find(programs(templates=menu, max_steps=6), fails,
                        settings=settings(max_examples=500, derandomize=True, database=None, deadline=None,
                                          suppress_health_check=list(HealthCheck)))
        source = smallest.source()
        print("shrunk to:\n" + source)
        assert len(smallest.steps) <= 3, source
        assert "Wrong.apply(v0)" in source and "loss.backward()" in source, source
    finally:
        del TEMPLATES["wrong"], ARITY["wrong"], EXTRA_NAMES["Wrong"]


EXTRA_NAMES = {}  # names that a test's own templates use
