"""`embeddings:<path>`: precomputed features in a `.npz` or `.parquet` file (SPEC section 7).

Columns: `features` (N x d float), `labels` (N int); optional `is_test` (bool; without it a
stratified 20 % test split, seed 0), `class_names` (C names), `scores` (the user's own
difficulty, higher = harder), `paths` (image files; relative paths are resolved against
the file's folder), `ids` (original sample ids; default: the row in the file).

Such a dataset carries its features (`Dataset.has_features`): no backbone or resolution
applies. Everything is validated up front; the file is never unpickled.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..validation import as_int_array
from .base import SPLIT_ORDER_SEED, Dataset, ImageSplit, decode_path, fixed_shuffle
from .embeddings_files import FORMAT_HINT, LAYOUT, EmbeddingsFileError, fail, read_columns  # noqa: F401 (API)
from .splits import stratified_test_split

PREFIX = "embeddings:"
REQUIRED = ("features", "labels")
OPTIONAL = ("is_test", "class_names", "scores", "paths", "ids")


def file_digest(path: Path) -> str:
    """sha1 of the whole file (features are the content: a change anywhere must change the cache keys)."""
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


# -- validation ------------------------------------------------------------------------------------------------

def nonfinite_rows(features: np.ndarray) -> np.ndarray:
    """Positions of the rows of a float32 block with a NaN or an infinity (its float64 row sum shows
    it, without an overflow and without a boolean copy of the whole block)."""
    return np.flatnonzero(~np.isfinite(features.sum(axis=1, dtype=np.float64)))


def _check_features(path: Path, features: np.ndarray) -> np.ndarray:
    if features.ndim != 2:
        raise fail(path, f"features must be a 2-D array (N samples x d dimensions), got shape {features.shape}")
    n, d = features.shape
    if n == 0:
        raise fail(path, "features has 0 rows: the file holds no samples")
    if d == 0:
        raise fail(path, "features has 0 columns: each sample needs a feature vector of at least one dimension")
    if not (np.issubdtype(features.dtype, np.floating) or np.issubdtype(features.dtype, np.integer)):
        raise fail(path, f"features must be numbers, got dtype {features.dtype}")
    features = np.asarray(features, dtype=np.float32)
    bad = nonfinite_rows(features)
    if bad.size:
        raise fail(path, f"features has NaN or infinite values in {bad.size} row(s) (first: row {int(bad[0])}); "
                          "recompute those embeddings or drop the rows")
    return features


def _check_labels(path: Path, labels: np.ndarray, n: int, class_names: list[str] | None) -> tuple[np.ndarray, int]:
    if labels.ndim != 1 or labels.shape[0] != n:
        raise fail(path, f"labels must hold one entry per features row ({n}), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.number):
        raise fail(path, f"labels must be integer class ids 0..C-1, got {labels.dtype} values such as "
                          f"{labels[0].item()!r}; encode names with numpy.unique(names, return_inverse=True) and store "
                          "the names as class_names")
    try:
        labels = as_int_array(labels, "labels", "class ids 0..C-1")
    except ValueError as exc:
        finite = labels[np.isfinite(labels)]
        odd = labels[~np.isfinite(labels)] if finite.size < labels.size else finite[finite != np.round(finite)]
        raise fail(path, f"{exc} (e.g. {odd.flat[0].item()!r}); labels must be whole numbers 0..C-1") from None
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0:
        raise fail(path, f"labels must be class ids 0..C-1, found {lo}")
    c = len(class_names) if class_names is not None else hi + 1
    if hi >= c:
        raise fail(path, f"label {hi} is out of range: class_names lists {c} classes (ids 0..{c - 1})")
    present = np.unique(labels)
    if present.size != c:
        gap = int(np.flatnonzero(present != np.arange(present.size))[0]) if present[-1] != present.size - 1 \
            else present.size
        raise fail(path, f"{c - present.size} of the {c} class ids 0..{c - 1} have no sample (the first is "
                          f"{gap}); relabel with numpy.unique(labels, return_inverse=True) so ids have no gaps")
    return labels, c


#: Text that a missing value becomes when a table with gaps is converted to strings.
_MISSING_TEXT = ("", "None", "nan", "NaN", "<NA>", "NaT")


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_ids(path: Path, ids: np.ndarray, n: int) -> np.ndarray:
    """Original ids as int64 or str: whole finite numbers or non-empty text, all distinct."""
    if ids.dtype.kind in "US":
        ids = np.char.decode(ids) if ids.dtype.kind == "S" else ids
        blank = np.isin(ids, _MISSING_TEXT)
        if blank.any():
            raise fail(path, f"ids row {_first(blank)} is empty ({str(ids[_first(blank)])!r}); every sample needs its "
                             "own id (fill it, or drop the ids column to use the row numbers)")
    elif ids.dtype.kind == "f":
        bad = ~np.isfinite(ids) | (ids != np.round(ids)) | (np.abs(ids) > 2.0 ** 53)
        if bad.any():
            raise fail(path, f"ids row {_first(bad)} is {ids[_first(bad)].item()!r}, not a whole number (a float column "
                             "with gaps?); store ids as integers or text, every row with a value")
        ids = ids.astype(np.int64)
    elif ids.dtype.kind in "iu":
        if ids.dtype == np.uint64 and ids.size and ids.max() > np.iinfo(np.int64).max:
            raise fail(path, f"ids row {_first(ids > np.iinfo(np.int64).max)} is beyond the int64 range; store "
                             "such ids as text")
        ids = ids.astype(np.int64)
    else:
        raise fail(path, f"ids must be integers or text, got {ids.dtype}")
    if np.unique(ids).size != n:
        raise fail(path, "ids must be unique (one original id per sample), but some repeat")
    return ids


def _check_paths(path: Path, paths: np.ndarray) -> np.ndarray:
    if paths.dtype.kind not in "US":
        raise fail(path, f"paths must be text (one image file per row), got {paths.dtype}")
    paths = np.char.decode(paths) if paths.dtype.kind == "S" else paths.astype(str)
    blank = np.isin(paths, _MISSING_TEXT)
    if blank.any():
        raise fail(path, f"paths row {_first(blank)} is empty ({str(paths[_first(blank)])!r}); every row needs its "
                         "image file (fill it, or drop the paths column)")
    return paths


def _check_is_test(path: Path, t: np.ndarray) -> np.ndarray:
    if t.dtype == bool:
        return t
    bad = ~np.isin(t, (0, 1)) if np.issubdtype(t.dtype, np.integer) else np.ones(t.shape, bool)
    if bad.any():
        raise fail(path, f"is_test must be booleans (or 0/1), got {t.dtype} (row {_first(bad)}: "
                         f"{t[_first(bad)].item()!r})")
    return t.astype(bool)


def _check_scores(path: Path, sc: np.ndarray) -> np.ndarray:
    if not np.issubdtype(sc.dtype, np.number):
        raise fail(path, f"scores must be numbers (higher = harder), got {sc.dtype}")
    sc = sc.astype(np.float64)
    if not np.isfinite(sc).all():
        raise fail(path, f"scores has {int((~np.isfinite(sc)).sum())} NaN/inf value(s) (first: row "
                         f"{_first(~np.isfinite(sc))}); fill or drop them")
    return sc


def _check_optional(path: Path, cols: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray | None]:
    checks = {"is_test": _check_is_test, "scores": _check_scores, "paths": _check_paths,
              "ids": lambda p, a: _check_ids(p, a, n)}
    out: dict[str, np.ndarray | None] = {k: None for k in checks}
    for key, check in checks.items():
        if key not in cols:
            continue
        arr = np.asarray(cols[key])
        if arr.ndim != 1 or arr.shape[0] != n:
            raise fail(path, f"column {key!r} has shape {arr.shape}, but features has {n} rows: it must hold "
                             "one entry per features row")
        out[key] = check(path, arr)
    return out


def _class_names(path: Path, cols: dict[str, np.ndarray], labels: np.ndarray) -> list[str] | None:
    if "class_names" in cols:
        names = np.asarray(cols["class_names"])
        if names.ndim != 1:
            raise fail(path, f"class_names must be a 1-D list of names, got shape {names.shape}")
        return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    if "row_class_names" not in cols:
        return None
    rows = cols["row_class_names"]
    if rows.shape[0] != labels.shape[0]:
        raise fail(path, "class_names must hold one name per row (the name of that row's class)")
    try:
        lab = as_int_array(labels, "labels", "class ids 0..C-1")
    except ValueError:
        return None  # the labels check reports it
    names: dict[int, str] = {}
    for c, name in zip(lab.tolist(), rows.tolist()):
        if names.setdefault(c, name) != name:
            raise fail(path, f"class {c} is named both {names[c]!r} and {name!r} in class_names")
    return [names.get(c, str(c)) for c in range(max(names) + 1)] if names else None


def validate_columns(path: Path, cols: dict[str, np.ndarray]) -> dict:
    """Checked, typed columns of an embeddings file; EmbeddingsFileError naming the file and the fix otherwise."""
    missing = [k for k in REQUIRED if k not in cols]
    if missing:
        raise fail(path, f"missing column(s) {missing} (found {sorted(cols) or 'none'}); expected {LAYOUT}")
    features = _check_features(path, np.asarray(cols["features"]))
    n = features.shape[0]
    labels = np.asarray(cols["labels"])
    class_names = _class_names(path, cols, labels) if labels.shape == (n,) else None
    labels, c = _check_labels(path, labels, n, class_names)
    out = {"features": features, "labels": labels, **_check_optional(path, cols, n)}
    out["class_names"] = class_names if class_names is not None else [str(i) for i in range(c)]
    if out["is_test"] is not None:
        n_test = int(out["is_test"].sum())
        if n_test in (0, n):
            raise fail(path, f"is_test marks {n_test} of {n} rows as test; both splits need samples "
                              "(drop is_test to get a stratified 20 % test split)")
        lacking = np.flatnonzero(np.bincount(labels[~out["is_test"]], minlength=c) == 0)
        if lacking.size:
            raise fail(path, f"{lacking.size} class(es) have no training sample (e.g. class {int(lacking[0])}); "
                              "every class needs at least one row with is_test False")
    return out


# -- the dataset -----------------------------------------------------------------------------------------------

def _resolve_paths(path: Path, paths: np.ndarray | None) -> np.ndarray | None:
    if paths is None:
        return None
    base = path.parent
    return np.asarray([p if Path(p).is_absolute() else str(base / p) for p in paths.tolist()], dtype=str)


def _split(name: str, kind: str, rows: np.ndarray, cols: dict) -> ImageSplit:
    order = fixed_shuffle(rows)
    paths = cols["paths"]
    ids = cols["ids"] if cols["ids"] is not None else np.arange(cols["labels"].shape[0], dtype=np.int64)
    return ImageSplit(
        cols["labels"][order], decode_path(paths) if paths is not None else None, f"{name} {kind}", order,
        ids=ids[order], paths=None if paths is None else paths[order], features=cols["features"][order],
        scores=None if cols["scores"] is None else cols["scores"][order],
    )


def embeddings_dataset(spec: str) -> Dataset:
    """The dataset of an embeddings file (`spec` is its path, without the `embeddings:` prefix)."""
    if not str(spec).strip():
        raise ValueError("embeddings: needs a path, e.g. embeddings:/data/clip_features.npz")
    if "?" in str(spec) or Path(spec).expanduser().is_dir():  # a folder of shards
        from .embedding_shards import sharded_dataset

        return sharded_dataset(str(spec))
    path = Path(spec).expanduser().resolve()
    cols = validate_columns(path, read_columns(path))
    cols["paths"] = _resolve_paths(path, cols["paths"])
    if cols["is_test"] is not None:
        train_rows, test_rows = np.flatnonzero(~cols["is_test"]), np.flatnonzero(cols["is_test"])
    else:
        train_rows, test_rows = stratified_test_split(cols["labels"], f"embeddings file {path}")
    name = f"{PREFIX}{path}"
    n, d = cols["features"].shape
    extras = [k for k in ("scores", "paths", "ids") if cols[k] is not None]
    return Dataset(
        name=name,
        identity=f"embeddings-{path.stem}@{file_digest(path)}-shuffled{SPLIT_ORDER_SEED}",
        class_names=cols["class_names"],
        train=_split(name, "train", train_rows, cols),
        test=_split(name, "test", test_rows, cols),
        description=(f"Precomputed embeddings from {path}: {n} samples x {d} dimensions, "
                     f"{len(cols['class_names'])} classes, {train_rows.size} train / {test_rows.size} test"
                     f"{' (is_test column)' if cols['is_test'] is not None else ' (stratified 20 % test split, seed 0)'}; "
                     f"also holds: {', '.join(extras) or 'nothing else'}."
                     + ("" if cols["paths"] is not None else " No image paths: images cannot be shown.")),
        native_size=0,
        config={"name": name, "path": str(path), "feature_dim": int(d), "has_scores": cols["scores"] is not None,
                "has_paths": cols["paths"] is not None},
        id_space=f"ids column of {path}" if cols["ids"] is not None else f"row of {path} (0-based)",
    )
