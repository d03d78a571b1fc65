"""The stratified test split drawn for sources without an official one (image folders, embeddings files)."""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def per_class_test_counts(class_sizes: np.ndarray, fraction: float = TEST_FRACTION) -> np.ndarray:
    """Test samples per class: round(fraction * n_c), but always leaving at least one in train.

    A class with a single sample therefore stays whole in train (it is never moved to test).
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    wanted = np.floor(fraction * sizes + 0.5).astype(np.int64)
    return np.clip(wanted, 0, np.maximum(sizes - 1, 0))


def stratified_test_split(labels: np.ndarray, source: str, fraction: float = TEST_FRACTION,
                          seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows), sorted: a seeded per-class draw of `per_class_test_counts` rows per class.

    Never takes a whole class: every class keeps at least one training sample. Raises a
    ValueError naming `source` when no class has two samples (the test split would be empty).
    """
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(labels)
    counts = per_class_test_counts(sizes, fraction)
    if counts.sum() == 0:
        raise ValueError(
            f"{source} is too small for a test split: every class has fewer than 3 samples "
            f"(largest class: {int(sizes.max())}). Add samples, or provide an explicit test split "
            "(train/ and test/ folders, or an `is_test` column)"
        )
    singles = np.flatnonzero(sizes == 1)
    if singles.size:
        log.warning("%s: %d class(es) have a single sample and stay in train only (no test sample)",
                    source, singles.size)
    rng = np.random.default_rng(seed)
    test = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in enumerate(counts) if k > 0]
    is_test = np.zeros(labels.shape[0], dtype=bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
