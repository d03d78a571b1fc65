"""`hf:<path-or-name>`: a Hugging Face `datasets` dataset as a source.

`hf:/data/my_ds` reads a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`
(offline); any other name goes to `datasets.load_dataset(name)` (the Hub, needs internet or
the local Hugging Face cache). Options follow a `?` in the name, so that a data setting stays
one string (`DataSpec.dataset`):

    hf:/data/my_ds?split=train&test_split=validation&config=NAME&image=img&label=fine_label

- `split` (default `train`): the split coresets are selected from; the original id of a
  sample is its row index in this split (`id_space`).
- `test_split`: the split the probe is tested on (default: `test`, else `validation`, else a
  stratified 20 % of `split`, seed 0, whose rows then are not in the training positions).
- `image` / `label`: the columns; by default the one `Image` column and the one `ClassLabel`
  column. Class names come from the `ClassLabel`; a plain integer label column (named with
  `label=`) gives names `0..C-1`.
- `config`: the Hub configuration name (`load_dataset(name, config)`).

`hf_split(name)` gives the training split as a `datasets.Dataset`, so that the `hf` export of
an `hf:` selection is `hf_split(name).select(ids)`, row for row.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl

import numpy as np
from PIL import Image

from .base import SPLIT_ORDER_SEED, Dataset, ImageSplit, fixed_shuffle
from .splits import stratified_test_split

PREFIX = "hf:"
OPTIONS = ("split", "test_split", "config", "image", "label")
TEST_SPLITS = ("test", "validation", "valid", "val")
INSTALL_HINT = "hf: datasets need the Hugging Face `datasets` package: pip install 'coreset-studio[hf]'"


class HFDatasetError(ValueError):
    """A Hugging Face dataset that cannot be used; the message names it, the problem and the fix."""


@dataclass(frozen=True)
class HFRef:
    """A parsed `hf:` name: where the dataset is and which split and columns to use."""

    location: str
    split: str = "train"
    test_split: str | None = None
    config: str | None = None
    image: str | None = None
    label: str | None = None

    @property
    def is_folder(self) -> bool:
        return Path(self.location).expanduser().is_dir()

    @property
    def where(self) -> str:
        return f"Hugging Face dataset {self.location!r}"


def parse_name(spec: str) -> HFRef:
    """The `HFRef` of `spec` (the text after `hf:`); unknown or empty options are refused."""
    location, _, query = str(spec).strip().partition("?")
    if not location.strip():
        raise ValueError("hf: needs a dataset folder or Hub name, e.g. hf:/data/my_dataset or hf:cifar10")
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key not in OPTIONS:
            raise ValueError(f"unknown hf: option {key!r} in {spec!r}; the options are {', '.join(OPTIONS)} "
                             "(e.g. hf:/data/ds?split=train&label=fine_label)")
        if not value.strip():
            raise ValueError(f"hf: option {key!r} needs a value, e.g. {key}=train")
        options[key] = value.strip()
    if query and not options:
        raise ValueError(f"hf: options after '?' must read key=value&key=value, got {query!r}")
    location = location.strip()
    if Path(location).expanduser().is_dir():
        location = str(Path(location).expanduser().resolve())
    return HFRef(location, **options)


def _datasets():
    try:
        import datasets
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return datasets


def _load_all(ref: HFRef) -> Any:
    """The dataset's splits: a `DatasetDict`, or a single `Dataset` saved without splits."""
    datasets = _datasets()
    if ref.is_folder:
        try:
            return datasets.load_from_disk(ref.location)
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise HFDatasetError(f"{ref.where}: the folder is not a dataset written by save_to_disk ({exc}); "
                                 "write it with Dataset.save_to_disk(folder) or DatasetDict.save_to_disk(folder)") \
                from None
    if Path(ref.location).expanduser().exists():
        raise HFDatasetError(f"{ref.where} is a file, not a folder; give the folder written by save_to_disk")
    try:
        return datasets.load_dataset(ref.location, ref.config)
    except Exception as exc:  # the Hub client raises many kinds (connection, not found, gated, ...)
        raise HFDatasetError(f"{ref.where} could not be loaded from the Hugging Face Hub ({type(exc).__name__}: "
                             f"{exc}); check the name (and config=...), the connection, or give a local folder "
                             "written by save_to_disk") from None


def _pick_split(ref: HFRef, splits: Any, name: str) -> Any:
    datasets = _datasets()
    if isinstance(splits, datasets.Dataset):
        if name != "train":
            raise HFDatasetError(f"{ref.where} is one split saved without split names, so split {name!r} does "
                                 "not exist; leave split= out")
        return splits
    if name not in splits:
        raise HFDatasetError(f"{ref.where} has no split {name!r}; its splits are {', '.join(splits)} "
                             f"(choose one with ?split=NAME)")
    return splits[name]


def _test_part(ref: HFRef, splits: Any) -> tuple[str, Any] | None:
    """(name, split) of the test split named by `test_split`, else a conventional one, else None (carve one out)."""
    if ref.test_split is not None:
        if ref.test_split == ref.split:
            raise HFDatasetError(f"{ref.where}: test_split and split are both {ref.split!r}; name another split "
                                 "or leave test_split out (a stratified 20 % of the split is then held out)")
        return ref.test_split, _pick_split(ref, splits, ref.test_split)
    if isinstance(splits, _datasets().Dataset):
        return None
    return next(((s, splits[s]) for s in TEST_SPLITS if s in splits and s != ref.split), None)


def _column(ref: HFRef, ds: Any, named: str | None, kind: str, type_name: str) -> str:
    """The column `named`, else the one column whose feature type is `type_name`."""
    features = ds.features
    if named is not None:
        if named not in features:
            raise HFDatasetError(f"{ref.where} has no column {named!r}; its columns are {', '.join(features)}")
        return named
    found = [name for name, feature in features.items() if type(feature).__name__ == type_name]
    if len(found) != 1:
        how = "none" if not found else f"{len(found)} ({', '.join(found)})"
        raise HFDatasetError(f"{ref.where}: looking for the {kind} column by its {type_name} type found {how}; "
                             f"name it with ?{kind}=COLUMN (columns: {', '.join(features)})")
    return found[0]


def _class_names(ref: HFRef, ds: Any, label: str) -> list[str] | None:
    feature = ds.features[label]
    if type(feature).__name__ == "ClassLabel":
        return [str(n) for n in feature.names]
    dtype = getattr(feature, "dtype", "")
    if not str(dtype).startswith(("int", "uint")):
        raise HFDatasetError(f"{ref.where}: label column {label!r} has type {feature}; it must be a ClassLabel or "
                             "integer class ids 0..C-1 (cast it with dataset.class_encode_column)")
    return None


def _labels(ref: HFRef, ds: Any, label: str, split: str, num_classes: int | None) -> np.ndarray:
    column = ds.data.column(label)
    if column.null_count:
        raise HFDatasetError(f"{ref.where}: split {split!r} has {column.null_count} row(s) without a label in "
                             f"column {label!r}; every row needs a class")
    labels = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)
    top = num_classes if num_classes is not None else int(labels.max()) + 1 if labels.size else 0
    bad = np.flatnonzero((labels < 0) | (labels >= top))
    if bad.size:
        raise HFDatasetError(f"{ref.where}: split {split!r} row {int(bad[0])} has label {int(labels[bad[0]])}, "
                             f"outside 0..{top - 1} of column {label!r}")
    if labels.size == 0:
        raise HFDatasetError(f"{ref.where}: split {split!r} has no rows")
    return labels


def _decoder(ds: Any, image: str) -> Callable[[int], Image.Image]:
    """Image of row `i` (only the image column is read and decoded)."""
    column = ds.select_columns([image])

    def decode(i: int) -> Image.Image:
        img = column[int(i)][image]
        if img is None:
            raise ValueError(f"row {i} has no image (null)")
        return img

    return decode


def _split(name: str, kind: str, ds: Any, rows: np.ndarray, labels: np.ndarray, image: str) -> ImageSplit:
    order = fixed_shuffle(rows)
    return ImageSplit(labels[order], _decoder(ds, image), f"{name} {kind}", order, ids=order.copy())


def _fingerprint(ds: Any) -> str:
    return str(getattr(ds, "_fingerprint", None) or "unknown")


def hf_dataset(spec: str) -> Dataset:
    """The dataset of an `hf:` name (`spec` without the prefix; see the module docstring)."""
    ref = parse_name(spec)
    splits = _load_all(ref)
    train_ds = _pick_split(ref, splits, ref.split)
    test_part = _test_part(ref, splits)
    image = _column(ref, train_ds, ref.image, "image", "Image")
    label = _column(ref, train_ds, ref.label, "label", "ClassLabel")
    names = _class_names(ref, train_ds, label)
    labels = _labels(ref, train_ds, label, ref.split, None if names is None else len(names))
    if names is None:
        names = [str(i) for i in range(int(labels.max()) + 1)]
    name = PREFIX + spec
    if test_part is None:
        train_rows, test_rows = stratified_test_split(labels, ref.where)
        test_labels, test_source, test_name = labels, train_ds, f"20 % of {ref.split!r} (stratified, seed 0)"
    else:
        test_name, test_source = test_part
        for column in (image, label):
            _column(ref, test_source, column, column, "")
        test_labels = _labels(ref, test_source, label, test_name, len(names))
        train_rows, test_rows = np.arange(labels.size), np.arange(test_labels.size)
        test_name = f"split {test_name!r}"
    first = _decoder(train_ds, image)(0)
    return Dataset(
        name=name,
        identity=(f"hf-{Path(ref.location).name}-{ref.split}@{_fingerprint(train_ds)}"
                  f"+{_fingerprint(test_source)}-{image}-{label}-shuffled{SPLIT_ORDER_SEED}"),
        class_names=names,
        train=_split(name, "train", train_ds, train_rows, labels, image),
        test=_split(name, "test", test_source, test_rows, test_labels, image),
        description=(f"{ref.where}, split {ref.split!r}: {train_rows.size} training images, {len(names)} classes "
                     f"(image column {image!r}, label column {label!r}); test: {test_name}, {test_rows.size} "
                     "images. Ids are row numbers of the split."),
        native_size=int(max(first.size)),
        config={"name": name, "location": ref.location, "split": ref.split, "image_column": image,
                "label_column": label},
        id_space=id_space(ref),
    )


def id_space(ref: HFRef) -> str:
    """What an original id of this source indexes."""
    return f"row of split {ref.split!r} of {ref.where}"


def hf_split(spec: str, identity: str | None = None) -> Any:
    """The training split of an `hf:` name (with `hf:` or without) as a `datasets.Dataset`.

    `identity`: the `Dataset.identity` a selection recorded; a split whose content changed
    since then (another fingerprint) is refused, so that ids never pick rows of other data.
    """
    ref = parse_name(spec[len(PREFIX):] if spec.startswith(PREFIX) else spec)
    split = _pick_split(ref, _load_all(ref), ref.split)
    if identity and f"@{_fingerprint(split)}+" not in identity:
        raise HFDatasetError(f"{ref.where}, split {ref.split!r}, is not the data the selection was made on (its "
                             f"fingerprint {_fingerprint(split)} is not in the recorded {identity!r}); select again "
                             "on the dataset as it is now")
    return split


def with_options(dataset: str, **options: str | None) -> str:
    """`dataset` (an `hf:` name) with the given options set (None values left out), e.g. for `--hf-split`.

    The result is canonical (options in `OPTIONS` order, the default split left out, a folder
    made absolute), so that one data setting has one name and one cache key.
    """
    from urllib.parse import urlencode

    given = {k: v for k, v in options.items() if v is not None}
    if not dataset.startswith(PREFIX):
        if not given:
            return dataset
        flags = ", ".join(f"--hf-{k.replace('_', '-')}" for k in given)
        raise ValueError(f"{flags} apply to hf: datasets only, not to {dataset!r}")
    ref = parse_name(dataset[len(PREFIX):])
    merged = {k: given.get(k, getattr(ref, k)) for k in OPTIONS}
    query = urlencode({k: v for k, v in merged.items() if v is not None and not (k == "split" and v == HFRef.split)})
    return PREFIX + ref.location + ("?" + query if query else "")
