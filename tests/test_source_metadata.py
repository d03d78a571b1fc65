"""Corrupt metadata of the built-in sources: each message names the file and what was expected (issue 20).

The bad files are written here by hand (json, torch.save, raw bytes) into the sources' real
layouts, and the test checks that nothing in the data folder changed.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_dataset_sources import SPECIES, WNIDS, _write_food101, _write_imagenet, _write_inat

from coreset_core.datasets import load_dataset


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    monkeypatch.setenv("CORESET_DOWNLOAD", "0")


def _listing(root) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and mtime: what 'nothing on disk changed' compares."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _refused(root, name, error, *words):
    before = _listing(root)
    with pytest.raises(error) as info:
        load_dataset(name, data_dir=root)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert "Traceback" not in message and "allow_pickle" not in message
    assert _listing(root) == before
    return message


@pytest.mark.parametrize("content", [
    ["pizza/1", "sushi/2"],  # a list, not an object
    {"pizza": "pizza/1"},  # a string, not a list of image names
    {"pizza": [1, 2]},  # numbers, not image names
    {},  # no class at all
])
def test_food101_meta_json_of_the_wrong_structure(tmp_path, content):
    base = _write_food101(tmp_path)
    (base / "meta" / "train.json").write_text(json.dumps(content))
    _refused(tmp_path, "food101", ValueError, str(base / "meta" / "train.json"), "expected a JSON object mapping")


def test_food101_meta_json_truncated(tmp_path):
    base = _write_food101(tmp_path)
    meta = base / "meta" / "test.json"
    meta.write_bytes(meta.read_bytes()[:20])
    _refused(tmp_path, "food101", ValueError, str(meta), "not valid JSON")


def test_imagenet_meta_bin_random_bytes(tmp_path):
    base = _write_imagenet(tmp_path)
    (base / "meta.bin").write_bytes(np.random.default_rng(0).bytes(2048))
    _refused(tmp_path, "imagenet", ValueError, str(base / "meta.bin"), "is unreadable", "WordNet id")


@pytest.mark.parametrize("content", [
    lambda wnids, val: ({k: v[0] for k, v in wnids.items()}, val),  # names as str, not tuples (was accepted)
    lambda wnids, val: (wnids,),  # no validation list
    lambda wnids, val: [list(wnids), val],  # a list of wnids, not a mapping
])
def test_imagenet_meta_bin_of_the_wrong_structure(tmp_path, content):
    import torch

    base = _write_imagenet(tmp_path)
    _, val = torch.load(base / "meta.bin", weights_only=True)
    torch.save(content(dict(WNIDS), val), base / "meta.bin")
    _refused(tmp_path, "imagenet", ValueError, str(base / "meta.bin"), "expected structure", "WordNet id")


def test_imagenet_meta_bin_missing_a_class_folder(tmp_path):
    import torch

    base = _write_imagenet(tmp_path)
    _, val = torch.load(base / "meta.bin", weights_only=True)
    short = {k: v for k, v in WNIDS.items() if k != "n01443537"}
    torch.save((short, val), base / "meta.bin")
    _refused(tmp_path, "imagenet", ValueError, str(base / "meta.bin"), "n01443537")


def test_inat_stray_file_among_species_folders(tmp_path):
    _write_inat(tmp_path)
    (tmp_path / "2021_train_mini" / "notes.txt").write_text("downloaded on a Tuesday")
    _refused(tmp_path, "inat2021-mini", ValueError, str(tmp_path / "2021_train_mini"), "not in iNaturalist 2021 layout",
             "00000_")


def test_inat_species_numbering_gap(tmp_path):
    _write_inat(tmp_path)
    (tmp_path / "2021_valid" / SPECIES[1]).rename(tmp_path / "2021_valid" / SPECIES[1].replace("00001", "00007"))
    _refused(tmp_path, "inat2021-mini", ValueError, str(tmp_path / "2021_valid"), "numbered from 00000")


@pytest.mark.parametrize("name, archive", [("cifar10", "cifar10_jpeg.npz"), ("imagewoof", "imagewoof_128_jpeg.npz")])
def test_offline_archive_of_random_bytes_names_the_file(tmp_path, name, archive):
    (tmp_path / archive).write_bytes(np.random.default_rng(1).bytes(4096))
    _refused(tmp_path, name, ValueError, str(tmp_path / archive), "is not an image archive")


def test_offline_archive_missing_arrays(tmp_path):
    np.savez(tmp_path / "cifar10_jpeg.npz", data=np.zeros(3, np.uint8), labels=np.zeros(2, int))
    _refused(tmp_path, "cifar10", ValueError, str(tmp_path / "cifar10_jpeg.npz"), "lacks", "offsets")


def test_offline_archive_with_pickled_arrays(tmp_path):
    np.savez(tmp_path / "cifar10_jpeg.npz", data=np.zeros(3, np.uint8), offsets=np.array([0, 1, 3]),
             labels=np.zeros(2, int), is_test=np.zeros(2, bool), classes=np.array(["a", None], dtype=object))
    _refused(tmp_path, "cifar10", ValueError, str(tmp_path / "cifar10_jpeg.npz"), "holds Python objects")


@pytest.mark.skipif(__import__("torch").cuda.is_available(),
                    reason="a GPU is visible: cuda is allowed here")
def test_get_features_refuses_cuda_without_a_gpu(tmp_path):
    from coreset_core.features import get_features

    ds = load_dataset("digits")
    with pytest.raises(ValueError, match="no CUDA GPU is visible here; use --device cpu"):
        get_features(ds, "train", device="cuda", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
