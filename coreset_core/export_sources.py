"""What an export reads besides the document: an archive's image bytes, an embeddings file's features.

A document made on a one-file source records it (`source_file`: kind, path, fingerprint).
Before anything is written, the file is checked to be the one the selection was made on
(same fingerprint), the kept ids to be rows of it, and its labels to agree with the
document's, so an export never silently takes the wrong images or features.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

#: File suffix of each image format PIL recognises in archive bytes.
_SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif"}


def _source_file(doc: dict[str, Any], kind: str) -> Path:
    """The document's source file of `kind`, checked to exist and to be the file the selection was made on."""
    from .datasets.npz import file_fingerprint

    source = doc.get("source_file") or {}
    if source.get("kind") != kind:
        raise ValueError(f"this selection document records no {kind} file (source_file); re-run `coreset select "
                         "... --out` with this version to record it")
    path = Path(source["path"])
    if not path.is_file():
        raise FileNotFoundError(f"the {kind} file {path} the selection was made on does not exist any more; put it "
                                "back (or re-run the selection on the file where it is now)")
    if file_fingerprint(path) != source["fingerprint"]:
        raise ValueError(f"the {kind} file {path} changed since the selection was made (fingerprint "
                         f"{file_fingerprint(path)} != {source['fingerprint']}); re-run the selection on it")
    return path


def source_name(doc: dict[str, Any]) -> str:
    """The dataset name the document's config records (for messages)."""
    data = doc["config"].get("data") or {}
    spec = data.get("spec", data) if isinstance(data, dict) else {}
    return str(spec.get("dataset", "this source")) if isinstance(spec, dict) else "this source"


def is_archive(doc: dict[str, Any]) -> bool:
    """Whether the document's images live in an offline archive (cifar10_jpeg.npz, imagewoof)."""
    return (doc.get("source_file") or {}).get("kind") == "archive"


def kept_paths(doc: dict[str, Any], fmt: str) -> list[str]:
    """The kept files, each checked to exist (what `paths`, `symlinks`, `copy` and `hf` promise)."""
    if doc["paths"] is None:
        fix = ("export the images with --format copy or hf (written from the archive)" if is_archive(doc) else
               "export the kept ids with --format ids (or csv) and index your dataset with them")
        raise ValueError(f"--format {fmt} needs image files, but {source_name(doc)} has no file paths (an archive, "
                         f"an embeddings file without `paths`, ...); {fix}")
    paths = list(doc["paths"])
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of the {len(paths)} kept files do not exist (first: {missing[0]}); "
                                "were the images moved since the selection was made?")
    return paths


def kept_labels(doc: dict[str, Any]) -> np.ndarray:
    """The class id of every kept sample, in the document's order."""
    labels = doc["samples"]["labels"]
    return np.asarray([labels[i] for i in doc["indices"]], dtype=np.int64)


def _integer_ids(doc: dict[str, Any], rows: int, where: Path) -> np.ndarray:
    ids = doc["ids"]
    if not all(isinstance(i, int) for i in ids) or (ids and (min(ids) < 0 or max(ids) >= rows)):
        bad = next(i for i in ids if not isinstance(i, int) or not 0 <= i < rows)
        raise ValueError(f"id {bad!r} is not a row of {where} ({rows} rows); the document does not belong to it")
    return np.asarray(ids, dtype=np.int64)


def _suffix(blob: bytes) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        return _SUFFIXES.get(Image.open(io.BytesIO(blob)).format or "", ".img")
    except (UnidentifiedImageError, OSError):
        return ".img"


def archive_images(doc: dict[str, Any]) -> list[tuple[bytes, str]]:
    """(bytes, file suffix) of every kept image of an offline archive source, in the document's order."""
    from .datasets.npz import read_archive

    path = _source_file(doc, "archive")
    arrays = read_archive(path)
    rows = _integer_ids(doc, arrays["labels"].shape[0], path)
    archive_labels = arrays["labels"].astype(np.int64)[rows]
    kept = kept_labels(doc)
    if not np.array_equal(archive_labels, kept) or arrays["is_test"][rows].any():
        bad = int(np.flatnonzero((archive_labels != kept) | arrays["is_test"][rows].astype(bool))[0])
        raise ValueError(f"row {int(rows[bad])} of {path} is not the training image of class "
                         f"{doc['class_names'][kept[bad]]!r} the document lists; the document does not belong "
                         "to this archive")
    data, offsets = arrays["data"], arrays["offsets"]
    blobs = [data[offsets[r]:offsets[r + 1]].tobytes() for r in rows]
    return [(blob, _suffix(blob)) for blob in blobs]


def embeddings_features(doc: dict[str, Any]) -> np.ndarray:
    """The kept samples' features (K x d float32) from the embeddings file the selection was made on."""
    from .datasets.embeddings import embeddings_dataset

    path = _source_file(doc, "embeddings")
    train = embeddings_dataset(str(path)).train
    position = {sid.item() if hasattr(sid, "item") else sid: k for k, sid in enumerate(train.ids)}
    missing = [i for i in doc["ids"] if i not in position]
    if missing:
        raise ValueError(f"id {missing[0]!r} is not a training sample of {path}; the document does not belong to it")
    pos = np.asarray([position[i] for i in doc["ids"]], dtype=np.int64)
    if not np.array_equal(train.labels[pos], kept_labels(doc)):
        raise ValueError(f"the labels in {path} differ from the document's; the document does not belong to it")
    return train.features[pos]


def _datasets():
    try:
        import datasets
    except ImportError as exc:
        raise ImportError("--format hf needs the Hugging Face `datasets` package: "
                          "pip install 'coreset-studio[hf]' (or pip install datasets)") from exc
    return datasets


def _from_hf_source(doc: dict[str, Any], hf_source: Any) -> Any:
    ids = doc["ids"]
    if not all(isinstance(i, int) for i in ids) or (ids and (min(ids) < 0 or max(ids) >= len(hf_source))):
        raise ValueError(f"hf_source has {len(hf_source)} rows but this document's ids are not row numbers "
                         "of it; pass the training split the selection was made on")
    return hf_source.select(list(ids))


def hf_dataset(doc: dict[str, Any], hf_source: Any) -> Any:
    """The kept rows as a `datasets.Dataset` (see `exports` for the columns of each kind of source)."""
    datasets = _datasets()
    if hf_source is not None:
        return _from_hf_source(doc, hf_source)
    if source_name(doc).startswith("hf:"):  # the source's own rows, read again from the source
        from .datasets.hf import hf_split

        identity = (doc["config"].get("data") or {}).get("dataset_identity")
        return _from_hf_source(doc, hf_split(source_name(doc), identity))
    ids = list(doc["ids"])
    columns: dict[str, Any] = {"id": ids, "label": kept_labels(doc).tolist()}
    features = {"id": datasets.Value("int64" if all(isinstance(i, int) for i in ids) else "string"),
                "label": datasets.ClassLabel(names=doc["class_names"])}
    kind = (doc.get("source_file") or {}).get("kind")
    if doc["paths"] is None and kind == "embeddings":
        columns["features"] = [row.tolist() for row in embeddings_features(doc)]
        features["features"] = datasets.Sequence(datasets.Value("float32"))
    elif doc["paths"] is None and kind == "archive":
        columns["image"] = [{"bytes": blob, "path": None} for blob, _ in archive_images(doc)]
        features["image"] = datasets.Image()
    else:
        paths = kept_paths(doc, "hf")
        columns.update(path=paths, image=paths)
        features.update(path=datasets.Value("string"), image=datasets.Image())
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))
