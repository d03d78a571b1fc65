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


@lru_cache(maxsize=4)
def _read_archive(path: str, mtime: float) -> dict[str, np.ndarray]:
    required = ("data", "offsets", "labels", "is_test", "classes")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in required if k not in z.files]
            if missing:
                raise ValueError(f"{path} is not a Coreset Studio image archive: it lacks {missing}")
            out = {k: z[k] for k in z.files if k in required + ("class_names",)}
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is unreadable or truncated ({exc}); copy the file again") from exc
    n = out["labels"].shape[0]
    if out["offsets"].shape[0] != n + 1 or out["offsets"][-1] != out["data"].shape[0]:
        raise ValueError(f"{path} is inconsistent (offsets do not match the data); copy the file again")
    return out


def load_npz_dataset(name: str, path: Path, *, description: str, native_size: int,
                     use_readable_names: bool = False) -> Dataset:
    """Load an archive with `data`, `offsets`, `labels`, `is_test`, `classes` arrays."""
    if not path.is_file():
        raise FileNotFoundError(
            f"dataset {name!r} needs {path.name} in the data directory {path.parent}, which does not have it; "
            "point --data-dir (or CORESET_DATA_DIR) at the folder holding it"
        )
    arrays = _read_archive(str(path), os.path.getmtime(path))
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
