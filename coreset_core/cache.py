"""Content-keyed, atomic, validated disk cache of numpy arrays.

Every entry is one `.npz` file whose name is a hash of everything that determines its
content (the *key*), plus a JSON copy of the key stored inside the file. A read checks
that the file opens, holds every expected array and carries the same key; anything else
(truncated file, hash collision, older code version) is reported as a miss so the caller
recomputes and overwrites it. Writes go to a temporary file in the same directory and are
renamed into place, so a crash never leaves a half-written entry under the real name.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping

import numpy as np

from .config import CODE_VERSION, default_cache_dir

log = logging.getLogger(__name__)

_KEY_FIELD = "__cache_key__"


def _canonical(key: Mapping[str, Any]) -> str:
    full = dict(key)
    full.setdefault("code_version", CODE_VERSION)
    return json.dumps(full, sort_keys=True, default=str)


def key_digest(key: Mapping[str, Any]) -> str:
    """Short stable hash of a key dictionary (code version included)."""
    return hashlib.sha256(_canonical(key).encode()).hexdigest()[:20]


def entry_path(kind: str, key: Mapping[str, Any], cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of the cache file for `key` under `<cache_dir>/<kind>/`."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    readable = "-".join(str(key[k]) for k in ("dataset", "split", "backbone") if k in key)
    readable = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in readable)[:80]
    name = f"{readable}-{key_digest(key)}.npz" if readable else f"{key_digest(key)}.npz"
    return root / kind / name


def load(path: Path, key: Mapping[str, Any], required: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays stored at `path`, or None if missing, unreadable, incomplete or for another key."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            stored_key = str(z[_KEY_FIELD]) if _KEY_FIELD in z.files else None
            if stored_key != _canonical(key):
                log.warning("cache entry %s belongs to another key or code version; recomputing", path)
                return None
            missing = [name for name in required if name not in z.files]
            if missing:
                log.warning("cache entry %s lacks %s; recomputing", path, missing)
                return None
            return {name: z[name] for name in z.files if name != _KEY_FIELD}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        log.warning("cache entry %s is unreadable (%s); recomputing", path, exc)
        return None


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call `write(fileobj)` on a temp file next to `path`, fsync, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def is_writable(folder: str | os.PathLike) -> bool:
    """Whether cache files can be written in `folder` (created if missing): checked before long work."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
        return True
    except OSError:
        return False


def save(path: Path, key: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Path:
    """Write `arrays` (and the key) atomically to `path`."""
    payload = {_KEY_FIELD: np.array(_canonical(key)), **{k: np.asarray(v) for k, v in arrays.items()}}
    return atomic_write(path, lambda fh: np.savez(fh, **payload))


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write raw bytes atomically (JSON results, checkpoints)."""
    return atomic_write(path, lambda fh: fh.write(data))


def cached_arrays(kind: str, key: Mapping[str, Any], compute, required: tuple[str, ...],
                  cache_dir: str | os.PathLike | None = None, refresh: bool = False) -> dict[str, np.ndarray]:
    """Return the cached arrays for `key`, computing and storing them with `compute()` on a miss.

    `compute` returns a dict of arrays that must include every name in `required`.
    """
    path = entry_path(kind, key, cache_dir)
    if not refresh:
        hit = load(path, key, required)
        if hit is not None:
            return hit
    arrays = compute()
    missing = [name for name in required if name not in arrays]
    if missing:
        raise RuntimeError(f"computed cache entry for {kind} lacks {missing}")
    save(path, key, arrays)
    return {k: np.asarray(v) for k, v in arrays.items()}
