"""Hypothesis strategies over the op table: for every op, random instances of it (shapes that
are 0-d, empty, 1-d, n-d, broadcastable pairs; dims, keepdim, exponents, indices) with a NumPy
reference of its forward.

``PROPS[name]`` draws a ``Case``: ``fn(T, *xs)`` builds the op's output with module ``T``
(autotape or torch), ``ref(*arrays)`` computes it in NumPy (float64), ``shapes`` and
``domain`` say how to draw the inputs. The property test (``test_properties.py``) fails for an
op of the table that has no entry here.
"""
import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from op_cases import legendre, softplus

MAX_SIDE = 4


class Case:
    """One drawn instance of an op. ``grads`` marks the inputs that require grad; ``fd_eps``
    and ``fd_rtol`` loosen the finite-difference check, and ``rounds`` the float64 comparisons,
    where the op itself rounds to float32."""

    def __init__(self, desc, fn, ref, shapes, domain="normal", grads=None, fd_eps=1e-6, fd_rtol=1e-5,
                 rounds=False):
        self.desc, self.fn, self.ref, self.shapes, self.domain = desc, fn, ref, [tuple(s) for s in shapes], domain
        self.grads = [True] * len(shapes) if grads is None else grads
        self.fd_eps, self.fd_rtol, self.rounds = fd_eps, fd_rtol, rounds

    def __repr__(self):
        return f"Case({self.desc} on shapes {self.shapes}, {self.domain} values)"


def draw_values(rng, shape, domain):
    """Values in an op's domain (an ndarray, 0-d included). Continuous draws land within a
    finite-difference step of a kink (abs, relu, clamp bounds, max ties) with probability ~1e-6,
    so no avoidance is needed."""
    return np.array(_draw(rng, shape, domain), dtype=np.float64)


def _draw(rng, shape, domain):
    if domain == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    if domain == "small":
        return rng.uniform(-1.0, 1.0, size=shape)
    if domain == "wide":
        return rng.standard_normal(size=shape) * 8.0
    if domain == "zeros":  # exact zeros, for prod's special cases (multilinear: FD stays exact)
        x = rng.standard_normal(size=shape)
        return np.where(rng.uniform(size=shape) < 0.3, 0.0, x)
    return rng.standard_normal(size=shape)


def shapes(min_dims=0, max_dims=3, min_side=0, max_side=MAX_SIDE):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def _is_autotape(T):
    return T.__name__ == "autotape"


# -- elementwise ----------------------------------------------------------------------------------

def unary(desc, fn, ref, domain="normal", **kw):
    return st.builds(lambda s: Case(desc, fn, ref, [s], domain, **kw), shapes())


def scalar_op(desc, fn, ref, domain="normal", values=(2.0, -0.5, 3.0, 0.25)):
    return st.builds(lambda s, c: Case(desc.format(c=c), lambda T, x: fn(x, c), lambda a: ref(a, c), [s], domain),
                     shapes(), st.sampled_from(values))


def _gelu(a, approximate):
    if approximate == "tanh":
        return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))
    return a * 0.5 * (1 + np.vectorize(math.erf, otypes=[float])(a / math.sqrt(2)))


def gelu_case():
    return st.builds(lambda s, ap: Case(f"F.gelu(x, approximate={ap!r})",
                                        lambda T, x: T.nn.functional.gelu(x, approximate=ap),
                                        lambda a: _gelu(a, ap), [s], "wide"),
                     shapes(), st.sampled_from(["none", "tanh"]))


def _erf(a):
    return np.vectorize(math.erf, otypes=[float])(a)


def _hardswish(a):
    return a * np.clip(a + 3, 0, 6) / 6


@st.composite
def softplus_case(draw):
    s = draw(shapes())
    beta = draw(st.sampled_from([1.0, 2.0, 0.5]))
    threshold = draw(st.sampled_from([20.0, 1.0, 3.0]))

    def ref(a):
        with np.errstate(over="ignore"):
            return np.where(beta * a > threshold, a, np.log1p(np.exp(beta * a)) / beta)

    return Case(f"softplus(x, beta={beta}, threshold={threshold})",
                lambda T, x: softplus(T, x, beta, threshold), ref, [s], "wide")


@st.composite
def clamp_case(draw):
    s = draw(shapes())
    lo = draw(st.sampled_from([-0.5, -1.0, 0.1, None]))
    hi = draw(st.sampled_from([0.7, 1.5, None] if lo is not None else [0.7, 1.5]))
    if lo is not None and hi is not None and hi < lo:
        lo, hi = hi, lo
    return Case(f"x.clamp(min={lo}, max={hi})", lambda T, x: x.clamp(min=lo, max=hi),
                lambda a: np.clip(a, -np.inf if lo is None else lo, np.inf if hi is None else hi), [s])


@st.composite
def pow_scalar_case(draw):
    s = draw(shapes())
    p = draw(st.sampled_from([2.0, 3.0, 1.0, 0.0, -1.0, 0.5, 2.5, -1.5, 2, 3]))
    domain = "normal" if float(p).is_integer() and p >= 0 else "positive"
    return Case(f"x ** {p!r}", lambda T, x: x ** p, lambda a: np.power(a, float(p)), [s], domain)


def _to_copy(T, x):
    """A cast that records ToCopy: to the other float width and back."""
    other = T.float32 if x.dtype == T.float64 else T.float64
    return x.to(other).to(x.dtype) * 1.0


def _view_shape(draw, s, extra_ones=True):
    """A shape with as many elements as ``s``: -1, reversed, or with 1s put in."""
    choice = draw(st.sampled_from(["flat", "reversed", "ones"]))
    if choice == "flat":
        return (-1,)
    if choice == "reversed":
        return tuple(reversed(s)) or (1,)  # (torch's view() wants a size)
    return (1,) + tuple(s) + (1,)


@st.composite
def view_case(draw, method):
    s = draw(shapes())
    target = _view_shape(draw, s)
    return Case(f"x.{method}{target}", lambda T, x: getattr(x, method)(*target),
                lambda a: a.reshape(target), [s])


@st.composite
def unsqueeze_case(draw):
    s = draw(shapes())
    d = draw(st.integers(-len(s) - 1, len(s)))
    return Case(f"x.unsqueeze({d})", lambda T, x: x.unsqueeze(d), lambda a: np.expand_dims(a, d), [s])


@st.composite
def squeeze_case(draw, how):
    """``how``: "all" (x.squeeze()), "dim" (x.squeeze(d)) or "dims" (x.squeeze((d,)))."""
    s = list(draw(shapes(max_dims=2)))
    for _ in range(draw(st.integers(1, 2))):
        s.insert(draw(st.integers(0, len(s))), 1)
    if how == "all":
        return Case("x.squeeze()", lambda T, x: x.squeeze(), lambda a: np.squeeze(a), [s])
    d = draw(st.integers(-len(s), len(s) - 1))
    arg = d if how == "dim" else (d,)
    ref = (lambda a: np.squeeze(a, axis=d)) if s[d] == 1 else (lambda a: a)
    return Case(f"x.squeeze({arg})", lambda T, x: x.squeeze(arg), ref, [s])


@st.composite
def reshape_of_transposed_case(draw, alias):
    """A reshape of a non-contiguous tensor: to its own shape (a view PyTorch calls an alias) or
    flat (a copy)."""
    s = draw(shapes(min_dims=2, min_side=2))
    target = tuple(reversed(s[:2])) + tuple(s[2:]) if alias else (-1,)
    return Case(f"x.transpose(0, 1).reshape{target}", lambda T, x: x.transpose(0, 1).reshape(*target).sin(),
                lambda a: np.sin(np.swapaxes(a, 0, 1).reshape(target)), [s])


@st.composite
def repeat_case(draw):
    s = draw(shapes(max_dims=2, max_side=3))
    reps = tuple(draw(st.lists(st.integers(0, 3), min_size=max(len(s), 1), max_size=3)))
    pad = (1,) * (len(reps) - len(s)) + tuple(s)
    return Case(f"x.repeat{reps}", lambda T, x: x.repeat(*reps).sin(),
                lambda a: np.sin(np.tile(a.reshape(pad), reps)), [s])


def broadcast_pair(min_side=0):
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=min_side,
                                             max_side=MAX_SIDE).map(lambda b: b.input_shapes)


def binary(desc, fn, ref, domain="normal"):
    return st.builds(lambda ss: Case(desc, fn, ref, list(ss), domain), broadcast_pair())


@st.composite
def where_case(draw):
    b = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=MAX_SIDE))
    return Case("torch.where(c > 0, x, y)", lambda T, c, x, y: T.where(c > 0, x, y),
                lambda c, x, y: np.where(c > 0, x, y), list(b.input_shapes), grads=[False, True, True])


def same_shape_pair(desc, fn, ref, domain="normal"):
    return st.builds(lambda s: Case(desc, fn, ref, [s, s], domain), shapes())


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _bce_ref(x, y):
    p, t = _sigmoid(x), _sigmoid(y)
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))


# -- reductions -----------------------------------------------------------------------------------

@st.composite
def dims_of(draw, s, allow_none=False, single=False, nonempty_sides=False):
    """A dim argument for a tensor of shape ``s``: an int, a tuple (possibly negative, in any
    order), or None. ``nonempty_sides``: only dims of nonzero size."""
    nd = len(s)
    candidates = [d for d in range(nd) if not nonempty_sides or s[d] > 0]
    if nd == 0:
        return draw(st.sampled_from([None, 0, -1] if allow_none else [0, -1]))
    if allow_none and draw(st.booleans()):
        return None
    if single or draw(st.booleans()):
        d = draw(st.sampled_from(candidates))
        return d - nd if draw(st.booleans()) else d
    picked = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=nd, unique=True))
    return tuple(d - nd if draw(st.booleans()) else d for d in picked)


def _axis(dim, nd):
    if dim is None:
        return None
    if nd == 0:
        return None
    return tuple(d % nd for d in dim) if isinstance(dim, tuple) else dim % nd


@st.composite
def reduce_case(draw, name, np_fn, domain="normal", min_side=0, keyword="dim", single=False):
    s = draw(shapes(min_side=min_side))
    dim = draw(dims_of(s, single=single))
    keep = draw(st.booleans())

    def fn(T, x):
        return getattr(x, name)(**{keyword: dim}, keepdim=keep)

    def ref(a):
        with np.errstate(all="ignore"):
            y = np_fn(a, axis=_axis(dim, a.ndim), keepdims=keep)
        return y if a.ndim or not keep else np.asarray(y).reshape(())

    return Case(f"x.{name}({keyword}={dim}, keepdim={keep})", fn, ref, [s], domain)


def full_reduce(name, np_fn, domain="normal", min_side=0):
    def ref(a):
        with np.errstate(all="ignore"):
            return np.asarray(np_fn(a))

    return st.builds(lambda s: Case(f"x.{name}()", lambda T, x: getattr(x, name)(), ref, [s], domain),
                     shapes(min_side=min_side))


@st.composite
def extreme_dim_case(draw, name):
    s = draw(shapes(min_dims=1, min_side=1))
    d = draw(st.integers(-len(s), len(s) - 1))
    keep = draw(st.booleans())
    np_fn = np.max if name == "max" else np.min
    return Case(f"x.{name}({d}, keepdim={keep}).values", lambda T, x: getattr(x, name)(d, keepdim=keep).values,
                lambda a: np_fn(a, axis=d, keepdims=keep), [s])


@st.composite
def norm_case(draw):
    s = draw(shapes())
    p = draw(st.sampled_from([2.0, 1.0, 3.0, "fro"]))
    dim = draw(dims_of(s, allow_none=True))
    keep = draw(st.booleans()) if dim is not None else False
    if p == "fro" and isinstance(dim, tuple) and len(dim) > 2:
        p = 2.0  # torch's "fro" takes at most two dims
    q = 2.0 if p == "fro" else p

    def ref(a):
        y = np.sum(np.abs(a) ** q, axis=_axis(dim, a.ndim), keepdims=keep and a.ndim > 0) ** (1.0 / q)
        return np.asarray(y)

    return Case(f"x.norm(p={p!r}, dim={dim}, keepdim={keep})", lambda T, x: x.norm(p=p, dim=dim, keepdim=keep),
                ref, [s])


@st.composite
def inf_norm_case(draw, p):
    s = draw(shapes(min_dims=1, min_side=1))
    dim = draw(dims_of(s, single=True))
    keep = draw(st.booleans())
    np_fn = np.max if p > 0 else np.min
    return Case(f"x.norm(p={p}, dim={dim}, keepdim={keep})", lambda T, x: x.norm(p=p, dim=dim, keepdim=keep),
                lambda a: np.asarray(np_fn(np.abs(a), axis=_axis(dim, a.ndim), keepdims=keep)), [s])


@st.composite
def var_case(draw, name):
    s = draw(shapes(min_side=1))
    dim = draw(dims_of(s, allow_none=True))
    keep = draw(st.booleans()) if dim is not None else False
    ax = _axis(dim, len(s))
    count = math.prod(s) if ax is None else math.prod(s[d] for d in (ax if isinstance(ax, tuple) else (ax,)))
    corr = draw(st.sampled_from([0, 1] if count >= 2 else [0]))
    np_fn = np.var if name == "var" else np.std

    def ref(a):
        return np.asarray(np_fn(a, axis=ax if a.ndim else None, ddof=corr, keepdims=keep and a.ndim > 0))

    kw = {} if dim is None else {"dim": dim, "keepdim": keep}
    return Case(f"x.{name}({kw}, correction={corr})", lambda T, x: getattr(x, name)(**kw, correction=corr),
                ref, [s])


def _logsumexp(a, axis, keepdims):
    m = np.max(a, axis=axis, keepdims=True) if a.size else np.zeros([1] * a.ndim)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        y = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return y if keepdims else np.squeeze(y, axis=axis)


@st.composite
def logsumexp_case(draw):
    s = draw(shapes())
    dim = draw(dims_of(s))
    keep = draw(st.booleans())

    def ref(a):
        if a.ndim == 0:
            return a.copy()
        return _logsumexp(a, _axis(dim, a.ndim), keep)

    return Case(f"torch.logsumexp(x, dim={dim}, keepdim={keep})",
                lambda T, x: T.logsumexp(x, dim=dim, keepdim=keep), ref, [s], "wide")


@st.composite
def softmax_case(draw, log):
    s = draw(shapes())
    d = draw(dims_of(s, single=True))

    def ref(a):
        if a.ndim == 0:
            return np.zeros(()) if log else np.ones(())
        lse = _logsumexp(a, d % a.ndim, True)
        return a - lse if log else np.exp(a - lse)

    name = "log_softmax" if log else "softmax"
    return Case(f"torch.{name}(x, dim={d})", lambda T, x: getattr(T, name)(x, dim=d), ref, [s], "wide")


@st.composite
def cumsum_case(draw):
    s = draw(shapes())
    d = draw(dims_of(s, single=True))
    return Case(f"x.cumsum({d})", lambda T, x: x.cumsum(d),
                lambda a: np.cumsum(a, axis=d % a.ndim) if a.ndim else a.copy(), [s])


# -- shapes and indexing --------------------------------------------------------------------------

@st.composite
def expand_case(draw):
    s = draw(shapes(max_dims=2))
    lead = draw(st.lists(st.integers(0, 3), min_size=0 if s else 1, max_size=2))  # expand() needs a size
    target = tuple(lead) + tuple(draw(st.integers(0, 3)) if n == 1 else n for n in s)
    use_minus_one = draw(st.booleans())
    arg = tuple(lead) + tuple(-1 if use_minus_one and n != 1 else t for n, t in zip(s, target[len(lead):]))
    return Case(f"x.expand{arg}", lambda T, x: x.expand(*arg).sin(),
                lambda a: np.sin(np.broadcast_to(a, target)), [s])


@st.composite
def permute_case(draw):
    s = draw(shapes(min_dims=1))
    if len(s) == 2 and draw(st.booleans()):
        return Case("x.T", lambda T, x: x.T * 1.0, lambda a: a.T, [s])
    perm = tuple(draw(st.permutations(range(len(s)))))
    perm = tuple(p - len(s) if draw(st.booleans()) else p for p in perm)
    return Case(f"x.permute{perm}", lambda T, x: x.permute(*perm).sin(),
                lambda a: np.sin(np.transpose(a, [p % len(s) for p in perm])), [s])


@st.composite
def transpose_case(draw):
    s = draw(shapes(min_dims=2))
    a, b = draw(st.integers(-len(s), len(s) - 1)), draw(st.integers(-len(s), len(s) - 1))
    return Case(f"x.transpose({a}, {b})", lambda T, x: x.transpose(a, b).sin(),
                lambda v: np.sin(np.swapaxes(v, a, b)), [s])


@st.composite
def slice_case(draw):
    s = draw(shapes(min_dims=1))
    if draw(st.booleans()):
        n = s[0]
        start, stop = draw(st.integers(-n - 1, n + 1)), draw(st.integers(-n - 1, n + 1))
        return Case(f"x[{start}:{stop}]", lambda T, x: x[start:stop].exp(), lambda a: np.exp(a[start:stop]), [s])
    d = draw(st.integers(-len(s), len(s) - 1))
    n = s[d]
    start = draw(st.integers(0, n))
    length = draw(st.integers(0, n - start))
    idx = (slice(None),) * (d % len(s)) + (slice(start, start + length),)
    return Case(f"x.narrow({d}, {start}, {length})", lambda T, x: x.narrow(d, start, length).exp(),
                lambda a: np.exp(a[idx]), [s])


@st.composite
def select_case(draw):
    s = draw(shapes(min_dims=1, min_side=1))
    if draw(st.booleans()):
        i = draw(st.integers(-s[0], s[0] - 1))
        return Case(f"x[{i}]", lambda T, x: x[i].exp(), lambda a: np.exp(a[i]), [s])
    d = draw(st.integers(-len(s), len(s) - 1))
    i = draw(st.integers(-s[d], s[d] - 1))
    return Case(f"x.select({d}, {i})", lambda T, x: x.select(d, i).sin(),
                lambda a: np.sin(np.take(a, i, axis=d)), [s])


@st.composite
def split_case(draw):
    s = draw(shapes(min_dims=1, min_side=1))
    d = draw(st.integers(-len(s), len(s) - 1))
    n = s[d]
    how = draw(st.sampled_from(["size", "sections", "chunk"]))
    if how == "size":
        k = draw(st.integers(1, n + 1))
        bounds = list(range(0, n, k)) + [n]
        call = lambda x: x.split(k, d)  # noqa: E731
        desc = f"x.split({k}, {d})"
    elif how == "sections":
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=2)))
        bounds = [0] + cuts + [n]
        sizes = [b - a for a, b in zip(bounds, bounds[1:])]
        call = lambda x: x.split(sizes, d)  # noqa: E731
        desc = f"x.split({sizes}, {d})"
    else:
        c = draw(st.integers(1, n + 1))
        k = max(-(-n // c), 1)
        bounds = list(range(0, n, k)) + [n]
        call = lambda x: x.chunk(c, d)  # noqa: E731
        desc = f"x.chunk({c}, {d})"
    j = draw(st.integers(0, len(bounds) - 2))
    ax = d % len(s)
    idx = (slice(None),) * ax + (slice(bounds[j], bounds[j + 1]),)
    return Case(f"{desc}[{j}]", lambda T, x: call(x)[j].exp() + call(x)[-1].sum(),
                lambda a: np.exp(a[idx]) + np.sum(a[(slice(None),) * ax + (slice(bounds[-2], bounds[-1]),)]), [s])


@st.composite
def unbind_case(draw):
    s = draw(shapes(min_dims=1, min_side=1))
    d = draw(st.integers(-len(s), len(s) - 1))
    j = draw(st.integers(-s[d], s[d] - 1))
    return Case(f"x.unbind({d})[{j}] * 2 + x.unbind({d})[0].sin()",
                lambda T, x: x.unbind(d)[j] * 2 + x.unbind(d)[0].sin(),
                lambda a: np.take(a, j, axis=d) * 2 + np.sin(np.take(a, 0, axis=d)), [s])


@st.composite
def cat_case(draw):
    base = list(draw(shapes(min_dims=1)))
    d = draw(st.integers(-len(base), len(base) - 1))
    k = draw(st.integers(1, 3))
    ss = []
    for _ in range(k):
        s = list(base)
        s[d] = draw(st.integers(0, 3))
        ss.append(tuple(s))
    order = draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=4))  # repeats: fan-out
    return Case(f"torch.cat([xs[i] for i in {order}], dim={d})",
                lambda T, *xs: T.cat([xs[i] for i in order], dim=d) * 1.0,
                lambda *a: np.concatenate([a[i] for i in order], axis=d), ss)


@st.composite
def stack_case(draw):
    s = draw(shapes())
    k = draw(st.integers(1, 3))
    d = draw(st.integers(-len(s) - 1, len(s)))
    order = draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=4))
    return Case(f"torch.stack([xs[i] for i in {order}], dim={d})",
                lambda T, *xs: T.stack([xs[i] for i in order], dim=d) * 1.0,
                lambda *a: np.stack([a[i] for i in order], axis=d), [s] * k)


@st.composite
def index_case(draw, kinds):
    kind = draw(st.sampled_from(kinds))
    if kind == "ints":
        s = draw(shapes(min_dims=1, min_side=1))
        idx = draw(st.lists(st.integers(-s[0], s[0] - 1), max_size=5))
        return Case(f"x[{idx}]", lambda T, x: x[idx].exp(), lambda a: np.exp(a[np.asarray(idx, dtype=np.int64)]), [s])
    if kind == "mask":
        s = draw(shapes(min_dims=1))
        return Case("x[x > 0]", lambda T, x: x[x > 0].sin(), lambda a: np.sin(a[a > 0]), [s])
    if kind == "step":
        s = draw(shapes(min_dims=1))
        step = draw(st.integers(2, 3))
        start = draw(st.integers(0, 2))
        return Case(f"x[{start}::{step}]", lambda T, x: x[start::step].exp(), lambda a: np.exp(a[start::step]), [s])
    if kind == "newaxis":
        s = draw(shapes(min_dims=1))
        return Case("x[:, None]", lambda T, x: x[:, None].sin(), lambda a: np.sin(a[:, None]), [s])
    if kind == "ellipsis":
        s = draw(shapes(min_dims=1, min_side=1))
        i = draw(st.integers(-s[-1], s[-1] - 1))
        return Case(f"x[..., {i}]", lambda T, x: x[..., i].sin(), lambda a: np.sin(a[..., i]), [s])
    s = draw(shapes(min_dims=2, min_side=1))
    rows = draw(st.lists(st.integers(0, s[0] - 1), min_size=1, max_size=3))
    return Case(f"x[{rows}, ::2]", lambda T, x: x[rows, ::2].exp(),
                lambda a: np.exp(a[np.asarray(rows)][:, ::2]), [s])


# -- matrix products ------------------------------------------------------------------------------

side = st.integers(0, 3)


@st.composite
def mm_case(draw):
    m, k, n = draw(side), draw(side), draw(side)
    if draw(st.booleans()):
        return Case("torch.mm(x, y)", lambda T, x, y: T.mm(x, y), np.matmul, [(m, k), (k, n)])
    return Case("x @ y (1-d @ 2-d)", lambda T, x, y: x @ y, np.matmul, [(k,), (k, n)])


@st.composite
def mv_case(draw):
    m, k = draw(side), draw(side)
    if draw(st.booleans()):
        return Case("torch.mv(x, y)", lambda T, x, y: T.mv(x, y), np.matmul, [(m, k), (k,)])
    return Case("x @ y (2-d @ 1-d)", lambda T, x, y: x @ y, np.matmul, [(m, k), (k,)])


@st.composite
def linear_case(draw):
    m, k, n = draw(side), draw(side), draw(side)
    return Case("F.linear(x, w, b)", lambda T, x, w, b: T.nn.functional.linear(x, w, b),
                lambda x, w, b: x @ w.T + b, [(m, k), (n, k), (n,)])


def dot_case():
    return st.builds(lambda k: Case("torch.dot(x, y)", lambda T, x, y: T.dot(x, y), np.dot, [(k,), (k,)]), side)


@st.composite
def bmm_case(draw):
    m, k, n, b = draw(side), draw(side), draw(side), draw(st.integers(1, 3))
    form = draw(st.sampled_from(["bmm", "broadcast", "vec-left", "vec-right"]))
    if form == "bmm":
        return Case("torch.bmm(x, y)", lambda T, x, y: T.bmm(x, y), np.matmul, [(b, m, k), (b, k, n)])
    if form == "vec-left":
        return Case("x @ y (1-d @ 3-d)", lambda T, x, y: x @ y, np.matmul, [(k,), (b, k, n)])
    if form == "vec-right":
        return Case("x @ y (3-d @ 1-d)", lambda T, x, y: x @ y, np.matmul, [(b, m, k), (k,)])
    ba = draw(st.sampled_from([(b,), (1,), (2, 1), ()]))
    bb = draw(st.sampled_from([(b,), (1,), (3,)] if ba != () else [(b,), (2, b)]))
    try:
        np.broadcast_shapes(ba, bb)
    except ValueError:
        bb = (1,)
    return Case("x @ y (batched, broadcast)", lambda T, x, y: x @ y, np.matmul, [ba + (m, k), bb + (k, n)])


def _sign(T, x):
    return x.sign() * x


def _python(T, x):
    return legendre(T).apply(x) * 1.0


PROPS = {
    "neg": unary("-x", lambda T, x: -x, np.negative),
    "exp": unary("torch.exp(x)", lambda T, x: T.exp(x), np.exp),
    "log": unary("torch.log(x)", lambda T, x: T.log(x), np.log, "positive"),
    "log1p": unary("torch.log1p(x)", lambda T, x: T.log1p(x), np.log1p, "positive"),
    "sqrt": unary("torch.sqrt(x)", lambda T, x: T.sqrt(x), np.sqrt, "positive"),
    "rsqrt": unary("torch.rsqrt(x)", lambda T, x: T.rsqrt(x), lambda a: 1 / np.sqrt(a), "positive"),
    "square": unary("torch.square(x)", lambda T, x: T.square(x), np.square),
    "abs": unary("x.abs()", lambda T, x: x.abs(), np.abs),
    "sign": unary("x.sign() * x", _sign, lambda a: np.sign(a) * a),
    "sin": unary("torch.sin(x)", lambda T, x: T.sin(x), np.sin),
    "cos": unary("x.cos()", lambda T, x: x.cos(), np.cos),
    "tan": unary("torch.tan(x)", lambda T, x: T.tan(x), np.tan, "small"),
    "tanh": unary("torch.tanh(x)", lambda T, x: T.tanh(x), np.tanh, "wide"),
    "sigmoid": unary("torch.sigmoid(x)", lambda T, x: T.sigmoid(x), lambda a: 1 / (1 + np.exp(-a)), "wide"),
    "relu": unary("torch.relu(x)", lambda T, x: T.relu(x), lambda a: np.maximum(a, 0)),
    "leaky_relu": unary("F.leaky_relu(x, 0.2)", lambda T, x: T.nn.functional.leaky_relu(x, 0.2),
                        lambda a: np.where(a > 0, a, 0.2 * a)),
    "gelu": gelu_case(),
    "silu": unary("F.silu(x)", lambda T, x: T.nn.functional.silu(x), lambda a: a / (1 + np.exp(-a)), "wide"),
    "elu": unary("F.elu(x, 0.5)", lambda T, x: T.nn.functional.elu(x, 0.5), lambda a: np.where(a > 0, a, 0.5 * np.expm1(a))),
    "mish": unary("F.mish(x)", lambda T, x: T.nn.functional.mish(x), lambda a: a * np.tanh(np.log1p(np.exp(a)))),
    "hardtanh": unary("F.hardtanh(x, -0.5, 1.0)", lambda T, x: T.nn.functional.hardtanh(x, -0.5, 1.0),
                      lambda a: np.clip(a, -0.5, 1.0)),
    "logsigmoid": unary("F.logsigmoid(x)", lambda T, x: T.nn.functional.logsigmoid(x), lambda a: -np.logaddexp(0, -a),
                        "wide"),
    "hardsigmoid": unary("F.hardsigmoid(x)", lambda T, x: T.nn.functional.hardsigmoid(x),
                         lambda a: np.clip(a + 3, 0, 6) / 6, "wide"),
    "hardswish": unary("F.hardswish(x)", lambda T, x: T.nn.functional.hardswish(x), _hardswish, "wide"),
    "log2": unary("torch.log2(x)", lambda T, x: T.log2(x), np.log2, "positive"),
    "log10": unary("torch.log10(x)", lambda T, x: T.log10(x), np.log10, "positive"),
    "exp2": unary("torch.exp2(x)", lambda T, x: T.exp2(x), np.exp2),
    "expm1": unary("torch.expm1(x)", lambda T, x: T.expm1(x), np.expm1),
    "sinh": unary("torch.sinh(x)", lambda T, x: T.sinh(x), np.sinh),
    "cosh": unary("torch.cosh(x)", lambda T, x: T.cosh(x), np.cosh),
    "asin": unary("torch.asin(x)", lambda T, x: T.asin(x), np.arcsin, "small"),
    "acos": unary("torch.acos(x)", lambda T, x: T.acos(x), np.arccos, "small"),
    "atan": unary("torch.atan(x)", lambda T, x: T.atan(x), np.arctan, "wide"),
    "asinh": unary("torch.asinh(x)", lambda T, x: T.asinh(x), np.arcsinh, "wide"),
    "acosh": unary("torch.acosh(x + 1.5)", lambda T, x: T.acosh(x + 1.5), lambda a: np.arccosh(a + 1.5), "positive"),
    "atanh": unary("torch.atanh(x * 0.9)", lambda T, x: T.atanh(x * 0.9), lambda a: np.arctanh(a * 0.9), "small"),
    "reciprocal": unary("torch.reciprocal(x)", lambda T, x: T.reciprocal(x), np.reciprocal, "positive"),
    "erf": unary("torch.erf(x)", lambda T, x: T.erf(x), _erf),
    "erfc": unary("torch.erfc(x)", lambda T, x: T.erfc(x), lambda a: 1 - _erf(a)),
    "floor": unary("torch.floor(3 * x) * x", lambda T, x: T.floor(3 * x) * x, lambda a: np.floor(3 * a) * a),
    "ceil": unary("torch.ceil(3 * x) * x", lambda T, x: T.ceil(3 * x) * x, lambda a: np.ceil(3 * a) * a),
    "trunc": unary("torch.trunc(3 * x) * x", lambda T, x: T.trunc(3 * x) * x, lambda a: np.trunc(3 * a) * a),
    "round": unary("torch.round(3 * x) * x", lambda T, x: T.round(3 * x) * x, lambda a: np.round(3 * a) * a),
    "frac": unary("torch.frac(3 * x)", lambda T, x: T.frac(3 * x), lambda a: 3 * a - np.trunc(3 * a)),
    "softplus": softplus_case(),
    "clamp": clamp_case(),
    "pow_scalar": pow_scalar_case(),
    "rpow": scalar_op("{c} ** x", lambda x, c: c ** x, lambda a, c: np.power(c, a), values=(2.0, 0.5, 3.0)),
    "add_scalar": scalar_op("x + {c}", lambda x, c: x + c, lambda a, c: a + c),
    "sub_scalar": scalar_op("x - {c}", lambda x, c: x - c, lambda a, c: a - c),
    "rsub_scalar": scalar_op("{c} - x", lambda x, c: c - x, lambda a, c: c - a),
    "mul_scalar": scalar_op("{c} * x", lambda x, c: c * x, lambda a, c: c * a),
    "div_scalar": scalar_op("x / {c}", lambda x, c: x / c, lambda a, c: a / c),
    "rdiv_scalar": scalar_op("{c} / x", lambda x, c: c / x, lambda a, c: c / a, "positive"),
    "to_copy": unary("x.to(<the other float dtype>).to(x.dtype) * 1.0", _to_copy,
                     lambda a: a.astype(np.float32).astype(np.float64), fd_eps=1e-3, fd_rtol=1e-3,
                     rounds=True),  # (torch rounds the gradient through float32 too; autotape keeps float64)
    "clone": unary("x.clone() * x", lambda T, x: x.clone() * x, np.square),
    "view": st.one_of(view_case("view"), view_case("reshape")),  # (a reshape of a contiguous tensor: a view)
    "reshape": reshape_of_transposed_case(False),
    "reshape_alias": reshape_of_transposed_case(True),
    "repeat": repeat_case(),
    "unsqueeze": unsqueeze_case(),
    "squeeze": squeeze_case("all"),
    "squeeze_dim": squeeze_case("dim"),
    "squeeze_dims": squeeze_case("dims"),
    "add": binary("x + y", lambda T, x, y: x + y, np.add),
    "sub": binary("x - y", lambda T, x, y: x - y, np.subtract),
    "bce_logits": same_shape_pair(
        "F.binary_cross_entropy_with_logits(x, y, reduction='none')",
        lambda T, x, y: T.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none"),
        lambda x, y: (1 - y) * x + np.logaddexp(0, -x), "wide"),
    "bce": same_shape_pair(
        "F.binary_cross_entropy(sigmoid(x), sigmoid(y), reduction='none')",
        lambda T, x, y: T.nn.functional.binary_cross_entropy(T.sigmoid(x), T.sigmoid(y), reduction="none"),
        _bce_ref),
    "squared_error": same_shape_pair(
        "F.mse_loss(x, y, reduction='none')",
        lambda T, x, y: T.nn.functional.mse_loss(x, y, reduction="none"), lambda x, y: (x - y) ** 2),
    "mul": binary("x * y", lambda T, x, y: x * y, np.multiply),
    "div": binary("x / y", lambda T, x, y: x / y, np.divide, "positive"),
    "pow": binary("x ** y", lambda T, x, y: x ** y, np.power, "positive"),
    "atan2": binary("torch.atan2(x, y)", lambda T, x, y: T.atan2(x, y), np.arctan2),
    "hypot": binary("torch.hypot(x, y)", lambda T, x, y: T.hypot(x, y), np.hypot),
    "logaddexp": binary("torch.logaddexp(x, y)", lambda T, x, y: T.logaddexp(x, y), np.logaddexp, "wide"),
    "xlogy": binary("torch.xlogy(x, y)", lambda T, x, y: T.xlogy(x, y), lambda x, y: x * np.log(y), "positive"),
    "minimum": binary("torch.minimum(x, y)", lambda T, x, y: T.minimum(x, y), np.minimum),
    "maximum": binary("torch.maximum(x, y)", lambda T, x, y: T.maximum(x, y), np.maximum),
    "where": where_case(),
    "python": unary("P3.apply(x) (a custom Function)", _python, lambda a: 0.5 * (5 * a ** 3 - 3 * a)),
    "sum": full_reduce("sum", np.sum),
    "sum_dim": reduce_case("sum", np.sum),
    "mean": full_reduce("mean", np.mean),
    "mean_dim": reduce_case("mean", np.mean),
    "prod": full_reduce("prod", np.prod, "zeros"),
    "prod_dim": reduce_case("prod", np.prod, "zeros", single=True),  # torch's prod takes one dim
    "amax": reduce_case("amax", np.max, min_side=1),
    "amin": reduce_case("amin", np.min, min_side=1),
    "max_all": full_reduce("max", np.max, min_side=1),
    "min_all": full_reduce("min", np.min, min_side=1),
    "max_dim": extreme_dim_case("max"),
    "min_dim": extreme_dim_case("min"),
    "norm": norm_case(),
    "norm_max": inf_norm_case(math.inf),
    "norm_min": inf_norm_case(-math.inf),
    "var": var_case("var"),
    "std": var_case("std"),
    "logsumexp": logsumexp_case(),
    "softmax": softmax_case(False),
    "log_softmax": softmax_case(True),
    "cumsum": cumsum_case(),
    "expand": expand_case(),
    "permute": permute_case(),
    "transpose": transpose_case(),
    "t": st.builds(lambda s: Case("x.t()", lambda T, x: x.t().sin(), lambda a: np.sin(a.T), [s]),
                   shapes(min_dims=2, max_dims=2)),
    "slice": slice_case(),
    "select": select_case(),
    "split": split_case(),
    "unbind": unbind_case(),
    "cat": cat_case(),
    "stack": stack_case(),
    "index": index_case(["ints", "mask", "mixed"]),
    "index_as_slice": index_case(["step"]),
    "index_as_unsqueeze": index_case(["newaxis"]),
    "index_as_select": index_case(["ellipsis"]),
    "index_as_alias": st.builds(lambda s: Case("x[:, :]", lambda T, x: x[:, :].sin(), lambda a: np.sin(a), [s]),
                                shapes(min_dims=2)),
    "mm": mm_case(),
    "linear": linear_case(),
    "mv": mv_case(),
    "dot": dot_case(),
    "bmm": bmm_case(),
}
