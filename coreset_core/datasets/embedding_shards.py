"""`embeddings:<folder>`: precomputed features written as shards, as embedding pipelines do.

Two layouts (`embeddings.py` reads the single-file one and sends folders here):

- **`.npy` feature shards with `.parquet` metadata shards**, paired by the number in their
  names, e.g. `img_emb/img_emb_0.npy` ... with `metadata/metadata_0.parquet` ... (what
  clip-retrieval style pipelines write; the files may also sit side by side in the folder).
  The metadata gives the labels (column `label`, or any column named with `?label=COLUMN`;
  integer class ids, or names that are then numbered in sorted order), and where present the
  paths (`paths`, `path` or `image_path`), ids (`ids` or `id`), `is_test`, `scores`,
  `class_names`.
- **a folder of `.parquet` shards in the single-file format** (a `features` list column,
  `labels`, ...), read in file-name order.

The `.npy` shards are read by row offset (only their headers are memory-mapped, to check
them), the `.parquet` ones one at a time; they are never concatenated in memory. Each split's
features are gathered, block by block, into one float32 `.npy` file under the cache folder
(written atomically, named by a digest of the shards' content) and memory-mapped from there.
Row `i` of the folder is the `i`-th row in shard order; a sample's id is its `ids` value, else
that row number, exactly as for the same rows in one file, so a selection on the folder equals
the one on the file.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl

import numpy as np

from ..cache import atomic_write
from ..row_blocks import pread_rows
from .base import SPLIT_ORDER_SEED, Dataset, ImageSplit, decode_path, fixed_shuffle
from .embeddings import (PREFIX, EmbeddingsFileError, file_digest, nonfinite_rows, read_columns,
                         validate_columns)
from .embeddings_files import _to_numpy  # the single-file reader's column conversion (nulls named)
from .splits import stratified_test_split

#: Rows per block when gathering features (32 MB of float32 at d = 512). Rows are read with
#: `pread`, not through a mapping: a mapped read would map whole cached folios of the shard
#: around each row (measured: 1 GB resident for a block of 2,048 scattered rows).
BLOCK_ROWS = 1 << 14
METADATA_ALIASES = {"paths": ("paths", "path", "image_path"), "ids": ("ids", "id")}
OPTIONAL_METADATA = ("is_test", "scores", "class_names")
LAYOUT_HINT = ("a sharded folder holds img_emb/img_emb_<k>.npy (N_k x d floats) with metadata/metadata_<k>.parquet "
               "(N_k rows, a label column), or .parquet shards in the single-file format (features, labels, ...)")


def _fail(folder: Path, problem: str) -> EmbeddingsFileError:
    return EmbeddingsFileError(f"embeddings folder {folder}: {problem}")


@dataclass
class Shard:
    """One shard: its features (memory-mapped `.npy`, or a parquet file's decoded column) and metadata."""

    features_file: Path
    metadata_file: Path | None
    rows: int
    dim: int


def _number(path: Path) -> int | None:
    found = re.findall(r"\d+", path.stem)
    return int(found[-1]) if found else None


def _files(folder: Path, suffix: str, sub: str) -> list[Path]:
    where = folder / sub if (folder / sub).is_dir() else folder
    return sorted(where.glob(f"*{suffix}"), key=lambda p: (_number(p) is None, _number(p) or 0, p.name))


def _open_npy(folder: Path, path: Path) -> np.ndarray:
    """The memory-mapped array of a `.npy` shard (nothing is read but its header)."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise _fail(folder, f"{path.name} is not a readable .npy array ({exc}); write each shard with "
                            "numpy.save(path, features)") from None
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise _fail(folder, f"{path.name} has shape {arr.shape}; each shard must be N_k x d with N_k, d >= 1")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise _fail(folder, f"{path.name} holds {arr.dtype}, not numbers")
    return arr


def _metadata_rows(folder: Path, path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception as exc:  # pyarrow raises several kinds for a damaged file
        raise _fail(folder, f"{path.name} is not a readable parquet file ({type(exc).__name__}: {exc})") from None


def discover(folder: Path) -> tuple[str, list[Shard]]:
    """("npy", shards) or ("parquet", shards) of a folder; EmbeddingsFileError naming what is wrong."""
    npys, parquets = _files(folder, ".npy", "img_emb"), _files(folder, ".parquet", "metadata")
    if npys:
        if not parquets:
            raise _fail(folder, f"{len(npys)} .npy feature shard(s) but no .parquet metadata (labels); {LAYOUT_HINT}")
        by_number = {_number(p): p for p in parquets}
        shards, dims = [], set()
        for npy in npys:
            meta = by_number.get(_number(npy))
            if _number(npy) is None or meta is None:
                raise _fail(folder, f"no metadata shard numbered like {npy.name} (metadata files: "
                                    f"{', '.join(p.name for p in parquets[:5])}); {LAYOUT_HINT}")
            arr = _open_npy(folder, npy)
            rows = _metadata_rows(folder, meta)
            if rows != arr.shape[0]:
                raise _fail(folder, f"{npy.name} has {arr.shape[0]} rows but {meta.name} has {rows}; a feature shard "
                                    "and its metadata shard must match row for row")
            shards.append(Shard(npy, meta, arr.shape[0], arr.shape[1]))
            dims.add(arr.shape[1])
        if len(dims) > 1:
            raise _fail(folder, f"the feature shards have different widths {sorted(dims)}; all must be N_k x d")
        return "npy", shards
    if parquets:
        return "parquet", [Shard(p, None, _metadata_rows(folder, p), 0) for p in parquets]
    raise _fail(folder, f"no .npy or .parquet shards found; {LAYOUT_HINT}")


def _metadata(folder: Path, shard: Shard, label: str) -> dict[str, np.ndarray]:
    """The metadata columns of a `.npy` shard, renamed to the single-file names."""
    import pyarrow.parquet as pq

    table = pq.read_table(shard.metadata_file)
    names = table.column_names
    if label not in names:
        raise _fail(folder, f"{shard.metadata_file.name} has no label column {label!r} (columns: {', '.join(names)}); "
                            "name it with embeddings:<folder>?label=COLUMN")

    def column(name: str) -> np.ndarray:
        return _to_numpy(shard.metadata_file, name, table.column(name))

    out = {"labels": column(label)}
    for key, aliases in METADATA_ALIASES.items():
        found = next((a for a in aliases if a in names), None)
        if found is not None:
            out[key] = column(found)
    for key in OPTIONAL_METADATA:
        if key in names:
            out["row_class_names" if key == "class_names" else key] = column(key)
    return out


def _concat(parts: list[dict[str, np.ndarray]], folder: Path) -> dict[str, np.ndarray]:
    keys = set(parts[0])
    for i, part in enumerate(parts):
        if set(part) != keys:
            raise _fail(folder, f"shard {i} has metadata columns {sorted(part)}, shard 0 has {sorted(keys)}; every "
                                "shard needs the same columns")
    out = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    if "row_class_names" in out:
        out["row_class_names"] = out["row_class_names"].astype(str)
    return out


def _numbered_labels(cols: dict[str, np.ndarray]) -> None:
    """Labels given as names become ids 0..C-1 in sorted order of the names (the names become class_names)."""
    labels = cols["labels"]
    if labels.dtype.kind in "OUS" and "row_class_names" not in cols and "class_names" not in cols:
        names, ids = np.unique(labels.astype(str), return_inverse=True)
        cols["labels"], cols["class_names"] = ids.astype(np.int64), names


@dataclass(frozen=True)
class RowFile:
    """Where the rows of one `.npy` shard lie in its file: read by offset, never mapped."""

    path: Path
    offset: int  #: bytes before row 0 (the .npy header)
    rows: int
    dim: int
    dtype: np.dtype

    @property
    def row_bytes(self) -> int:
        return self.dim * self.dtype.itemsize


def _row_file(folder: Path, path: Path) -> RowFile:
    arr = _open_npy(folder, path)  # checks shape and dtype (only the header is read)
    if arr.flags.f_contiguous and not arr.flags.c_contiguous:
        raise _fail(folder, f"{path.name} is stored in Fortran order; save it with numpy.save(path, "
                            "numpy.ascontiguousarray(features))")
    return RowFile(path, int(arr.offset), arr.shape[0], arr.shape[1], arr.dtype)


def _row_sources(kind: str, shards: list[Shard], folder: Path, store: Path) -> list[RowFile]:
    """One `RowFile` per shard; a parquet shard is first written as a `.npy` under `store`
    (one shard decoded at a time), so that any row can be read without decoding its shard again."""
    if kind == "npy":
        return [_row_file(folder, s.features_file) for s in shards]
    sources = []
    for shard in shards:
        dest = store / f"{shard.features_file.stem}.npy"
        if not dest.is_file():
            features = read_columns(shard.features_file)["features"]
            _write_npy(dest, iter([np.asarray(features, dtype=np.float32)]), features.shape)
        sources.append(_row_file(folder, dest))
    widths = sorted({src.dim for src in sources})
    if len(widths) > 1:
        raise _fail(folder, f"the shards' features have different widths {widths}; all must be N_k x d")
    return sources


def _read_rows(src: RowFile, fd: int, rows: np.ndarray) -> np.ndarray:
    """Rows `rows` (sorted) of a shard, read with `pread` (`row_blocks.pread_rows`): no mapping, so no
    page of the shard becomes part of this process."""
    out = np.empty((rows.size, src.dim), dtype=src.dtype)
    try:
        pread_rows(fd, src.offset, rows, out)
    except EOFError:
        raise EmbeddingsFileError(f"embeddings shard {src.path} is shorter than its header says (truncated?); "
                                  "write it again") from None
    return out


def _write_npy(dest: Path, blocks: Iterator[np.ndarray], shape: tuple[int, int]) -> None:
    """Write float32 `blocks` (in order) as one `.npy` file, atomically, with plain writes (no mapping)."""
    def write(fh) -> None:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
        for block in blocks:
            np.ascontiguousarray(block, dtype="<f4").tofile(fh)

    atomic_write(dest, write)


def _read_metadata(kind: str, shards: list[Shard], folder: Path, label: str) -> dict[str, np.ndarray]:
    if kind == "npy":
        return _concat([_metadata(folder, s, label) for s in shards], folder)
    parts = []
    for shard in shards:
        cols = read_columns(shard.features_file)
        cols.pop("features", None)
        if "labels" not in cols:
            raise _fail(folder, f"{shard.features_file.name} has no labels column; {LAYOUT_HINT}")
        parts.append(cols)
    cols = _concat(parts, folder)
    if "class_names" in cols:  # stored per file in the schema: the same list in every shard
        cols["class_names"] = parts[0]["class_names"]
    return cols


def _digest(shards: list[Shard], label: str) -> str:
    h = hashlib.sha1(label.encode())
    for shard in shards:
        for path in (shard.features_file, shard.metadata_file):
            if path is not None:
                h.update(f"{path.name}:{file_digest(path)};".encode())
    return h.hexdigest()[:16]


def _gather(sources: list[RowFile], folder: Path, order: np.ndarray, dest: Path) -> np.ndarray:
    """Rows `order` of the folder (in that order) as one float32 `.npy` at `dest`, memory-mapped.

    Written block by block in output order: each block's rows are read from the shards by
    offset, checked and appended to the file, so memory holds one block whatever the number
    of rows.
    """
    if not dest.is_file():
        offsets = np.cumsum([0] + [src.rows for src in sources])

        def blocks(fds: list[int]) -> Iterator[np.ndarray]:
            for a in range(0, order.size, BLOCK_ROWS):
                rows = order[a:a + BLOCK_ROWS]
                block = np.empty((rows.size, sources[0].dim), dtype=np.float32)
                shard_of = np.searchsorted(offsets, rows, side="right") - 1
                for k in np.unique(shard_of):
                    where = np.flatnonzero(shard_of == k)
                    where = where[np.argsort(rows[where], kind="stable")]  # in file order: runs, fewer seeks
                    block[where] = _read_rows(sources[k], fds[k], rows[where] - offsets[k])
                bad = nonfinite_rows(block)
                if bad.size:
                    raise _fail(folder, f"features has NaN or infinite values (first: row {int(rows[bad].min())}); "
                                        "recompute those embeddings or drop the rows")
                yield block

        fds = [os.open(src.path, os.O_RDONLY) for src in sources]
        try:
            _write_npy(dest, blocks(fds), (order.size, sources[0].dim))
        finally:
            for fd in fds:
                os.close(fd)
    return np.load(dest, mmap_mode="r")


def parse_folder_name(spec: str) -> tuple[Path, str]:
    """(folder, label column) of `<folder>[?label=COLUMN]`."""
    location, _, query = spec.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - {"label"})
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} in embeddings:{spec}; the only option is label=COLUMN")
    return Path(location).expanduser().resolve(), options.get("label") or "label"


def sharded_dataset(spec: str) -> Dataset:
    """The dataset of a sharded embeddings folder (`spec`: the folder, optionally `?label=COLUMN`)."""
    from ..config import default_cache_dir

    folder, label = parse_folder_name(spec)
    kind, shards = discover(folder)
    raw = _read_metadata(kind, shards, folder, label)
    _numbered_labels(raw)
    n = sum(s.rows for s in shards)
    cols = validate_columns(folder, {**raw, "features": np.broadcast_to(np.zeros(1, np.float32), (n, 1))})
    if cols["is_test"] is not None:
        train_rows, test_rows = np.flatnonzero(~cols["is_test"]), np.flatnonzero(cols["is_test"])
    else:
        train_rows, test_rows = stratified_test_split(cols["labels"], f"embeddings folder {folder}")
    if cols["paths"] is not None:  # relative paths are relative to the folder
        cols["paths"] = np.asarray([p if Path(p).is_absolute() else str(folder / p) for p in cols["paths"].tolist()],
                                   dtype=str)
    digest = _digest(shards, label)
    store = default_cache_dir() / "embedding-shards" / digest
    name = PREFIX + str(folder) + ("" if label == "label" else f"?label={label}")
    sources = _row_sources(kind, shards, folder, store)
    dim = sources[0].dim
    splits = {}
    for split, rows in (("train", train_rows), ("test", test_rows)):
        order = fixed_shuffle(rows)
        features = _gather(sources, folder, order, store / f"{split}-shuffled{SPLIT_ORDER_SEED}.npy")
        splits[split] = _split(name, split, order, cols, features)
    return Dataset(
        name=name, identity=f"embeddings-shards-{folder.name}@{digest}-shuffled{SPLIT_ORDER_SEED}",
        class_names=cols["class_names"], train=splits["train"], test=splits["test"],
        description=(f"Precomputed embeddings in {len(shards)} {kind} shard(s) in {folder}: {n} samples x {dim} "
                     f"dimensions, {len(cols['class_names'])} classes, {train_rows.size} train / {test_rows.size} "
                     "test. Shards are memory-mapped; each split's features are one memory-mapped file under "
                     f"{store}."),
        native_size=0,
        config={"name": name, "path": str(folder), "feature_dim": int(dim), "shards": len(shards), "layout": kind,
                "has_scores": cols["scores"] is not None, "has_paths": cols["paths"] is not None},
        id_space=(f"ids column of the shards in {folder}" if cols["ids"] is not None else
                  f"row of the sharded folder {folder} (0-based, shards in name order)"),
    )


def _split(name: str, kind: str, order: np.ndarray, cols: dict, features: np.ndarray) -> ImageSplit:
    """A split of the rows `order`; `cols["paths"]` (resolved) is indexed by row, as `decode` is."""
    paths = cols["paths"]
    ids = cols["ids"][order] if cols["ids"] is not None else order.copy()
    return ImageSplit(cols["labels"][order], decode_path(paths) if paths is not None else None, f"{name} {kind}",
                      order, ids=ids, paths=None if paths is None else paths[order], features=features,
                      scores=None if cols["scores"] is None else cols["scores"][order])
