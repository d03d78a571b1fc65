"""The selection document (`coreset-studio/selection-v2`): how it is built and how every read checks it.

`selection_document(...)` builds the JSON document `coreset select --out` and the studio's
downloads write; `session_document(session, selection)` builds it from a Session (the one
way the CLI and the studio make it). `check_document(doc)` validates a document against the
schema below on every read (`coreset export`, `read_selection`, `selection_from_config` of a
whole document), so a hand-edited or truncated file is refused with the field named and the
fix, never a traceback or a silently wrong export.

Fields (N training samples, K kept, C classes):

- `format` (= FORMAT), `coreset_version` (str), `num_samples` (N), `num_selected` (K);
- `id_space`: one sentence saying what an id indexes (e.g. "index in
  torchvision.datasets.CIFAR100(root, train=True)", "row of cifar10_jpeg.npz (sorted by class)");
- `indices` (K distinct positions in 0..N-1), `ids` (the samples' ids at those positions),
  `paths` (their files, or null for a source without files);
- `class_names` (C names), `class_sizes`, `class_counts` (C ints), `class_fractions` (C floats/null);
- `samples`: `ids` (N distinct int or str), `labels` (N ints in 0..C-1), `paths` (N str or null),
  `score_name` (str or null), `scores` (N numbers/null, or null);
- `source_file` (optional): `{"kind": "archive"|"embeddings", "path", "fingerprint"}`, the file
  the images or features come from when the source is one file;
- `info` (object: the method's extras; a value not measured is null, e.g. the KRR accuracies of a
  NUCS/BWS search with a single candidate, marked `krr_evaluated: false`), `config` (object; `method` str, `prune_rate` in [0, 1), `data.spec` when present),
  `command` (optional str).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .jsonable import to_jsonable

FORMAT = "coreset-studio/selection-v2"
_REWRITE = "re-run `coreset select ... --out` (or restore the file as it was written)"
#: id space of a document built without one (library callers that pass their own ids).
UNDESCRIBED_IDS = "the ids the caller passed to selection_document (not described)"


class SelectionDocumentError(ValueError):
    """A selection document that does not follow the schema; the message names the field and the fix."""


# -- building ----------------------------------------------------------------------------------------------------

def _per_sample(values: Any, n: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must hold one entry per training sample ({n}), got shape {arr.shape}")
    return arr


def _check_inputs(indices: Any, labels: Any, num_classes: int, ids: Any, paths: Any,
                  scores: Any) -> tuple[np.ndarray, ...]:
    """Validated (indices, labels, ids, paths, scores) of `selection_document`."""
    from .validation import as_int_array

    y = as_int_array(labels, "labels")
    n = y.shape[0]
    if y.ndim != 1 or n == 0 or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must be a non-empty 1-D array of class ids in 0..{num_classes - 1}")
    idx = as_int_array(indices, "selection.indices")
    if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n)):
        raise ValueError(f"selection.indices must be positions in [0, {n})")
    if np.unique(idx).size != idx.size:
        raise ValueError("selection.indices repeat a position; a coreset is a set of distinct samples")
    ids = _per_sample(ids, n, "ids")
    if ids is None or np.unique(ids).size != n:
        raise ValueError("ids must give every training sample its own original id (SPEC 7); pass split.ids")
    paths = _per_sample(paths, n, "paths")
    if paths is not None:
        paths = np.array([os.path.abspath(str(p)) for p in paths], dtype=object)
    scores = _per_sample(scores, n, "scores")
    if scores is not None:
        scores = scores.astype(np.float64)
    return idx, y, ids, paths, scores


def selection_document(selection: Any, *, labels: Any, class_names: Sequence[str], ids: Any,
                       paths: Any = None, scores: Any = None, id_space: str = UNDESCRIBED_IDS,
                       source_file: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON-ready document of a selection (see the module docstring).

    `selection` has `indices` (positions in the training set), `config` and `info` (a
    `methods.Selection`); `labels`, `ids`, `paths` and `scores` hold one entry per training
    position (`paths` None for a source without files; `scores` the per-sample score used,
    higher = harder, or None). Relative paths are made absolute against the current folder.
    """
    from . import __version__

    c = len(class_names)
    if c == 0:
        raise ValueError("class_names is empty: give the dataset's class names")
    idx, y, ids, paths, scores = _check_inputs(selection.indices, labels, c, ids, paths, scores)
    counts = np.bincount(y[idx], minlength=c)
    sizes = np.bincount(y, minlength=c)
    config = dict(selection.config)
    doc = {
        "format": FORMAT,
        "coreset_version": __version__,
        "id_space": str(id_space),
        "num_samples": int(y.shape[0]),
        "num_selected": int(idx.size),
        "indices": idx,
        "ids": ids[idx],
        "paths": None if paths is None else paths[idx],
        "class_names": [str(name) for name in class_names],
        "class_sizes": sizes,
        "class_counts": counts,
        "class_fractions": [float(k / s) if s else None for k, s in zip(counts, sizes)],
        "samples": {"ids": ids, "labels": y, "paths": paths, "score_name": config.get("score"), "scores": scores},
        "info": selection.info,
        "config": config,
    }
    if source_file is not None:
        doc["source_file"] = dict(source_file)
    return to_jsonable(doc)


def source_file_of(dataset: Any) -> dict[str, str] | None:
    """The one file a dataset's images (offline archive) or features (embeddings file) come from, or None."""
    from .datasets.npz import file_fingerprint

    config = dataset.config
    if dataset.has_features and config.get("path"):
        kind, path = "embeddings", Path(config["path"])
    elif config.get("archive"):
        kind, path = "archive", Path(config["archive"])
    else:
        return None
    if path.is_dir():  # a sharded embeddings folder is not one file: no fingerprint to record
        return None
    return {"kind": kind, "path": str(path), "fingerprint": file_fingerprint(path)}


def session_document(session: Any, selection: Any) -> dict[str, Any]:
    """The document of `selection` made on `session`: ids, paths, scores, id space and source file."""
    score = selection.config.get("score")
    dataset = session.dataset
    return selection_document(selection, labels=session.labels, class_names=session.class_names, ids=session.ids,
                              paths=session.paths, scores=session.difficulty(score) if score else None,
                              id_space=dataset.id_space, source_file=source_file_of(dataset))


# -- checking ----------------------------------------------------------------------------------------------------

def _fail(field: str, problem: str, fix: str = _REWRITE) -> SelectionDocumentError:
    return SelectionDocumentError(f"selection document field {field!r} {problem}; {fix}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _first_bad(values: list, ok) -> int | None:
    return next((i for i, v in enumerate(values) if not ok(v)), None)


def _list(doc: dict, field: str, ok, what: str, length: int | None = None, nullable: bool = False) -> list | None:
    """doc[field] (dotted for `samples.x`) as a list whose every item passes `ok`, or None where allowed."""
    holder, key = (doc["samples"], field.split(".", 1)[1]) if field.startswith("samples.") else (doc, field)
    if key not in holder:
        raise _fail(field, "is missing")
    values = holder[key]
    if values is None and nullable:
        return None
    if not isinstance(values, list):
        raise _fail(field, f"must be a list of {what}{' or null' if nullable else ''}, got {type(values).__name__}")
    bad = _first_bad(values, ok)
    if bad is not None:
        raise _fail(field, f"item {bad} is {values[bad]!r}, not {what}")
    if length is not None and len(values) != length:
        raise _fail(field, f"holds {len(values)} entries, but there are {length} (it must hold one per "
                           f"{'kept sample' if field in ('ids', 'paths') else 'training sample'})")
    return values


def _first_repeat(values: list) -> Any:
    seen: set = set()
    return next((v for v in values if v in seen or seen.add(v)), None)


def _check_samples(doc: dict) -> tuple[list, list, int]:
    samples = doc.get("samples")
    if not isinstance(samples, dict):
        raise _fail("samples", "must be an object with ids, labels, paths and scores")
    class_names = _list(doc, "class_names", lambda v: isinstance(v, str), "a class name (text)")
    if not class_names:
        raise _fail("class_names", "is empty: a selection has at least one class")
    c = len(class_names)
    ids = _list(doc, "samples.ids", lambda v: _is_int(v) or isinstance(v, str), "an id (integer or text)")
    n = len(ids)
    if n == 0:
        raise _fail("samples.ids", "is empty: the training set has no samples")
    twice = _first_repeat(ids)
    if twice is not None:
        raise _fail("samples.ids", f"lists the sample {twice!r} twice; every training sample has its own id")
    labels = _list(doc, "samples.labels", lambda v: _is_int(v) and 0 <= v < c,
                   f"a class id in 0..{c - 1} (class_names lists {c} classes)", n)
    _list(doc, "samples.paths", lambda v: isinstance(v, str) and v != "", "a file path (text)", n, nullable=True)
    _list(doc, "samples.scores", lambda v: v is None or _is_number(v), "a number or null", n, nullable=True)
    if samples.get("score_name") is not None and not isinstance(samples["score_name"], str):
        raise _fail("samples.score_name", "must be a score name (text) or null")
    return ids, labels, c


def _check_kept(doc: dict, ids: list, labels: list, c: int) -> None:
    n = len(ids)
    indices = _list(doc, "indices", lambda v: _is_int(v) and 0 <= v < n, f"a position in 0..{n - 1}")
    twice = _first_repeat(indices)
    if twice is not None:
        raise _fail("indices", f"lists position {twice} (sample {ids[twice]!r}) twice; a coreset keeps each "
                               "sample once")
    k = len(indices)
    kept_ids = _list(doc, "ids", lambda v: _is_int(v) or isinstance(v, str), "an id (integer or text)", k)
    bad = next((j for j, (i, v) in enumerate(zip(indices, kept_ids)) if ids[i] != v), None)
    if bad is not None:
        raise _fail("ids", f"item {bad} is {kept_ids[bad]!r}, but position {indices[bad]} holds sample "
                           f"{ids[indices[bad]]!r} in samples.ids")
    paths = _list(doc, "paths", lambda v: isinstance(v, str) and v != "", "a file path (text)", k, nullable=True)
    all_paths = doc["samples"].get("paths")
    if (paths is None) != (all_paths is None) or (paths is not None and
                                                  any(all_paths[i] != p for i, p in zip(indices, paths))):
        raise _fail("paths", "does not match samples.paths at the kept positions")
    counts = np.bincount(np.asarray([labels[i] for i in indices], dtype=np.int64), minlength=c).tolist()
    sizes = np.bincount(np.asarray(labels, dtype=np.int64), minlength=c).tolist()
    for field, expected in (("class_counts", counts), ("class_sizes", sizes)):
        if field in doc and doc[field] != expected:
            raise _fail(field, f"is {doc[field]!r}, but the samples table gives {expected!r}")
    for field, expected in (("num_samples", n), ("num_selected", k)):
        if field in doc and doc[field] != expected:
            raise _fail(field, f"is {doc[field]!r}, but the document lists {expected}")


def _check_config(doc: dict) -> None:
    config = doc.get("config")
    if not isinstance(config, dict):
        raise _fail("config", "must be an object (the method, prune rate and data setting of the selection)")
    if "method" in config and not isinstance(config["method"], str):
        raise _fail("config.method", f"must be a method name (text), got {config['method']!r}")
    rate = config.get("prune_rate")
    if rate is not None and not (_is_number(rate) and 0 <= rate < 1):
        raise _fail("config.prune_rate", f"must be a number in [0, 1), got {rate!r}")
    data = config.get("data")
    if data is not None and not (isinstance(data, dict) and isinstance(data.get("spec", {}), dict)):
        raise _fail("config.data", "must be an object whose 'spec' is the DataSpec the selection was made on")


def _check_extras(doc: dict) -> None:
    for field in ("id_space", "coreset_version", "command"):
        if field in doc and not isinstance(doc[field], str):
            raise _fail(field, f"must be text, got {doc[field]!r}")
    if "info" in doc and not isinstance(doc["info"], dict):
        raise _fail("info", "must be an object (the method's extras)")
    source = doc.get("source_file")
    if source is not None and not (isinstance(source, dict) and source.get("kind") in ("archive", "embeddings")
                                   and all(isinstance(source.get(k), str) for k in ("path", "fingerprint"))):
        raise _fail("source_file", "must be an object {kind: 'archive' or 'embeddings', path, fingerprint}")


def check_document(doc: Any) -> dict[str, Any]:
    """`doc` if it follows the selection-v2 schema; SelectionDocumentError naming the field and the fix otherwise."""
    if not isinstance(doc, dict) or "format" not in doc:
        raise SelectionDocumentError("not a selection document: expected the JSON object `coreset select --out` "
                                     "writes (it has a 'format' field)")
    if doc["format"] != FORMAT:
        raise _fail("format", f"is {doc['format']!r}, not {FORMAT!r}: documents written before original ids were "
                              "recorded cannot be exported", "re-run `coreset select ... --out`")
    ids, labels, c = _check_samples(doc)
    _check_kept(doc, ids, labels, c)
    _check_config(doc)
    _check_extras(doc)
    return doc


def reproducible_config(doc: Any) -> dict[str, Any]:
    """The checked document's config, which must name the method, prune rate and data setting to be re-run."""
    config = check_document(doc)["config"]
    for field in ("method", "prune_rate"):
        if field not in config:
            raise _fail(f"config.{field}", "is missing, so the selection cannot be re-run")
    if not isinstance(config.get("data"), dict) or not isinstance(config["data"].get("spec"), dict):
        raise _fail("config.data.spec", "is missing, so the selection cannot be re-run")
    return config


def read_selection(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a selection document written by `coreset select --out` or the studio."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"selection file {p} does not exist; write one with `coreset select ... --out {p}`")
    try:
        doc = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SelectionDocumentError(f"{p} is not a JSON selection document ({exc}); it may be truncated: "
                                     f"{_REWRITE}") from None
    try:
        return check_document(doc)
    except SelectionDocumentError as exc:
        raise SelectionDocumentError(f"{p}: {exc}") from None
