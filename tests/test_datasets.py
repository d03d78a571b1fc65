"""The data layer: registry, offline archives, long-tailed variants, image folders, errors."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from coreset_core.datasets import CorruptImageError, list_datasets, load_dataset, long_tail_counts


def test_registry_lists_required_datasets():
    names = {d.name for d in list_datasets()}
    assert {"cifar10", "cifar10-lt", "fashion-mnist", "imagewoof", "digits", "imagefolder:<path>"} <= names


def test_cifar10_offline_archive(cifar10):
    assert cifar10.class_names[:3] == ["airplane", "automobile", "bird"]
    assert len(cifar10.train) == 50_000 and len(cifar10.test) == 10_000
    assert np.array_equal(cifar10.class_sizes("train"), np.full(10, 5000))
    img = cifar10.train.image(0)
    assert img.mode == "RGB" and img.size == (32, 32)
    assert cifar10.identity.startswith("cifar10@")


def test_cifar10_lt_follows_cui_formula(cifar10):
    lt = load_dataset("cifar10-lt", imbalance=10, seed=3)
    expected = [math.floor(5000 * 10 ** (-k / 9)) for k in range(10)]
    assert lt.class_sizes("train").tolist() == expected
    assert len(lt.test) == 10_000  # test set unchanged
    assert lt.config["imbalance"] == 10 and lt.config["lt_seed"] == 3
    # seeded: same seed, same samples; other seed, other samples; identity tells them apart
    again = load_dataset("cifar10-lt", imbalance=10, seed=3)
    other = load_dataset("cifar10-lt", imbalance=10, seed=4)
    assert np.array_equal(lt.base_train_positions, again.base_train_positions)
    assert not np.array_equal(lt.base_train_positions, other.base_train_positions)
    assert lt.identity != other.identity
    # the kept images are the base images at the recorded positions
    pos = int(lt.base_train_positions[5])
    assert np.array_equal(np.asarray(lt.train.image(5)), np.asarray(cifar10.train.image(pos)))
    assert lt.train.labels[5] == cifar10.train.labels[pos]


def test_long_tail_counts_never_exceed_class_size():
    assert long_tail_counts(np.array([100, 50, 100]), 4).tolist() == [100, 50, 25]
    assert long_tail_counts(np.array([10, 10]), 1).tolist() == [10, 10]


@pytest.mark.parametrize("bad", [0.5, 0, -3, float("nan")])
def test_imbalance_below_one_is_rejected(cifar10, bad):
    with pytest.raises(ValueError, match="imbalance factor must be >= 1"):
        load_dataset("cifar10-lt", imbalance=bad)


def test_imbalance_on_balanced_name_is_rejected():
    with pytest.raises(ValueError, match="digits-lt"):
        load_dataset("digits", imbalance=10)


def test_unknown_dataset_names_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'cifar11'.*cifar10"):
        load_dataset("cifar11")


def test_missing_archive_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="imagewoof_128_jpeg.npz.*--data-dir"):
        load_dataset("imagewoof", data_dir=tmp_path)


def test_truncated_archive_is_reported(tmp_path):
    from coreset_core.datasets.npz import _read_archive

    src = tmp_path / "imagewoof_128_jpeg.npz"
    src.write_bytes(b"PK\x03\x04 not really a zip")
    _read_archive.cache_clear()
    with pytest.raises(ValueError, match="unreadable or truncated"):
        load_dataset("imagewoof", data_dir=tmp_path)


def test_imagewoof_carries_pretraining_caveat(cifar10):
    ds = load_dataset("imagewoof")
    assert "ImageNet" in ds.description and "seen" in ds.description
    assert len(ds.train) == 9025 and len(ds.test) == 3929
    assert not ds.class_names[0].startswith("n0")  # readable breed names, not synset ids
    assert ds.train.image(0).mode == "RGB"


def test_fashion_mnist_from_debian_files():
    from coreset_core.datasets.sources import FASHION_MNIST_DEBIAN_DIR

    if not FASHION_MNIST_DEBIAN_DIR.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    ds = load_dataset("fashion-mnist")
    assert len(ds.train) == 60_000 and len(ds.test) == 10_000
    assert np.array_equal(ds.class_sizes(), np.full(10, 6000))
    assert ds.class_names[9] == "Ankle boot"
    assert ds.train.image(0).size == (28, 28)


def test_digits_is_small_and_stratified():
    ds = load_dataset("digits")
    assert len(ds.train) + len(ds.test) == 1797
    assert ds.class_sizes("test").min() >= 30


def _write_folder(root, classes=("cat", "dog"), per_class=5, size=16):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


def test_image_folder_split_and_identity(tmp_path):
    _write_folder(tmp_path)
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert ds.class_names == ["cat", "dog"]
    assert len(ds.train) + len(ds.test) == 10 and len(ds.test) == 2
    assert ds.train.image(0).size == (16, 16)
    ident = ds.identity
    (tmp_path / "cat" / "extra.png").write_bytes((tmp_path / "cat" / "0.png").read_bytes())
    assert load_dataset(f"imagefolder:{tmp_path}").identity != ident  # content change -> new cache identity


def test_image_folder_with_train_test_folders(tmp_path):
    _write_folder(tmp_path / "train")
    _write_folder(tmp_path / "val", per_class=2)
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert len(ds.train) == 10 and len(ds.test) == 4


def test_corrupt_image_names_the_file(tmp_path):
    _write_folder(tmp_path, per_class=3)
    (tmp_path / "dog" / "1.png").write_bytes(b"\x89PNG garbage")
    ds = load_dataset(f"imagefolder:{tmp_path}")
    errors = []
    for split in (ds.train, ds.test):
        for i in range(len(split)):
            try:
                split.image(i)
            except CorruptImageError as exc:
                errors.append(str(exc))
    assert len(errors) == 1 and "cannot be decoded" in errors[0]


def test_missing_image_folder():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("imagefolder:/nonexistent/folder")
