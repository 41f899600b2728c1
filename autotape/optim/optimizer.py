"""``Optimizer``: parameter groups, per-parameter state and ``state_dict`` as in PyTorch, with
the update itself done by one compiled call per group (see ``_kernels``), not one Python call
per parameter per arithmetic op.

A step's Python is kept to what changes between steps: the layout (addresses, views of the
gradient buffer) is rebuilt only when the parameters with a gradient or their buffers change,
and the kernel's arguments only when a hyperparameter does (they are compared by value every
step, so a scheduler's new ``lr``, or a tensor ``lr`` changed in place, is seen). A step after
one where every group repeated its layout is one generated function (``_quick_step``)."""
import functools
import time
from collections import defaultdict

import numpy as np

from .. import profiler
from ..grad_mode import enable_grad
from ..tape import _inplace_epoch, bump_inplace_epoch
from ..replay.cpu_kernels import entry_point
from ..tensor import Tensor, _recordings, _wrap, contiguous, note_write
from ..cuda.array import CudaArray
from ._kernels import ADDR, FLAG, SIZE, STEP, WIDTH

_PLAIN = (float, int, bool)  # hyperparameter types compared by value as they are
_GRAD_MISMATCH = "a parameter's .grad does not match its shape or dtype"


class _Bucket:
    """The parameters of one group and dtype that get a gradient this step, laid out for a
    kernel: the table of addresses, the flat gradient buffer ``g`` and its views in each
    parameter's shape, the arrays those addresses point into (held here so that they stay
    alive), and the kernel call with its arguments bound."""

    __slots__ = ("index", "table", "g", "views", "arrays", "scratch", "entry", "call")


class _Layout:
    __slots__ = ("ids", "key", "hyper", "raw", "plain", "buckets", "repeat", "params", "ps")


class Optimizer:
    """Base class: holds ``param_groups`` (dicts of params and hyperparameters) and ``state``
    (per-parameter dicts of tensors). Subclasses name their state and their kernel's arguments."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._layouts = {}
        self._quick = None  # the usual step of every group, as one generated function (see _quick_step)
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)
        self._layouts.clear()
        self._quick = None

    def zero_grad(self, set_to_none=True):
        if set_to_none:
            for group in self.param_groups:
                for p in group["params"]:
                    p._grad = None
            return
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is not None:
                    p._grad = p._grad.detach()
                    p._grad.zero_()

    # -- the step -----------------------------------------------------------------------
    def step(self, closure=None):
        quick = self._quick
        if quick is not None and closure is None and not profiler._active and not _recordings[0] and quick():
            _inplace_epoch[0] += 1  # (bump_inplace_epoch, inlined)
            return None
        self._quick = None  # (made again below when every group takes the usual path)
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        prof = profiler.current()
        t0 = time.perf_counter_ns() if prof is not None else 0
        # no no_grad() needed: no tensor op runs here, the kernels write the parameters by address
        usual = prof is None and not _recordings[0]
        for gi, group in enumerate(self.param_groups):
            lay = self._layouts.get(gi)
            if lay is not None and lay.repeat is not None and lay.plain and not _recordings[0] and \
                    self._hyper(group) == lay.raw and lay.repeat(group["params"]):
                continue
            usual = False
            # frozen parameters (requires_grad=False) and those without a gradient stay as they are
            ps = [p for p in group["params"] if p._grad is not None and p._rg]
            if ps and type(ps[0]._data) is CudaArray:
                from ..cuda import optim as cuda_optim

                cuda_optim.step(self, group, ps)
            elif ps:
                self._step_group(gi, group, ps)
        bump_inplace_epoch()
        if prof is not None:
            prof.add(f"{type(self).__name__}.step", "optimizer", t0, time.perf_counter_ns() - t0)
        if usual:  # every group took its layout's repeat: the next step may take them all at once
            self._quick = _quick_step(self)
        return loss

    def _step_group(self, gi, group, ps):
        ids = [id(p._data) for p in ps]
        raw = self._hyper(group)
        lay = self._layouts.get(gi)
        # plain numbers are compared as they are; a tensor lr (the same object, changed in place)
        # is read by value every step
        if lay is None or not lay.plain or lay.ids != ids or raw != lay.raw:
            lay = self._prepare(gi, group, ps, ids, lay, raw)
        for b in lay.buckets:
            bps = ps if b.index is None else [ps[i] for i in b.index]
            for p, v in zip(bps, b.views):
                d = p._grad._data
                if d.shape != v.shape:  # a gradient of the same size but another shape is taken as it comes
                    if d.size != v.size:
                        raise RuntimeError(_GRAD_MISMATCH)
                    d = d.reshape(v.shape)
                v[()] = d  # [()]: NumPy's quick path for a 0-d view (50 ns against 140 for [...])
            if b.scratch:
                for p, s in b.scratch:
                    np.copyto(s, p._data)
                b.call()
                for p, s in b.scratch:
                    np.copyto(p._data, s)
            else:
                b.call()
        for p in ps:
            p._vc[0] += 1  # saved values of this parameter on a live tape are stale now
        if _recordings[0]:
            for p in ps:
                note_write(p)

    def _prepare(self, gi, group, ps, ids, lay, raw):
        """The group's layout, rebuilt when its parameters or buffers changed, and its kernel
        calls, bound again when a hyperparameter's value did."""
        hyper = tuple(map(float, raw))  # float(): a tensor lr is read by value
        if lay is None or lay.ids != ids or lay.hyper != hyper:
            key = self._layout_key(group)
            if lay is None or lay.ids != ids or lay.key != key:
                lay = self._layouts[gi] = self._build(group, ps, ids, key)
                lay.params, lay.ps = list(group["params"]), ps  # (for _quick_step)
                lay.repeat = _repeat(lay.params, ps, lay)
            lay.hyper = hyper
            for b in lay.buckets:
                kernel, args = self._kernel_args(group, b.table, b.g)
                if b.entry is None:  # compiled once per bucket: the argument types follow its dtype
                    b.entry = entry_point(kernel, *args)
                # the entry point skips the dispatcher's type checks (~0.3 us a call)
                b.call = functools.partial(b.entry, *args)
        lay.raw, lay.plain = raw, all(type(v) in _PLAIN for v in raw)
        return lay

    def _build(self, group, ps, ids, key):
        lay = _Layout()
        lay.ids, lay.key, lay.buckets = ids, key, []
        by_dtype = {}
        for i, p in enumerate(ps):
            by_dtype.setdefault(p._data.dtype, []).append(i)
        for dt, index in by_dtype.items():
            b = _Bucket()
            b.index = None if len(by_dtype) == 1 else index
            b.table = np.zeros((len(index), WIDTH), np.int64)
            b.arrays, b.scratch, b.views, b.entry = [], [], [], None
            total = 0
            for row, i in enumerate(index):
                p = ps[i]
                data = p._data
                if not data.flags.c_contiguous or not data.flags.writeable:
                    s = contiguous(data).copy()
                    b.scratch.append((p, s))
                    data = s
                b.arrays.append(data)
                b.table[row, ADDR], b.table[row, SIZE] = data.ctypes.data, data.size
                total += data.size
                state = self.state[p]
                fresh = self._init_state(group, p, state)
                if not state:  # plain SGD keeps no state, and PyTorch shows none
                    del self.state[p]
                for col, name in self._state_columns(group):
                    arr = _kernel_array(state, name, data)
                    b.arrays.append(arr)
                    b.table[row, col] = arr.ctypes.data
                if "step" in state:
                    b.arrays.append(_kernel_array(state, "step", np.zeros((), np.float32)))
                    b.table[row, STEP] = b.arrays[-1].ctypes.data
                b.table[row, FLAG] = int(fresh)
            b.g = np.empty(total, dt)
            off = 0
            for i in index:
                shape = ps[i]._data.shape
                b.views.append(b.g[off: off + ps[i]._data.size].reshape(shape))
                off += ps[i]._data.size
            lay.buckets.append(b)
        return lay

    # what subclasses define
    def _layout_key(self, group):
        """Hyperparameters that decide which state exists (a change rebuilds the layout)."""
        return ()

    def _state_columns(self, group):
        """(table column, state name) of the state arrays the kernel reads."""
        return ()

    def _init_state(self, group, p, state):
        """Create missing state for ``p``; True if the kernel must initialise it."""
        return False

    def _hyper(self, group):
        """The group's hyperparameters the kernel's arguments are made of (numbers)."""
        raise NotImplementedError

    def _kernel_args(self, group, table, g):
        """(kernel, its arguments) for a bucket's ``table`` and gradient buffer ``g``."""
        raise NotImplementedError

    @staticmethod
    def _zeros_like(p):
        return _wrap(np.zeros(p._data.shape, p._data.dtype))

    @staticmethod
    def _step_tensor():
        return _wrap(np.zeros((), np.float32))  # PyTorch keeps 'step' as a float32 tensor

    # -- state_dict ---------------------------------------------------------------------
    def state_dict(self):
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(v) for p, v in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups, saved = self.param_groups, state_dict["param_groups"]
        if len(groups) != len(saved):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = {}
        for g, s in zip(groups, saved):
            id_map.update(zip(s["params"], g["params"]))
        self.state = defaultdict(dict)
        for k, values in state_dict["state"].items():
            if k not in id_map:
                continue
            p = id_map[k]
            # fresh contiguous copies in the parameter's dtype: the kernels write them by address
            self.state[p] = {
                name: _wrap(np.array(getattr(v, "_data", v), np.float32 if name == "step" else p._data.dtype,
                                     copy=True, order="C")) if isinstance(v, (Tensor, np.ndarray)) else v
                for name, v in values.items()
            }
        self.param_groups = [dict(s, params=g["params"]) for g, s in zip(groups, saved)]
        self._layouts.clear()
        self._quick = None

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        lines.append(")")
        return "\n".join(lines)


def _repeat_parts(src, params, ps, lay, env, tag):
    """The pieces of ``_repeat``'s code for ``lay``, laid out for the group's ``params`` (of which
    ``ps`` get an update): the conditions (``src``: the source of the group's parameter list then),
    the copies of the gradients, the kernel's call and the version bumps; the names it binds go
    into ``env``, suffixed by ``tag``. None when the layout has no repeat (several buckets, or
    scratch copies)."""
    if len(lay.buckets) != 1 or lay.buckets[0].scratch:
        return None
    b = lay.buckets[0]
    env[f"B{tag}"] = b
    rows = {id(p): k for k, p in enumerate(ps)}
    checks, copies = [f"len({src}) == {len(params)}"], []
    for i, q in enumerate(params):
        env[f"P{tag}_{i}"] = q
        checks.append(f"{src}[{i}] is P{tag}_{i}")
    for i, q in enumerate(params):
        if id(q) not in rows:  # left out of the layout: it must still get no update
            checks.append(f"(P{tag}_{i}._grad is None or not P{tag}_{i}._rg)")
            continue
        k = rows[id(q)]
        env[f"D{tag}_{k}"], env[f"V{tag}_{k}"], env[f"S{tag}_{k}"] = q._data, b.views[k], b.views[k].shape
        # (into a 0-d view only a 0-d array copies, others raise ValueError: the copy is the check)
        shape = "" if b.views[k].shape == () else f" and g{tag}_{k}._data.shape == S{tag}_{k}"
        checks.append(f"P{tag}_{i}._rg and P{tag}_{i}._data is D{tag}_{k} and (g{tag}_{k} := P{tag}_{i}._grad) is not None"
                      + shape)
        copies.append(f"V{tag}_{k}[()] = g{tag}_{k}._data")
    bumps = [f"P{tag}_{i}._vc[0] += 1" for i, q in enumerate(params) if id(q) in rows]
    return checks, copies, f"B{tag}.call()", bumps


def _guarded(checks, copies, rest, indent="    "):
    """Lines that return False unless every check holds and every copy (``_repeat_parts``) is
    made, then run ``rest`` and return True."""
    return [f"{indent}if not ({' and '.join(checks)}):", f"{indent}    return False", f"{indent}try:",
            *[f"{indent}    {c}" for c in copies],
            f"{indent}except ValueError:  # a gradient of another shape (a copy into the buffer is harmless)",
            f"{indent}    return False", *[f"{indent}{line}" for line in rest], f"{indent}return True"]


def _repeat(params, ps, lay):
    """A function ``(params) -> bool`` doing ``_step_group``'s work when nothing but the
    gradients' values changed since ``lay`` was laid out (the same parameters in ``params``, the
    same buffers, gradients of the same shapes; the caller checks the hyperparameters),
    and False otherwise, having done nothing. Generated straight-line code: the usual step
    costs a third of the loops'. Made once per layout (a new lr rebinds the bucket's call)."""
    env = {}
    parts = _repeat_parts("params", params, ps, lay, env, "")
    if parts is None:
        return None
    checks, copies, call, bumps = parts
    src = "\n".join(["def repeat(params):", *_guarded(checks, copies, [call] + bumps)])
    exec(src, env)
    return env["repeat"]


def _quick_step(opt):
    """``step()`` when every group would take its layout's repeat, as one generated function of no
    arguments: True having done every group's update, or False having done nothing (the caller
    checks the profiler and recording). The checks of all groups come first, so a group that
    changed leaves every group to ``step``'s own path. A group's hyperparameters are compared by
    value, as ``step`` compares them, every call."""
    groups = opt.param_groups
    env = {"O": opt, "GROUPS": groups}
    checks, copies, rest = ["O.param_groups is GROUPS", f"len(GROUPS) == {len(groups)}"], [], []
    for gi, group in enumerate(groups):
        lay = opt._layouts[gi]
        env[f"GR{gi}"], env[f"HYPER{gi}"], env[f"RAW{gi}"] = group, opt._hyper, lay.raw
        parts = _repeat_parts(f"ps{gi}", lay.params, lay.ps, lay, env, str(gi))
        if parts is None:
            return None
        conds, cps, call, bumps = parts
        checks += [f"GROUPS[{gi}] is GR{gi}", f"HYPER{gi}(GR{gi}) == RAW{gi}", f"(ps{gi} := GR{gi}['params']) is not None"]
        checks += conds
        copies += cps
        rest += [call] + bumps
    src = "\n".join(["def quick():", *_guarded(checks, copies, rest)])
    exec(src, env)
    return env["quick"]


def _kernel_array(state, name, like):
    """``state[name]``'s array, as the kernel reads it: C-contiguous, of ``like``'s dtype and
    size. A parameter converted since (``model.double()``) gets its state converted too."""
    t = state[name]
    arr = t._data
    if arr.size != like.size:
        raise RuntimeError(f"optimizer state '{name}' has {arr.size} elements but its parameter has {like.size}")
    if arr.dtype != like.dtype or not arr.flags.c_contiguous or not arr.flags.writeable:
        arr = np.array(arr, like.dtype, order="C")
        state[name] = t = _wrap(arr.reshape(t._data.shape))
    return t._data


def _check(value, name, low=0.0):
    if not value >= low:
        raise ValueError(f"Invalid {name}: {value}")
    return value


def _check_betas(betas):
    """Adam's and Adamax's (beta1, beta2), each in [0, 1), as PyTorch checks them."""
    for i, beta in enumerate(betas[:2]):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")

