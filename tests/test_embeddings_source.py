"""`embeddings:<path>` files (SPEC section 7) and the generator benchmarks/make_embeddings.py."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from coreset_core.datasets import EmbeddingsFileError, NoImagesError, load_dataset
from coreset_core.features import FILE_BACKBONE, get_features

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from make_embeddings import long_tailed_sizes, make_embeddings  # noqa: E402


@pytest.fixture(scope="module")
def arrays():
    return make_embeddings(400, 6, 24, imbalance=8, seed=3, test_per_class=10, scores=True, id_offset=5000)


def _save(path, **arrays):
    np.savez(path, **arrays)
    return f"embeddings:{path}"


# -- the generator ---------------------------------------------------------------------------------------------

def test_generator_sizes_follow_cui_and_sum_to_n():
    sizes = long_tailed_sizes(10_000, 10, 100)
    assert sizes.sum() == 10_000 and sizes.min() >= 1
    ideal = np.array([100 ** (-k / 9) for k in range(10)])
    ideal = 10_000 * ideal / ideal.sum()
    assert np.abs(sizes - ideal).max() <= 1  # the closed-form profile, rounded
    assert long_tailed_sizes(50, 5, 1).tolist() == [10] * 5


def test_generator_is_seeded_and_has_class_structure(arrays):
    again = make_embeddings(400, 6, 24, imbalance=8, seed=3, test_per_class=10, scores=True, id_offset=5000)
    other = make_embeddings(400, 6, 24, imbalance=8, seed=4, test_per_class=10)
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)
    assert not np.array_equal(arrays["features"], other["features"])
    f, y, t = arrays["features"], arrays["labels"], arrays["is_test"]
    assert f.dtype == np.float32 and f.shape == (460, 24)
    assert np.bincount(y[~t]).tolist() == long_tailed_sizes(400, 6, 8).tolist()
    assert np.bincount(y[t]).tolist() == [10] * 6
    # real structure: nearest class mean (fit on train) classifies the test rows far above chance (1/6)
    means = np.stack([f[~t & (y == c)].mean(0) for c in range(6)])
    pred = np.argmin(((f[t][:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == y[t]).mean() > 0.8
    # scores = distance to the class's true centre: larger for rows far from their class mean
    d_emp = np.linalg.norm(f - means[y], axis=1)
    assert np.corrcoef(d_emp, arrays["scores"])[0, 1] > 0.9


def test_generator_cli_writes_the_spec_format(tmp_path):
    from make_embeddings import main

    out = tmp_path / "e.npz"
    assert main(["--n", "120", "--classes", "4", "--dim", "8", "--imbalance", "4", "--seed", "1", "--out",
                 str(out)]) == 0
    with np.load(out, allow_pickle=False) as z:
        assert set(z.files) == {"features", "labels", "is_test", "class_names", "ids"}
    ds = load_dataset(f"embeddings:{out}")
    assert len(ds.train) == 120 and ds.num_classes == 4


# -- loading ---------------------------------------------------------------------------------------------------

def test_npz_round_trip_by_original_id(tmp_path, arrays):
    ds = load_dataset(_save(tmp_path / "e.npz", **arrays))
    assert ds.has_features and not ds.has_images
    assert ds.class_names == [f"class_{c}" for c in range(6)]
    assert len(ds.train) == 400 and len(ds.test) == 60
    for split, flag in ((ds.train, False), (ds.test, True)):
        rows = split.ids - 5000  # ids were row + 5000: find each position's row in the file independently
        assert np.array_equal(split.features, arrays["features"][rows])
        assert np.array_equal(split.labels, arrays["labels"][rows])
        assert np.all(arrays["is_test"][rows] == flag)
        assert np.array_equal(split.scores, arrays["scores"][rows])
    assert ds.train_scores is ds.train.scores
    assert ds.train.paths is None


def test_get_features_returns_the_files_features(tmp_path, arrays):
    ds = load_dataset(_save(tmp_path / "e.npz", **arrays))
    fs = get_features(ds, "train", backbone="efficientnet_lite2", resolution=999)  # neither applies
    assert fs.key["backbone"] == FILE_BACKBONE and fs.from_cache
    assert np.array_equal(fs.features, arrays["features"][ds.train.ids - 5000])
    assert np.array_equal(fs.labels, ds.train.labels)
    short = get_features(ds, "test", limit=7)
    assert np.array_equal(short.features, arrays["features"][ds.test.ids[:7] - 5000])
    with pytest.raises(ValueError, match="limit must be"):
        get_features(ds, "train", limit=0)


def test_identity_follows_the_file_content(tmp_path, arrays):
    name = _save(tmp_path / "e.npz", **arrays)
    first = load_dataset(name).identity
    assert load_dataset(name).identity == first
    changed = dict(arrays)
    changed["features"] = arrays["features"].copy()
    changed["features"][200, 3] += 1.0  # one value in the middle of the file
    _save(tmp_path / "e.npz", **changed)
    assert load_dataset(name).identity != first


def test_without_is_test_a_stratified_split(tmp_path, arrays):
    keep = {k: v for k, v in arrays.items() if k not in ("is_test", "ids")}
    ds = load_dataset(_save(tmp_path / "e.npz", **keep))
    sizes = np.bincount(arrays["labels"], minlength=6)
    expected = np.minimum(np.floor(0.2 * sizes + 0.5), sizes - 1)
    assert ds.class_sizes("test").tolist() == expected.astype(int).tolist()
    all_ids = np.sort(np.concatenate([ds.train.ids, ds.test.ids]))
    assert np.array_equal(all_ids, np.arange(len(arrays["labels"])))  # ids default to the file's rows
    assert np.array_equal(ds.train.features, arrays["features"][ds.train.ids])


def test_parquet_with_the_same_columns(tmp_path, arrays):
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = arrays["class_names"][arrays["labels"]]  # one name per row in a table
    table = pa.table({"features": pa.array(list(arrays["features"]), type=pa.list_(pa.float32())),
                      "labels": arrays["labels"], "is_test": arrays["is_test"], "class_names": names,
                      "scores": arrays["scores"], "ids": arrays["ids"]})
    pq.write_table(table, tmp_path / "e.parquet")
    ds = load_dataset(f"embeddings:{tmp_path / 'e.parquet'}")
    ref = load_dataset(_save(tmp_path / "e.npz", **arrays))
    assert ds.class_names == ref.class_names
    for a, b in ((ds.train, ref.train), (ds.test, ref.test)):
        order_a, order_b = np.argsort(a.ids), np.argsort(b.ids)
        assert np.array_equal(a.features[order_a], b.features[order_b])
        assert np.array_equal(a.labels[order_a], b.labels[order_b])
        assert np.array_equal(a.scores[order_a], b.scores[order_b])


def test_paths_decode_their_files_and_no_paths_is_clear(tmp_path, arrays):
    rng = np.random.default_rng(0)
    n = len(arrays["labels"])
    (tmp_path / "imgs").mkdir()
    pixels = []
    for i in range(n):
        px = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        Image.fromarray(px).save(tmp_path / "imgs" / f"{i}.png")
        pixels.append(px)
    paths = np.array([f"imgs/{i}.png" for i in range(n)])  # relative to the file's folder
    ds = load_dataset(_save(tmp_path / "e.npz", **arrays, paths=paths))
    assert ds.has_images
    for i in (0, 5, 399):
        row = int(ds.train.ids[i]) - 5000
        assert ds.train.paths[i] == str(tmp_path / "imgs" / f"{row}.png")
        assert np.array_equal(np.asarray(ds.train.image(i)), pixels[row])
    bare = load_dataset(_save(tmp_path / "bare.npz", **arrays))
    with pytest.raises(NoImagesError, match="no `paths`"):
        bare.train.image(0)


# -- validation: each bad file gets a message naming the file and the fix ---------------------------------------

def _bad(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(EmbeddingsFileError) as info:
        load_dataset(f"embeddings:{path}")
    msg = str(info.value)
    assert str(path) in msg and len(msg) < 600
    return msg


def test_missing_columns(tmp_path, arrays):
    assert "missing column(s) ['labels']" in _bad(tmp_path, features=arrays["features"])


def test_row_count_mismatch(tmp_path, arrays):
    assert "one entry per features row" in _bad(tmp_path, features=arrays["features"], labels=arrays["labels"][:-1])
    assert "'scores' has shape" in _bad(tmp_path, features=arrays["features"], labels=arrays["labels"],
                                        scores=arrays["scores"][:5])


def test_zero_feature_columns(tmp_path, arrays):
    n = len(arrays["labels"])
    assert "0 columns" in _bad(tmp_path, features=np.zeros((n, 0), np.float32), labels=arrays["labels"])


def test_non_finite_features(tmp_path, arrays):
    f = arrays["features"].copy()
    f[17, 2], f[300, 0] = np.nan, np.inf
    assert "NaN or infinite values in 2 row(s) (first: row 17)" in _bad(tmp_path, features=f, labels=arrays["labels"])


@pytest.mark.parametrize("labels, words", [
    (lambda y: y + 0.5, "whole numbers"),
    (lambda y: np.array([f"c{v}" for v in y]), "numpy.unique"),
    (lambda y: np.where(np.arange(len(y)) == 3, 2_000_000, y), "have no sample"),
    (lambda y: y - 1, "found -1"),
])
def test_bad_labels(tmp_path, arrays, labels, words):
    assert words in _bad(tmp_path, features=arrays["features"], labels=labels(arrays["labels"]))


def test_is_test_must_leave_both_splits(tmp_path, arrays):
    n = len(arrays["labels"])
    assert "both splits need samples" in _bad(tmp_path, features=arrays["features"], labels=arrays["labels"],
                                              is_test=np.zeros(n, bool))


def test_duplicate_ids(tmp_path, arrays):
    ids = arrays["ids"].copy()
    ids[1] = ids[0]
    assert "ids must be unique" in _bad(tmp_path, features=arrays["features"], labels=arrays["labels"], ids=ids)


def test_object_arrays_are_never_unpickled(tmp_path, arrays):
    names = np.array([f"class {c}" for c in range(6)], dtype=object)
    msg = _bad(tmp_path, features=arrays["features"], labels=arrays["labels"], class_names=names)
    assert "'class_names' holds Python objects" in msg and "allow_pickle" not in msg


def test_random_bytes_and_wrong_formats(tmp_path):
    """Item 8: random bytes -> a message naming the file, never a suggestion to allow pickle."""
    rnd = tmp_path / "random.npz"
    rnd.write_bytes(np.random.default_rng(0).bytes(4096))
    npy = tmp_path / "single.npz"
    with open(npy, "wb") as fh:
        np.save(fh, np.zeros((3, 2)))
    truncated = tmp_path / "cut.npz"
    np.savez(truncated, features=np.zeros((50, 4)), labels=np.zeros(50, int))
    truncated.write_bytes(truncated.read_bytes()[:300])
    for path, words in ((rnd, "neither .npz nor .parquet"), (npy, "single .npy array"),
                        (truncated, "unreadable or truncated")):
        with pytest.raises(EmbeddingsFileError) as info:
            load_dataset(f"embeddings:{path}")
        assert str(path) in str(info.value) and words in str(info.value)
        assert "allow_pickle" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(f"embeddings:{tmp_path / 'nope.npz'}")


def test_imbalance_is_refused_for_files(tmp_path, arrays):
    with pytest.raises(ValueError, match="not to embeddings:"):
        load_dataset(_save(tmp_path / "e.npz", **arrays), imbalance=10)


def test_long_tail_formula_matches_generator_profile():
    """The generator's profile is Cui's: ratio of largest to smallest class ~ I (within rounding)."""
    sizes = long_tailed_sizes(100_000, 100, 50)
    assert math.isclose(sizes[0] / sizes[-1], 50, rel_tol=0.05)
