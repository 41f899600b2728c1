"""Gradient-check cases for every op of the table, written once for both libraries.

Each case is ``(fn, shapes, domain)``: ``fn(T, *xs)`` builds the op's output with module ``T``
(autotape or torch), ``shapes`` the input shapes, ``domain`` how to draw the inputs. A case list
per op name: the registry test fails if an op of the table has none.
"""
import numpy as np

SHAPES_1 = [(), (4,), (2, 3)]
SHAPES_2 = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3), ())]


def softplus(T, x, beta=1.0, threshold=20.0):
    fn = T.softplus if T.__name__ == "autotape" else T.nn.functional.softplus
    return fn(x, beta=beta, threshold=threshold)


def unary(fn, domain="normal", shapes=SHAPES_1):
    return [(fn, (s,), domain) for s in shapes]


def binary(fn, domain="normal", shapes=SHAPES_2):
    return [(fn, s, domain) for s in shapes]


def legendre(T):
    class P3(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 0.5 * (5 * x ** 3 - 3 * x)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * x ** 2 - 1)

    return P3


CASES = {
    "neg": unary(lambda T, x: -x),
    "exp": unary(lambda T, x: T.exp(x)),
    "log": unary(lambda T, x: T.log(x), "positive"),
    "log1p": unary(lambda T, x: T.log1p(x), "positive"),
    "sqrt": unary(lambda T, x: T.sqrt(x), "positive"),
    "rsqrt": unary(lambda T, x: T.rsqrt(x), "positive"),
    "square": unary(lambda T, x: T.square(x)),
    "abs": unary(lambda T, x: x.abs()),
    "sign": unary(lambda T, x: x.sign() * x),
    "sin": unary(lambda T, x: T.sin(x)),
    "cos": unary(lambda T, x: x.cos()),
    "tan": unary(lambda T, x: T.tan(x), "small"),
    "tanh": unary(lambda T, x: T.tanh(x)),
    "sigmoid": unary(lambda T, x: T.sigmoid(x)),
    "relu": unary(lambda T, x: T.relu(x)),
    "leaky_relu": unary(lambda T, x: T.nn.functional.leaky_relu(x, 0.2)),
    "gelu": unary(lambda T, x: T.nn.functional.gelu(x))
    + unary(lambda T, x: T.nn.functional.gelu(4 * x, approximate="tanh"), shapes=[(5,), (2, 3)]),
    "silu": unary(lambda T, x: T.nn.functional.silu(4 * x)),
    "elu": unary(lambda T, x: T.nn.functional.elu(x)) + unary(lambda T, x: T.nn.functional.elu(x, 0.5), shapes=[(5,)]),
    "mish": unary(lambda T, x: T.nn.functional.mish(4 * x)),
    "hardtanh": unary(lambda T, x: T.nn.functional.hardtanh(2 * x))
    + unary(lambda T, x: T.nn.functional.relu6(4 * x + 3), shapes=[(5,), (2, 3)]),
    "logsigmoid": unary(lambda T, x: T.nn.functional.logsigmoid(4 * x)),
    "hardsigmoid": unary(lambda T, x: T.nn.functional.hardsigmoid(3 * x)),
    "hardswish": unary(lambda T, x: T.nn.functional.hardswish(3 * x)),
    "log2": unary(lambda T, x: T.log2(x), "positive"),
    "log10": unary(lambda T, x: x.log10(), "positive"),
    "exp2": unary(lambda T, x: T.exp2(x)),
    "expm1": unary(lambda T, x: T.expm1(x)),
    "sinh": unary(lambda T, x: T.sinh(x)),
    "cosh": unary(lambda T, x: x.cosh()),
    "asin": unary(lambda T, x: T.asin(x), "small"),
    "acos": unary(lambda T, x: x.acos(), "small"),
    "atan": unary(lambda T, x: T.atan(x)),
    "asinh": unary(lambda T, x: T.asinh(x)),
    "acosh": unary(lambda T, x: T.acosh(x + 1.5), "positive"),
    "atanh": unary(lambda T, x: T.atanh(x * 0.9), "small"),
    "reciprocal": unary(lambda T, x: T.reciprocal(x)),
    "erf": unary(lambda T, x: T.erf(x)),
    "erfc": unary(lambda T, x: x.erfc()),
    # (zero gradients: the product with x makes the check see them)
    "floor": unary(lambda T, x: T.floor(3 * x) * x),
    "ceil": unary(lambda T, x: (3 * x).ceil() * x),
    "trunc": unary(lambda T, x: T.trunc(3 * x) * x),
    "round": unary(lambda T, x: T.round(3 * x) * x),
    "frac": unary(lambda T, x: T.frac(3 * x)),
    "softplus": unary(lambda T, x: softplus(T, x)) + unary(lambda T, x: softplus(T, 4 * x, 2.0, 3.0), shapes=[(5,)]),
    "clamp": unary(lambda T, x: x.clamp(-0.5, 0.7)) + unary(lambda T, x: T.clamp(x, min=0.1), shapes=[(5,)]),
    "pow_scalar": unary(lambda T, x: x ** 3) + unary(lambda T, x: x.pow(2.5), "positive") + unary(lambda T, x: x ** 2),
    "rpow": unary(lambda T, x: 2 ** x),
    "add_scalar": unary(lambda T, x: x + 2),
    "sub_scalar": unary(lambda T, x: x - 2),
    "rsub_scalar": unary(lambda T, x: 2 - x),
    "mul_scalar": unary(lambda T, x: 3 * x),
    "div_scalar": unary(lambda T, x: x / 3),
    "rdiv_scalar": unary(lambda T, x: 2 / x, "positive"),
    "to_copy": unary(lambda T, x: (x.float() * 1.0).double() * 0 + x.to(T.float64) * 2),
    "clone": unary(lambda T, x: x.clone() * x),
    "view": unary(lambda T, x: x.view(-1) * 2, shapes=[(2, 3)]),
    "reshape": unary(lambda T, x: x.t().reshape(6).exp(), shapes=[(2, 3)]) + unary(lambda T, x: x.t().flatten() * 2,
                                                                                 shapes=[(3, 2)]),
    "reshape_alias": unary(lambda T, x: x.t().reshape(3, 2).exp(), shapes=[(2, 3)]),
    "repeat": unary(lambda T, x: x.repeat(2, 3).exp(), shapes=[(2, 3)]) + unary(lambda T, x: x.repeat(2, 1, 2).sin(),
                                                                                  shapes=[(3,), (2, 1)])
    + unary(lambda T, x: x.repeat(1) * 2.0, shapes=[(4,)]),
    "unsqueeze": unary(lambda T, x: x.unsqueeze(-1) * T.ones(2, dtype=x.dtype), shapes=[(3,), (2, 3)]),
    "squeeze": unary(lambda T, x: x.squeeze().exp(), shapes=[(2, 1, 3)]),
    "squeeze_dim": unary(lambda T, x: x.squeeze(1).exp(), shapes=[(2, 1, 3)]),
    "squeeze_dims": unary(lambda T, x: x.squeeze((0, 1)).exp(), shapes=[(1, 1, 3)]),
    "add": binary(lambda T, x, y: x + y),
    "sub": binary(lambda T, x, y: x - y),
    "mul": binary(lambda T, x, y: x * y),
    "div": binary(lambda T, x, y: x / y, "positive"),
    "pow": binary(lambda T, x, y: x ** y, "positive"),
    # (the losses' own elementwise ops: input and target of one shape, both differentiable)
    "bce_logits": binary(lambda T, x, y: T.nn.functional.binary_cross_entropy_with_logits(
        x, y.expand_as(x), reduction="none"), shapes=[((3,), (3,)), ((2, 3), (2, 3)), ((2, 3), ())]),
    "bce": binary(lambda T, x, y: T.nn.functional.binary_cross_entropy(
        T.sigmoid(x), T.sigmoid(y).expand_as(x), reduction="none"), shapes=[((3,), (3,)), ((2, 3), (2, 3))]),
    "squared_error": binary(lambda T, x, y: T.nn.functional.mse_loss(x, y.expand_as(x), reduction="none"),
                            shapes=[((3,), (3,)), ((2, 3), (2, 3)), ((2, 3), ())])
    + binary(lambda T, x, y: T.nn.functional.mse_loss(x, y), shapes=[((), ()), ((2, 3), (2, 3))]),
    "atan2": binary(lambda T, x, y: T.atan2(x, y)),
    "hypot": binary(lambda T, x, y: T.hypot(x, y)),
    "logaddexp": binary(lambda T, x, y: T.logaddexp(3 * x, y)),
    "xlogy": binary(lambda T, x, y: T.xlogy(x, y), "positive") + binary(lambda T, x, y: x.xlogy(y.exp()),
                                                                        shapes=[((3,), (3,))]),
    "minimum": binary(lambda T, x, y: T.minimum(x, y)),
    "maximum": binary(lambda T, x, y: T.maximum(x, y)),
    "where": binary(lambda T, x, y: T.where(x > 0, x, y)),
    "sum": unary(lambda T, x: x.sum()),
    "sum_dim": unary(lambda T, x: x.sum(dim=1), shapes=[(2, 3)]) + unary(lambda T, x: x.sum((0, 2), keepdim=True),
                                                                        shapes=[(2, 3, 4)]),
    "mean": unary(lambda T, x: x.mean()),
    "mean_dim": unary(lambda T, x: x.mean(0, keepdim=True), shapes=[(2, 3)]) + unary(lambda T, x: x.mean(-1),
                                                                                    shapes=[(2, 3, 4)]),
    "prod": unary(lambda T, x: x.prod()),
    "prod_dim": unary(lambda T, x: x.prod(1), shapes=[(2, 3)]),
    "amax": unary(lambda T, x: x.amax(), shapes=[(4,), (2, 3)]) + unary(lambda T, x: x.amax(dim=0), shapes=[(2, 3)]),
    "amin": unary(lambda T, x: x.amin(dim=-1), shapes=[(2, 3)]),
    "max_all": unary(lambda T, x: x.max(), shapes=[(4,), (2, 3)]),
    "min_all": unary(lambda T, x: x.min(), shapes=[(4,), (2, 3)]),
    "max_dim": unary(lambda T, x: x.max(dim=1).values, shapes=[(2, 3)]),
    "min_dim": unary(lambda T, x: x.min(0, keepdim=True)[0], shapes=[(2, 3)]),
    "norm_max": unary(lambda T, x: x.norm(float("inf")) * 2.0, shapes=[(2, 3)])
    + unary(lambda T, x: T.norm(x, float("inf"), dim=1).exp(), shapes=[(2, 3)]),
    "norm_min": unary(lambda T, x: x.norm(-float("inf"), dim=0, keepdim=True).sin(), shapes=[(3, 2)]),
    "norm": unary(lambda T, x: x.norm(), shapes=[(4,), (2, 3)]) + unary(lambda T, x: x.norm(p=3, dim=1), shapes=[(2, 3)]),
    "var": unary(lambda T, x: x.var(), shapes=[(4,), (2, 3)]) + unary(lambda T, x: x.var(0, correction=0),
                                                                   shapes=[(2, 3)]),
    "std": unary(lambda T, x: x.std(), shapes=[(4,), (2, 3)]) + unary(lambda T, x: x.std(dim=1), shapes=[(2, 3)]),
    "logsumexp": unary(lambda T, x: T.logsumexp(x, dim=-1), shapes=[(4,), (2, 3)]),
    "softmax": unary(lambda T, x: T.softmax(x, dim=-1) * T.arange(3.0, dtype=x.dtype), shapes=[(3,), (2, 3)])
    + unary(lambda T, x: x.softmax(0).sin(), shapes=[(2, 3)]),
    "log_softmax": unary(lambda T, x: T.log_softmax(x, dim=1) * T.arange(3.0, dtype=x.dtype), shapes=[(2, 3)]),
    "cumsum": unary(lambda T, x: x.cumsum(0).sin(), shapes=[(4,), (2, 3)]),
    "expand": unary(lambda T, x: x.expand(2, 3).sin(), shapes=[(3,), (2, 1)]),
    "permute": unary(lambda T, x: x.permute(2, 0, 1).sin(), shapes=[(2, 3, 4)]) + unary(lambda T, x: x.T.sin(),
                                                                                         shapes=[(2, 3)]),
    "transpose": unary(lambda T, x: x.transpose(0, 1).exp(), shapes=[(2, 3)]) + unary(
        lambda T, x: x.transpose(0, 2).sin(), shapes=[(2, 3, 4)]),
    "t": unary(lambda T, x: x.t().exp(), shapes=[(2, 3)]),
    "slice": unary(lambda T, x: x[1:3].exp(), shapes=[(4,), (4, 2)]) + unary(lambda T, x: x.narrow(1, 1, 2).sin(),
                                                                            shapes=[(2, 3)]),
    "select": unary(lambda T, x: x[1].exp(), shapes=[(4,), (2, 3)]) + unary(lambda T, x: x.select(1, -1).sin(),
                                                                           shapes=[(2, 3)]),
    "split": unary(lambda T, x: x.split(2)[1].exp(), shapes=[(5,)]) + unary(lambda T, x: x.chunk(2, 1)[0].sin(),
                                                                           shapes=[(2, 4)]),
    "unbind": unary(lambda T, x: x.unbind(1)[2].exp() + x[0].sin().sum(), shapes=[(2, 3)])
    + unary(lambda T, x: sum(t * t for t in x), shapes=[(4,)]),
    "cat": binary(lambda T, x, y: T.cat([x, y.sin(), x], 0).exp(), shapes=[((2,), (3,)), ((1, 3), (2, 3))]),
    "stack": binary(lambda T, x, y: T.stack([x, y, x * y], dim=1).sin(), shapes=[((3,), (3,)), ((2, 3), (2, 3))])
    # seven pieces (two records of five at most), one that needs no gradient, scalars
    + binary(lambda T, x, y: T.stack([x, y, x * y, T.ones_like(x), y, x.exp(), y * 2], dim=-1).sin(),
             shapes=[((2, 3), (2, 3)), ((), ())]),
    "index": unary(lambda T, x: x[[0, 2, 2]].exp(), shapes=[(4,)]) + unary(lambda T, x: x[x > 0].sin(), shapes=[(2, 3)]),
    "index_as_slice": unary(lambda T, x: x[:, None, ::2].exp(), shapes=[(2, 3)]),
    "index_as_select": unary(lambda T, x: x[..., 1].sin(), shapes=[(2, 3)]),
    "index_as_unsqueeze": unary(lambda T, x: x[None].sin(), shapes=[(2, 3)]),
    "index_as_alias": unary(lambda T, x: x[:, :].sin(), shapes=[(2, 3)]),
    "mm": binary(lambda T, x, y: x @ y, shapes=[((2, 3), (3, 4)), ((3,), (3, 2))]) + binary(lambda T, x, y: T.mm(x, y),
                                                                           shapes=[((1, 2), (2, 1))]),
    "mv": binary(lambda T, x, y: T.mv(x, y), shapes=[((2, 3), (3,))]) + binary(lambda T, x, y: x @ y,
                                                                            shapes=[((2, 3), (3,))]),
    "dot": binary(lambda T, x, y: T.dot(x, y), shapes=[((3,), (3,))]),
    "bmm": binary(lambda T, x, y: T.bmm(x, y), shapes=[((2, 2, 3), (2, 3, 2))])
    + binary(lambda T, x, y: x @ y, shapes=[((2, 2, 3), (3, 2)), ((3, 2), (2, 2, 1)), ((2, 1, 2, 3), (3, 3, 2))]),
    "linear": [(lambda T, x, w, b: T.nn.functional.linear(x, w, b), shapes, "normal")
               for shapes in (((4, 3), (2, 3), (2,)), ((1, 1), (1, 1), (1,)), ((5, 2), (1, 2), (1,)))]
    + [(lambda T, x, w, b: T.nn.functional.linear(x.exp(), w * 2, b), ((3, 2), (2, 2), (2,)), "normal")],
    "python": unary(lambda T, x: legendre(T).apply(x * 0.5) * 3),
}


def draw(rng, shape, domain):
    if domain == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    if domain == "small":
        return rng.uniform(-1.0, 1.0, size=shape)
    x = rng.standard_normal(size=shape)
    return np.where(np.abs(x) < 0.05, 0.3, x)  # keep away from kinks (abs, relu, sign) at 0


def all_cases():
    for name, cases in CASES.items():
        for k, (fn, shapes, domain) in enumerate(cases):
            yield name, k, fn, shapes, domain
