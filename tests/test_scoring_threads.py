"""The scoring head's CPU threads: one for small heads, a measured choice for large ones, and the same
head whichever is chosen (the choice must not change any score)."""
from __future__ import annotations

import os

import numpy as np
import torch

from coreset_core.scores import compute as C
from coreset_core.training.linear import fit_linear_head


def test_small_heads_train_on_one_thread_and_large_ones_on_a_measured_choice():
    assert C.head_threads(256, 64, 10) == 1  # 164k multiply-adds per step: far below PARALLEL_HEAD_MACS
    before = torch.get_num_threads()
    chosen = C.head_threads(256, 512, 1000)  # 131M per step
    assert chosen in {1, os.cpu_count()}
    assert torch.get_num_threads() == before  # the measurement restores torch's setting


def test_the_head_is_the_same_on_one_thread_and_on_every_core():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 50, 3000)
    feats = (rng.standard_normal((50, 128))[labels] + rng.standard_normal((3000, 128))).astype(np.float32)
    logits = {}
    for threads in (1, os.cpu_count() or 1):
        head = fit_linear_head(feats, labels, num_classes=50, epochs=2, seed=3, threads=threads)
        logits[threads] = head.logits(feats)
    one, every = logits.values()
    np.testing.assert_allclose(every, one, rtol=1e-5, atol=1e-5)
    assert (np.argmax(every, 1) == np.argmax(one, 1)).mean() > 0.999
