"""The dataset registry: `load_dataset(name)` for every source Coreset Studio knows."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import default_data_dir, resolve_dir
from .base import CorruptImageError, Dataset, ImageSplit
from .long_tail import long_tail_counts, make_long_tailed
from .sources import cifar10, digits, fashion_mnist, image_folder, imagewoof

__all__ = ["CorruptImageError", "Dataset", "DatasetInfo", "ImageSplit", "list_datasets", "load_dataset",
           "long_tail_counts", "make_long_tailed"]


@dataclass(frozen=True)
class DatasetInfo:
    """One registry entry as `coreset datasets` lists it."""

    name: str
    summary: str


_LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "cifar10": cifar10,
    "fashion-mnist": fashion_mnist,
    "imagewoof": imagewoof,
    "digits": digits,
}
_SUMMARIES = {
    "cifar10": "CIFAR-10, 50k/10k 32x32 (offline archive or torchvision download)",
    "cifar10-lt": "long-tailed CIFAR-10 (imbalance factor, default 10; seeded)",
    "fashion-mnist": "Fashion-MNIST, 60k/10k 28x28 grey (Debian dataset-fashion-mnist or torchvision)",
    "imagewoof": "Imagewoof2, 10 dog breeds at 128 px (ImageNet images: pretrained backbones have seen them)",
    "digits": "scikit-learn digits, 1,797 8x8 (fast tests)",
    "imagefolder:<path>": "your own images, one folder per class",
}
DEFAULT_IMBALANCE = 10.0


def list_datasets() -> list[DatasetInfo]:
    """Every dataset name the registry accepts (`<name>-lt` works for any of them)."""
    return [DatasetInfo(name, summary) for name, summary in _SUMMARIES.items()]


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None, imbalance: float | None = None,
                 seed: int = 0) -> Dataset:
    """Load a dataset by registry name.

    `<name>-lt` gives the long-tailed variant with `imbalance` (default 10) and `seed`;
    `imagefolder:<path>` loads a class-per-folder tree.
    """
    if name.startswith("imagefolder:"):
        if imbalance is not None:
            raise ValueError("imbalance applies to the built-in long-tailed names (e.g. cifar10-lt), "
                             "not to an image folder")
        return image_folder(name.split(":", 1)[1])
    folder = resolve_dir(data_dir, default_data_dir())
    base_name = name[:-3] if name.endswith("-lt") else name
    loader = _LOADERS.get(base_name)
    if loader is None:
        known = ", ".join(_SUMMARIES)
        raise ValueError(f"unknown dataset {name!r}; known datasets: {known} (see `coreset datasets`)")
    base = loader(folder)
    if name.endswith("-lt"):
        return make_long_tailed(base, DEFAULT_IMBALANCE if imbalance is None else imbalance, seed)
    if imbalance is not None:
        raise ValueError(f"imbalance={imbalance} needs a long-tailed dataset name: use {name}-lt")
    return base
