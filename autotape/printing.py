"""How tensors print: PyTorch's layout, in a terminal and as HTML in a notebook."""
import html

import numpy as np

from .cuda.array import CudaArray


def _float_formatter(data):
    finite = data[np.isfinite(data)] if data.size else data
    if finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8:
        return lambda v: f"{v:.0f}." if np.isfinite(v) else str(v).replace("inf", "inf")
    big = np.abs(finite).max() if finite.size else 0
    nonzero = np.abs(finite[finite != 0])
    small = nonzero.min() if nonzero.size else 1
    if big >= 1e8 or small < 1e-4 or (small and big / small > 1e3 and big > 1e3):
        return lambda v: f"{v:.4e}"
    return lambda v: f"{v:.4f}"


def _padded(fmt, data):
    """PyTorch right-aligns every element to the widest one (so a minus sign gets room)."""
    width = max((len(fmt(v)) for v in data.reshape(-1)), default=0)
    return lambda v: fmt(v).rjust(width)


def _body(data):
    if data.dtype.kind == "f":
        fmt = {"float_kind": _padded(_float_formatter(data), data)}
    else:
        fmt = None
    if data.size == 0:
        return "[]"
    return np.array2string(data, separator=", ", prefix="tensor(", formatter=fmt, threshold=1000, edgeitems=3)


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
    if data.dtype not in (np.dtype(np.float32), np.dtype(np.int64), np.dtype(np.bool_)):
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
