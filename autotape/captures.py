"""What a compiled function reads by name, and a guard that those names still hold what they
held when it was recorded.

A replay reads the recorded tensors by address and has the recorded Python numbers baked in,
so rebinding a name the function reads (``w = torch.tensor(5.0)`` or ``lr = 0.01`` in the next
notebook cell, ``model.weight = nn.Parameter(...)``, a redefined helper function) must record
again: replaying would silently use the old values. The names are the function's globals and
closure cells, followed through the plain Python functions and Modules they hold (a Module's
``forward`` reads names too, and its attributes). Tensors, arrays, Modules and functions are
compared by identity; numbers, strings and tuples of them by value. Objects inside a mutable container
(``params[0] = new``) and attributes of objects other than Modules are not followed.
"""
import dis
import types

import numpy as np

from .tensor import Tensor

# functions of these packages read no user tensors by name
_LIBRARIES = {"autotape", "numpy", "torch", "math", "builtins", "functools", "operator"}
_MISSING = object()
_DEPTH = 4  # how many calls deep the names are followed


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
    return [(w, v) for w, v in out
            if isinstance(v, (Tensor, Module, np.ndarray)) or _user_function(v) or _plain(v)]


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
    checks, names, env, cells, modules, seen = [], [], {"_same": _same}, {}, [], set()
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
            # (a plain value by value, its type too: 1 == 1.0 == True)
            checks.append(f"{read} is o{k}" if not _plain(v) else f"({read} is o{k} or _same({read}, o{k}))")
            names.append(where[2] if where[0] == "global" else _cell_name(f, where[1]))
            if isinstance(v, Module):
                modules.append(v)
                v = type(v).forward
            if depth < _DEPTH and _user_function(v) and id(v) not in seen:
                seen.add(id(v))
                todo.append((v, depth + 1))
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
