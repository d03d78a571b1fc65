"""The data layer: registry, offline archives, long-tailed variants, image folders, errors."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from coreset_core.datasets import CorruptImageError, list_datasets, load_dataset, long_tail_counts

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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


# -- original ids and paths (SPEC section 7) ------------------------------------------------------------------

def test_cifar10_ids_are_archive_rows(cifar10):
    """ids[i] is the archive row whose JPEG bytes decode to image i (decoded here straight from the npz)."""
    with np.load(SHARED_DATA / "cifar10_jpeg.npz") as z:
        data, offsets, labels = z["data"], z["offsets"], z["labels"]
    for split in (cifar10.train, cifar10.test):
        for i in (0, 1, 777, len(split) - 1):
            row = int(split.ids[i])
            raw = Image.open(io.BytesIO(data[offsets[row]:offsets[row + 1]].tobytes())).convert("RGB")
            assert np.array_equal(np.asarray(raw), np.asarray(split.image(i)))
            assert labels[row] == split.labels[i]
    assert cifar10.train.paths is None
    assert np.unique(np.concatenate([cifar10.train.ids, cifar10.test.ids])).size == 60_000


def test_long_tail_keeps_original_ids(cifar10):
    lt = load_dataset("cifar10-lt", imbalance=10, seed=1)
    assert np.array_equal(lt.train.ids, cifar10.train.ids[lt.base_train_positions])
    assert np.array_equal(lt.test.ids, cifar10.test.ids)


def _write_distinct_folder(root, counts, size=12):
    """Class folders with images whose pixels all differ; returns {path: pixels}."""
    rng = np.random.default_rng(1)
    pixels = {}
    for c, n in counts.items():
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"img{i:02d}.png")
            pixels[str(root / c / f"img{i:02d}.png")] = arr
    return pixels


def test_image_folder_paths_are_the_decoded_files(tmp_path):
    pixels = _write_distinct_folder(tmp_path, {"cat": 7, "dog": 5, "eel": 6})
    ds = load_dataset(f"imagefolder:{tmp_path}")
    seen = []
    for split in (ds.train, ds.test):
        assert split.paths is not None and len(split.paths) == len(split)
        for i in range(len(split)):
            assert np.array_equal(np.asarray(split.image(i)), pixels[split.paths[i]])
            assert ds.class_names[split.labels[i]] == Path(split.paths[i]).parent.name
            seen.append(split.paths[i])
    assert sorted(seen) == sorted(pixels)  # every file exactly once


def test_image_folder_ids_index_torchvision_imagefolder(tmp_path):
    """Subset(ImageFolder(root), ids) yields exactly the split's images, for both layouts."""
    from torch.utils.data import Subset
    from torchvision.datasets import ImageFolder

    flat = tmp_path / "flat"
    _write_distinct_folder(flat, {"b": 6, "a": 5})
    (flat / "a" / "nested").mkdir()
    Image.fromarray(np.full((12, 12, 3), 7, np.uint8)).save(flat / "a" / "nested" / "0.png")  # walked like os.walk
    ds = load_dataset(f"imagefolder:{flat}")
    split_roots = [(ds.train, flat), (ds.test, flat)]
    both = tmp_path / "both"
    _write_distinct_folder(both / "train", {"x": 4, "y": 3})
    _write_distinct_folder(both / "val", {"x": 2, "y": 2})
    ds2 = load_dataset(f"imagefolder:{both}")
    split_roots += [(ds2.train, both / "train"), (ds2.test, both / "val")]
    for split, root in split_roots:
        tv = ImageFolder(str(root))
        sub = Subset(tv, split.ids.tolist())
        for i in range(len(split)):
            img, target = sub[i]
            assert np.array_equal(np.asarray(img), np.asarray(split.image(i)))
            assert target == split.labels[i]


def test_subset_carries_ids_and_paths(tmp_path):
    _write_distinct_folder(tmp_path, {"a": 5, "b": 5})
    ds = load_dataset(f"imagefolder:{tmp_path}")
    sub = ds.train.subset([3, 0])
    assert sub.ids.tolist() == [ds.train.ids[3], ds.train.ids[0]]
    assert sub.paths.tolist() == [ds.train.paths[3], ds.train.paths[0]]
    assert np.array_equal(np.asarray(sub.image(0)), np.asarray(ds.train.image(3)))


# -- issue 10: bad inputs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"this is not an image"])
def test_bad_first_file_in_image_folder_names_it(tmp_path, content):
    """A 0-byte or non-image file first in the folder: CorruptImageError naming the file (item 6)."""
    _write_distinct_folder(tmp_path, {"a": 4, "b": 4})
    bad = tmp_path / "a" / "000_first.png"
    bad.write_bytes(content)
    try:
        ds = load_dataset(f"imagefolder:{tmp_path}")
    except CorruptImageError as exc:
        assert str(bad) in str(exc)
        return
    # the bad file did not land first in train: decoding it still names it
    split = ds.train if str(bad) in ds.train.paths.tolist() else ds.test
    i = split.paths.tolist().index(str(bad))
    with pytest.raises(CorruptImageError, match=str(bad)):
        split.image(i)


def test_zero_byte_file_is_reported_at_load(tmp_path):
    _write_distinct_folder(tmp_path, {"a": 4, "b": 4})
    (tmp_path / "b" / "empty.jpg").write_bytes(b"")
    with pytest.raises(CorruptImageError, match=r"empty \(0-byte\).*empty\.jpg"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_non_image_first_in_order_is_a_corrupt_image_error(tmp_path):
    """Whatever file lands at train position 0, a non-image there gives CorruptImageError, not a PIL traceback."""
    _write_distinct_folder(tmp_path, {"a": 4, "b": 4})
    ds = load_dataset(f"imagefolder:{tmp_path}")
    Path(ds.train.paths[0]).write_bytes(b"GIF89a but not really")
    with pytest.raises(CorruptImageError, match=str(ds.train.paths[0])):
        load_dataset(f"imagefolder:{tmp_path}")


def test_one_image_per_class_never_loses_a_class(tmp_path):
    """Item 7: a class with 1 image stays in train; the test split never takes a whole class."""
    _write_distinct_folder(tmp_path, {"a": 1, "b": 10, "c": 1, "d": 2, "e": 3})
    ds = load_dataset(f"imagefolder:{tmp_path}")
    train_sizes, test_sizes = ds.class_sizes("train"), ds.class_sizes("test")
    assert train_sizes.min() >= 1
    # expected test counts: round(0.2 * n), leaving at least one image in train
    assert test_sizes.tolist() == [0, 2, 0, 0, 1]
    assert train_sizes.tolist() == [1, 8, 1, 2, 2]
    assert ds.config["classes_without_test"] == ["a", "c", "d"]


def test_only_single_image_classes_is_a_clear_error(tmp_path):
    _write_distinct_folder(tmp_path, {"a": 1, "b": 1, "c": 1})
    with pytest.raises(ValueError, match="too small for a test split.*train/ and test/"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_stratified_split_counts_and_seed():
    from coreset_core.datasets.splits import stratified_test_split

    labels = np.repeat(np.arange(4), [100, 37, 5, 2])
    tr, te = stratified_test_split(labels, "x")
    assert np.bincount(labels[te], minlength=4).tolist() == [20, 7, 1, 0]
    assert np.intersect1d(tr, te).size == 0 and np.union1d(tr, te).size == labels.size
    tr2, te2 = stratified_test_split(labels, "x")
    assert np.array_equal(te, te2)  # seeded


def test_sixteen_bit_grey_png_is_scaled_not_clipped(tmp_path):
    """Item 11: a 16-bit grey ramp keeps its gradient (value v -> round(v * 255 / 65535))."""
    ramp = (np.arange(32 * 32, dtype=np.uint32).reshape(32, 32) * 64).astype(np.uint16)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(ramp).save(tmp_path / c / f"{i}.png")
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert Image.open(ds.train.paths[0]).mode.startswith("I")  # really a 16-bit file
    got = np.asarray(ds.train.image(0))
    expected = np.round(ramp.astype(np.float64) * 255 / 65535).astype(np.uint8)
    assert np.array_equal(got[..., 0], expected) and np.array_equal(got[..., 2], expected)
    assert (got == 255).mean() < 0.01


@pytest.mark.parametrize("name", ["imagefolder:", "imagefolder:   ", "embeddings:"])
def test_prefix_without_path_is_an_error(name, tmp_path, monkeypatch):
    """Item 14: no silent loading of the current directory."""
    _write_distinct_folder(tmp_path, {"a": 3, "b": 3})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="needs a path"):
        load_dataset(name)


def test_mistyped_data_dir_is_not_created(tmp_path):
    """Item 15: a data directory that does not exist is reported, never created."""
    missing = tmp_path / "dta"
    for name in ("cifar100", "fashion-mnist", "food101", "imagewoof"):
        with pytest.raises(FileNotFoundError, match="data directory .*dta does not exist"):
            load_dataset(name, data_dir=missing)
    assert not missing.exists()


def test_failed_fashion_mnist_download_leaves_nothing(tmp_path, monkeypatch):
    """Item 15: the real torchvision download, failing (nothing listens on port 9), removes what it made."""
    from torchvision.datasets import FashionMNIST

    from coreset_core.datasets import sources

    monkeypatch.setattr(sources, "FASHION_MNIST_DEBIAN_DIR", tmp_path / "no-debian-package")
    monkeypatch.setattr(FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])
    monkeypatch.setenv("CORESET_DOWNLOAD", "1")
    data = tmp_path / "data"
    data.mkdir()
    (data / "keep.txt").write_text("the user's own file")
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST.*could not download.*dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=data)
    assert [p.name for p in data.iterdir()] == ["keep.txt"]


def test_failed_download_into_missing_default_dir_removes_it(tmp_path, monkeypatch):
    """The default data dir (not given explicitly) may be created by a download, and is removed on failure."""
    from torchvision.datasets import CIFAR100

    import coreset_core.datasets as ds_mod

    target = tmp_path / "home" / ".cache" / "data"
    monkeypatch.delenv("CORESET_DATA_DIR", raising=False)
    monkeypatch.setattr(ds_mod, "default_data_dir", lambda: target)
    monkeypatch.setattr(CIFAR100, "url", "http://127.0.0.1:9/cifar-100-python.tar.gz")
    monkeypatch.setenv("CORESET_DOWNLOAD", "1")
    with pytest.raises(FileNotFoundError, match="cifar100.*could not download.*cifar-100-python"):
        load_dataset("cifar100")
    assert not (tmp_path / "home").exists()


def test_downloads_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv("CORESET_DOWNLOAD", "0")
    with pytest.raises(FileNotFoundError, match="downloads are switched off"):
        load_dataset("cifar100", data_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_a_mistyped_data_dir(tmp_path, capsys):
    from coreset_core.cli import main

    missing = tmp_path / "dta"
    assert main(["features", "--dataset", "cifar100", "--data-dir", str(missing)]) == 2
    assert "data directory" in capsys.readouterr().err and not missing.exists()
