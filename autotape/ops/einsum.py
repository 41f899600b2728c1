"""``einsum`` of explicit subscripts, composed of other ops: an index repeated within one operand
takes its diagonal, an index no other operand nor the output has is summed at once, and operands
are then contracted left to right, each pair as one (batched) matmul of permuted, reshaped
operands. Size-1 dims and an ellipsis's dims broadcast, as PyTorch's."""
import math
import string

from ..tensor import Tensor
from . import linalg, reduce as red, shape as sh
from .composite import diagonal


def _parse(equation, ndims):
    """(terms, out): each operand's subscripts and the output's, an ellipsis replaced by letters
    of its own (aligned on the right, as its dims broadcast)."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        more = "more" if len(ndims) > len(terms) else "fewer"
        raise RuntimeError(f"einsum(): {more} operands were provided than specified in the equation")
    for c in eq.replace(",", "").replace("->", "").replace("...", ""):
        if c not in string.ascii_letters:
            raise RuntimeError(f"einsum(): invalid subscript given at index {eq.index(c)} in the equation string, "
                               "subscripts must be in [a-zA-Z]")
    spare = [c for c in string.ascii_letters if c not in eq]
    widths = [nd - len(term) + 3 if "..." in term else 0 for term, nd in zip(terms, ndims)]
    dots = "".join(spare[:max(widths, default=0)])
    terms = [term.replace("...", dots[len(dots) - w:] if w > 0 else "") for term, w in zip(terms, widths)]
    if not arrow:  # implicit output: the ellipsis's dims, then the letters seen once, in order
        letters = "".join(terms)
        out = dots + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in dots))
    out = out.replace("...", dots)
    for c in out:
        if out.count(c) > 1:
            raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the output")
        if c not in "".join(terms):
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any input operand")
    return terms, out


def _broadcast(ops):
    """Each operand's size-1 dims expanded to the other operands' size of that letter."""
    size = {}
    for t, term in ops:
        for c, n in zip(term, t.shape):
            if size.setdefault(c, n) != n and 1 not in (n, size[c]):
                raise RuntimeError(f"einsum(): operands do not broadcast: subscript {c} has sizes {size[c]} and {n}")
            size[c] = max(size[c], n)
    for entry in ops:
        want = tuple(size[c] for c in entry[1])
        if tuple(entry[0].shape) != want:
            entry[0] = sh.expand(entry[0], want)


def _ordered(t, term, order):
    """``t`` (dims named by ``term``) permuted to ``order``, without a record when already so."""
    if term == order:
        return t
    return sh.permute(t, tuple(term.index(c) for c in order))


def _summed(t, term, keep):
    """``t`` summed over the letters of ``term`` not in ``keep``."""
    dims = tuple(k for k, c in enumerate(term) if c not in keep)
    if not dims:
        return t, term
    return red.sum(t, dims), "".join(c for c in term if c in keep)


def _contract(a, ta, b, tb, needed):
    batch = [c for c in ta if c in tb and c in needed]
    inner = [c for c in ta if c in tb and c not in needed]
    left = [c for c in ta if c not in tb]
    right = [c for c in tb if c not in ta]
    size = dict(zip(ta, a.shape)) | dict(zip(tb, b.shape))
    nb, m, k, n = (math.prod(size[c] for c in g) for g in (batch, left, inner, right))
    lead = (nb,) if batch else ()
    a = sh.reshape(_ordered(a, ta, "".join(batch + left + inner)), lead + (m, k))
    b = sh.reshape(_ordered(b, tb, "".join(batch + inner + right)), lead + (k, n))
    term = "".join(batch + left + right)
    return sh.reshape(linalg.matmul(a, b), tuple(size[c] for c in term)), term


def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for k, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum(): argument 'operands' must be tuple of Tensors, not {type(t).__name__} at {k}")
    terms, out = _parse(equation, [t.dim() for t in operands])
    ops = []
    for t, term in zip(operands, terms):
        if len(term) != t.dim():
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(term)}) does not match "
                               f"the number of dimensions ({t.dim()}) for operand {len(ops)}")
        for c in dict.fromkeys(term):  # a repeated index: its diagonal, as the last dim
            while term.count(c) > 1:
                i = term.index(c)
                j = term.index(c, i + 1)
                if t.shape[i] != t.shape[j]:
                    raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {len(ops)} but the sizes "
                                       f"don't match, {t.shape[i]} != {t.shape[j]}")
                t = diagonal(t, 0, i, j)
                term = term[:i] + term[i + 1: j] + term[j + 1:] + c
        ops.append([t, term])
    _broadcast(ops)
    for k, entry in enumerate(ops):  # letters no one else needs: summed now
        others = out + "".join(term for j, (_, term) in enumerate(ops) if j != k)
        entry[0], entry[1] = _summed(entry[0], entry[1], others)
    t, term = ops[0]
    for k in range(1, len(ops)):
        needed = out + "".join(tb for _, tb in ops[k + 1:])
        t, term = _contract(t, term, ops[k][0], ops[k][1], needed)
    t, term = _summed(t, term, out)
    return _ordered(t, term, out)
