"""The dataset registry: `load_dataset(name)` for every source Coreset Studio knows."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import default_data_dir
from .base import CorruptImageError, Dataset, ImageSplit, NoImagesError
from .download import DOWNLOAD_ENV, downloads_allowed
from .embeddings import EmbeddingsFileError, embeddings_dataset
from .hf import HFDatasetError, hf_dataset
from .image_folder import image_folder
from .long_tail import long_tail_counts, make_long_tailed
from .sources import cifar10, cifar100, digits, fashion_mnist, imagewoof
from .tv_sources import food101, imagenet, inat2021_mini

__all__ = ["CorruptImageError", "DOWNLOAD_ENV", "Dataset", "DatasetInfo", "EmbeddingsFileError", "HFDatasetError", "ImageSplit",
           "NoImagesError", "downloads_allowed", "list_datasets", "load_dataset", "long_tail_counts",
           "make_long_tailed"]


@dataclass(frozen=True)
class DatasetInfo:
    """One registry entry as `coreset datasets` lists it."""

    name: str
    summary: str


_LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "cifar10": cifar10,
    "cifar100": cifar100,
    "fashion-mnist": fashion_mnist,
    "imagewoof": imagewoof,
    "food101": food101,
    "inat2021-mini": inat2021_mini,
    "imagenet": imagenet,
    "digits": digits,
}
_SUMMARIES = {
    "cifar10": "CIFAR-10, 50k/10k 32x32 (offline archive or torchvision download)",
    "cifar10-lt": "long-tailed CIFAR-10 (imbalance factor, default 10; seeded)",
    "cifar100": "CIFAR-100, 100 classes, 50k/10k 32x32 (torchvision's cifar-100-python/ or its download)",
    "cifar100-lt": "long-tailed CIFAR-100 (imbalance factor, default 10; seeded)",
    "fashion-mnist": "Fashion-MNIST, 60k/10k 28x28 grey (Debian dataset-fashion-mnist or torchvision)",
    "imagewoof": "Imagewoof2, 10 dog breeds at 128 px (ImageNet images: pretrained backbones have seen them)",
    "food101": "Food-101, 101 dishes, 75,750/25,250 up to 512 px (<data-dir>/food-101 or torchvision download, 5 GB)",
    "inat2021-mini": "iNaturalist 2021 mini, 10,000 species, 500k train / 100k val "
                     "(<data-dir>/2021_train_mini + 2021_valid, torchvision layout or download, 50 GB)",
    "imagenet": "ImageNet-1k, 1.28M/50k (local root <data-dir>/imagenet: torchvision's ImageNet archives or "
                "prepared folders; no download)",
    "digits": "scikit-learn digits, 1,797 8x8 (fast tests)",
    "imagefolder:<path>": "your own images, one folder per class (ids: torchvision ImageFolder's index)",
    "embeddings:<path>": "your precomputed features: .npz/.parquet with features, labels [is_test, class_names, "
                         "scores, paths, ids]",
    "hf:<path-or-name>[?split=..]": "a Hugging Face dataset: a save_to_disk folder or a Hub name (ids: row of the "
                                    "split; options split, test_split, config, image, label)",
}
DEFAULT_IMBALANCE = 10.0
_NO_DATA_DIR = {"digits"}  # sources that never read the data directory
_PATH_SOURCES = {"imagefolder:": image_folder, "embeddings:": embeddings_dataset, "hf:": hf_dataset}


def list_datasets() -> list[DatasetInfo]:
    """Every dataset name the registry accepts (`<name>-lt` works for any built-in one)."""
    return [DatasetInfo(name, summary) for name, summary in _SUMMARIES.items()]


def _data_folder(data_dir: str | os.PathLike | None) -> Path:
    """The data directory; an explicitly given one must exist (it is never created by a download attempt)."""
    given = data_dir if data_dir is not None else os.environ.get("CORESET_DATA_DIR")
    if not given:
        return default_data_dir()  # the default folder may be created by a download
    folder = Path(given).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"data directory {folder} does not exist; check the --data-dir / CORESET_DATA_DIR "
                                "path (create the folder first if torchvision should download into it)")
    return folder


def check_dataset_name(name: str) -> str:
    """`name` if the registry can load it (a built-in name, its `-lt` variant or a path source), else a
    ValueError listing the known names: checked before any run starts."""
    if name.startswith(tuple(_PATH_SOURCES)):
        return name
    if name.removesuffix("-lt") not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(_SUMMARIES)} (see `coreset datasets`)")
    return name


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None, imbalance: float | None = None,
                 seed: int = 0) -> Dataset:
    """Load a dataset by registry name.

    `<name>-lt` gives the long-tailed variant with `imbalance` (default 10) and `seed`;
    `imagefolder:<path>` loads a class-per-folder tree, `embeddings:<path>` a features file.
    """
    for prefix, loader in _PATH_SOURCES.items():
        if name.startswith(prefix):
            if imbalance is not None:
                raise ValueError(f"imbalance applies to the built-in long-tailed names (e.g. cifar10-lt), "
                                 f"not to {prefix}<path>")
            return loader(name[len(prefix):])
    base_name = check_dataset_name(name).removesuffix("-lt")
    base = _LOADERS[base_name](default_data_dir() if base_name in _NO_DATA_DIR else _data_folder(data_dir))
    if name.endswith("-lt"):
        return make_long_tailed(base, DEFAULT_IMBALANCE if imbalance is None else imbalance, seed)
    if imbalance is not None:
        raise ValueError(f"imbalance={imbalance} needs a long-tailed dataset name: use {name}-lt")
    return base
