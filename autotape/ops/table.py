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
"""
import re

OPS = []
BY_NAME = {}


class OpSpec:
    __slots__ = ("name", "grad_fn", "kind", "vjp", "forward", "uses", "code", "uses_inputs", "uses_output")

    def __init__(self, name, grad_fn, kind, vjp, forward, uses):
        self.name, self.grad_fn, self.kind, self.vjp, self.forward = name, grad_fn, kind, vjp, forward
        if uses is None:  # elementwise: read the names off the expressions
            exprs = vjp if isinstance(vjp, tuple) else (vjp,)
            uses = {v for e in exprs for v in ("x", "x1", "x2", "y", "c") if re.search(rf"\b{v}\b", e)}
        self.uses = frozenset(uses)
        self.uses_inputs = bool(self.uses & {"x", "x1", "x2", "c"})
        self.uses_output = "y" in self.uses
        self.code = len(OPS)

    @property
    def saves(self):
        """Whether backward needs values saved at forward (PyTorch frees these after backward)."""
        return bool(self.uses)

    def __repr__(self):
        return f"<op {self.code} {self.name} ({self.grad_fn})>"


def defop(name, grad_fn, kind, vjp, forward=None, uses=None):
    """Add an op to the table; returns its spec (its ``code`` is the opcode on the tape)."""
    if name in BY_NAME:
        raise ValueError(f"op {name!r} is defined twice")
    spec = OpSpec(name, grad_fn, kind, vjp, forward, uses)
    OPS.append(spec)
    BY_NAME[name] = spec
    return spec
