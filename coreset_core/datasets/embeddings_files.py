"""Reading an embeddings file's columns without trusting it: `.npz` and `.parquet` under the same rules.

Before any array is allocated, each known column's type and length are checked from the
file's own headers (the `.npy` header of every npz member, the parquet schema and footer),
truncated npz members are found by comparing the declared array with the member's size, and
the declared size of everything to be read is compared with the memory available. Values are
then read column by column; a null in any column is refused with the column and first row
named. Nothing is ever unpickled.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..row_blocks import available_memory, format_bytes

#: Every column an embeddings file may hold; others are ignored.
COLUMNS = ("features", "labels", "is_test", "class_names", "scores", "paths", "ids")
#: Per-dimension layout of the features: one numeric column per dimension, feature_0 .. feature_{d-1}.
FEATURE_PREFIX = "feature_"
LAYOUT = ("the single-file layout: `features` (one list of floats per row, or one float column per dimension "
          "named feature_0, feature_1, ...), `labels` (integer class ids 0..C-1), and optionally `ids` (int or "
          "str), `paths` (str), `is_test` (bool), `scores` (float), `class_names` (str)")
FORMAT_HINT = ("write it with numpy.savez(path, features=F, labels=y[, is_test=..., class_names=np.array(names), "
               "scores=..., paths=np.array(files), ids=...]) or DataFrame.to_parquet with the same columns")

#: What each column may hold, as numpy dtype kinds (b bool, i/u int, f float, U/S text).
_KINDS = {"features": "iuf", "labels": "iuf", "is_test": "biu", "scores": "iuf", "paths": "US", "ids": "iufUS",
          "class_names": "US"}
_EXPECTED = {"features": "numbers (N x d floats)", "labels": "integer class ids 0..C-1",
             "is_test": "booleans (or 0/1)", "scores": "numbers (higher = harder)", "paths": "text (file paths)",
             "ids": "integers or text", "class_names": "text (class names)"}


class EmbeddingsFileError(ValueError):
    """An embeddings file that cannot be used; the message names the file, the problem and the fix."""


def fail(path: Path, problem: str) -> EmbeddingsFileError:
    """The error for `path` (its message starts with the file)."""
    return EmbeddingsFileError(f"embeddings file {path}: {problem}")


def check_memory(path: Path, declared: dict[str, int]) -> None:
    """Refuse a file whose declared columns (plus a float32 copy of the features) exceed the free memory."""
    need = sum(declared.values()) + declared.get("features", 0)
    free = available_memory()
    if need > free:
        big = max(declared, key=declared.get)
        raise fail(path, f"reading it needs about {format_bytes(need)} (column {big!r} alone declares "
                         f"{format_bytes(declared[big])}), more than the {format_bytes(free)} of memory available; use "
                         "a machine with more memory, fewer rows, or float16/float32 features")


def _check_kind(path: Path, name: str, kind: str, shown: str) -> None:
    if kind not in _KINDS[name]:
        fix = ("encode names with numpy.unique(names, return_inverse=True) and store the names as class_names; "
               if name == "labels" and kind in "US" else "")
        raise fail(path, f"column {name!r} holds {shown}, but it must hold {_EXPECTED[name]}; {fix}expected {LAYOUT}")


# -- .npz --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Member:
    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int  #: what the header declares
    stored: int  #: what the member holds after its header


def _member_header(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> _Member:
    """The shape and dtype an npz member declares, and the bytes it really holds (nothing loaded)."""
    try:
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(fh)
            header_len = fh.tell()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise fail(path, f"member {name!r} is not a readable numpy array ({exc}); {FORMAT_HINT}") from exc
    if dtype.hasobject:
        raise fail(path, f"column {name!r} holds Python objects, which are not read (unsafe to unpickle); store "
                         "text as np.array(values, dtype=str) and numbers as numeric arrays")
    _check_kind(path, name, dtype.kind, f"{dtype} values")
    return _Member(tuple(shape), dtype, math.prod(shape) * dtype.itemsize, max(info.file_size - header_len, 0))


def _check_complete(path: Path, name: str, member: _Member) -> None:
    if member.stored < member.nbytes:
        shape = " x ".join(map(str, member.shape)) or "scalar"
        raise fail(path, f"column {name!r} is truncated: it declares a {shape} {member.dtype} array "
                         f"({format_bytes(member.nbytes)}) but holds only {format_bytes(member.stored)}; write the file again")


def _npz_members(path: Path, zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    members = {}
    for info in zf.infolist():
        name = info.filename.removesuffix(".npy")
        if name in COLUMNS:
            members[name] = info
    return members


def _check_npz_lengths(path: Path, headers: dict[str, _Member]) -> None:
    """Every per-row column has one entry per features row (checked on the headers)."""
    features = headers.get("features")
    if features is None or len(features.shape) != 2:
        return  # reported by the column checks with the file's content in view
    n = features.shape[0]
    for name, member in headers.items():
        if name in ("features", "class_names"):
            continue
        if member.shape != (n,):
            raise fail(path, f"column {name!r} has shape {member.shape}, but features has {n} rows: it must hold "
                             "one entry per features row")


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The known columns of an `.npz` file, every member's header checked before anything is loaded."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = _npz_members(path, zf)
            headers = {name: _member_header(path, zf, info, name) for name, info in members.items()}
            check_memory(path, {name: h.nbytes for name, h in headers.items()})
            for name, member in headers.items():
                _check_complete(path, name, member)
            _check_npz_lengths(path, headers)
        with np.load(path, allow_pickle=False) as z:
            return {name: z[info.filename.removesuffix(".npy")] for name, info in members.items()}
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        if isinstance(exc, EmbeddingsFileError):
            raise
        raise fail(path, f"the .npz archive is unreadable or truncated ({type(exc).__name__}: {exc}); write it "
                         f"again ({FORMAT_HINT})") from exc


# -- .parquet ----------------------------------------------------------------------------------------------------

def _arrow_kind(t: Any) -> str:
    """The numpy dtype kind an arrow type converts to ('?' for anything else)."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return _arrow_kind(t.value_type)
    checks = (("b", pa.types.is_boolean), ("i", pa.types.is_signed_integer), ("u", pa.types.is_unsigned_integer),
              ("f", pa.types.is_floating), ("U", pa.types.is_string), ("U", pa.types.is_large_string))
    return next((kind for kind, test in checks if test(t)), "?")


def _feature_columns(path: Path, schema: Any) -> list[str]:
    """The column(s) holding the features: ['features'] or feature_0 .. feature_{d-1}, by the schema."""
    import pyarrow as pa

    split = sorted((c for c in schema.names if c.startswith(FEATURE_PREFIX)),
                   key=lambda c: int(c[len(FEATURE_PREFIX):]) if c[len(FEATURE_PREFIX):].isdigit() else -1)
    if "features" in schema.names:
        if split:
            raise fail(path, f"it holds both a `features` column and {split[0]}, ...; expected one of them: {LAYOUT}")
        t = schema.field("features").type
        if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)) \
                or _arrow_kind(t.value_type) not in "iuf":
            raise fail(path, f"column 'features' has type {t}, but it must hold one list of numbers per row; "
                             f"expected {LAYOUT}")
        return ["features"]
    if not split:
        return []
    wanted = [f"{FEATURE_PREFIX}{k}" for k in range(len(split))]
    if split != wanted:
        odd = next(c for c, w in zip(split, wanted) if c != w)
        raise fail(path, f"per-dimension feature columns must be named feature_0 .. feature_{len(split) - 1} "
                         f"without gaps, found {odd!r}; expected {LAYOUT}")
    for c in split:
        if _arrow_kind(schema.field(c).type) not in "iuf":
            raise fail(path, f"column {c!r} has type {schema.field(c).type}, but per-dimension feature columns "
                             f"must be numbers; expected {LAYOUT}")
    return split


def _declared_parquet_bytes(meta: Any, columns: list[str]) -> dict[str, int]:
    """Uncompressed bytes of each top-level column, from the footer (nothing read)."""
    sizes: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for j in range(group.num_columns):
            chunk = group.column(j)
            top = chunk.path_in_schema.split(".")[0]
            if top in columns:
                key = "features" if top.startswith(FEATURE_PREFIX) else top
                sizes[key] = sizes.get(key, 0) + int(chunk.total_uncompressed_size)
    return sizes


def _first_null(column: Any) -> int:
    import pyarrow.compute as pc

    return int(pc.index(pc.is_null(column), True).as_py())


def _no_nulls(path: Path, name: str, column: Any) -> None:
    if column.null_count:
        raise fail(path, f"column {name!r} has {column.null_count} empty (null) value(s), the first in row "
                         f"{_first_null(column)}; every row needs a value (drop those rows or fill them)")


def _to_numpy(path: Path, name: str, column: Any) -> np.ndarray:
    import pyarrow as pa

    _no_nulls(path, name, column)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    arr = column.to_numpy(zero_copy_only=False)
    return arr.astype(str) if _arrow_kind(column.type) == "U" else arr


def _list_features(path: Path, column: Any) -> np.ndarray:
    """A list column (one vector per row, all of one length) as an N x d array."""
    import pyarrow as pa

    col = column.combine_chunks()
    _no_nulls(path, "features", col)
    if pa.types.is_fixed_size_list(col.type):
        width = col.type.list_size
    else:
        lengths = np.asarray(col.value_lengths())
        width = int(lengths[0]) if lengths.size else 0
        if lengths.size and np.any(lengths != width):
            bad = int(np.flatnonzero(lengths != width)[0])
            raise fail(path, f"features rows have different lengths (row 0: {width}, row {bad}: {lengths[bad]}); "
                             "every row must hold a vector of the same dimension")
    values = col.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(col), width)


def _parquet_columns(path: Path, table: Any, feature_cols: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if feature_cols == ["features"]:
        out["features"] = _list_features(path, table.column("features"))
    elif feature_cols:
        out["features"] = np.column_stack([_to_numpy(path, c, table.column(c)) for c in feature_cols])
    for name in table.column_names:
        if name in feature_cols:
            continue
        values = _to_numpy(path, name, table.column(name))
        out["row_class_names" if name == "class_names" else name] = values  # a table names each row's class
    return out


def read_parquet(path: Path) -> dict[str, np.ndarray]:
    """The known columns of a `.parquet` file, the schema and declared size checked before reading."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema, meta = pf.schema_arrow, pf.metadata
    except (OSError, pa.ArrowException) as exc:
        raise fail(path, f"the parquet file is unreadable ({type(exc).__name__}: {exc}); write it again "
                         f"({FORMAT_HINT})") from exc
    feature_cols = _feature_columns(path, schema)
    for name in COLUMNS:
        if name != "features" and name in schema.names:
            t = schema.field(name).type
            _check_kind(path, name, _arrow_kind(t), f"values of type {t}")
    columns = feature_cols + [c for c in COLUMNS if c != "features" and c in schema.names]
    check_memory(path, _declared_parquet_bytes(meta, columns))
    try:
        table = pf.read(columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise fail(path, f"the parquet file is unreadable or truncated ({type(exc).__name__}: {exc}); write it "
                         "again") from exc
    out = _parquet_columns(path, table, feature_cols)
    meta_names = (schema.metadata or {}).get(b"class_names")
    if "row_class_names" not in out and meta_names is not None:
        try:
            out["class_names"] = np.asarray(json.loads(meta_names), dtype=str)
        except ValueError as exc:
            raise fail(path, f"the schema metadata 'class_names' is not a JSON list of names ({exc})") from None
    return out


def read_columns(path: Path) -> dict[str, np.ndarray]:
    """The raw known columns of an `.npz` or `.parquet` embeddings file, chosen by the file's first bytes."""
    if not path.is_file():
        raise FileNotFoundError(f"embeddings file {path} does not exist; pass embeddings:<path to .npz or .parquet>")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        return read_npz(path)
    if head == b"PAR1":
        return read_parquet(path)
    kind = "a single .npy array, not an .npz archive" if head.startswith(b"\x93NUM") else "neither .npz nor .parquet"
    raise fail(path, f"the file is {kind} (it starts with {head!r}); {FORMAT_HINT}")
