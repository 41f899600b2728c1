"""``grad_fn`` objects: a view of one tape record, named as PyTorch names it (AddBackward0, ...).
The same for CPU and CUDA tapes: both answer ``grad_fn_name``, ``input_slots``, ``producer_of``
and ``leaves``."""
import weakref

_classes = {}
# tape -> {record: the inputs of the composite op it ends}: a loss that PyTorch computes in one
# node lists its inputs as next_functions, not the inner records it is made of here
_composites = weakref.WeakKeyDictionary()
# ops whose PyTorch form takes a number as a second input (x + 2, x * 2, 2 / x): next_functions
# lists it, as (None, 0)
_NUMBER_OPERAND = frozenset(("add_scalar", "sub_scalar", "mul_scalar", "div_scalar", "rdiv_scalar"))
_CONDITION_FIRST = frozenset(("where",))  # (its condition is no differentiable input: not listed)
# a loss PyTorch computes in one node, recorded here as its terms and their sum, both named so:
# the sum lists the terms' inputs
_TERMS_AND_SUM = frozenset(("MseLossBackward0",))
_SAVED = {"_saved_self": 0, "_saved_other": 1, "_saved_result": -1}  # -> input position, -1 the output
_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after they have "
          "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
          "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
          "if you need to access saved tensors after calling backward.")


class Node:
    """The backward function of one record; ``next_functions`` walks the graph like PyTorch's."""

    __slots__ = ("_tape", "_rec")

    def __init__(self, tape, rec):
        self._tape, self._rec = tape, rec

    def name(self):
        return type(self).__name__

    @property
    def next_functions(self):
        tape, out = self._tape, []
        inputs = _composites.get(tape, {}).get(self._rec)
        if inputs is not None:
            return tuple((None if t is None else t.grad_fn or AccumulateGrad(t), 0) for t in inputs)
        op = _op_name(tape, self._rec)
        slots = tape.input_slots(self._rec)
        if len(slots) == 1 and slots[0] >= 0 and self.name() in _TERMS_AND_SUM:
            terms = tape.producer_of(slots[0])
            if terms >= 0 and tape.grad_fn_name(terms) == self.name():
                return _node(tape, terms).next_functions
        for slot in slots[1:] if op in _CONDITION_FIRST else slots:
            if slot < 0:  # an input that needs no gradient
                out.append((None, 0))
                continue
            producer = tape.producer_of(slot)
            if producer >= 0:
                out.append((_node(tape, producer), 0))
            else:
                leaf = next((t for s, t in tape.leaves if s == slot), None)
                out.append((AccumulateGrad(leaf), 0) if leaf is not None else (_linked(tape, slot), 0))
        if op in _NUMBER_OPERAND:
            out.append((None, 0))
        if op == "linear" and out[2][0] is not None:  # PyTorch's addmm reads the weight through its t()
            out[2] = (TBackward0(out[2]), 0)
        return tuple(out)

    def __getattr__(self, name):
        """PyTorch's ``_saved_self``, ``_saved_other`` and ``_saved_result``: the values the
        record keeps for backward (a leaf itself; another value as a tensor sharing its memory)."""
        at = _SAVED.get(name)
        value = None if at is None else _saved_value(self._tape, self._rec, at)
        if value is None:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return value

    def __eq__(self, other):
        return isinstance(other, Node) and other._tape is self._tape and other._rec == self._rec

    def __hash__(self):
        return hash((id(self._tape), self._rec))

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"


def _linked(tape, slot):
    """The node of the tensor another tape's link ``slot`` stands for (a tensor made before a
    backward or a copy between devices), or None."""
    for s, t, owner, src in getattr(tape, "links", ()):
        if s == slot:
            if owner is None:  # a CUDA leaf copied to the CPU
                return AccumulateGrad(t)
            producer = owner.producer_of(src)
            return _node(owner, producer) if producer >= 0 else None
    return None


class TBackward0:
    """The transpose between a Linear layer's addmm and its weight, as PyTorch shows it (here
    the addmm's one record reads the weight itself)."""

    def __init__(self, weight_edge):
        self.next_functions = (weight_edge,)

    def name(self):
        return "TBackward0"

    def __repr__(self):
        return f"<TBackward0 object at {hex(id(self))}>"


class AccumulateGrad:
    """Where a leaf's gradient lands (``.variable`` is the leaf)."""

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "torch::autograd::AccumulateGrad"

    next_functions = ()

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _saved_value(tape, rec, at):
    """Input ``at`` (-1: the output) of record ``rec`` where its VJP reads it, else None."""
    from ..ops import OPS
    from ..tape import Tape
    from ..tensor import _wrap

    if type(tape) is not Tape:  # (a CUDA record keeps what its own VJP needs, in its own order)
        raise NotImplementedError("saved tensors (grad_fn._saved_*) are read from CPU tapes only")
    spec = OPS[tape.op_of(rec)]
    if at < 0:
        slot = tape.out_of(rec) if spec.uses_output else -1
    else:
        slots = tape.inputs_of(rec)
        slot = slots[at] if at < len(slots) and spec.kind != "python" and spec.value_inputs[at] else -1
    if slot < 0:
        return None
    state = tape.state
    if (state is not None and rec < len(state) and state[rec] == 1) or not tape.slot_addr(slot):
        raise RuntimeError(_FREED)
    leaf = next((t for s, t in tape.leaves if s == slot), None)
    if leaf is not None:
        return leaf
    data = tape.saved_value(slot)
    if data is None:
        raise RuntimeError(_FREED)
    return _wrap(data)


def _op_name(tape, rec):
    from ..ops import OPS

    records = getattr(tape, "records", None)  # (a CUDA tape keeps its records' specs)
    return records[rec].spec.name if records is not None else OPS[tape.op_of(rec)].name


def _class(name):
    cls = _classes.get(name)
    if cls is None:
        cls = _classes[name] = type(name, (Node,), {"__slots__": ()})
    return cls


def _node(tape, rec):
    return _class(tape.grad_fn_name(rec))(tape, rec)


def composite(out, *inputs):
    """``out`` ends an op made of several records (a loss) whose differentiable inputs are
    ``inputs``: its ``grad_fn`` lists them (None: one that requires no grad), as PyTorch's one
    node does. Returns ``out``."""
    tape = out._tape
    if tape is not None:
        _composites.setdefault(tape, {})[tape.producer_of(out._slot)] = tuple(
            t if t is not None and t.requires_grad else None for t in inputs)
    return out


def node_for(tape, slot):
    return _node(tape, tape.producer_of(slot))
