"""Numba's cache files are dropped when any of the package's sources changes (a cached function
inlines functions of other files, whose changes Numba's per-file stamps do not see), and kept
while none does; generated modules are named by the package's sources too."""
import os

from autotape import _numba_cache
from autotape.replay import cpu


def _package(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "a.py").write_text("x = 1\n")
    (root / "sub" / "b.py").write_text("y = 2\n")
    return root


def _cache_files(root):
    """Stand-ins for the .nbi/.nbc pair Numba writes beside a cached function's file."""
    files = [root / "sub" / "__pycache__" / "b.f-1.py311.nbi", root / "sub" / "__pycache__" / "b.f-1.py311.0.nbc"]
    for f in files:
        f.write_bytes(b"cache")
    return files


def test_cache_files_go_when_a_source_changes_and_stay_while_none_does(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(_numba_cache, "_digests", {})
    root = _package(tmp_path)
    other = root / "sub" / "__pycache__" / "b.cpython-311.pyc"
    other.write_bytes(b"bytecode")
    files = _cache_files(root)
    _numba_cache.drop_stale(str(root))  # no marker yet: whatever is there may be stale
    assert not any(f.exists() for f in files) and other.exists()
    files = _cache_files(root)
    _numba_cache.drop_stale(str(root))  # same sources: the cache stays
    assert all(f.exists() for f in files)
    (root / "a.py").write_text("x = 3\n")  # another file than the cached function's
    monkeypatch.setattr(_numba_cache, "_digests", {})  # (a new process computes it anew)
    _numba_cache.drop_stale(str(root))
    assert not any(f.exists() for f in files)


def test_caches_under_numba_cache_dir_go_too(tmp_path, monkeypatch):
    monkeypatch.setattr(_numba_cache, "_digests", {})
    root = _package(tmp_path)
    user_dir = tmp_path / "numba_cache"
    mirrored = user_dir / os.path.splitdrive(str(root))[1].lstrip(os.sep) / "sub"
    mirrored.mkdir(parents=True)
    stale = mirrored / "b.f-1.py311.nbi"
    stale.write_bytes(b"cache")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(user_dir))
    _numba_cache.drop_stale(str(root))
    assert not stale.exists()


def test_generated_module_names_follow_the_package_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOTAPE_CACHE_DIR", str(tmp_path))
    source = "VALUE = 7\n"
    first = cpu.load_generated("probe", source)
    assert first.VALUE == 7
    monkeypatch.setattr(_numba_cache, "_digests", {_numba_cache.ROOT: "another-version"})
    second = cpu.load_generated("probe", source)
    assert second.__name__ != first.__name__ and second.VALUE == 7
