"""``einsum`` of explicit subscripts, composed of other ops: an index repeated within one operand
takes its diagonal, an index no other operand nor the output has is summed at once, and operands
are then contracted left to right, each pair as one (batched) matmul of permuted, reshaped
operands. Ellipses are not supported."""
import math
import string

from ..tensor import Tensor
from . import linalg, reduce as red, shape as sh
from .composite import diagonal


def _parse(equation, n):
    eq = equation.replace(" ", "")
    if "." in eq:
        raise NotImplementedError("einsum(): ellipsis ('...') is not supported in autotape; write the dims out")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != n:
        more = "more" if n > len(terms) else "fewer"
        raise RuntimeError(f"einsum(): {more} operands were provided than specified in the equation")
    for c in lhs.replace(",", "") + out:
        if c not in string.ascii_letters:
            raise RuntimeError(f"einsum(): invalid subscript given at index {eq.index(c)} in the equation string, "
                               "subscripts must be in [a-zA-Z]")
    if not arrow:  # implicit output: the letters seen once, in order
        letters = lhs.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    for c in out:
        if out.count(c) > 1:
            raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the output")
        if c not in lhs:
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any input operand")
    return terms, out


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
    for c in batch + inner:
        if a.shape[ta.index(c)] != b.shape[tb.index(c)]:
            raise RuntimeError(f"einsum(): operands do not broadcast: subscript {c} has sizes "
                               f"{a.shape[ta.index(c)]} and {b.shape[tb.index(c)]}")
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
    terms, out = _parse(equation, len(operands))
    ops = []
    for t, term in zip(operands, terms):
        if len(term) != t.dim():
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(term)}) does not match "
                               f"the number of dimensions ({t.dim()}) for operand {len(ops)} and no ellipsis was given")
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
    for k, entry in enumerate(ops):  # letters no one else needs: summed now
        others = out + "".join(term for j, (_, term) in enumerate(ops) if j != k)
        entry[0], entry[1] = _summed(entry[0], entry[1], others)
    t, term = ops[0]
    for k in range(1, len(ops)):
        needed = out + "".join(tb for _, tb in ops[k + 1:])
        t, term = _contract(t, term, ops[k][0], ops[k][1], needed)
    t, term = _summed(t, term, out)
    return _ordered(t, term, out)
