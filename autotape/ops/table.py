"""The op table: every differentiable op, defined once.

An entry names the op, the ``grad_fn`` class PyTorch shows for it, its forward, and its VJP:

* elementwise ops (``kind`` "ew1", "ew2", "ew3") give the VJP as Numba-compilable expressions in
  the scalars ``x`` (or ``x1``, ``x2``, ``c``), ``y`` (output), ``g`` (incoming gradient) and the
  record's float attributes ``a``, ``b``. They all share one generated replay loop, so adding
  one is adding one entry.
* other ops (``kind`` "kernel") name a Numba kernel in ``replay/cpu_kernels.py`` (and its CUDA
  twin) that reads the record's integer attributes for shapes and axes.
* ``kind`` "python" is a custom ``autograd.Function``: replay hands control back to Python.

``uses`` lists the values the VJP reads; only those are kept alive for backward, and their
version counters are checked before replay.

``fwd`` (elementwise ops) is the forward as one Numba-compilable expression in the same names
(without ``y`` and ``g``): ``autotape.compile`` replays recorded tapes forward with it.

``scalar`` (some elementwise ops) is the forward of one element in Python floats: ``(x, a, b)``
or ``(x1, x2)`` to a float, or None where it leaves the case to ``forward``. Eager ops on one
element use it (see ``apply.one_element``): a NumPy ufunc on a 0-d array costs ~1 us, a float
operation a tenth of that.
"""
import re

OPS = []
BY_NAME = {}
_INPUT_NAMES = {"ew1": ("x",), "ew2": ("x1", "x2"), "ew3": ("c", "x1", "x2")}


class OpSpec:
    __slots__ = ("name", "grad_fn", "kind", "vjp", "forward", "uses", "code", "value_inputs", "uses_output",
                 "fwd", "scalar")

    def __init__(self, name, grad_fn, kind, vjp, forward, uses, fwd=None, scalar=None):
        self.name, self.grad_fn, self.kind, self.vjp, self.forward = name, grad_fn, kind, vjp, forward
        self.fwd, self.scalar = fwd, scalar
        if uses is None:  # elementwise: read the names off the expressions
            exprs = vjp if isinstance(vjp, tuple) else (vjp,)
            uses = {v for e in exprs for v in ("x", "x1", "x2", "y", "c") if re.search(rf"\b{v}\b", e)}
        self.uses = frozenset(uses)
        # per input position: does the VJP read that input's value? (kernels read all or none)
        names = _INPUT_NAMES.get(kind)
        if names:
            self.value_inputs = tuple(n in self.uses for n in names) + (False,) * (3 - len(names))
        else:
            self.value_inputs = ("x" in self.uses,) * 3
        self.uses_output = "y" in self.uses
        self.code = len(OPS)

    @property
    def saves(self):
        """Whether backward needs what forward saved: values, or (as PyTorch counts it) the
        number an elementwise VJP reads, as in ``x * 2``. PyTorch frees these after a backward,
        so a second backward through the record raises unless ``retain_graph=True``."""
        if self.uses:
            return True
        exprs = self.vjp if isinstance(self.vjp, tuple) else (self.vjp,)
        return self.kind in _INPUT_NAMES and any(re.search(r"\b[ab]\b", e) for e in exprs)

    def __repr__(self):
        return f"<op {self.code} {self.name} ({self.grad_fn})>"


def defop(name, grad_fn, kind, vjp, forward=None, uses=None, fwd=None, scalar=None):
    """Add an op to the table; returns its spec (its ``code`` is the opcode on the tape)."""
    if name in BY_NAME:
        raise ValueError(f"op {name!r} is defined twice")
    spec = OpSpec(name, grad_fn, kind, vjp, forward, uses, fwd, scalar)
    OPS.append(spec)
    BY_NAME[name] = spec
    return spec


def alias(spec, grad_fn):
    """An op that is ``spec`` in all but the ``grad_fn`` name it shows: the same name, kernels
    and VJP, an opcode of its own. A composite (a loss made of several ops) records its last op
    with one, so its result's ``grad_fn`` is named as PyTorch names the composite."""
    same = OpSpec(spec.name, grad_fn, spec.kind, spec.vjp, spec.forward, spec.uses, spec.fwd, spec.scalar)
    OPS.append(same)
    return same
