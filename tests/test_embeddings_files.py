"""Embeddings files written by numpy, pandas and pyarrow directly: the same rules for `.npz` and `.parquet`
(issue 20 item 1, issue 24 item 3). Every bad file is refused with the column and the first bad row named,
before anything large is allocated, and the folder holding it is left as it was."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from coreset_core.datasets import EmbeddingsFileError, load_dataset
from coreset_core.datasets.embeddings_files import LAYOUT

N, D, C = 40, 5, 4


@pytest.fixture()
def cols():
    rng = np.random.default_rng(0)
    labels = np.arange(N) % C
    return {"features": (np.eye(C, D)[labels] * 3 + rng.normal(size=(N, D))).astype(np.float32),
            "labels": labels, "ids": 500 + 3 * np.arange(N), "paths": np.array([f"img/{i}.png" for i in range(N)])}


def _frame(cols: dict) -> pd.DataFrame:
    """The table layout: one list of floats per row."""
    frame = pd.DataFrame({k: v for k, v in cols.items() if k != "features"})
    frame.insert(0, "features", list(cols["features"]))
    return frame


def _refused(path, *words) -> str:
    before = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.parent.iterdir())
    with pytest.raises(EmbeddingsFileError) as info:
        load_dataset(f"embeddings:{path}")
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    assert "allow_pickle" not in message
    assert sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.parent.iterdir()) == before
    return message


# -- the documented layouts, written by pandas and pyarrow ------------------------------------------------------

def test_pandas_list_column_and_per_dimension_columns_equal_the_npz(tmp_path, cols):
    np.savez(tmp_path / "e.npz", **cols, class_names=np.array(["ant", "bee", "cat", "dog"]))
    ref = load_dataset(f"embeddings:{tmp_path / 'e.npz'}")
    names = np.array(["ant", "bee", "cat", "dog"])
    listed = _frame(cols)
    listed["class_names"] = pd.Categorical(names[cols["labels"]])  # pandas' categorical: one name per row
    listed.to_parquet(tmp_path / "list.parquet")
    wide = pd.DataFrame(cols["features"], columns=[f"feature_{k}" for k in range(D)])
    wide["labels"], wide["ids"], wide["paths"] = cols["labels"], cols["ids"], cols["paths"]
    table = pa.Table.from_pandas(wide, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({"class_names": '["ant", "bee", "cat", "dog"]'}),
                   tmp_path / "wide.parquet")
    for name in ("list.parquet", "wide.parquet"):
        ds = load_dataset(f"embeddings:{tmp_path / name}")
        assert ds.class_names == ["ant", "bee", "cat", "dog"]
        for a, b in ((ds.train, ref.train), (ds.test, ref.test)):
            assert np.array_equal(a.ids, b.ids) and np.array_equal(a.features, b.features)
            assert np.array_equal(a.labels, b.labels) and np.array_equal(a.paths, b.paths)
        rows = ds.train.ids - 500
        assert np.array_equal(ds.train.features, cols["features"][rows // 3])
    assert ds.id_space == f"ids column of {tmp_path / 'wide.parquet'}"
    np.savez(tmp_path / "plain.npz", features=cols["features"], labels=cols["labels"])
    assert load_dataset(f"embeddings:{tmp_path / 'plain.npz'}").id_space.startswith("row of ")


# -- nulls and missing values: named by column and row -------------------------------------------------------------

def test_null_ids_and_paths_in_parquet_are_refused_by_row(tmp_path, cols):
    frame = _frame(cols)
    frame["ids"] = pd.array(cols["ids"], dtype="Int64")
    frame.loc[7, "ids"] = pd.NA  # once came out as the float-looking id '1043.0'
    frame.to_parquet(tmp_path / "ids.parquet")
    _refused(tmp_path / "ids.parquet", "column 'ids'", "null", "row 7")
    frame = _frame(cols)
    frame.loc[3, "paths"] = None  # once came out as a file named 'None'
    frame.to_parquet(tmp_path / "paths.parquet")
    _refused(tmp_path / "paths.parquet", "column 'paths'", "null", "row 3")
    frame = _frame(cols)
    frame["labels"] = frame["labels"].astype("float64")
    frame.loc[11, "labels"] = np.nan
    frame.to_parquet(tmp_path / "labels.parquet")
    _refused(tmp_path / "labels.parquet", "column 'labels'", "row 11")


def test_missing_ids_and_paths_in_npz_are_refused_by_row(tmp_path, cols):
    ids = cols["ids"].astype(float)
    ids[7] = np.nan
    np.savez(tmp_path / "ids.npz", **{**cols, "ids": ids})
    _refused(tmp_path / "ids.npz", "ids row 7", "not a whole number")
    paths = list(cols["paths"])
    paths[3] = None
    np.savez(tmp_path / "paths.npz", **{**cols, "paths": np.array(paths, dtype=str)})  # None becomes 'None'
    _refused(tmp_path / "paths.npz", "paths row 3 is empty ('None')")


# -- column types: the same message for both formats ---------------------------------------------------------------

def test_text_labels_get_the_same_fix_in_both_formats(tmp_path, cols):
    names = np.array([f"c{v}" for v in cols["labels"]])
    np.savez(tmp_path / "e.npz", **{**cols, "labels": names})
    frame = _frame(cols)
    frame["labels"] = names
    frame.to_parquet(tmp_path / "e.parquet")
    for name in ("e.npz", "e.parquet"):
        _refused(tmp_path / name, "column 'labels'", "numpy.unique(names, return_inverse=True)", LAYOUT)


def test_column_types_refused_before_reading(tmp_path, cols):
    table = pa.table({"features": pa.array([list(map(str, r)) for r in cols["features"]]), "labels": cols["labels"]})
    pq.write_table(table, tmp_path / "text_features.parquet")
    _refused(tmp_path / "text_features.parquet", "column 'features' has type list<element: string>", LAYOUT)
    table = pa.table({"features": pa.array(list(cols["features"])), "labels": cols["labels"],
                      "ids": pa.array([[i] for i in range(N)])})
    pq.write_table(table, tmp_path / "list_ids.parquet")
    _refused(tmp_path / "list_ids.parquet", "column 'ids' holds values of type list<element: int64>",
             "integers or text")
    table = pa.table({"features": pa.array(list(cols["features"])), "labels": cols["labels"],
                      "is_test": pa.array(["no"] * N)})
    pq.write_table(table, tmp_path / "text_flags.parquet")
    _refused(tmp_path / "text_flags.parquet", "column 'is_test'", "booleans")
    np.savez(tmp_path / "text_flags.npz", **cols, is_test=np.array(["no"] * N))
    _refused(tmp_path / "text_flags.npz", "column 'is_test'", "booleans")


def test_each_wrong_layout_says_which_layout_it_expected(tmp_path, cols):
    pq.write_table(pa.table({"embedding": pa.array(list(cols["features"])), "labels": cols["labels"]}),
                   tmp_path / "renamed.parquet")
    _refused(tmp_path / "renamed.parquet", "missing column(s) ['features']", LAYOUT)
    wide = {f"feature_{k}": cols["features"][:, k] for k in (0, 1, 3)}
    pq.write_table(pa.table({**wide, "labels": cols["labels"]}), tmp_path / "gap.parquet")
    _refused(tmp_path / "gap.parquet", "feature_0 .. feature_2 without gaps", "'feature_3'", LAYOUT)
    both = {"features": pa.array(list(cols["features"])), "feature_0": cols["features"][:, 0], "labels": cols["labels"]}
    pq.write_table(pa.table(both), tmp_path / "both.parquet")
    _refused(tmp_path / "both.parquet", "both a `features` column and feature_0", LAYOUT)
    pq.write_table(pa.table({"features": pa.array(list(cols["features"])), "labels": cols["labels"].astype(str)}),
                   tmp_path / "text_labels.parquet")
    _refused(tmp_path / "text_labels.parquet", "integer class ids", LAYOUT)


# -- sizes: declared before allocated, truncation reported as such -----------------------------------------------

def _npy_header(shape, dtype=np.float32) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_a_declared_huge_array_is_refused_without_allocating_it(tmp_path, cols):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:  # a 4 TB float32 array declared by a few bytes
        zf.writestr("features.npy", _npy_header((1_000_000_000, 1024)) + b"\0" * 64)
        zf.writestr("labels.npy", _npy_header((1_000_000_000,), np.int64))
    message = _refused(path, "column 'features' alone declares 4096.0 GB", "of memory available")
    assert "truncated" not in message


def test_a_truncated_member_is_reported_as_truncated(tmp_path, cols):
    path = tmp_path / "cut.npz"
    data = cols["features"].astype(np.float64)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("features.npy", _npy_header(data.shape, np.float64) + data.tobytes()[:300])
        buf = io.BytesIO()
        np.save(buf, cols["labels"])
        zf.writestr("labels.npy", buf.getvalue())
    message = _refused(path, "column 'features' is truncated", f"{N} x {D} float64")
    assert "Python objects" not in message


def test_lengths_are_checked_on_the_headers(tmp_path, cols):
    np.savez(tmp_path / "e.npz", **{**cols, "ids": cols["ids"][:-2]})
    _refused(tmp_path / "e.npz", "column 'ids' has shape (38,)", f"features has {N} rows")


def test_a_truncated_parquet_file_is_reported(tmp_path, cols):
    _frame(cols).to_parquet(tmp_path / "e.parquet")
    data = (tmp_path / "e.parquet").read_bytes()
    (tmp_path / "e.parquet").write_bytes(data[: len(data) // 2])
    _refused(tmp_path / "e.parquet", "the parquet file is unreadable", "write it again")
