"""What a compiled function reads by name, and a guard that those names still hold what they
held when it was recorded.

A replay reads the recorded tensors by address and has the recorded Python numbers baked in,
so rebinding a name the function reads (``w = torch.tensor(5.0)`` or ``lr = 0.01`` in the next
notebook cell, ``model.weight = nn.Parameter(...)``, a redefined helper function) must record
again: replaying would silently use the old values. The names are the function's globals and
closure cells, followed through the plain Python functions and Modules they hold (a Module's
``forward`` reads names too, and its attributes). Tensors, arrays, Modules and functions are
compared by identity; numbers, strings and tuples of them by value. Containers the function
reads (lists, tuples, dicts, and the attributes of plain objects: ``hp["lr"]``, ``params[0]``,
``cfg.scale``) are compared item by item, three levels deep, so ``hp["lr"] = 0.01`` records again
too; the Modules and functions in them are followed as if read by name. The check costs about
0.1 us per item on every call, so a container of more than ``_ITEMS`` items is compared by
identity only, with a warning: data belongs in the arguments.
"""
import dis
import types
import warnings

import numpy as np

from .tensor import Tensor

# functions of these packages read no user tensors by name
_LIBRARIES = {"autotape", "numpy", "torch", "math", "builtins", "functools", "operator"}
_MISSING = object()
_DEPTH = 4  # how many calls deep the names are followed
_NESTING = 3  # how many levels of containers inside containers are compared item by item
_ITEMS = 1000  # the most items compared for one name


def _module_type():
    from .nn.module import Module

    return Module


def _user_function(f):
    return isinstance(f, types.FunctionType) and (f.__module__ or "").split(".")[0] not in _LIBRARIES


def _names(code):
    """The global names ``code`` and the functions defined in it read (``co_names`` also holds
    attribute names: ``m.weight`` is no read of a global ``weight``)."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names


def _reads(fn, Module):
    """(where, value) for each name ``fn`` reads that holds a tensor, a Module or a user function:
    where is ("cell", cell) or ("global", globals dict, name)."""
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    if not _user_function(fn):
        return []
    out = []
    for cell in fn.__closure__ or ():
        try:
            out.append((("cell", cell), cell.cell_contents))
        except ValueError:  # an empty cell (a name assigned later in the enclosing function)
            pass
    g = fn.__globals__
    for name in _names(fn.__code__):
        v = g.get(name, _MISSING)
        if v is not _MISSING:
            out.append((("global", g, name), v))
    return [(w, v) for w, v in out if isinstance(v, (Tensor, Module, np.ndarray)) or _user_function(v)
            or _plain(v) or _contents(v) is not None]


def _contents(v):
    """The items of a container a replay may have read from (a list's, a tuple's, a dict's keys
    and values, a plain object's attribute names and values), or None for anything else."""
    t = type(v)
    if t is list or t is tuple:
        return list(v)
    d = v if t is dict else None
    user_type = (t.__module__ or "").split(".")[0] not in _LIBRARIES
    if d is None and user_type and not isinstance(v, (type, types.ModuleType)):
        d = getattr(v, "__dict__", None)  # an instance of a user class (a config object, a namespace)
    return None if type(d) is not dict else [x for kv in d.items() for x in kv]


def _snapshot(v, depth=0):
    """What ``_same_contents`` compares ``v``'s contents to later: every item, and the contents of
    the containers among them, ``_NESTING`` levels deep (held, so none is freed and its id reused)."""
    items = _contents(v)
    return [(x, _snapshot(x, depth + 1) if depth + 1 < _NESTING and _contents(x) is not None else None)
            for x in items]


def _count(snapshot):
    return sum(1 + (0 if inner is None else _count(inner)) for _, inner in snapshot)


def _name_of(f, where):
    return where[2] if where[0] == "global" else _cell_name(f, where[1])


def _same_contents(v, snapshot):
    """True while container ``v`` holds what it held at ``_snapshot``: the same objects, plain
    values by value, nested containers recursively."""
    items = _contents(v)
    if items is None or len(items) != len(snapshot):
        return False
    for x, (was, inner) in zip(items, snapshot):
        if x is not was and not (_plain(x) and _same(x, was)):
            return False
        if inner is not None and not _same_contents(x, inner):
            return False
    return True


def _held(v, depth=0):
    """The Modules and user functions in container ``v`` (as nested as ``_snapshot`` looks)."""
    for x in _contents(v) or ():
        if isinstance(x, _module_type()) or _user_function(x):
            yield x
        elif depth + 1 < _NESTING:
            yield from _held(x, depth + 1)


def _plain(v):
    """A value a replay has baked in and that is compared by value: a number, a string, None, or
    a tuple of those."""
    if isinstance(v, tuple):
        return all(map(_plain, v))
    return v is None or type(v) in (bool, int, float, complex, str)


def _module_layout(m):
    """What a Module's forward may read by attribute, recursively: the identities of its tensors
    and submodules, the values of its plain attributes (``training`` too)."""
    layout = []
    for sub in m.modules():
        d = sub.__dict__
        layout += [id(v) if isinstance(v, Tensor) else (k, v) for k, v in d.items()
                   if isinstance(v, Tensor) or _plain(v)]
        for key in ("_parameters", "_buffers", "_modules"):
            layout += [id(v) for v in d[key].values()]
    return layout


# what reading a name the guard checks raises when it no longer holds anything: an emptied closure
# cell (read as a free variable), a deleted global
GUARD_ERRORS = (NameError, KeyError)


def guard(fn):
    """A function of no arguments, True while every name ``fn`` reads still holds the object it
    holds now (and the Modules among them are laid out as now), raising one of ``GUARD_ERRORS``
    when one holds nothing now; or None when it reads none. Its ``source`` is that check as one
    expression over the names in its ``env`` and ``cells`` (free variables), for callers that
    inline it (``closure_function``)."""
    Module = _module_type()
    checks, names, env, cells, modules, seen = [], [], {"_same": _same, "_same_contents": _same_contents}, {}, [], set()
    todo = [(fn, 0)]
    if isinstance(fn, Module):  # compile(model)
        modules.append(fn)
        todo = [(type(fn).forward, 0)]
    elif isinstance(fn, types.MethodType) and isinstance(fn.__self__, Module):  # compile(model.forward)
        modules.append(fn.__self__)
    while todo:
        f, depth = todo.pop()
        for where, v in _reads(f, Module):
            key = (where[0], id(where[1])) + where[2:]
            if key in seen:
                continue
            seen.add(key)
            k = len(seen)
            env[f"o{k}"] = v
            if where[0] == "cell":  # read as a free variable of the guard: the quickest read of a cell
                cells[f"c{k}"], read = where[1], f"c{k}"
            else:
                env[f"w{k}"], read = where[1], f"w{k}[{where[2]!r}]"
            # (a plain value by value, its type too: 1 == 1.0 == True; a container item by item)
            if _plain(v):
                checks.append(f"({read} is o{k} or _same({read}, o{k}))")
            elif not isinstance(v, (Tensor, Module, np.ndarray)) and not _user_function(v):
                env[f"s{k}"] = snap = _snapshot(v)
                if _count(snap) <= _ITEMS:
                    checks.append(f"({read} is o{k} and _same_contents(o{k}, s{k}))")
                else:
                    checks.append(f"{read} is o{k}")
                    warnings.warn(f"autotape.compile: {getattr(fn, '__name__', fn)} reads {_name_of(f, where)}, a "
                                  f"container of more than {_ITEMS} items: a replay sees it rebound, not its items "
                                  "changed. Pass what changes between calls as arguments", RuntimeWarning, stacklevel=4)
            else:
                checks.append(f"{read} is o{k}")
            names.append(_name_of(f, where))
            for x in list(_held(v)) if f"s{k}" in env else [v]:  # (what a container holds is followed)
                if isinstance(x, Module):
                    modules.append(x)
                    x = type(x).forward
                if depth < _DEPTH and _user_function(x) and id(x) not in seen:
                    seen.add(id(x))
                    todo.append((x, depth + 1))
    if modules:
        from .nn import module as module_mod

        layout = [_module_layout(m) for m in modules]
        state = {"epoch": module_mod.layout_epoch[0]}

        def same_layout():
            # a Module attribute set since: compare the layouts (most sets change nothing of it)
            if [_module_layout(m) for m in modules] != layout:
                return False
            state["epoch"] = module_mod.layout_epoch[0]
            return True

        env.update(epoch=module_mod.layout_epoch, state=state, same_layout=same_layout)
        checks.append("(epoch[0] == state['epoch'] or same_layout())")
        names.append("an attribute of " + ", ".join(type(m).__name__ for m in modules))
    if not checks:
        return None
    source = f"({' and '.join(checks)})"
    holds = closure_function(["def holds():", f"    return {source}"], env, cells)
    holds.rebound = lambda: [n for c, n in zip(checks, names)
                             if not _holds(closure_function(["def check():", f"    return {c}"], env, cells))]
    holds.source, holds.env, holds.cells = source, env, cells
    return holds


def closure_function(lines, env, cells):
    """The function ``lines`` define (its ``def`` line first), its globals ``env``, its free
    variables the closure cells ``cells`` (name -> cell): it reads them as the function whose
    cells they are does, far quicker than through ``cell.cell_contents``."""
    outer = ["def _outer():", *(f"    {n} = None" for n in cells), *("    " + line for line in lines),
             f"    return {lines[0].split()[1].split('(')[0]}"]
    scope = {}
    exec("\n".join(outer), env, scope)
    f = scope["_outer"]()
    if not f.__code__.co_freevars:
        return f
    closure = tuple(cells[n] for n in f.__code__.co_freevars)
    return types.FunctionType(f.__code__, env, f.__name__, f.__defaults__, closure)


def _same(a, b):
    return type(a) is type(b) and (a == b or a != a and b != b) if not isinstance(a, tuple) else \
        type(b) is tuple and len(a) == len(b) and all(map(_same, a, b))


def _holds(check):
    try:
        return check()
    except GUARD_ERRORS:
        return False


def _cell_name(f, cell):
    f = f.__func__ if isinstance(f, types.MethodType) else f
    return next((n for n, c in zip(f.__code__.co_freevars, f.__closure__ or ()) if c is cell), "?")
