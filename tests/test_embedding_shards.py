"""`embeddings:<folder>` of shards, written directly with numpy and pyarrow: the same samples, ids,
features and selections as the same rows in one file; the shards' problems named."""
from __future__ import annotations

import mmap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from coreset_core.datasets import EmbeddingsFileError, load_dataset
from coreset_core.session import Session
from coreset_core.spec import DataSpec

N, D, C = 2400, 12, 6
CUTS = [0, 500, 1700, 2400]  # three shards of unequal size


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, C, N)
    centers = rng.normal(0, 2.0, (C, D))
    features = (centers[labels] + rng.normal(0, 1.5, (N, D))).astype(np.float32)
    return features, labels


def _memory_mapped(array: np.ndarray) -> bool:
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, mmap.mmap)


def _one_file(tmp_path, features, labels, **extra):
    path = tmp_path / "one.npz"
    np.savez(path, features=features, labels=labels, **extra)
    return path


def _npy_folder(tmp_path, features, labels, **metadata):
    folder = tmp_path / "clip_out"
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    for k, (a, b) in enumerate(zip(CUTS, CUTS[1:])):
        np.save(folder / "img_emb" / f"img_emb_{k}.npy", features[a:b])
        table = {"label": labels[a:b], **{name: values[a:b] for name, values in metadata.items()}}
        pq.write_table(pa.table(table), folder / "metadata" / f"metadata_{k}.parquet")
    return folder


def _selection_ids(name: str, cache_dir, method: str = "nucs") -> list:
    session = Session(DataSpec(name, score_epochs=2), cache_dir=cache_dir)
    return session.ids[session.select(method, 0.7).indices].tolist()


def test_npy_shards_give_the_same_samples_and_selections_as_one_file(rows, tmp_path, session_cache_dir):
    features, labels = rows
    folder, single = _npy_folder(tmp_path, features, labels), _one_file(tmp_path, features, labels)
    sharded, whole = load_dataset(f"embeddings:{folder}"), load_dataset(f"embeddings:{single}")
    for split in ("train", "test"):
        a, b = sharded.split(split), whole.split(split)
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.labels, b.labels)
        assert np.array_equal(a.features, features[a.ids])  # row i of the folder is row i of the data
        assert _memory_mapped(a.features)  # not held in memory
    for method in ("nucs", "random", "kcenter-classwise"):
        assert _selection_ids(f"embeddings:{folder}", session_cache_dir, method) == \
            _selection_ids(f"embeddings:{single}", session_cache_dir, method), method


def test_parquet_shards_in_the_single_file_format(rows, tmp_path, session_cache_dir):
    features, labels = rows
    folder = tmp_path / "parts"
    folder.mkdir()
    ids = np.arange(N) * 7 + 1000  # the user's own ids travel with their rows
    for k, (a, b) in enumerate(zip(CUTS, CUTS[1:])):
        table = pa.table({"features": pa.array(list(features[a:b]), type=pa.list_(pa.float32())),
                          "labels": labels[a:b], "ids": ids[a:b]})
        pq.write_table(table, folder / f"part-{k:05d}.parquet")
    single = _one_file(tmp_path, features, labels, ids=ids)
    sharded = load_dataset(f"embeddings:{folder}")
    assert sharded.config["layout"] == "parquet" and sharded.config["shards"] == 3
    assert np.array_equal(sharded.train.ids, load_dataset(f"embeddings:{single}").train.ids)
    assert set(sharded.train.ids.tolist()) <= set(ids.tolist())
    assert _selection_ids(f"embeddings:{folder}", session_cache_dir) == \
        _selection_ids(f"embeddings:{single}", session_cache_dir)


def test_labels_paths_and_ids_come_from_the_metadata(rows, tmp_path):
    features, labels = rows
    names = np.array(["owl", "cat", "eel", "ant", "yak", "bee"])
    folder = _npy_folder(tmp_path, features, labels, species=names[labels],
                         image_path=np.array([f"img/{i}.jpg" for i in range(N)]),
                         id=np.array([f"sample-{i}" for i in range(N)]))
    ds = load_dataset(f"embeddings:{folder}?label=species")
    assert ds.class_names == sorted(names.tolist())  # names numbered in sorted order
    rows_of = np.array([int(i.split("-")[1]) for i in ds.train.ids])
    assert [ds.class_names[y] for y in ds.train.labels] == names[labels[rows_of]].tolist()
    assert ds.train.paths[0] == str(folder / "img" / f"{rows_of[0]}.jpg")
    assert ds.name == f"embeddings:{folder}?label=species"


@pytest.mark.parametrize("damage, message", [
    ("rows", "img_emb_1.npy has 1200 rows but metadata_1.parquet has 1199"),
    ("missing", "no metadata shard numbered like img_emb_2.npy"),
    ("label", "metadata_0.parquet has no label column 'label' (columns: kind); name it with "
              "embeddings:<folder>?label=COLUMN"),
    ("nan", "features has NaN or infinite values (first: row 1703)"),
    ("width", "the feature shards have different widths [5, 12]"),
])
def test_broken_shards_are_named(rows, tmp_path, damage, message):
    features, labels = rows
    folder = _npy_folder(tmp_path, features, labels)
    meta = folder / "metadata"
    if damage == "rows":
        pq.write_table(pa.table({"label": labels[500:1699]}), meta / "metadata_1.parquet")
    elif damage == "missing":
        (meta / "metadata_2.parquet").unlink()
    elif damage == "label":
        for k in range(3):
            pq.write_table(pa.table({"kind": labels[CUTS[k]:CUTS[k + 1]]}), meta / f"metadata_{k}.parquet")
    elif damage == "nan":
        broken = features[1700:].copy()
        broken[3, 4] = np.nan
        np.save(folder / "img_emb" / "img_emb_2.npy", broken)
    else:
        np.save(folder / "img_emb" / "img_emb_2.npy", features[1700:, :5])
    with pytest.raises(EmbeddingsFileError) as info:
        load_dataset(f"embeddings:{folder}")
    assert str(info.value).startswith(f"embeddings folder {folder}: ") and message in str(info.value)
