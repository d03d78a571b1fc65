"""The dataset abstraction: labelled image splits with a stable identity for cache keys."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError


#: Archives and image folders store images sorted by class; splits present them in this fixed
#: shuffled order instead, so that "the first N images" (`--limit N`) is a representative sample.
SPLIT_ORDER_SEED = 0


def fixed_shuffle(positions: np.ndarray) -> np.ndarray:
    """`positions` in the fixed pseudo-random order used for every class-sorted source."""
    return np.asarray(positions)[np.random.default_rng(SPLIT_ORDER_SEED).permutation(len(positions))]


class CorruptImageError(ValueError):
    """An image that cannot be decoded; the message names the dataset, split and index."""


@dataclass
class ImageSplit:
    """One split (train or test): labels plus a way to decode image `i` as an RGB PIL image.

    `source` names where image `i` came from (for error messages); `indices` maps this
    split's positions back to the underlying source (a subsampled long-tailed split keeps
    the original positions here so results can be traced to the original files).
    """

    labels: np.ndarray
    decode: Callable[[int], Image.Image]
    source: str
    indices: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def image(self, i: int) -> Image.Image:
        """Image `i` of this split as RGB."""
        if not 0 <= i < len(self):
            raise IndexError(f"image index {i} is out of range for a split of {len(self)} images")
        j = int(self.indices[i]) if self.indices is not None else int(i)
        try:
            img = self.decode(j)
            img.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise CorruptImageError(
                f"image {i} of {self.source} cannot be decoded ({exc}); remove or replace that file, "
                "or re-download the dataset"
            ) from exc
        return img if img.mode == "RGB" else img.convert("RGB")

    def subset(self, positions: Sequence[int] | np.ndarray, source: str | None = None) -> "ImageSplit":
        """A split made of the given positions of this one (order kept)."""
        pos = np.asarray(positions, dtype=np.int64)
        base = self.indices[pos] if self.indices is not None else pos
        return ImageSplit(self.labels[pos], self.decode, source or self.source, base)


@dataclass
class Dataset:
    """Train and test splits, class names, and a description.

    `identity` is a stable string that changes whenever the content changes (name,
    parameters such as the imbalance factor and seed, the source file): cache keys use it.
    `config` records how the dataset was made so results can be reproduced.
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

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

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
