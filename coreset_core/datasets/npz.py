"""Datasets stored as one npz archive of JPEG bytes (the offline CIFAR-10 and Imagewoof copies)."""
from __future__ import annotations

import hashlib
import os
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from .base import SPLIT_ORDER_SEED, Dataset, ImageSplit, decode_jpeg_bytes, fixed_shuffle


def file_fingerprint(path: Path) -> str:
    """Cheap content fingerprint: size, and a hash of the first and last MiB."""
    size = path.stat().st_size
    h = hashlib.sha1(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


_ARCHIVE_KEYS = ("data", "offsets", "labels", "is_test", "classes")
_ARCHIVE_HINT = "copy the file again (the offline archives are listed in ASSETS.md)"


@lru_cache(maxsize=4)
def _read_archive(path: str, mtime: float) -> dict[str, np.ndarray]:
    """The arrays of an image archive, checked: a zip of plain arrays (never unpickled) that agree in length."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head.startswith(b"PK"):
        raise ValueError(f"{path} is not an image archive (.npz): it starts with {head!r}; {_ARCHIVE_HINT}")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _ARCHIVE_KEYS if k not in z.files]
            if missing:
                raise ValueError(f"{path} is not a Coreset Studio image archive: it lacks {missing} (expected "
                                 f"{', '.join(_ARCHIVE_KEYS)}); {_ARCHIVE_HINT}")
            out = {k: z[k] for k in z.files if k in _ARCHIVE_KEYS + ("class_names",)}
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        if str(exc).startswith(str(path)):
            raise
        problem = ("holds Python objects (pickled arrays), which are never read" if "pickle" in str(exc) else
                   f"is unreadable or truncated ({type(exc).__name__})")
        raise ValueError(f"{path} {problem}; {_ARCHIVE_HINT}") from exc
    n = out["labels"].shape[0]
    if out["offsets"].shape != (n + 1,) or out["offsets"][-1] != out["data"].shape[0] \
            or out["is_test"].shape != (n,) or out["data"].dtype != np.uint8:
        raise ValueError(f"{path} is inconsistent (expected uint8 data, n + 1 offsets ending at its length, one "
                         f"label and one is_test flag per image); {_ARCHIVE_HINT}")
    return out


def read_archive(path: Path) -> dict[str, np.ndarray]:
    """The checked arrays of the image archive at `path` (data, offsets, labels, is_test, classes), cached."""
    return _read_archive(str(path), os.path.getmtime(path))


def load_npz_dataset(name: str, path: Path, *, description: str, native_size: int,
                     use_readable_names: bool = False) -> Dataset:
    """Load an archive with `data`, `offsets`, `labels`, `is_test`, `classes` arrays."""
    if not path.is_file():
        raise FileNotFoundError(
            f"dataset {name!r} needs {path.name} in the data directory {path.parent}, which does not have it; "
            "point --data-dir (or CORESET_DATA_DIR) at the folder holding it"
        )
    arrays = read_archive(path)
    labels = arrays["labels"].astype(np.int64)
    is_test = arrays["is_test"].astype(bool)
    decode = decode_jpeg_bytes(arrays["data"], arrays["offsets"])
    names_key = "class_names" if use_readable_names and "class_names" in arrays else "classes"
    class_names = [str(c) for c in arrays[names_key]]
    train_idx = fixed_shuffle(np.flatnonzero(~is_test))
    test_idx = fixed_shuffle(np.flatnonzero(is_test))
    return Dataset(
        name=name,
        identity=f"{name}@{file_fingerprint(path)}-shuffled{SPLIT_ORDER_SEED}",
        class_names=class_names,
        train=ImageSplit(labels[train_idx], decode, f"{name} train ({path})", train_idx),
        test=ImageSplit(labels[test_idx], decode, f"{name} test ({path})", test_idx),
        description=description,
        native_size=native_size,
        config={"name": name, "path": str(path), "archive": str(path)},
        id_space=f"row of {path.name} (the archive is sorted by class: not torchvision's index)",
    )
