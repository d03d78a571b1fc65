"""Selection documents and the exports that lead from a coreset back to the user's own samples.

`selection_document(selection, labels=..., class_names=..., ids=..., paths=...)` is the JSON
document `coreset select --out` and the studio's downloads write (format
`coreset-studio/selection-v2`): the kept positions (`indices`), their original ids in the
source (`ids`, SPEC 7) and file paths (`paths`, absolute, or None), per-class sizes, counts
and fractions, the method's `info` and the `config` that reproduces the selection (with the
DataSpec under `config["data"]`), plus a `samples` table of every training sample (id,
label, path, score) that the CSV and Hugging Face exports read.

`export_selection(doc, fmt, dest)` works from the document alone, whatever computed it:

- `ids`: the kept original ids, `.npy` (int64, or str for string ids) or `.txt` (one a line);
- `paths`: the kept files, one absolute path a line;
- `symlinks` / `copy`: a folder tree `<dest>/<class>/<file>` of links to (or copies of) the
  kept files, built in a temporary folder and renamed into place; an existing non-empty
  `dest` is refused. Two kept files of a class with the same name become `<id>_<name>`;
- `hf`: a Hugging Face `datasets.Dataset` of the kept rows, `save_to_disk(dest)`: for a
  source with files, columns id, label (ClassLabel), path, image (the bytes are stored in
  the dataset); for an `hf:` source the kept rows are `split.select(ids)` of the source's
  training split, read again from the source (or from `hf_source` when given);
- `csv`: `id,path,class,score,kept` for every training sample, in training-set order.

The kept ids are indices into the source's own enumeration of its training split (for an
image folder: `torchvision.datasets.ImageFolder(<folder>)`'s order; for torchvision
datasets: the dataset object's own indices), so one line gives the coreset as a dataset:

    kept = torch.utils.data.Subset(torchvision.datasets.ImageFolder(root), doc["ids"])
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .cache import write_bytes_atomic
from .jsonable import to_jsonable

FORMAT = "coreset-studio/selection-v2"
#: Every format `export_selection` writes.
EXPORT_FORMATS: tuple[str, ...] = ("ids", "paths", "symlinks", "copy", "hf", "csv")
_FOLDER_FORMATS = ("symlinks", "copy", "hf")
_REQUIRED = ("format", "indices", "ids", "paths", "class_names", "samples", "config")

__all__ = ["EXPORT_FORMATS", "FORMAT", "check_document", "export_selection", "read_selection",
           "selection_document"]


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
                       paths: Any = None, scores: Any = None) -> dict[str, Any]:
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
        "num_samples": int(y.shape[0]),
        "num_selected": int(idx.size),
        "indices": idx,
        "ids": ids[idx],
        "paths": None if paths is None else paths[idx],
        "class_names": list(class_names),
        "class_sizes": sizes,
        "class_counts": counts,
        "class_fractions": [float(k / s) if s else None for k, s in zip(counts, sizes)],
        "samples": {"ids": ids, "labels": y, "paths": paths, "score_name": config.get("score"), "scores": scores},
        "info": selection.info,
        "config": config,
    }
    return to_jsonable(doc)


def check_document(doc: Any) -> dict[str, Any]:
    """`doc` if it is a readable selection-v2 document, else ValueError saying what is wrong."""
    if not isinstance(doc, dict) or "format" not in doc:
        raise ValueError("not a selection document: expected the JSON object `coreset select --out` writes")
    if doc["format"] != FORMAT:
        raise ValueError(f"selection document format {doc['format']!r} is not {FORMAT!r}: documents written before "
                         "original ids were recorded cannot be exported; re-run `coreset select ... --out`")
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise ValueError(f"selection document lacks {', '.join(missing)}; re-run `coreset select ... --out`")
    samples, k = doc["samples"], len(doc["indices"])
    n = len(samples["ids"])
    if len(doc["ids"]) != k or (doc["paths"] is not None and len(doc["paths"]) != k):
        raise ValueError("selection document is inconsistent: indices, ids and paths differ in length")
    if len(samples["labels"]) != n or any(samples.get(f) is not None and len(samples[f]) != n
                                          for f in ("paths", "scores")):
        raise ValueError("selection document is inconsistent: the samples table's columns differ in length")
    if k and (min(doc["indices"]) < 0 or max(doc["indices"]) >= n):
        raise ValueError(f"selection document is inconsistent: indices must lie in [0, {n})")
    if [samples["ids"][i] for i in doc["indices"]] != list(doc["ids"]):
        raise ValueError("selection document is inconsistent: ids are not the samples' ids at the kept indices")
    return doc


def read_selection(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a selection document written by `coreset select --out` or the studio."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"selection file {p} does not exist; write one with `coreset select ... --out {p}`")
    try:
        doc = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p} is not a JSON selection document ({exc})") from None
    return check_document(doc)


def _source_name(doc: dict[str, Any]) -> str:
    data = doc["config"].get("data") or {}
    spec = data.get("spec", data) if isinstance(data, dict) else {}
    return str(spec.get("dataset", "this source")) if isinstance(spec, dict) else "this source"


def _kept_paths(doc: dict[str, Any], fmt: str) -> list[str]:
    if doc["paths"] is None:
        raise ValueError(f"--format {fmt} needs image files, but {_source_name(doc)} has no file paths (an archive, "
                         "an embeddings file without `paths`, ...); export the kept ids with --format ids (or csv) "
                         "and index your dataset with them")
    return list(doc["paths"])


def _kept_labels(doc: dict[str, Any]) -> list[int]:
    labels = doc["samples"]["labels"]
    return [int(labels[i]) for i in doc["indices"]]


def _write_ids(doc: dict[str, Any], dest: Path) -> None:
    ids = list(doc["ids"])
    if dest.suffix == ".npy":
        arr = np.asarray(ids, dtype=np.int64) if all(isinstance(i, int) for i in ids) else np.asarray(ids, dtype=str)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        write_bytes_atomic(dest, buf.getvalue())
    elif dest.suffix == ".txt":
        write_bytes_atomic(dest, "".join(f"{i}\n" for i in ids).encode())
    else:
        raise ValueError(f"--format ids writes .npy or .txt; got {dest.name!r}: name the output kept.npy or kept.txt")


def _write_csv(doc: dict[str, Any], dest: Path) -> None:
    samples = doc["samples"]
    kept = set(doc["indices"])
    names, paths, scores = doc["class_names"], samples.get("paths"), samples.get("scores")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "path", "class", "score", "kept"])
    for i, (sid, label) in enumerate(zip(samples["ids"], samples["labels"])):
        score = "" if scores is None or scores[i] is None else repr(float(scores[i]))
        writer.writerow([sid, "" if paths is None else paths[i], names[label], score,
                         "true" if i in kept else "false"])
    write_bytes_atomic(dest, buf.getvalue().encode())


def _safe_name(name: str, fallback: str) -> str:
    cleaned = "".join("_" if ch in "/\\:" or ord(ch) < 32 else ch for ch in str(name)).strip()
    return fallback if cleaned in ("", ".", "..") else cleaned


def _tree_entries(doc: dict[str, Any], paths: list[str]) -> list[tuple[str, Path]]:
    """(source file, relative destination `<class>/<file>`) of every kept sample."""
    folders: dict[int, str] = {}
    for k, name in enumerate(doc["class_names"]):
        folder = _safe_name(name, f"class_{k}")
        folders[k] = folder if folder not in folders.values() else f"{folder}_{k}"
    labels = _kept_labels(doc)
    keys = [(label, Path(p).name) for label, p in zip(labels, paths)]
    repeated = {key for key, count in Counter(keys).items() if count > 1}
    entries = []
    for sid, p, key in zip(doc["ids"], paths, keys):
        name = f"{_safe_name(str(sid), 'id')}_{key[1]}" if key in repeated else key[1]
        entries.append((p, Path(folders[key[0]]) / name))
    return entries


def _check_files(paths: list[str]) -> None:
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of the {len(paths)} kept files do not exist (first: {missing[0]}); "
                                "were the images moved since the selection was made?")


def _empty_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"{dest} already exists and is not an empty folder; choose a new --out folder "
                         "(exports never write into or over existing files)")


def _atomic_folder(dest: Path, build) -> None:
    """Call `build(tmp_folder)`, then rename the folder to `dest` (which must be absent or empty)."""
    _empty_destination(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        build(tmp)
        _empty_destination(dest)
        if dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_tree(doc: dict[str, Any], dest: Path, fmt: str, progress: bool) -> None:
    from tqdm.auto import tqdm

    paths = _kept_paths(doc, fmt)
    _check_files(paths)
    entries = _tree_entries(doc, paths)

    def build(tmp: Path) -> None:
        for source, rel in tqdm(entries, desc=fmt, unit="file", disable=not progress):
            (tmp / rel.parent).mkdir(exist_ok=True)
            if fmt == "symlinks":
                os.symlink(source, tmp / rel)
            else:
                shutil.copy2(source, tmp / rel)

    _atomic_folder(dest, build)


def _hf_dataset(doc: dict[str, Any], hf_source: Any) -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise ImportError("--format hf needs the Hugging Face `datasets` package: "
                          "pip install 'coreset-studio[hf]' (or pip install datasets)") from exc
    if hf_source is not None:
        ids = doc["ids"]
        if not all(isinstance(i, int) for i in ids) or (ids and (min(ids) < 0 or max(ids) >= len(hf_source))):
            raise ValueError(f"hf_source has {len(hf_source)} rows but this document's ids are not row numbers "
                             "of it; pass the training split the selection was made on")
        return hf_source.select(list(ids))
    if _source_name(doc).startswith("hf:"):  # the source's own rows, read again from the source
        from .datasets.hf import hf_split

        return _hf_dataset(doc, hf_split(_source_name(doc)))
    paths = _kept_paths(doc, "hf")
    _check_files(paths)
    ids = list(doc["ids"])
    id_type = "int64" if all(isinstance(i, int) for i in ids) else "string"
    features = datasets.Features({"id": datasets.Value(id_type), "label": datasets.ClassLabel(names=doc["class_names"]),
                                  "path": datasets.Value("string"), "image": datasets.Image()})
    return datasets.Dataset.from_dict({"id": ids, "label": _kept_labels(doc), "path": paths, "image": paths},
                                      features=features)


def export_selection(doc: dict[str, Any], fmt: str, dest: str | os.PathLike, *, hf_source: Any = None,
                     progress: bool = False) -> Path:
    """Write the kept samples of a selection document as `fmt` (see the module docstring) to `dest`.

    `hf_source`: the training split of a Hugging Face source, as a `datasets.Dataset` whose
    row numbers are the document's ids (only for `fmt="hf"`). Returns `dest`.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    check_document(doc)
    dest = Path(dest)
    if fmt in _FOLDER_FORMATS:
        _empty_destination(dest)
    elif dest.is_dir():
        raise ValueError(f"{dest} is a folder; --format {fmt} writes a file: give a file name")
    if fmt == "ids":
        _write_ids(doc, dest)
    elif fmt == "paths":
        write_bytes_atomic(dest, "".join(f"{p}\n" for p in _kept_paths(doc, fmt)).encode())
    elif fmt == "csv":
        _write_csv(doc, dest)
    elif fmt == "hf":
        dataset = _hf_dataset(doc, hf_source)
        _atomic_folder(dest, lambda tmp: dataset.save_to_disk(str(tmp)))
    else:
        _write_tree(doc, dest, fmt, progress)
    return dest

