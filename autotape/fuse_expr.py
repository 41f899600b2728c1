"""The arithmetic of ``fuse.py``'s generated loop: the op table's expressions as Python ASTs
(constant conditionals decided, float32 literals), how many IEEE roundings an expression makes
(which decides whether float32 values may be computed in float32), and ``_Derived``, the
constants the loop recomputes from captured tensors instead of reading NumPy's arrays."""
import ast
import math
import re

import numpy as np

from .compile import Derivation
from .tensor import Tensor

_INPUT_NAMES = {"ew1": ("x",), "ew2": ("x1", "x2")}
_NAMES = re.compile(r"\b(x|x1|x2|y|g|a|b)\b")

def _lit(v):
    """A float attribute as a literal, so LLVM folds branches on it (``a == 2.0`` in pow)."""
    if v != v:
        return "math.nan"
    if math.isinf(v):
        return "math.inf" if v > 0 else "(-math.inf)"
    s = repr(float(v))
    return f"({s})" if s.startswith("-") else s


def _subst(expr, env):
    return _NAMES.sub(lambda m: env[m.group(1)], expr)


class _Derived:
    """The constants of N elements (``x ** 2`` of a captured ``x``, which NumPy computed while
    recording) that the loop recomputes from the captured tensors they came from, instead of
    reading the array NumPy made: a pass over memory costs more than a few multiplies.

    A constant is recomputed when every step of its derivation (``compile.Derivation``) is IEEE
    arithmetic (+ - * /, negation, casts between float32 and float64) that the loop can do as
    NumPy did it: in the value's own dtype, one rounding per operation, so the numbers are
    eager's bit for bit (``x ** 3`` of float32 is ``x * x * x`` with two float32 roundings, as
    NumPy and PyTorch compute it). The captured tensors it reads are among the plan's
    ``sources``, whose data and version the guards check on every call (a change records
    again), so the recomputation always sees the values the recording saw. It is recomputed
    only when the loop then reads no more bytes per element than it did: the polynomial's x**2
    and x**3 come from the x the loop reads anyway.

    ``slots``: slot -> the variable computing it; ``before``/``inside``: the lines before the
    loop and at the top of its body; ``arrays``: the captured arrays read, whose addresses
    follow the slots' in ``A``."""

    def __init__(self, fusion, tape):
        self.fusion, self.n = fusion, fusion.n
        self.slots, self.before, self.inside, self.arrays = {}, [], [], []
        vec = fusion.vec
        # captured tensors that are the loop's inputs already: read there, by the slot's name
        self.names = {id(t): f"v{t._slot}" for t, _ in tape.consts
                      if t._lserial == tape.serial and t._slot in fusion.inputs}
        read = {id(t) for t, _ in tape.consts if t._lserial == tape.serial and t._slot in fusion.inputs
                and t._slot in vec}
        self.done = set()
        for s in sorted(set(tape.derivations) & set(fusion.inputs) & vec):
            steps, leaves = [], {}
            if not self._collect(tape.derivations[s], steps, leaves, set()):
                continue
            new = sum(t._data.itemsize for k, t in leaves.items() if k not in read and t._data.size == self.n)
            if new > (4 if fusion.f32(s) else 8):
                continue  # recomputing it would read more than reading it
            read.update(leaves)
            for t in leaves.values():
                self._read(t)
            for d in steps:
                self._step(d)
            self.slots[s] = self.names[id(tape.derivations[s].value)]
            self.inside.append(f"            v{s} = {self.slots[s]}  # recomputed")

    def _collect(self, d, steps, leaves, seen):
        """Whether ``d`` can be recomputed exactly; its steps (inputs first) and captured tensors."""
        if isinstance(d, Tensor):
            data = d._data
            ok = data.dtype in (np.float32, np.float64) and (data.size == 1 or (
                data.size == self.n and data.flags.c_contiguous))
            leaves[id(d)] = d
            return ok
        if id(d.value) in seen:
            return True
        seen.add(id(d.value))
        if _expression(d, self.n) is None or not all(self._collect(u, steps, leaves, seen) for u in d.inputs):
            return False
        steps.append(d)
        return True

    def _read(self, t):
        """A name for captured tensor ``t``: one more array in ``A``, read in the loop (or once)."""
        if id(t) in self.names:
            return
        j, k = len(self.fusion.slots) + len(self.arrays), len(self.arrays)
        bits = 32 if t._data.dtype == np.float32 else 64
        self.arrays.append(t._data)
        self.names[id(t)] = f"w{k}"
        if t._data.size == 1:
            self.before.append(f"    w{k} = _p{bits}(A[{j}])[0]")
        else:
            self.before.append(f"    c{k} = _p{bits}(A[{j}])")
            self.inside.append(f"            w{k} = c{k}[i]")

    def _step(self, d):
        if id(d.value) in self.done:
            return
        self.done.add(id(d.value))
        name = f"u{len(self.done)}"
        e = _expression(d, self.n, [self.names[id(u.value if isinstance(u, Derivation) else u)] for u in d.inputs])
        self.names[id(d.value)] = name
        if d.value._data.size == self.n:
            self.inside.append(f"            {name} = {e}  # {d.spec.name}")
        else:  # of one element: once, before the loop
            self.before.append(f"    {name} = {e}  # {d.spec.name}")


def _expression(d, n, names=None):
    """The source computing step ``d`` as NumPy did, in its own dtype, from ``names`` (placeholders
    by default); None when the loop cannot (not IEEE arithmetic, mixed dtypes, other sizes)."""
    spec, out = d.spec, d.value._data
    ins = [u.value._data if isinstance(u, Derivation) else u._data for u in d.inputs]
    if spec.kind not in _INPUT_NAMES or len(ins) != len(_INPUT_NAMES[spec.kind]) or out.size not in (1, n) or \
            out.dtype not in (np.float32, np.float64) or any(u.size not in (1, out.size) for u in ins):
        return None
    f32 = out.dtype == np.float32
    names = names or list(_INPUT_NAMES[spec.kind])
    if spec.name == "to_copy":
        return f"np.float{32 if f32 else 64}({names[0]})" if ins[0].dtype in (np.float32, np.float64) else None
    if spec.fwd is None or any(u.dtype != out.dtype for u in ins):
        return None
    env = dict(zip(_INPUT_NAMES[spec.kind], names), a=_lit(d.a), b=_lit(d.b))
    tree = _fold(spec.fwd, env)
    ops = _arithmetic(tree.body)
    # (an op of one element may have run in Python floats, rounding once: the same only for one operation)
    if ops is None or (out.size == 1 and ops > 1):
        return None
    return _source(tree, f32)


def _arithmetic(node):
    """How many IEEE operations (+ - * /, negation) ``node`` makes on values and float literals;
    None when it holds anything else (a call, a comparison, a power, an infinite literal)."""
    if isinstance(node, ast.Name):
        return 0
    if isinstance(node, ast.Constant):
        return 0 if isinstance(node.value, float) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        k = _arithmetic(node.operand)
        return None if k is None else k + 1
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        k1, k2 = _arithmetic(node.left), _arithmetic(node.right)
        return None if k1 is None or k2 is None else k1 + k2 + 1
    return None


def _float32_arithmetic(node):
    """Whether ``node`` is IEEE arithmetic (``_arithmetic``) on float32 values and constants
    that float32 holds exactly: NumPy computes it in float32, rounding after each operation."""
    return _arithmetic(node) is not None and all(
        float(np.float32(n.value)) == n.value for n in ast.walk(node) if isinstance(n, ast.Constant))


class _Fold(ast.NodeTransformer):
    """Decides the conditionals on constants (``x * x if 2.0 == 2.0 else ...`` is ``x * x``), so
    that the untaken branches do not widen the expression's type."""

    def visit_IfExp(self, node):
        self.generic_visit(node)
        if any(isinstance(n, ast.Name) and n.id != "math" for n in ast.walk(node.test)):
            return node
        return node.body if eval(compile(ast.Expression(node.test), "<fold>", "eval"), {"math": math}) else node.orelse


class _Float32(ast.NodeTransformer):
    def visit_Constant(self, node):
        if isinstance(node.value, float):
            return ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "float32", ast.Load()), [node], [])
        return node


def _fold(expr, env):
    return _Fold().visit(ast.parse(_subst(expr, env), mode="eval"))


def _source(tree, f32=False):
    """The expression's source; ``f32``: its float constants as float32 (a float64 one widens the result)."""
    if f32:
        tree = _Float32().visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


def _constant(node):
    """The value of an expression of literals, or None."""
    if any(isinstance(n, ast.Name) and n.id != "math" for n in ast.walk(node)):
        return None
    return eval(compile(ast.Expression(node), "<fold>", "eval"), {"math": math})


def _one_rounding(node):
    """Whether ``node`` is at most one IEEE operation (+ - * /, negation) on values and float32
    constants: then computing it in float32 gives the float32 rounding of the float64 result
    (float64 has more than 2 * 24 + 2 bits, so rounding twice is as rounding once)."""

    def operand(n):
        if isinstance(n, ast.Name):
            return True
        c = _constant(n)
        return isinstance(c, float) and (c != c or float(np.float32(c)) == c)

    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        return operand(node.left) and operand(node.right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return operand(node.operand)
    return operand(node)
