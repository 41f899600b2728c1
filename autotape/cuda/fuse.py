"""``autotape.compile`` on CUDA: a recorded tape of elementwise ops ending in a full ``sum`` or
``mean`` (the polynomial fit's loss) becomes one generated kernel that computes, per element,
the forward chain, the loss term and the gradient of every leaf, and adds the loss and the
one-element leaves' gradients up in shared memory (a tree per block; a second launch adds the
blocks). Two launches a step instead of one per op and VJP. The expressions are the op
table's ``fwd`` and ``vjp``, as for the eager kernels.

Anything else (matmul, broadcasting other than from one element, several outputs,
arguments) is not fused and runs eagerly, with the reason in ``step.explain()``."""
import time

import numpy as np

from ..tensor import Tensor, _wrap
from . import kernels
from .array import CudaArray, empty
from .backward import _INPUT_NAMES, _SECOND_BACKWARD, _accumulate_grad, vjp_exprs

_EW = ("ew1", "ew2", "ew3")


class _Fusion:
    __slots__ = ("source",)


def fuse_cuda(result, flat, recorder):
    """(plan, None), or (None, why not) for the CUDA tape behind ``result``."""
    if flat:
        return None, "it takes arguments (fused CUDA replay reads captured tensors only)"
    if not isinstance(result, Tensor) or result._data.ndim or result._tape is None:
        return None, "its result is not one recorded scalar"
    tape = result._tape
    last = tape.records[tape.producer[result._slot]]
    # (by name: a loss's final sum, an alias of SUM, is fused too; its scale is the record's own)
    if last.spec.name not in ("sum", "mean") or len(last.ins) != 1 or last.inputs is None:
        return None, "it does not end in a full sum or mean of elementwise ops"
    order, seen = [], set()

    def visit(r):  # the records the loss depends on, inputs first
        if r in seen:
            return
        seen.add(r)
        for s in tape.records[r].ins:
            if s >= 0 and tape.producer[s] >= 0:
                visit(tape.producer[s])
        order.append(r)

    src = last.ins[0]
    if src < 0 or tape.producer[src] < 0:
        return None, "its sum is of a leaf"
    visit(tape.producer[src])
    n = int(np.prod(last.in_shapes[0]))
    leaves = {}  # slot (a leaf that requires grad) or id (a constant) -> (tensor, requires grad, full size)
    made = getattr(recorder, "cuda_made", {})
    virtual = {}  # id -> (spec, attrs, inputs) of constants the kernel recomputes, inputs first

    def constant(t):
        if id(t) in leaves or id(t) in virtual:
            return True
        if t._data.size not in (1, n):
            return False
        how = made.get(id(t))
        if how is None or how[0].fwd is None:
            leaves[id(t)] = (t, False, t._data.size == n)
            return True
        if not all(constant(u) for u in how[2]):
            return False
        virtual[id(t)] = how
        return True

    for r in order:
        rec = tape.records[r]
        if rec.spec.kind not in _EW or rec.spec.fwd is None:
            return None, f"it has a {rec.spec.name} record (only elementwise ops are fused)"
        if int(np.prod(rec.out_shape)) != n:
            return None, "an intermediate value has another size than the summed one"
        for s, t, shape in zip(rec.ins, rec.inputs, rec.in_shapes):
            size = int(np.prod(shape))
            if size not in (1, n):
                return None, "an input broadcasts other than from one element"
            if s >= 0 and tape.producer[s] >= 0:
                continue
            if s >= 0 and not any(ls == s for ls, _ in tape.leaves):
                return None, "it reads a tensor computed before the call"
            if s >= 0:
                leaves.setdefault(s, (t, True, size == n))
            elif id(t) in recorder.tainted:
                # computed inside the function from values that require grad (a mask): a
                # replay would reuse the recording's values
                return None, "it reads a value computed from traced ones by an op the tape does not record (a mask)"
            elif not constant(t):
                return None, "an input broadcasts other than from one element"
    return _Plan(tape, order, leaves, virtual, n, last.attrs[0], result, src), None


class _Plan:
    """The generated kernels of one recorded CUDA tape and the tensors they read."""

    def __init__(self, tape, order, leaves, virtual, n, scale, result, src):
        self.n, self.scale = n, scale
        self.grad_fn = type(result.grad_fn).__name__
        self.dtype = result._data.dtype
        self.leaves = []  # (tensor, requires grad, full size, its name)
        name_of = {}
        for k, (key, (t, rg, full)) in enumerate(leaves.items()):
            name_of[key] = f"l{k}"
            self.leaves.append((t, rg, full, f"l{k}", t._data.shape, t._data.dtype))
        value = {}  # slot of an intermediate -> its local name

        def ref(s, t):
            return value[s] if s >= 0 and s in value else name_of[s if s >= 0 else id(t)]

        fwd, bwd = [], []
        for k, (key, (spec, (a, b), inputs)) in enumerate(virtual.items()):  # constants made of constants
            binds = [f"{nm} = {name_of[id(t)]}" for nm, t in zip(_INPUT_NAMES[spec.kind], inputs)]
            name_of[key] = f"c{k}"
            fwd += binds + [f"a = {float(a)!r}", f"b = {float(b)!r}", f"c{k} = {spec.fwd}"]
        for r in order:
            rec = tape.records[r]
            spec = rec.spec
            a, b = rec.attrs if rec.attrs else (0.0, 0.0)
            binds = [f"{nm} = {ref(s, t)}" for nm, s, t in zip(_INPUT_NAMES[spec.kind], rec.ins, rec.inputs)]
            value[rec.out] = out = f"v{rec.out}"
            fwd += binds + [f"a = {float(a)!r}", f"b = {float(b)!r}", f"{out} = {spec.fwd}"]
            step = binds + [f"a = {float(a)!r}", f"b = {float(b)!r}", f"y = {out}", f"g = g{rec.out}"]
            for pos, expr, _ in vjp_exprs(spec):
                s = rec.ins[pos]
                if s >= 0:
                    target = f"g{s}" if s in value else "g" + name_of[s]
                    step.append(f"{target} += {expr}")
            bwd = step + bwd  # reverse order
        params = [(t, nm) for t, rg, full, nm, _, _ in self.leaves if rg]
        self.scalar_grads = [nm for t, nm in params if t._data.size == 1 or self.n == 1]
        self.full_grads = [nm for t, nm in params if nm not in self.scalar_grads]
        zeros = [f"g{s} = 0.0" for s in value] + [f"g{nm} = 0.0" for _, nm in params]
        loads = [f"{nm} = float({nm}_[{'_i' if full else '0'}])" for _, _, full, nm, _, _ in self.leaves]
        last = value[src]
        red = ["_s0 += " + last] + [f"_s{k + 1} += g{nm}" for k, nm in enumerate(self.scalar_grads)]
        writes = [f"{nm}_g[_i] = g{nm}" for nm in self.full_grads]
        nred = 1 + len(self.scalar_grads)
        ind = "\n        "
        args = ", ".join([f"{nm}_" for _, _, _, nm, _, _ in self.leaves] + [f"{nm}_g" for nm in self.full_grads])
        self.source = f"""def k(part, n, scale, {args}):
    _sm = cuda.shared.array(({nred}, {kernels.TPB}), float64)
    _tid = cuda.threadIdx.x
    {"; ".join(f"_s{j} = 0.0" for j in range(nred))}
    _i = cuda.blockIdx.x * cuda.blockDim.x + _tid
    while _i < n:
        {ind.join(loads)}
        {ind.join(fwd)}
        {ind.join(zeros)}
        g{src} = scale
        {ind.join(bwd)}
        {ind.join(red + writes)}
        _i += cuda.gridDim.x * cuda.blockDim.x
    {"; ".join(f"_sm[{j}, _tid] = _s{j}" for j in range(nred))}
    cuda.syncthreads()
    _h = cuda.blockDim.x // 2
    while _h > 0:
        if _tid < _h:
            for _j in range({nred}):
                _sm[_j, _tid] += _sm[_j, _tid + _h]
        cuda.syncthreads()
        _h //= 2
    if _tid == 0:
        for _j in range({nred}):
            part[_j * cuda.gridDim.x + cuda.blockIdx.x] = _sm[_j, 0]
"""
        # the second launch: thread j adds row j of the blocks' partial sums (the loss, then each
        # one-element gradient) and writes it where it belongs
        outs = ["loss_"] + [f"{nm}_out" for nm in self.scalar_grads]
        self.finish_source = f"""def k(part, nblocks, scale, {', '.join(outs)}):
    _j = cuda.threadIdx.x
    if _j < {nred}:
        _s = 0.0
        for _k in range(nblocks):
            _s += part[_j * nblocks + _k]
""" + "".join(f"""        {'if' if j == 0 else 'elif'} _j == {j}:
            {o}[0] = _s * scale if {j} == 0 else _s
""" for j, o in enumerate(outs))
        self.fusion = _Fusion()
        self.fusion.source = self.source + "\n\n" + self.finish_source
        self.nred = nred
        self.key, self.finish_key = ("fused", self.source), ("fused-sums", self.finish_source)
        t0 = time.perf_counter()
        kernels._compile(self.key, self.source)
        kernels._compile(self.finish_key, self.finish_source)
        self.compile_s = time.perf_counter() - t0

    def explain(self):
        return (f"fused CUDA kernel over {self.n} elements: {len(self.leaves)} tensors read, loss and "
                f"{len(self.scalar_grads) + len(self.full_grads)} gradients in one pass (show_source() prints it)")

    def run(self, flat):
        for t, rg, full, nm, shape, dtype in self.leaves:
            d = t._data
            if type(d) is not CudaArray or d.shape != shape or d.dtype != dtype or t._rg != rg:
                return None  # a captured tensor changed: record again
        threads = kernels._pow2(self.n)
        nblocks = max(1, min(1024, -(-self.n // (threads * 8))))
        part = empty((self.nred, nblocks), np.float64)
        grads = {nm: empty(t._data.shape, t._data.dtype) for t, rg, full, nm, _, _ in self.leaves
                 if nm in self.full_grads}
        args = [t._data.a for t, _, _, _, _, _ in self.leaves] + [grads[nm].a for nm in self.full_grads]
        kernels.launch(self.key, nblocks, threads, part.a, self.n, self.scale, *args)
        by_name = {nm: t for t, _, _, nm, _, _ in self.leaves}
        loss = _wrap(empty((), self.dtype))
        for nm in self.scalar_grads:
            grads[nm] = empty(by_name[nm]._data.shape, by_name[nm]._data.dtype)
        kernels.launch(self.finish_key, 1, -(-self.nred // 32) * 32, part.a, nblocks, self.scale, loss._data.a,
                       *[grads[nm].a for nm in self.scalar_grads])
        loss._tape = _Result(self, [(by_name[nm], grads[nm]) for nm in self.scalar_grads + self.full_grads])
        loss._rg, loss._slot = True, 0
        return loss


class _Result:
    """The ``_tape`` of a fused step's loss: ``loss.backward()`` hands the gradients the step
    already computed to the leaves."""

    def __init__(self, plan, grads):
        self.plan, self.grads, self.used = plan, grads, False

    def compiled_backward(self, t, grad_tensors, retain_graph):
        if grad_tensors is not None and grad_tensors[0] is not None:
            return False  # (not the loss's own seed: the eager engine cannot replay this either)
        if self.used and not retain_graph:
            raise RuntimeError(_SECOND_BACKWARD)
        for leaf, g in self.grads:
            _accumulate_grad(leaf, g if not self.used else kernels.cast(g, g.dtype))
        self.used = True
        return True

    # for the loss's grad_fn (autograd/node.py): one node, its graph lives in the generated kernel
    leaves = ()

    def grad_fn_name(self, rec):
        return self.plan.grad_fn

    def input_slots(self, rec):
        return []

    def producer_of(self, slot):
        return 0
