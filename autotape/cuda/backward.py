"""The CUDA tape and its reverse replay.

The tape is a Python list of records (one per op), one tape per thread as on the CPU. Each
record keeps its op, the slots of its output and inputs, the device arrays its VJP reads and
a few attributes. ``backward()`` walks the records in reverse from the output's producer and
launches each record's VJP kernels; gradients stay on the device, in their tensor's dtype,
one buffer per slot. Elementwise VJPs are kernels generated from the op table's ``vjp``
expressions; the other ops register a VJP function here (``CUDA_VJPS``)."""
import re
import threading
import weakref

import numpy as np

from .. import tape as cpu_tape
from ..ops import PYTHON
from ..tensor import _recordings, _trace
from . import kernels
from .array import CudaArray, empty

_INPUT_NAMES = {"ew1": ("x",), "ew2": ("x1", "x2"), "ew3": ("c", "x1", "x2")}
# Ops that are not elementwise: name -> VJP function(record, g, tape, grads); filled by ops.py.
CUDA_VJPS = {}

_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second "
    "time or if you need to access saved tensors after calling backward."
)


def vjp_exprs(spec):
    """Per differentiable input of an elementwise op: (input position, expression, names it
    reads among the op's inputs, ``y`` and ``g``)."""
    names = _INPUT_NAMES[spec.kind]
    exprs = spec.vjp if isinstance(spec.vjp, tuple) else (spec.vjp,)
    first = 1 if spec.kind == "ew3" else 0  # where's condition gets no gradient
    out = []
    for k, expr in enumerate(exprs):
        used = tuple(v for v in names + ("y", "g") if re.search(rf"\b{v}\b", expr))
        out.append((first + k, expr, used))
    return out


class Record:
    __slots__ = ("spec", "out", "ins", "saved", "attrs", "in_shapes", "out_shape", "freed", "inputs")

    def __init__(self, spec, out, ins, saved, attrs, in_shapes, out_shape, inputs):
        self.spec, self.out, self.ins, self.saved, self.attrs = spec, out, ins, saved, attrs
        self.in_shapes, self.out_shape, self.freed = in_shapes, out_shape, False
        self.inputs = inputs  # the input tensors, kept only while autotape.compile records (cuda/fuse.py)


class CudaTape:
    """One thread's CUDA records. Non-leaf CUDA tensors hold their tape (``_tape``) and slot."""

    __slots__ = ("serial", "records", "producer", "leaves", "links", "hooks", "retained", "versions",
                 "__weakref__")

    def __init__(self):
        self.serial = next(cpu_tape.serials)  # one count with the CPU tapes': the engine's replay order
        self.records, self.producer = [], []  # producer[slot]: record index, -1 for leaves and links
        self.leaves, self.retained = [], []  # (slot, tensor)
        self.links = []  # (slot, tensor, its tape and slot then) for tensors made on another tape
        self.hooks = {}  # slot -> [hook]
        self.versions = []  # (record, version counter, version at save)

    def _new_slot(self, producer):
        self.producer.append(producer)
        return len(self.producer) - 1

    def slot_of(self, t):
        """The slot of ``t`` (a tensor that requires grad) on this tape, made on first use."""
        owner = t._tape
        if owner is self:
            return t._slot
        if owner is None:
            if t._lserial == self.serial:
                return t._slot
            slot = self._new_slot(-1)
            t._lserial, t._slot = self.serial, slot
            self.leaves.append((slot, t))
            return slot
        # made on an older tape (a CPU tape, for a 0-d CPU tensor or a copy to the GPU): its gradient continues there
        slot = self._new_slot(-1)
        self.links.append((slot, t, owner, t._slot))
        return slot

    def record(self, spec, out, inputs, saved=(), attrs=(), save_output=False):
        """Append the record making ``out`` from ``inputs`` (tensors, or None). ``saved``: the
        tensors the VJP reads (their version counters are checked at backward)."""
        rec = len(self.records)
        ins = tuple(self.slot_of(t) if t is not None and t._rg else -1 for t in inputs)
        for t in saved:
            self.versions.append((rec, t._vc, t._vc[0]))
        saved_data = tuple(t._data for t in saved)
        if save_output:
            self.versions.append((rec, out._vc, out._vc[0]))
            saved_data += (out._data,)
        slot = self._new_slot(rec)
        self.records.append(Record(spec, slot, ins, saved_data, attrs,
                                   tuple(None if t is None else t._data.shape for t in inputs), out._data.shape,
                                   tuple(inputs) if _recordings[0] and _trace.recorder is not None else None))
        out._tape, out._slot, out._rg = self, slot, True
        return rec

    # what autograd/node.py reads to make grad_fn objects
    def grad_fn_name(self, rec):
        r = self.records[rec]
        return type(r.attrs[0]).__name__ if r.spec is PYTHON else r.spec.grad_fn

    def input_slots(self, rec):
        r = self.records[rec]
        if r.spec.name == "linear":  # PyTorch's addmm lists the bias first (as the CPU tape's input_slots)
            x, w, b = r.ins
            return [b, x, w]
        return list(r.ins)

    def producer_of(self, slot):
        return self.producer[slot]

    def replay_in(self, run, seeds):
        """The engine's turn for this tape in a backward (``autograd/engine.py _Run``)."""
        _replay(self, seeds, run)


class _Local(threading.local):
    tape = None


_local = _Local()


def current_tape():
    ref = _local.tape
    tape = ref() if ref is not None else None
    if tape is None:
        tape = CudaTape()
        _local.tape = weakref.ref(tape)
    return tape


def leave_current():
    """New records go to a fresh tape; the current one's stay live (``tape.record_device_copy``)."""
    _local.tape = None


def _retire(tape):
    ref = _local.tape
    if ref is not None and ref() is tape:
        _local.tape = None


def device_grad(t, g, k):
    """The seed gradient of output ``t``: ones, or a device copy of ``g`` in t's dtype."""
    from ..tensor import Tensor

    d = t._data
    if g is None:
        if d.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs (this output has shape {list(d.shape)}); "
                "pass gradient=... of that shape to backward()"
            )
        return kernels.fill(empty(d.shape, d.dtype), 1.0)
    gd = g._data if isinstance(g, Tensor) else np.asarray(g)
    if type(gd) is not CudaArray:
        if isinstance(g, Tensor) and gd.ndim:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"cuda:0 and cpu! (gradient {k} of backward)")
        from .array import to_device

        gd = to_device(np.asarray(gd, d.dtype))
    if gd.shape != d.shape and not (gd.size == d.size == 1):
        raise RuntimeError(
            f"Mismatch in shape: grad_output[{k}] has a shape of {list(gd.shape)} and output[{k}] has a shape of "
            f"{list(d.shape)}. Pass a gradient of the output's shape."
        )
    return kernels.cast(gd.reshape(d.shape), d.dtype)  # a copy: replay adds into its buffers


def _add(grads, slot, arr):
    have = grads.get(slot)
    if have is None:
        grads[slot] = arr
    else:
        kernels.elementwise("x", have, [("x", arr)], acc=True)


def _replay(tape, seeds, run):
    retain, capture, captured = run.retain, run.capture, run.captured
    grads = {}
    for slot, g in seeds:
        _add(grads, slot, g)
    start = max(tape.producer[s] for s, _ in seeds)
    modified = {rec for rec, vc, v in tape.versions if vc[0] != v}
    from ..grad_mode import no_grad

    for r in range(start, -1, -1):
        rec = tape.records[r]
        g = grads.pop(rec.out, None)
        if g is None:
            continue
        if capture is not None and (tape.serial, rec.out) in capture:
            key = id(capture[(tape.serial, rec.out)])
            captured[key] = kernels.cast(g, g.dtype) if key not in captured else \
                kernels.elementwise("x", captured[key], [("x", g)], acc=True)
        hooks = tape.hooks.get(rec.out)
        if hooks:
            with no_grad():
                g = _run_hooks(hooks, g)
        if capture is None:
            for slot, t in tape.retained:
                if slot == rec.out:
                    _accumulate_grad(t, kernels.cast(g, t._data.dtype))
        if rec.freed:
            raise RuntimeError(_SECOND_BACKWARD)
        if r in modified:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace operation: "
                f"it was saved by {rec.spec.grad_fn} and changed afterwards (version counter). Make the change out "
                "of place (x = x + 1, not x += 1) or clone() the tensor first."
            )
        if any(s >= 0 for s in rec.ins):
            vjp = CUDA_VJPS.get(rec.spec.name)
            if vjp is None:
                _elementwise_vjp(rec, g, grads)
            else:
                vjp(rec, g, grads)
        if not retain and rec.spec.saves:
            rec.freed, rec.saved = True, ()
    for slot, t in tape.leaves:  # (CPU leaves too: copied to the GPU, or 0-d in a CUDA op)
        g = grads.get(slot)
        if g is not None:
            run.deliver_leaf(t, g)
    for slot, t, owner, src in tape.links:
        g = grads.get(slot)
        if g is not None and owner is not None:
            run.link(owner, src, t, g)
    if not retain:
        _retire(tape)


def _run_hooks(hooks, g):
    from ..tensor import _wrap

    for hook in list(hooks):
        new = hook(_wrap(kernels.cast(g, g.dtype)))
        if new is not None:
            if type(new._data) is not CudaArray or new._data.shape != g.shape:
                raise RuntimeError(f"hook '{getattr(hook, '__name__', hook)}' returned a gradient of another "
                                   "shape or device")
            g = kernels.cast(new._data, g.dtype)
    return g


def deliver(t, g, capture, captured):
    """CUDA leaf ``t``'s gradient ``g``: through its hooks into ``.grad``, or into ``captured``."""
    if capture is not None:
        key = id(t)
        if key in capture:
            if key in captured:
                kernels.elementwise("x", captured[key], [("x", g)], acc=True)
            else:
                captured[key] = g
        return
    if t._hooks:
        g = _run_hooks(t._hooks, g.reshape(t._data.shape))
    _accumulate_grad(t, g)


def _accumulate_grad(t, g):
    from ..tensor import _wrap

    g = g.reshape(t._data.shape)
    if g.dtype != t._data.dtype:
        g = kernels.cast(g, t._data.dtype)
    if t._grad is None:
        t._grad = _wrap(g)
        return
    have = t._grad._data
    if type(have) is not CudaArray:
        raise RuntimeError("the leaf's .grad is on the CPU but its gradient is on cuda:0: set .grad = None first")
    if have.shape != g.shape:
        raise RuntimeError(f"the leaf's .grad has shape {list(have.shape)} but its gradient has shape "
                           f"{list(g.shape)}: set .grad = None (or a tensor of the leaf's shape) before backward")
    t._grad = _wrap(kernels.elementwise("x1 + x2", empty(g.shape, g.dtype), [("x1", have), ("x2", g)]))


def _elementwise_vjp(rec, g, grads):
    """The generated VJP kernels of an elementwise record, one launch per input that needs a
    gradient; an input broadcast in the forward gets the gradient summed back to its shape
    (in the same launch when it is one element)."""
    spec = rec.spec
    names = _INPUT_NAMES[spec.kind]
    values = dict(zip([n for n, v in zip(names, spec.value_inputs) if v], rec.saved))
    if spec.uses_output:
        values["y"] = rec.saved[-1]
    values["g"] = g
    a, b = rec.attrs if rec.attrs else (0.0, 0.0)
    out_shape = rec.out_shape
    n = g.size
    for pos, expr, used in vjp_exprs(spec):
        slot = rec.ins[pos]
        if slot < 0:
            continue
        inputs = [(v, values[v]) for v in used]
        shape = rec.in_shapes[pos]
        have = grads.get(slot)
        size = int(np.prod(shape))
        if size == n:
            target = have if have is not None else empty(shape, g.dtype)
            kernels.elementwise(expr, target.reshape(out_shape), inputs, a, b, acc=have is not None, as_float=True)
        elif size == 1:
            target = have if have is not None else empty(shape, g.dtype)
            kernels.reduce_expr(expr, target, inputs, 1, n, 1, acc=have is not None, a=a, b=b, vshape=out_shape,
                                as_float=True)
        else:
            full = kernels.elementwise(expr, empty(out_shape, np.float64), inputs, a, b, as_float=True)
            target = have if have is not None else empty(shape, g.dtype)
            kernels.sum_to_shape(full, shape, out=target, acc=have is not None)
        grads[slot] = target.reshape(shape)


def record_function(ctx, args, outs):
    """The CUDA record of a custom ``autograd.Function`` call: its backward runs in Python
    during the replay, on CUDA tensors."""
    from ..tensor import Tensor

    if len(outs) > 1:
        raise NotImplementedError("an autograd.Function with several differentiable outputs is not implemented on "
                                  "CUDA yet")
    if outs:
        inputs = [a if isinstance(a, Tensor) else None for a in args]
        current_tape().record(PYTHON, outs[0], inputs, attrs=(ctx,))


def _vjp_python(rec, g, grads):
    from ..grad_mode import no_grad
    from ..tensor import _wrap

    (ctx,) = rec.attrs
    with no_grad():
        result = type(ctx)._backward_cls.backward(ctx, _wrap(g.reshape(rec.out_shape)))
    result = result if isinstance(result, tuple) else (result,)
    name = type(ctx).__name__
    if len(result) != len(rec.ins):
        raise RuntimeError(f"function {name} returned an incorrect number of gradients (expected {len(rec.ins)}, "
                           f"got {len(result)}): return one gradient (or None) per argument of forward")
    for k, (slot, shape, r) in enumerate(zip(rec.ins, rec.in_shapes, result)):
        if slot < 0 or r is None:
            continue
        d = getattr(r, "_data", None)
        if type(d) is not CudaArray:
            raise RuntimeError(f"function {name} returned gradient {k} on the CPU for a CUDA input: return it on "
                               "the input's device")
        if d.shape != shape:
            d = kernels.sum_to_shape(d, shape)  # a gradient of a shape the input broadcasts to
        have = grads.get(slot)
        if have is None:
            grads[slot] = kernels.cast(d, d.dtype)  # a copy: the user may keep the tensor they returned
        else:
            kernels.elementwise("x", have, [("x", d)], acc=True)


CUDA_VJPS["python"] = _vjp_python
