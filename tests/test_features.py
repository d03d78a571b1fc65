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
