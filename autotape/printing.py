"""How tensors print: PyTorch's layout, in a terminal and as HTML in a notebook."""
import html

import numpy as np

from .cuda.array import CudaArray


def _float_formatter(data):
    """PyTorch's choice: whole numbers print as ``3.``, others with 4 decimals, and both in
    scientific notation when the nonzero finite magnitudes span more than 1000x or pass 1e8
    (or, for fractions, go below 1e-4)."""
    nonzero = np.abs(data[np.isfinite(data) & (data != 0)]).astype(np.float64) if data.size else data
    whole = bool(np.all(nonzero == np.ceil(nonzero)))
    if nonzero.size:
        big, small = nonzero.max(), nonzero.min()
        if big / small > 1000 or big > 1e8 or (not whole and small < 1e-4):
            return lambda v: f"{v:.4e}" if np.isfinite(v) else str(v)
    if whole:
        return lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)
    return lambda v: f"{v:.4f}" if np.isfinite(v) else str(v)


_THRESHOLD, _EDGE = 1000, 3


def _shown(data):
    """The elements a summarized print shows (PyTorch picks the format from those alone)."""
    if data.size <= _THRESHOLD:
        return data
    for axis, n in enumerate(data.shape):
        if n > 2 * _EDGE:
            data = np.concatenate([np.take(data, range(_EDGE), axis), np.take(data, range(n - _EDGE, n), axis)], axis)
    return data


def _padded(fmt, data):
    """PyTorch right-aligns every element to the widest finite one (so a minus sign gets room)."""
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
    width = max((len(fmt(v)) for v in finite.reshape(-1)), default=0)
    return lambda v: fmt(v).rjust(width)


def _body(data):
    shown = _shown(data)
    if data.dtype.kind == "f":
        fmt = {"float_kind": _padded(_float_formatter(shown), shown)}
    elif data.dtype.kind == "b":
        fmt = {"bool": _padded(str, shown)}
    else:
        fmt = None
    if data.size == 0:
        return "[]"
    body = np.array2string(data, separator=", ", prefix="tensor(", formatter=fmt, threshold=_THRESHOLD,
                           edgeitems=_EDGE, max_line_width=80)
    return body.replace(", ...,", ",  ...,") if data.size > _THRESHOLD else body  # PyTorch's elision


def _host(t):
    """The values to print (a CUDA tensor's copied to the host) and the device to name."""
    data = t._data
    if type(data) is CudaArray:
        return data.host(), "cuda:0"
    return data, None


def tensor_repr(t, name="tensor"):
    data, device = _host(t)
    parts = [_body(data)]
    if data.size == 0 and data.shape != (0,):
        parts.append(f"size={tuple(data.shape)}")
    if device is not None:
        parts.append(f"device='{device}'")
    # PyTorch names every dtype but the default float one, except int64 and bool when there are values to show
    if data.dtype not in (np.dtype(np.float32), np.dtype(np.int64), np.dtype(np.bool_)) or \
            (data.size == 0 and data.dtype != np.dtype(np.float32)):
        parts.append(f"dtype={t.dtype!r}")
    fn = t.grad_fn
    if fn is not None:
        parts.append(f"grad_fn=<{fn.name()}>")
    elif t.requires_grad:
        parts.append("requires_grad=True")
    return f"{name}(" + ", ".join(parts) + ")"


def tensor_html(t):
    data, device = _host(t)
    head = f"<b>tensor</b> shape={tuple(data.shape)} dtype={t.dtype.name}" + (f" device={device}" if device else "")
    fn = t.grad_fn
    if fn is not None:
        head += f" grad_fn=&lt;{fn.name()}&gt;"
    elif t.requires_grad:
        head += " requires_grad=True"
    if data.ndim <= 2 and data.size <= 200:
        rows = np.atleast_2d(data)
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows.tolist()
        )
        return f"<div>{head}<table>{cells}</table></div>"
    return f"<div>{head}<pre>{html.escape(_body(data))}</pre></div>"
