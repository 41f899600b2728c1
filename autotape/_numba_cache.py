"""Numba's on-disk cache (``cache=True``) is keyed on each cached function's own source file:
a function that calls, and so inlines, one from another file keeps its old machine code when
only that other file changes. Editing or pulling one module of autotape (an editable install),
or upgrading it under a kept ``~/.cache/autotape``, could then replay stale code: a silently
wrong answer. So the caches are tied to all of autotape's sources: when their digest changes,
the package's cache files are dropped before anything loads them (``drop_stale``, run first
on import), and generated modules carry the digest in their names (``replay/cpu.py``).

A read-only install is left as it is: pip writes every file anew, so Numba's own per-file
stamps are all fresh there."""
import hashlib
import os

ROOT = os.path.dirname(os.path.abspath(__file__))
_digests = {}


def sources_digest(root=ROOT):
    """A digest of every ``.py`` file under ``root`` (names and contents), computed once."""
    digest = _digests.get(root)
    if digest is None:
        h = hashlib.sha1()
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    h.update(os.path.relpath(path, root).encode())
                    with open(path, "rb") as f:
                        h.update(f.read())
        digest = _digests[root] = h.hexdigest()[:16]
    return digest


def _cache_folders(root):
    """Where Numba keeps the caches of the files under ``root``: beside them in ``__pycache__``,
    or mirrored under ``NUMBA_CACHE_DIR`` when that is set."""
    yield root
    user_dir = os.environ.get("NUMBA_CACHE_DIR")
    if user_dir:
        yield os.path.join(user_dir, os.path.splitdrive(root)[1].lstrip(os.sep))


def drop_stale(root=ROOT):
    """Remove Numba's cache files of the package at ``root`` if its sources changed since the
    last import that checked (a marker file in its ``__pycache__`` holds their digest)."""
    marker = os.path.join(root, "__pycache__", "numba-sources.sha1")
    digest = sources_digest(root)
    try:
        with open(marker) as f:
            if f.read() == digest:
                return
    except OSError:
        pass
    for base in _cache_folders(root):
        for folder, _, files in os.walk(base):
            for name in files:
                if name.endswith((".nbi", ".nbc")):
                    try:
                        os.remove(os.path.join(folder, name))
                    except OSError:  # (another process removed it, or the folder is read-only)
                        pass
    try:
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        tmp = f"{marker}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(digest)
        os.replace(tmp, marker)  # atomic: a concurrent import reads the old digest or the new
    except OSError:
        pass
