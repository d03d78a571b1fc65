"""CIFAR-10 / CIFAR-100 from torchvision's on-disk format (the python pickles), downloaded by torchvision.

Images are kept in torchvision's own order, so a sample's id is its index in
`torchvision.datasets.CIFAR100(root, train=...)`; splits are presented in the fixed
shuffled order like every other source.
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import SPLIT_ORDER_SEED, Dataset, ImageSplit, decode_uint8_array, fixed_shuffle
from .download import guarded_download
from .npz import file_fingerprint


@dataclass(frozen=True)
class CifarLayout:
    """File names of one CIFAR variant inside torchvision's folder."""

    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    names_key: str
    label_key: str
    torchvision_class: str
    description: str


LAYOUTS = {
    "cifar10": CifarLayout("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                           "batches.meta", "label_names", "labels", "CIFAR10",
                           "CIFAR-10: 60,000 32x32 colour images in 10 classes (50,000 train / 10,000 test)."),
    "cifar100": CifarLayout("cifar-100-python", ("train",), ("test",), "meta", "fine_label_names", "fine_labels",
                            "CIFAR100",
                            "CIFAR-100: 60,000 32x32 colour images in 100 fine classes (50,000 train / 10,000 test)."),
}


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise ValueError(f"{path} is unreadable or truncated ({type(exc).__name__}: {exc}); delete "
                         f"{path.parent} and download the dataset again") from exc


def _read_batches(folder: Path, files: tuple[str, ...], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in files:
        entry = _unpickle(folder / name)
        if "data" not in entry or label_key not in entry:
            raise ValueError(f"{folder / name} is not a CIFAR batch (it lacks 'data' or {label_key!r}); "
                             f"delete {folder} and download the dataset again")
        images.append(np.asarray(entry["data"], dtype=np.uint8))
        labels.extend(entry[label_key])
    data = np.vstack(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(data), np.asarray(labels, dtype=np.int64)


def _ensure_files(name: str, layout: CifarLayout, data_dir: Path) -> Path:
    folder = data_dir / layout.folder
    needed = [folder / f for f in layout.train + layout.test + (layout.meta,)]
    if all(p.is_file() for p in needed):
        return folder

    def fetch() -> None:
        import torchvision.datasets as tvd

        getattr(tvd, layout.torchvision_class)(str(data_dir), train=True, download=True)

    guarded_download(data_dir, f"{name} ({layout.folder}/)", fetch,
                     f"put torchvision's {layout.folder}/ folder (from {layout.torchvision_class}(root, download=True) "
                     "on a machine with internet) into the data directory, or point --data-dir "
                     "(or CORESET_DATA_DIR) at the folder holding it")
    return folder


def _split(name: str, kind: str, images: np.ndarray, labels: np.ndarray, folder: Path) -> ImageSplit:
    order = fixed_shuffle(np.arange(len(labels)))
    return ImageSplit(labels[order], decode_uint8_array(images), f"{name} {kind} ({folder})", order, ids=order)


def cifar_pickles(name: str, data_dir: Path) -> Dataset:
    """`name` ('cifar10' or 'cifar100') from torchvision's pickles in `data_dir`, downloading them if allowed."""
    layout = LAYOUTS[name]
    folder = _ensure_files(name, layout, data_dir)
    train_x, train_y = _read_batches(folder, layout.train, layout.label_key)
    test_x, test_y = _read_batches(folder, layout.test, layout.label_key)
    meta = _unpickle(folder / layout.meta)
    class_names = [str(c) for c in meta.get(layout.names_key, [])]
    if len(class_names) <= int(max(train_y.max(), test_y.max())):
        raise ValueError(f"{folder / layout.meta} lists {len(class_names)} class names, fewer than the labels use; "
                         f"delete {folder} and download the dataset again")
    digest = hashlib.sha1("".join(file_fingerprint(folder / f) for f in layout.train + layout.test).encode())
    return Dataset(
        name=name,
        identity=f"{name}@torchvision-{digest.hexdigest()[:12]}-shuffled{SPLIT_ORDER_SEED}",
        class_names=class_names,
        train=_split(name, "train", train_x, train_y, folder),
        test=_split(name, "test", test_x, test_y, folder),
        description=layout.description,
        native_size=32,
        config={"name": name, "source": "torchvision", "path": str(folder)},
        id_space=f"index in torchvision.datasets.{layout.torchvision_class}(root, train=True)",
    )
