"""``autograd.Function``: user-defined forward and backward. Its record on the tape hands
control back to Python during the compiled replay, which then resumes after it."""
import numpy as np

from ..grad_mode import is_grad_enabled, no_grad
from ..ops import PYTHON
from ..tape import current_tape


class FunctionCtx:
    """The ``ctx`` passed to forward and backward."""

    def save_for_backward(self, *tensors):
        from ..tensor import Tensor

        for k, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save tensors (or None), but argument {k} is of type "
                                f"{type(t).__name__}: keep other values as attributes of ctx")
        self._saved = tensors

    @property
    def saved_tensors(self):
        return getattr(self, "_saved", ())

    def mark_non_differentiable(self, *tensors):
        self._non_diff = {id(t) for t in tensors}

    def set_materialize_grads(self, value):
        self._materialize = bool(value)

    def mark_dirty(self, *tensors):
        pass

    def _check_backward_result(self, result, in_slots, tape):
        """The gradients ``backward`` returned, one per input, checked as PyTorch checks them:
        a gradient has its input's shape, or a shape the input broadcasts to (it is then summed
        back to the input's shape). Returns them as a tuple."""
        from ..tensor import Tensor, _wrap

        result = result if isinstance(result, tuple) else (result,)
        name = type(self).__name__
        if len(result) > len(in_slots) and all(g is None for g in result[len(in_slots):]):
            result = result[: len(in_slots)]  # trailing Nones beyond the inputs are allowed, as in PyTorch
        if len(result) != len(in_slots):
            raise RuntimeError(
                f"function {name} returned an incorrect number of gradients (expected {len(in_slots)}, "
                f"got {len(result)}): return one gradient (or None) per argument of forward"
            )
        checked = []
        for k, (g, slot) in enumerate(zip(result, in_slots)):
            if g is None or slot < 0:
                checked.append(g)
                continue
            if not isinstance(g, Tensor):
                raise TypeError(f"function {name} returned a {type(g).__name__} as gradient {k}; expected a Tensor or None")
            shape = tape.slot_shape(slot)
            gshape = g._data.shape
            if gshape != shape:
                try:
                    ok = np.broadcast_shapes(shape, gshape) == gshape
                except ValueError:
                    ok = False
                if not ok:
                    raise RuntimeError(
                        f"Function {name} returned an invalid gradient at index {k} - got {list(gshape)} but "
                        f"expected shape compatible with {list(shape)}: return a gradient of the input's shape"
                    )
                lead = len(gshape) - len(shape)
                axes = tuple(range(lead)) + tuple(lead + d for d, n in enumerate(shape) if n == 1 and gshape[lead + d] != 1)
                g = _wrap(np.sum(g._data, axis=axes).reshape(shape))
            checked.append(g)
        return tuple(checked)


def _fresh(t):
    from ..tensor import _wrap

    out = _wrap(t._data)
    out._vc = t._vc
    return out


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        # ctx objects are instances of "<Name>Backward", which is what grad_fn shows
        cls._ctx_cls = type(name + "Backward", (FunctionCtx,), {"_backward_cls": cls})


class Function(metaclass=_FunctionMeta):
    """Subclass with ``@staticmethod forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``,
    then call ``MyFunction.apply(*args)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom autograd.Function")

    @classmethod
    def apply(cls, *args, **kwargs):
        from ..tensor import Tensor

        ctx = cls._ctx_cls()
        needs = tuple(isinstance(a, Tensor) and a._rg for a in args)
        ctx.needs_input_grad = needs
        with no_grad():
            outputs = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        # fresh tensor objects, so that an input returned as is gets its own history; they share
        # the version counter of what forward returned (a saved output changed in place is caught)
        outs = tuple(_fresh(o) if isinstance(o, Tensor) else o for o in outs)
        if any(needs) and is_grad_enabled() and any(isinstance(a, Tensor) and a.is_cuda for a in args):
            from ..cuda.backward import record_function

            record_function(ctx, args, [o for o in outs if isinstance(o, Tensor) and o._data.dtype.kind == "f"
                                        and id(o) not in getattr(ctx, "_non_diff", ())])
        elif any(needs) and is_grad_enabled():
            tape = current_tape()
            in_slots = [tape.slot_of(a, False) if n else -1 for a, n in zip(args, needs)]
            rec = tape.n_records
            differentiable = [o for o in outs if isinstance(o, Tensor) and o._data.dtype.kind == "f"
                              and id(o) not in getattr(ctx, "_non_diff", ())]
            out_slots = [tape._output(PYTHON, o, rec) for o in differentiable]
            if out_slots:
                tape.record_python(PYTHON.code, out_slots[0])
                tape.python[rec] = (ctx, in_slots, out_slots)
                on_call = getattr(tape, "on_function", None)  # a tape autotape.compile records
                if on_call is not None:
                    on_call(rec, cls, args, kwargs)
                ctx._out_dtypes = [o._data.dtype for o in differentiable]
                for t in ctx.saved_tensors:
                    if isinstance(t, Tensor):
                        tape.save_version(t._vc, rec)
        return outs[0] if single else outs
