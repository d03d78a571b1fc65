"""Exports that lead from a selection document back to the user's own samples.

The document itself (format, schema, how it is built and checked) lives in
`selection_schema`; `export_selection(doc, fmt, dest)` works from a checked document alone,
whatever computed it:

- `ids`: the kept original ids, `.npy` (int64, or str for string ids) or `.txt` (one a line);
- `paths`: the kept files, one absolute path a line;
- `symlinks` / `copy`: a folder tree `<dest>/<class>/<id>_<file name>` of links to (or copies
  of) the kept files; the id prefix makes every name unique by construction. `copy` of an
  offline archive source (cifar10, imagewoof) writes each kept image's bytes as `<id>.jpg`;
- `hf`: a Hugging Face `datasets.Dataset` of the kept rows, `save_to_disk(dest)`: columns id,
  label (ClassLabel), path, image (bytes stored in the dataset; from the archive for an
  archive source); for an embeddings file without paths, columns id, label, features; for an
  `hf:` source the kept rows are `split.select(ids)` of the source's training split, read again
  from the source (or from `hf_source` when given);
- `csv`: `id,path,class,score,kept` for every training sample, in training-set order.

Every export checks what it promises before writing (the files exist, the archive or
embeddings file is the one the selection was made on, ids are in range), refuses an
existing destination unless `force` (folders: only a previous export), checks the
destination is writable first, and writes atomically with the user's umask (`outputs`).

What an id indexes is the document's `id_space` (e.g. "index in
torchvision.datasets.ImageFolder('/data/x')"); where it is a torchvision dataset's index, one
line gives the coreset as a dataset:

    kept = torch.utils.data.Subset(torchvision.datasets.ImageFolder(root), doc["ids"])
"""
from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from .export_sources import archive_images, hf_dataset, is_archive, kept_labels, kept_paths, source_name
from .outputs import MARKER, check_file_destination, check_folder_destination, publish_folder, write_file
from .selection_schema import (FORMAT, SelectionDocumentError, check_document, read_selection, selection_document,
                               session_document)

#: Every format `export_selection` writes.
EXPORT_FORMATS: tuple[str, ...] = ("ids", "paths", "symlinks", "copy", "hf", "csv")
_FOLDER_FORMATS = ("symlinks", "copy", "hf")

__all__ = ["EXPORT_FORMATS", "FORMAT", "SelectionDocumentError", "check_document", "export_selection",
           "read_selection", "selection_document", "session_document"]


def _ids_bytes(doc: dict[str, Any], dest: Path) -> bytes:
    ids = list(doc["ids"])
    if dest.suffix == ".npy":
        arr = np.asarray(ids, dtype=np.int64) if all(isinstance(i, int) for i in ids) else np.asarray(ids, dtype=str)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue()
    return "".join(f"{i}\n" for i in ids).encode()


def _csv_bytes(doc: dict[str, Any]) -> bytes:
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
    return buf.getvalue().encode()


def _safe_name(name: str, fallback: str) -> str:
    cleaned = "".join("_" if ch in "/\\:" or ord(ch) < 32 else ch for ch in str(name)).strip()
    return fallback if cleaned in ("", ".", "..") else cleaned


def class_folders(class_names: list[str]) -> list[str]:
    """One folder name per class: the name made safe, distinct even where names clash after that
    (compared case-insensitively, for case-insensitive filesystems) and from the export's marker file."""
    taken: set[str] = {MARKER.casefold()}
    folders = []
    for k, name in enumerate(class_names):
        folder = _safe_name(name, f"class_{k}")
        while folder.casefold() in taken:
            folder = f"{folder}_{k}"
        taken.add(folder.casefold())
        folders.append(folder)
    return folders


def id_prefix(sample_id: Any) -> str:
    """The id as a file-name prefix: percent-encoded and without `_`, so `<prefix>_<name>` is unique per id."""
    return quote(str(sample_id), safe="").replace("_", "%5F")


def _tree_names(doc: dict[str, Any], names: list[str]) -> list[Path]:
    """`<class>/<id>_<name>` of every kept sample (`name` empty: `<id>` alone)."""
    folders = class_folders(doc["class_names"])
    return [Path(folders[label]) / (f"{id_prefix(sid)}_{name}" if name else id_prefix(sid))
            for sid, label, name in zip(doc["ids"], kept_labels(doc), names)]


def _marker(doc: dict[str, Any], fmt: str) -> dict[str, Any]:
    return {"written_by": "coreset export", "format": fmt, "num_selected": doc["num_selected"],
            "id_space": doc.get("id_space"), "dataset": source_name(doc)}


def _tree_build(doc: dict[str, Any], fmt: str, progress: bool):
    """The function that fills a temporary folder with the `symlinks` / `copy` tree."""
    from tqdm.auto import tqdm

    if doc["paths"] is None and is_archive(doc) and fmt == "copy":
        images = archive_images(doc)
        rels = _tree_names(doc, ["" for _ in images])
        rels = [rel.with_name(rel.name + ext) for rel, (_, ext) in zip(rels, images)]
        jobs = [(rel, lambda target, blob=blob: target.write_bytes(blob)) for rel, (blob, _) in zip(rels, images)]
    else:
        paths = kept_paths(doc, fmt)
        link = os.symlink if fmt == "symlinks" else shutil.copyfile
        jobs = [(rel, lambda target, src=src: link(src, target))
                for rel, src in zip(_tree_names(doc, [Path(p).name for p in paths]), paths)]

    def build(tmp: Path) -> None:
        for rel, write in tqdm(jobs, desc=fmt, unit="file", disable=not progress):
            (tmp / rel.parent).mkdir(exist_ok=True)
            write(tmp / rel)

    return build


def _check_destination(fmt: str, dest: Path, force: bool, probe: bool) -> None:
    if fmt in _FOLDER_FORMATS:
        check_folder_destination(dest, force=force, probe=probe)
        return
    if fmt == "ids" and dest.suffix not in (".npy", ".txt"):
        raise ValueError(f"--format ids writes .npy or .txt; got {dest.name!r}: name the output kept.npy or kept.txt")
    check_file_destination(dest, force=force, probe=probe)


def _prepare(doc: dict[str, Any], fmt: str, dest: Path, hf_source: Any, progress: bool):
    """What `fmt` writes: the file's bytes, or the function that builds the folder (every check done here)."""
    if fmt == "ids":
        return _ids_bytes(doc, dest)
    if fmt == "paths":
        return "".join(f"{p}\n" for p in kept_paths(doc, fmt)).encode()
    if fmt == "csv":
        return _csv_bytes(doc)
    if fmt == "hf":
        dataset = hf_dataset(doc, hf_source)
        return lambda tmp: dataset.save_to_disk(str(tmp))
    return _tree_build(doc, fmt, progress)


def export_selection(doc: dict[str, Any], fmt: str, dest: str | os.PathLike, *, hf_source: Any = None,
                     progress: bool = False, force: bool = False) -> Path:
    """Write the kept samples of a selection document as `fmt` (see the module docstring) to `dest`.

    `hf_source`: the training split of a Hugging Face source, as a `datasets.Dataset` whose
    row numbers are the document's ids (only for `fmt="hf"`). `force`: replace an existing
    file, or a folder written by an earlier export. The document, the destination and what
    the format promises are all checked before anything is written. Returns `dest`.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    check_document(doc)
    dest = Path(dest).expanduser()
    _check_destination(fmt, dest, force, probe=False)
    content = _prepare(doc, fmt, dest, hf_source, progress)
    _check_destination(fmt, dest, force, probe=True)
    if fmt in _FOLDER_FORMATS:
        return publish_folder(dest, content, _marker(doc, fmt), force=force)
    return write_file(dest, content, force=force)
