"""The dataset abstraction: labelled image splits with a stable identity for cache keys.

Every split keeps, for each of its positions, the sample's original id in its source
(`ids`) and, where the source has files, the file path (`paths`), so that a selection made
on positions can be exported as ids or files (SPEC section 7).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError


#: Archives and image folders store images sorted by class; splits present them in this fixed
#: shuffled order instead, so that "the first N images" (`--limit N`) is a representative sample.
SPLIT_ORDER_SEED = 0

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def fixed_shuffle(positions: np.ndarray) -> np.ndarray:
    """`positions` in the fixed pseudo-random order used for every class-sorted source."""
    return np.asarray(positions)[np.random.default_rng(SPLIT_ORDER_SEED).permutation(len(positions))]


class CorruptImageError(ValueError):
    """An image that cannot be decoded; the message names the dataset, split, index and file."""


class NoImagesError(ValueError):
    """The source holds no images (an embeddings file without `paths`)."""


def to_rgb(img: Image.Image) -> Image.Image:
    """`img` as 8-bit RGB; 16-bit and 32-bit grey are scaled to 0..255, not clipped."""
    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT_MODES or img.mode == "I":
        arr = np.asarray(img).astype(np.float64)
        top = float(arr.max()) if arr.size else 0.0
        full = 65535.0 if img.mode in _SIXTEEN_BIT_MODES or 255 < top <= 65535 else max(top, 255.0)
        grey = np.clip(np.round(arr * (255.0 / full)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if img.mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        if arr.size and arr.min() >= 0 and arr.max() <= 1:
            arr = arr * 255.0
        return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "L").convert("RGB")
    return img.convert("RGB")


def _optional_array(values: Any, n: int, name: str, dtype: Any = None) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype)
    if arr.shape[0] != n:
        raise ValueError(f"ImageSplit.{name} has {arr.shape[0]} entries for {n} labels; they must match one to one")
    return arr


@dataclass
class ImageSplit:
    """One split (train or test): labels plus a way to decode image `i` as an RGB PIL image.

    - `source` names where image `i` came from (for error messages).
    - `indices` maps positions to what `decode` takes (a row of the loaded source).
    - `ids`: the original id of each position in its source (torchvision's index in the
      split, the archive's row, the embeddings file's row or `ids` column); defaults to
      `indices` (or `0..N-1`).
    - `paths`: the image file of each position (np.ndarray of str), or None without files.
    - `features` / `scores`: per-position arrays carried by an embeddings file (else None).
    - `decode` is None for a source without images: `image()` then raises NoImagesError.
    """

    labels: np.ndarray
    decode: Callable[[int], Image.Image] | None
    source: str
    indices: np.ndarray | None = None
    ids: np.ndarray | None = None
    paths: np.ndarray | None = None
    features: np.ndarray | None = None
    scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = int(self.labels.shape[0])
        self.indices = _optional_array(self.indices, n, "indices", np.int64)
        if self.ids is None:
            self.ids = self.indices.copy() if self.indices is not None else np.arange(n, dtype=np.int64)
        self.ids = _optional_array(self.ids, n, "ids")
        self.paths = _optional_array(self.paths, n, "paths", str)
        self.features = _optional_array(self.features, n, "features")
        self.scores = _optional_array(self.scores, n, "scores")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def has_images(self) -> bool:
        """Whether `image(i)` can decode images (False for an embeddings file without paths)."""
        return self.decode is not None

    def _where(self, i: int) -> str:
        path = f" ({self.paths[i]})" if self.paths is not None else ""
        return f"image {i}{path} of {self.source}"

    def image(self, i: int) -> Image.Image:
        """Image `i` of this split as 8-bit RGB."""
        if not 0 <= i < len(self):
            raise IndexError(f"image index {i} is out of range for a split of {len(self)} images")
        if self.decode is None:
            raise NoImagesError(
                f"{self.source} has no images: the embeddings file holds no `paths` column, so only "
                "feature-based work (scores, selection, linear probe) is possible; add a `paths` column "
                "naming each sample's image file to see images"
            )
        j = int(self.indices[i]) if self.indices is not None else int(i)
        try:
            img = self.decode(j)
            img.load()
            return to_rgb(img)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise CorruptImageError(
                f"{self._where(i)} cannot be decoded ({type(exc).__name__}: {exc}); remove or replace that "
                "file, or re-download the dataset"
            ) from exc

    def subset(self, positions: Sequence[int] | np.ndarray, source: str | None = None) -> "ImageSplit":
        """A split made of the given positions of this one (order kept; ids, paths, features carried)."""
        pos = np.asarray(positions, dtype=np.int64)
        base = self.indices[pos] if self.indices is not None else pos

        def take(arr: np.ndarray | None) -> np.ndarray | None:
            return None if arr is None else arr[pos]

        return ImageSplit(self.labels[pos], self.decode, source or self.source, base, ids=self.ids[pos],
                          paths=take(self.paths), features=take(self.features), scores=take(self.scores))


@dataclass
class Dataset:
    """Train and test splits, class names, and a description.

    `identity` is a stable string that changes whenever the content changes (name,
    parameters such as the imbalance factor and seed, the source file): cache keys use it.
    `config` records how the dataset was made so results can be reproduced.
    `id_space` says, in one sentence, what a training sample's original id indexes (e.g.
    "index in torchvision.datasets.CIFAR100(root, train=True)", "row of cifar10_jpeg.npz
    (sorted by class)"); every source sets it and selection documents record it. A derived
    dataset (long-tailed subsample) keeps its base's ids and so its id space.
    """

    name: str
    identity: str
    class_names: list[str]
    train: ImageSplit
    test: ImageSplit
    description: str
    native_size: int
    config: dict[str, Any] = field(default_factory=dict)
    #: For a derived dataset (long-tailed subsample): the dataset it was drawn from and the
    #: positions of its training images in `base.train`; features are then sliced from the base's.
    base: "Dataset | None" = None
    base_train_positions: np.ndarray | None = None
    id_space: str = ""

    def __post_init__(self) -> None:
        if not self.id_space and self.base is not None:
            self.id_space = self.base.id_space
        if not self.id_space:
            self.id_space = f"position in the training split of {self.name} (the source names no other id)"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_features(self) -> bool:
        """True when the dataset carries its own features (an embeddings file): no backbone applies."""
        return self.train.features is not None

    @property
    def has_images(self) -> bool:
        """False for an embeddings file without `paths` (image grids cannot be shown)."""
        return self.train.has_images

    @property
    def train_scores(self) -> np.ndarray | None:
        """The difficulty scores the source ships for the training split (higher = harder), or None."""
        return self.train.scores

    def split(self, name: str) -> ImageSplit:
        """The split called `name` ("train" or "test")."""
        if name not in ("train", "test"):
            raise ValueError(f"unknown split {name!r}; use 'train' or 'test'")
        return self.train if name == "train" else self.test

    def class_sizes(self, split: str = "train") -> np.ndarray:
        """Number of images per class in a split."""
        return np.bincount(self.split(split).labels, minlength=self.num_classes)

    @property
    def default_resolution(self) -> int:
        """Backbone input size used by default: small images are upsampled to 128 px."""
        return 128 if self.native_size <= 128 else 224


def decode_jpeg_bytes(blob: np.ndarray, offsets: np.ndarray) -> Callable[[int], Image.Image]:
    """A decoder for image `i` of a concatenated-bytes archive (`blob[offsets[i]:offsets[i+1]]`)."""

    def decode(i: int) -> Image.Image:
        return Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes()))

    return decode


def decode_uint8_array(images: np.ndarray) -> Callable[[int], Image.Image]:
    """A decoder for image `i` of an uint8 array (N, H, W) grey or (N, H, W, 3) RGB."""

    def decode(i: int) -> Image.Image:
        return Image.fromarray(images[i])

    return decode


def decode_path(paths: Sequence[str] | np.ndarray) -> Callable[[int], Image.Image]:
    """A decoder for image `i` stored in the file `paths[i]`."""

    def decode(i: int) -> Image.Image:
        return Image.open(str(paths[i]))

    return decode
