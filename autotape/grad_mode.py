"""Grad mode, per thread: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``."""
import functools
import threading

class _State(threading.local):
    enabled = True  # a class default: a lookup that misses per-thread state stays cheap


_state = _State()


def is_grad_enabled():
    return _state.enabled


def _set(enabled):
    _state.enabled = bool(enabled)


class _GradMode:
    """Base of the grad-mode context managers; each also works as a decorator."""

    enabled = True

    def __enter__(self):  # (``_set`` inlined: ``with no_grad()`` runs in every training step)
        self._prev = _state.enabled
        _state.enabled = self.enabled
        return self

    def __exit__(self, exc_type, exc, tb):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class _NoGrad(_GradMode):
    enabled = False


class _EnableGrad(_GradMode):
    enabled = True


def _mode_factory(cls, name, doc):
    # A function, not the class itself: ``no_grad()`` in every training step would pay for a
    # Python-level ``__new__`` (0.5 us) if the class had to tell ``@no_grad`` from ``no_grad()``.
    def make(orig_func=None):
        if orig_func is None:
            return cls()
        if not callable(orig_func):
            raise TypeError(f"{name}() takes no arguments, or a function to decorate")
        return cls()(orig_func)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = doc
    return make


no_grad = _mode_factory(_NoGrad, "no_grad", "Inside it, ops record nothing and results do not require grad. "
                        "Also a decorator: ``@no_grad()`` or ``@no_grad``.")
enable_grad = _mode_factory(_EnableGrad, "enable_grad", "Grad mode on inside it (and in a function it decorates).")


class inference_mode(_GradMode):
    """``inference_mode()``: ``no_grad`` (autotape has no separate inference tensors);
    ``inference_mode(False)`` leaves grad mode as it is."""

    def __new__(cls, mode=True):
        if callable(mode):  # @inference_mode without parentheses
            return cls(True)(mode)
        return object.__new__(cls)

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = is_grad_enabled()
        if self.mode:
            _set(False)
        return self

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` switches grad off at once, and restores it as a context manager."""

    def __init__(self, mode):
        self._prev = is_grad_enabled()
        self.enabled = bool(mode)
        _set(mode)

    def __enter__(self):
        return self

    def __call__(self, fn):
        _set(self._prev)
        mode = self.enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper
