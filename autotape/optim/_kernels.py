"""Numba kernels of the optimizers: one compiled call updates every parameter of a group.

Each kernel gets the group's gradients concatenated into one flat array ``g`` (in the
parameters' dtype) and a table with one row per parameter: the addresses of its data and
state arrays (all C-contiguous, kept alive by the optimizer) and its element count. The
arithmetic is PyTorch's single-tensor update, op for op, in the parameters' dtype, with
its scalars rounded to that dtype as PyTorch rounds them; per-step scalars (bias
corrections) are computed in float64 as PyTorch computes them in Python. Where ATen's CPU
kernel rounds a multiply-add once, so does ``_fma`` here: ``add`` with ``alpha`` and ``lerp``
call ``vec::fmadd``, and the compiler contracts ``addcmul``'s ``self + value * t1 * t2`` (in
the vectorized loop and its scalar tail alike); ``addcdiv`` ends in a division, two roundings.
The results are then bitwise PyTorch's, but for its sqrt: on MKL builds that is MKL's, 1 ulp
off for ~17% of float32 values (tests/test_optim.py swaps in a correctly rounded one).
"""
import numpy as np
from numba import njit, types
from numba.extending import intrinsic

# table columns
ADDR, SIZE, S1, S2, S3, STEP, FLAG = range(7)
WIDTH = 7


@intrinsic
def _ptr(typingctx, like, addr):
    """A pointer of ``like``'s dtype at integer address ``addr``."""
    sig = types.CPointer(like.dtype)(like, addr)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[1], context.get_value_type(signature.return_type))

    return sig, codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM's fma: the instruction, or libm's exact fallback)."""
    sig = a(a, a, a)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def _ptr_f32(typingctx, addr):
    sig = types.CPointer(types.float32)(addr)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@njit(cache=True)
def sgd(table, g, hp, nesterov, maximize):
    """hp: lr, momentum, 1 - dampening, weight_decay. S1: momentum buffer; FLAG: buffer new."""
    lr, momentum, keep, wd = hp[0], hp[1], hp[2], hp[3]
    off = 0
    for k in range(table.shape[0]):
        n = table[k, SIZE]
        w = _ptr(g, table[k, ADDR])
        buf = _ptr(g, table[k, S1])
        first = table[k, FLAG] != 0
        for i in range(n):
            d = g[off + i]
            if maximize:
                d = -d
            if wd != 0:
                d = _fma(wd, w[i], d)  # grad.add(param, alpha=weight_decay)
            if momentum != 0:
                if first:
                    b = d  # PyTorch: the buffer starts as a clone of the first gradient
                else:
                    b = _fma(keep, d, buf[i] * momentum)  # buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                buf[i] = b
                d = _fma(momentum, b, d) if nesterov else b
            w[i] = _fma(-lr, d, w[i])  # param.add_(grad, alpha=-lr)
        table[k, FLAG] = 0
        off += n


@njit(cache=True)
def adam(table, g, hp, hp64, amsgrad, decoupled, maximize, scratch):
    """hp: lr, 1 - beta1, beta2, 1 - beta2, eps, weight_decay, 1 - lr * weight_decay, 1;
    hp64: lr, beta1, beta2 in float64. S1: exp_avg, S2: exp_avg_sq, S3: max_exp_avg_sq."""
    wgt, beta2, omb2, eps, wd, shrink = hp[1], hp[2], hp[3], hp[4], hp[5], hp[6]
    omw = hp[7] - wgt  # in the parameter dtype, as lerp computes it
    off = 0
    for k in range(table.shape[0]):
        n = table[k, SIZE]
        w = _ptr(g, table[k, ADDR])
        m = _ptr(g, table[k, S1])
        v = _ptr(g, table[k, S2])
        vmax = _ptr(g, table[k, S3])
        sp = _ptr_f32(table[k, STEP])
        sp[0] = sp[0] + np.float32(1.0)
        step = np.float64(sp[0])
        bc1 = 1.0 - hp64[1] ** step
        bc2 = 1.0 - hp64[2] ** step
        scratch[0] = -(hp64[0] / bc1)  # rounded to the parameter dtype, as addcdiv_'s value
        scratch[1] = bc2 ** 0.5
        neg_step, bc2_sqrt = scratch[0], scratch[1]
        for i in range(n):
            d = g[off + i]
            if maximize:
                d = -d
            if wd != 0:
                if decoupled:
                    w[i] = w[i] * shrink
                else:
                    d = _fma(wd, w[i], d)
            # exp_avg.lerp_(grad, 1 - beta1): PyTorch's lerp, both branches
            diff = d - m[i]
            mi = _fma(wgt, diff, m[i]) if wgt < 0.5 else _fma(-omw, diff, d)
            m[i] = mi
            vi = _fma(omb2 * d, d, v[i] * beta2)  # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            v[i] = vi
            if amsgrad:
                if vi > vmax[i]:
                    vmax[i] = vi
                vi = vmax[i]
            denom = np.sqrt(vi) / bc2_sqrt + eps
            w[i] = w[i] + neg_step * mi / denom
        off += n


@njit(cache=True)
def rmsprop(table, g, hp, centered, maximize):
    """hp: lr, alpha, 1 - alpha, eps, weight_decay, momentum, 1.
    S1: square_avg, S2: momentum_buffer, S3: grad_avg."""
    neg_lr, alpha, oma, eps, wd, momentum = -hp[0], hp[1], hp[2], hp[3], hp[4], hp[5]
    omw = hp[6] - oma
    off = 0
    for k in range(table.shape[0]):
        n = table[k, SIZE]
        w = _ptr(g, table[k, ADDR])
        sq = _ptr(g, table[k, S1])
        buf = _ptr(g, table[k, S2])
        ga = _ptr(g, table[k, S3])
        sp = _ptr_f32(table[k, STEP])
        sp[0] = sp[0] + np.float32(1.0)
        for i in range(n):
            d = g[off + i]
            if maximize:
                d = -d
            if wd != 0:
                d = _fma(wd, w[i], d)
            s = _fma(oma * d, d, sq[i] * alpha)  # square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            sq[i] = s
            if centered:
                diff = d - ga[i]
                a = _fma(oma, diff, ga[i]) if oma < 0.5 else _fma(-omw, diff, d)
                ga[i] = a
                avg = np.sqrt(_fma(-a, a, s))  # square_avg.addcmul(grad_avg, grad_avg, value=-1)
            else:
                avg = np.sqrt(s)
            avg = avg + eps
            if momentum > 0:
                b = buf[i] * momentum + d / avg  # buf.mul_(momentum).addcdiv_(grad, avg)
                buf[i] = b
                w[i] = _fma(neg_lr, b, w[i])  # param.add_(buf, alpha=-lr)
            else:
                w[i] = w[i] + neg_lr * d / avg
        off += n
