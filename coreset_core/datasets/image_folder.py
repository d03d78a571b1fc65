"""A user's class-per-folder images (`imagefolder:<path>`), enumerated the way torchvision's ImageFolder does.

Ids: a sample's id is its index in `torchvision.datasets.ImageFolder(<split root>)` (class
folders sorted, files walked in sorted order), where the split root is `<path>` itself or
its `train/` / `test/` (`val/`) folder. Files with a `.gif` suffix are read here but skipped
by ImageFolder; without them the two enumerations agree exactly.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .base import CorruptImageError, Dataset, ImageSplit, decode_path, fixed_shuffle
from .splits import stratified_test_split

#: torchvision's IMG_EXTENSIONS, plus .gif.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif"}


def list_class_folders(root: Path) -> tuple[list[str], list[Path], np.ndarray]:
    """(class names, image files, labels) in torchvision ImageFolder's order."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{root} has no class sub-folders; lay images out as {root}/<class name>/<image file>")
    paths: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        files = [Path(d) / f for d, _, names in sorted(os.walk(root / cls, followlinks=True))
                 for f in sorted(names) if Path(f).suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise ValueError(f"class folder {root / cls} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        paths += files
        labels += [label] * len(files)
    return classes, paths, np.array(labels, dtype=np.int64)


def _split(name: str, paths: list[Path], labels: np.ndarray, ids: np.ndarray) -> ImageSplit:
    """A split over the given files, presented in the fixed shuffled order."""
    order = fixed_shuffle(np.arange(len(paths)))
    path_arr = np.asarray([str(paths[i]) for i in order], dtype=str)
    return ImageSplit(labels[order], decode_path(path_arr), name, ids=np.asarray(ids)[order], paths=path_arr)


def _listing_digest(root: Path, *splits: ImageSplit) -> str:
    """Hash of relative path, size and mtime of every file, split by split; stops at empty files."""
    h = hashlib.sha1()
    empty = []
    for split in splits:
        for p in split.paths:
            st = os.stat(p)
            if st.st_size == 0:
                empty.append(p)
            h.update(f"{Path(p).relative_to(root)}:{st.st_size}:{int(st.st_mtime)}".encode())
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        raise CorruptImageError(f"{len(empty)} empty (0-byte) image file(s) in {root}: {shown}; delete or replace them")
    return h.hexdigest()[:12]


def image_folder(path: str) -> Dataset:
    """A user's class-per-folder images: `<path>/<class>/*.jpg`, or `<path>/{train,test|val}/<class>/...`.

    Without explicit train/test folders, a stratified 20 % test split is drawn with seed 0;
    a class with fewer than 3 images keeps them all in train (see `splits.per_class_test_counts`).
    """
    if not str(path).strip():
        raise ValueError("imagefolder: needs a path, e.g. imagefolder:/data/my_images (a folder of class folders)")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist; pass imagefolder:<path to a folder of class folders>")
    name = f"imagefolder:{root}"
    test_dir = next((root / d for d in ("test", "val") if (root / d).is_dir()), None)
    no_test: list[str] = []
    split_root = root / "train" if (root / "train").is_dir() and test_dir is not None else root
    if (root / "train").is_dir() and test_dir is not None:
        classes, train_paths, train_y = list_class_folders(root / "train")
        test_classes, test_paths, test_y = list_class_folders(test_dir)
        if test_classes != classes:
            raise ValueError(f"{root / 'train'} and {test_dir} have different class folders")
        train = _split(f"{name} train", train_paths, train_y, np.arange(len(train_paths)))
        test = _split(f"{name} test", test_paths, test_y, np.arange(len(test_paths)))
    else:
        classes, all_paths, all_y = list_class_folders(root)
        tr, te = stratified_test_split(all_y, f"image folder {root}")
        train = _split(f"{name} train", [all_paths[i] for i in tr], all_y[tr], tr)
        test = _split(f"{name} test", [all_paths[i] for i in te], all_y[te], te)
        no_test = [classes[c] for c in np.flatnonzero(np.bincount(test.labels, minlength=len(classes)) == 0)]
    digest = _listing_digest(root, train, test)
    first = train.image(0)  # a corrupt first file stops here with CorruptImageError naming it
    note = f" Classes with too few images for a test sample (train only): {', '.join(no_test[:10])}." if no_test else ""
    return Dataset(
        name=name,
        identity=f"imagefolder-{root.name}@{digest}",
        class_names=classes,
        train=train,
        test=test,
        description=f"Your images in {root}: {len(classes)} classes, {len(train)} train / {len(test)} test.{note}",
        native_size=max(first.size),
        config={"name": name, "path": str(root), "classes_without_test": no_test},
        id_space=f"sample index in torchvision.datasets.ImageFolder({str(split_root)!r})",
    )
