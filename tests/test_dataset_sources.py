"""CIFAR-100, Food-101, iNaturalist 2021 mini and ImageNet: the real loaders on small fakes in each library's
own on-disk format (written here), with downloads off; ids checked against torchvision's own dataset objects."""
from __future__ import annotations

import hashlib
import json
import math
import pickle

import numpy as np
import pytest
from PIL import Image

from coreset_core.datasets import load_dataset


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    monkeypatch.setenv("CORESET_DOWNLOAD", "0")


def _same_images(split, tv_dataset, n_check=None):
    """Subset(tv_dataset, split.ids) yields exactly the split's images and labels, position by position."""
    from torch.utils.data import Subset

    sub = Subset(tv_dataset, split.ids.tolist())
    assert len(sub) == len(split)
    for i in range(len(split) if n_check is None else n_check):
        img, target = sub[i]
        assert np.array_equal(np.asarray(img.convert("RGB")), np.asarray(split.image(i))), i
        assert int(target) == int(split.labels[i]), i


def _jpeg(path, rng, size=(20, 14)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, quality=95)


# -- CIFAR-100 -----------------------------------------------------------------------------------------------

FINE = ["apple", "bee", "castle", "dolphin", "elephant"]


def _write_cifar100(root, per_class_train=12, per_class_test=4):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, per in (("train", per_class_train), ("test", per_class_test)):
        labels = rng.permutation(np.repeat(np.arange(len(FINE)), per)).tolist()
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({"filenames": [f"{i}.png" for i in range(len(labels))], "fine_labels": labels,
                         "coarse_labels": [0] * len(labels), "data": data}, fh)
    with open(folder / "meta", "wb") as fh:
        pickle.dump({"fine_label_names": FINE, "coarse_label_names": ["all"]}, fh)
    return folder


def _torchvision_cifar100(root, train):
    """torchvision's own CIFAR100 reading the fake (its md5 list replaced by the fake files' md5)."""
    from torchvision.datasets import CIFAR100

    folder = root / "cifar-100-python"

    def md5(name):
        return hashlib.md5((folder / name).read_bytes()).hexdigest()

    class FakeCIFAR100(CIFAR100):
        train_list = [["train", md5("train")]]
        test_list = [["test", md5("test")]]
        meta = {"filename": "meta", "key": "fine_label_names", "md5": md5("meta")}

    return FakeCIFAR100(str(root), train=train, download=False)


def test_cifar100_from_torchvision_pickles(tmp_path):
    _write_cifar100(tmp_path)
    ds = load_dataset("cifar100", data_dir=tmp_path)
    assert ds.class_names == FINE and ds.num_classes == 5
    assert len(ds.train) == 60 and len(ds.test) == 20
    assert ds.train.image(0).size == (32, 32) and ds.default_resolution == 128
    assert sorted(ds.train.ids.tolist()) == list(range(60))  # a permutation of torchvision's indices
    assert ds.train.ids.tolist() != list(range(60))  # presented in the fixed shuffled order
    _same_images(ds.train, _torchvision_cifar100(tmp_path, True))
    _same_images(ds.test, _torchvision_cifar100(tmp_path, False))


def test_cifar100_lt_uses_the_long_tail_wrapper(tmp_path):
    _write_cifar100(tmp_path)
    base = load_dataset("cifar100", data_dir=tmp_path)
    lt = load_dataset("cifar100-lt", data_dir=tmp_path, imbalance=5, seed=0)
    assert lt.class_sizes().tolist() == [math.floor(12 * 5 ** (-k / 4)) for k in range(5)]
    assert np.array_equal(lt.train.ids, base.train.ids[lt.base_train_positions])
    _same_images(lt.train, _torchvision_cifar100(tmp_path, True))


def test_cifar100_missing_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-100-python.*downloads are switched off.*--data-dir"):
        load_dataset("cifar100", data_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cifar100_truncated_pickle(tmp_path):
    folder = _write_cifar100(tmp_path)
    (folder / "train").write_bytes((folder / "train").read_bytes()[:1000])
    with pytest.raises(ValueError, match="unreadable or truncated.*download the dataset again"):
        load_dataset("cifar100", data_dir=tmp_path)


def test_failed_cifar100_download_leaves_no_folder(tmp_path, monkeypatch):
    """The real torchvision download, failing: the partial archive and folders it made are removed."""
    from torchvision.datasets import CIFAR100

    monkeypatch.setenv("CORESET_DOWNLOAD", "1")
    monkeypatch.setattr(CIFAR100, "url", "http://127.0.0.1:9/cifar-100-python.tar.gz")
    with pytest.raises(FileNotFoundError, match="could not download"):
        load_dataset("cifar100", data_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- Food-101 ------------------------------------------------------------------------------------------------

def _write_food101(root):
    base = root / "food-101"
    rng = np.random.default_rng(1)
    classes = ["pizza", "apple_pie", "sushi"]  # json key order is not sorted: torchvision keeps it
    meta = {"train": {}, "test": {}}
    for c in classes:
        ids = [f"{c}/{int(x)}" for x in rng.choice(10**6, 9, replace=False)]
        meta["train"][c], meta["test"][c] = ids[:6], ids[6:]
        for rel in ids:
            _jpeg(base / "images" / f"{rel}.jpg", rng, size=(int(rng.integers(10, 30)), 16))
    (base / "meta").mkdir(parents=True)
    for split in ("train", "test"):
        (base / "meta" / f"{split}.json").write_text(json.dumps(meta[split]))
    (base / "meta" / "classes.txt").write_text("\n".join(classes) + "\n")
    return base


def test_food101_in_torchvision_layout(tmp_path):
    from torchvision.datasets import Food101

    base = _write_food101(tmp_path)
    ds = load_dataset("food101", data_dir=tmp_path)
    assert ds.class_names == ["apple_pie", "pizza", "sushi"]
    assert len(ds.train) == 18 and len(ds.test) == 9
    for split in (ds.train, ds.test):
        for i in range(len(split)):  # paths are the decoded files, labels their class folder
            assert str(base / "images") in split.paths[i]
            assert ds.class_names[split.labels[i]] == split.paths[i].split("/")[-2]
            assert np.array_equal(np.asarray(Image.open(split.paths[i]).convert("RGB")), np.asarray(split.image(i)))
    _same_images(ds.train, Food101(str(tmp_path), split="train"))
    _same_images(ds.test, Food101(str(tmp_path), split="test"))


def test_food101_missing_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="Food-101.*switched off.*food-101.tar.gz"):
        load_dataset("food101", data_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- iNaturalist 2021 mini -----------------------------------------------------------------------------------

SPECIES = ["00000_Animalia_Arthropoda_Insecta_Coleoptera_Cleridae_Trichodes_ornatus",
           "00001_Animalia_Chordata_Aves_Passeriformes_Paridae_Parus_major",
           "00002_Plantae_Tracheophyta_Magnoliopsida_Rosales_Rosaceae_Rosa_canina"]


def _write_inat(root):
    rng = np.random.default_rng(2)
    for version, per in (("2021_train_mini", 5), ("2021_valid", 2)):
        for folder in SPECIES:
            for _ in range(per):
                _jpeg(root / version / folder / f"{rng.integers(10**8):08x}.jpg", rng)


def test_inat2021_mini_in_torchvision_layout(tmp_path):
    from torchvision.datasets import INaturalist

    _write_inat(tmp_path)
    ds = load_dataset("inat2021-mini", data_dir=tmp_path)
    assert ds.class_names == ["Trichodes ornatus", "Parus major", "Rosa canina"]
    assert len(ds.train) == 15 and len(ds.test) == 6
    assert all("2021_train_mini" in p for p in ds.train.paths) and all("2021_valid" in p for p in ds.test.paths)
    _same_images(ds.train, INaturalist(str(tmp_path), version="2021_train_mini"))
    _same_images(ds.test, INaturalist(str(tmp_path), version="2021_valid"))


def test_inat_missing_says_what_to_do_and_creates_nothing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(FileNotFoundError, match="iNaturalist 2021_train_mini.*switched off.*train_mini.tar.gz"):
        load_dataset("inat2021-mini", data_dir=data)
    assert list(data.iterdir()) == []


def test_failed_inat_download_leaves_nothing(tmp_path, monkeypatch):
    from torchvision.datasets import inaturalist

    monkeypatch.setenv("CORESET_DOWNLOAD", "1")
    monkeypatch.setitem(inaturalist.DATASET_URLS, "2021_train_mini", "http://127.0.0.1:9/train_mini.tar.gz")
    with pytest.raises(FileNotFoundError, match="could not download"):
        load_dataset("inat2021-mini", data_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_inat_bad_folder_name(tmp_path):
    _write_inat(tmp_path)
    (tmp_path / "2021_valid" / SPECIES[2]).rename(tmp_path / "2021_valid" / "rosa")
    with pytest.raises(ValueError, match="not in iNaturalist 2021 layout"):
        load_dataset("inat2021-mini", data_dir=tmp_path)


# -- ImageNet ------------------------------------------------------------------------------------------------

WNIDS = {"n01440764": ("tench", "Tinca tinca"), "n01443537": ("goldfish", "Carassius auratus"),
         "n02012849": ("crane",), "n03126707": ("crane",)}


def _write_imagenet(root):
    """torchvision ImageNet's prepared layout: meta.bin (wnid -> names, val wnids), train/<wnid>/, val/<wnid>/."""
    import torch

    base = root / "imagenet"
    rng = np.random.default_rng(3)
    val_wnids = []
    for wnid in WNIDS:
        for i in range(4):
            _jpeg(base / "train" / wnid / f"{wnid}_{i}.JPEG", rng)
        for i in range(2):
            _jpeg(base / "val" / wnid / f"ILSVRC2012_val_{len(val_wnids):08d}.JPEG", rng)
            val_wnids.append(wnid)
    torch.save((dict(WNIDS), val_wnids), base / "meta.bin")
    return base


def test_imagenet_from_local_root(tmp_path):
    from torchvision.datasets import ImageNet

    base = _write_imagenet(tmp_path)
    ds = load_dataset("imagenet", data_dir=tmp_path)
    assert ds.class_names == ["tench", "goldfish", "crane (n02012849)", "crane (n03126707)"]
    assert len(ds.train) == 16 and len(ds.test) == 8
    _same_images(ds.train, ImageNet(str(base), split="train"))
    _same_images(ds.test, ImageNet(str(base), split="val"))


def test_imagenet_missing_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no ImageNet folder.*ILSVRC2012_devkit_t12.tar.gz"):
        load_dataset("imagenet", data_dir=tmp_path)
    (tmp_path / "imagenet").mkdir()
    with pytest.raises(FileNotFoundError, match="incomplete.*ILSVRC2012_img_train.tar"):
        load_dataset("imagenet", data_dir=tmp_path)
    assert list((tmp_path / "imagenet").iterdir()) == []


def test_new_sources_are_registered():
    from coreset_core.datasets import list_datasets

    names = {d.name for d in list_datasets()}
    assert {"cifar100", "cifar100-lt", "food101", "inat2021-mini", "imagenet", "embeddings:<path>"} <= names
