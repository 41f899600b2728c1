"""``nn.Parameter``: a leaf tensor that a ``Module`` registers when assigned as an attribute."""
import numpy as np

from ..tensor import Tensor, _init, _to_array, _wrap, contiguous


class Parameter(Tensor):
    """A tensor that is a module parameter. Wraps ``data`` without copying (same memory and
    version counter, as PyTorch's ``Parameter(t)`` does) and is a leaf that requires grad."""

    def __init__(self, data=None, requires_grad=True):
        if isinstance(data, Tensor):
            # a contiguous buffer lets the optimizers address it directly; almost always a no-op
            _init(self, contiguous(data._data), False)
            if self._data is data._data:
                self._vc = data._vc
        else:
            _init(self, _to_array(np.empty(0, np.float32) if data is None else data, None), False)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce__(self):
        if self.is_cuda:
            from ..serialization import _rebuild_on

            return (_rebuild_on, (self._data.host(), self._rg, str(self.device), True))
        return (_rebuild_parameter, (self._data, self._rg))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(_wrap(self._data.copy()), self._rg)  # (_wrap: a CUDA array too)
        if self._grad is not None:
            out._grad = _wrap(self._grad._data.copy())
        memo[id(self)] = out
        return out


def _rebuild_parameter(data, requires_grad):
    return Parameter(Tensor(data), requires_grad)
