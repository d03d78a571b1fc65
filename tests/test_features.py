"""Feature extraction on real CIFAR-10 images through the real pretrained backbone, and its cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from coreset_core.features import get_features

N_TRAIN, N_TEST = 200, 100


@pytest.fixture(scope="module")
def cifar_features(cifar10, session_cache_dir):
    train = get_features(cifar10, "train", limit=N_TRAIN, progress=False)
    test = get_features(cifar10, "test", limit=N_TEST, progress=False)
    return train, test


def test_features_match_an_independent_torchvision_pipeline(cifar10, cifar_features):
    """Image -> torchvision Resize(128, bicubic) -> Normalize(0.5, 0.5) -> model gives the same features."""
    from torchvision import transforms

    from coreset_core.backbones import load_backbone

    train, _ = cifar_features
    assert train.features.shape == (N_TRAIN, 1280) and train.features.dtype == np.float32
    model = load_backbone("efficientnet_lite0").model
    tf = transforms.Compose([
        transforms.Resize((128, 128), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.ToTensor(),
        transforms.Normalize((0.5,) * 3, (0.5,) * 3),
    ])
    idx = [0, 7, 199]
    x = torch.stack([tf(cifar10.train.image(i)) for i in idx])
    with torch.inference_mode():
        ref = model.forward_head(model.forward_features(x), pre_logits=True).numpy()
    np.testing.assert_allclose(train.features[idx], ref, rtol=1e-3, atol=1e-3)
    assert np.array_equal(train.labels, cifar10.train.labels[:N_TRAIN])


def test_features_are_discriminative(cifar_features):
    """Nearest-class-mean on real pretrained features is far above chance (10 %)."""
    train, test = cifar_features
    means = np.stack([train.features[train.labels == c].mean(0) for c in range(10)])
    pred = np.argmin(((test.features[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == test.labels).mean() > 0.5


def test_second_call_reads_the_cache(cifar10, cifar_features):
    again = get_features(cifar10, "train", limit=N_TRAIN, progress=False)
    assert again.from_cache and np.array_equal(again.features, cifar_features[0].features)


def test_truncated_cache_file_is_rebuilt(cifar10, cifar_features, session_cache_dir):
    first = get_features(cifar10, "test", limit=8, progress=False)
    first.path.write_bytes(first.path.read_bytes()[:500])
    rebuilt = get_features(cifar10, "test", limit=8, progress=False)
    assert not rebuilt.from_cache
    np.testing.assert_allclose(rebuilt.features, cifar_features[1].features[:8], rtol=1e-4, atol=1e-4)


def test_long_tailed_features_slice_the_base(cifar10, cifar_features):
    """A long-tailed subset with a limit maps to the right base images."""
    from coreset_core.datasets import load_dataset

    lt = load_dataset("cifar10-lt", imbalance=10)
    fs = get_features(lt, "train", limit=4, progress=False)
    assert np.array_equal(fs.labels, lt.train.labels[:4])
    base_pos = lt.base_train_positions[:4]
    inside = base_pos[base_pos < N_TRAIN]
    for p in inside:
        row = int(np.flatnonzero(base_pos == p)[0])
        np.testing.assert_allclose(fs.features[row], cifar_features[0].features[p], rtol=1e-4, atol=1e-4)


# -- sharded, resumable extraction (issue 13 item 2) and unwritable caches (issue 10 item 3) ---------------------

class _Stop(Exception):
    pass


@pytest.fixture(scope="module")
def digits():
    from coreset_core.datasets import load_dataset

    return load_dataset("digits")


SHARD_OPTS = dict(resolution=32, batch_size=4, limit=24, progress=False)


@pytest.fixture(scope="module")
def direct(digits):
    """An independent, unsharded extraction of the same 24 images with the same batches."""
    from coreset_core.backbones import load_backbone
    from coreset_core.features import extract

    return extract(digits.train, load_backbone("efficientnet_lite0"), resolution=32, count=24, batch_size=4,
                   progress=False)


def test_interrupted_extraction_resumes_after_the_last_shard(digits, direct, tmp_path):
    from coreset_core.features import SHARD_KIND

    computed = []

    def stop_after_two(start, stop):
        computed.append((start, stop))
        if len(computed) == 2:
            raise _Stop

    with pytest.raises(_Stop):
        get_features(digits, "train", cache_dir=tmp_path, shard_size=8, on_shard=stop_after_two, **SHARD_OPTS)
    assert computed == [(0, 8), (8, 16)]
    assert len(list((tmp_path / SHARD_KIND).glob("*.npz"))) == 2  # both finished shards were saved
    resumed = []
    fs = get_features(digits, "train", cache_dir=tmp_path, shard_size=8,
                      on_shard=lambda a, b: resumed.append((a, b)), **SHARD_OPTS)
    assert resumed == [(16, 24)]  # only the missing shard was computed
    assert not fs.from_cache and fs.cached
    whole = get_features(digits, "train", cache_dir=tmp_path / "other", shard_size=4096, **SHARD_OPTS)
    assert np.array_equal(fs.features, whole.features)  # bit for bit
    assert np.array_equal(fs.features, direct)
    assert list((tmp_path / SHARD_KIND).glob("*.npz")) == []  # shards are dropped once the whole entry is saved
    again = get_features(digits, "train", cache_dir=tmp_path, shard_size=8, **SHARD_OPTS)
    assert again.from_cache and np.array_equal(again.features, fs.features)


def test_extract_shard_hands_work_to_get_features(digits, direct, tmp_path):
    """A shard computed elsewhere (a worker) is found by get_features, which computes only the rest."""
    from coreset_core.features import extract_shard, shard_ranges

    assert shard_ranges(40, 16, 8) == [(0, 16), (16, 32), (32, 40)]
    assert shard_ranges(40, 10, 8) == [(0, 16), (16, 32), (32, 40)]  # rounded up to whole batches
    part = extract_shard(digits, "train", 8, 16, resolution=32, batch_size=4, cache_dir=tmp_path)
    assert part.shape == (8, 1280)
    computed = []
    fs = get_features(digits, "train", cache_dir=tmp_path, shard_size=8,
                      on_shard=lambda a, b: computed.append((a, b)), **SHARD_OPTS)
    assert computed == [(0, 8), (16, 24)]
    assert np.array_equal(fs.features[8:16], part)
    assert np.array_equal(fs.features, direct)
    with pytest.raises(ValueError, match="0 <= start < stop"):
        extract_shard(digits, "train", 30, 20, cache_dir=tmp_path)


def test_unwritable_cache_returns_the_features_with_a_warning(digits, direct, tmp_path):
    from coreset_core.features import CacheNotWrittenWarning

    blocked = tmp_path / "cache-is-a-file"
    blocked.write_text("not a directory")  # nothing can be created below it (holds for root too)
    with pytest.warns(CacheNotWrittenWarning, match="not writable.*NOT cached.*--cache-dir"):
        fs = get_features(digits, "train", cache_dir=blocked, shard_size=8, **SHARD_OPTS)
    assert not fs.cached
    assert np.array_equal(fs.features, direct)
    assert blocked.read_text() == "not a directory"


@pytest.mark.parametrize("kwargs, words", [
    (dict(limit=0), "limit must be"), (dict(limit=-5), "limit must be"), (dict(batch_size=0), "batch_size"),
    (dict(resolution=0), "resolution must be"), (dict(resolution=10_000), "resolution must be"),
])
def test_bad_extraction_arguments_fail_before_work(digits, tmp_path, kwargs, words):
    with pytest.raises(ValueError, match=words):
        get_features(digits, "train", cache_dir=tmp_path, progress=False, **kwargs)
    assert not (tmp_path / "features").exists()


# -- decoding overlapped with the forward pass (issue 23 item 4) ----------------------------------------------------

def test_overlapped_extraction_equals_a_plain_loop(digits, direct):
    """The background thread changes when a batch is prepared, not what: the same numbers as a plain
    loop that decodes, resizes, normalises and runs each batch in turn in this thread (23 images: a
    short last batch)."""
    from coreset_core.backbones import load_backbone
    from coreset_core.features import embed, extract, prepare_image, to_model_input

    model = load_backbone("efficientnet_lite0")
    model.model.to(memory_format=torch.channels_last)
    prep, split, rows = model.preprocessing, digits.train, []
    with torch.inference_mode():
        for first in range(0, 23, 4):
            batch = np.stack([prepare_image(split.image(i), 32, prep.interpolation, prep.crop_pct)
                              for i in range(first, min(first + 4, 23))])
            rows.append(embed(model, to_model_input(batch, model, "cpu")).float().numpy())
    plain = np.concatenate(rows)
    assert plain.shape == (23, 1280)
    overlapped = extract(split, model, resolution=32, count=23, batch_size=4, progress=False)
    assert np.array_equal(overlapped, plain)
    assert np.array_equal(overlapped[:20], direct[:20])


def test_an_interrupted_extraction_leaves_no_thread(digits):
    """Ctrl-C between batches (KeyboardInterrupt from the progress callback) ends the background thread
    before extract returns, and the progress counts every finished batch once."""
    import threading

    from coreset_core.backbones import load_backbone
    from coreset_core.features import PREPARE_THREAD, extract

    seen = []

    def interrupt(done, total):
        seen.append((done, total))
        if done == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract(digits.train, load_backbone("efficientnet_lite0"), resolution=32, count=24, batch_size=4,
                progress=False, on_progress=interrupt)
    assert seen == [(4, 24), (8, 24)]
    assert [t.name for t in threading.enumerate() if t.name.startswith(PREPARE_THREAD)] == []
