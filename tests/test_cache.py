"""The disk cache: keyed, atomic, and never silently wrong."""
from __future__ import annotations

import numpy as np

from coreset_core import cache


def test_roundtrip_and_key_check(tmp_path):
    key = {"dataset": "d", "split": "train", "n": 3}
    path = cache.entry_path("things", key, tmp_path)
    cache.save(path, key, {"a": np.arange(3)})
    assert np.array_equal(cache.load(path, key, ("a",))["a"], np.arange(3))
    assert cache.load(path, {**key, "n": 4}, ("a",)) is None  # another key stored under this name
    assert cache.load(path, key, ("a", "b")) is None  # missing array


def test_truncated_file_is_a_miss_and_gets_rebuilt(tmp_path):
    key = {"dataset": "d"}
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.ones(1000)}

    first = cache.cached_arrays("k", key, compute, ("x",), tmp_path)
    path = cache.entry_path("k", key, tmp_path)
    path.write_bytes(path.read_bytes()[:100])  # simulate a crash mid-copy / disk corruption
    second = cache.cached_arrays("k", key, compute, ("x",), tmp_path)
    assert len(calls) == 2 and np.array_equal(first["x"], second["x"])
    assert cache.load(path, key, ("x",)) is not None


def test_code_version_is_part_of_the_key(tmp_path, monkeypatch):
    key = {"dataset": "d"}
    path = cache.entry_path("k", key, tmp_path)
    cache.save(path, key, {"x": np.zeros(2)})
    monkeypatch.setattr(cache, "CODE_VERSION", "999")
    assert cache.load(path, key, ("x",)) is None


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    key = {"dataset": "d"}
    path = cache.entry_path("k", key, tmp_path)
    cache.save(path, key, {"x": np.zeros(3)})  # a good entry already there

    def crash(fh, **arrays):
        fh.write(b"half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(cache.np, "savez", crash)
    try:
        cache.save(path, key, {"x": np.ones(3)})
    except OSError:
        pass
    monkeypatch.undo()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # temp file removed
    assert np.array_equal(cache.load(path, key, ("x",))["x"], np.zeros(3))  # old entry intact


def test_is_writable(tmp_path):
    assert cache.is_writable(tmp_path / "new" / "deeper")  # created on the way
    assert (tmp_path / "new" / "deeper").is_dir() and list((tmp_path / "new" / "deeper").iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert not cache.is_writable(blocker / "sub")  # below a regular file nothing can be created
