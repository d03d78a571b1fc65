"""The linear-probe protocol: train a linear head on (a coreset of) frozen features, test it.

This is the fast, CPU evaluation of a coreset (SPEC 8): the backbone stays frozen, its
cached features are the inputs, and only a linear classifier is trained (SGD, momentum
0.9, weight decay 5e-4, cosine to 1e-4, features standardised on the training rows).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..validation import check_features
from .evaluate import classification_metrics
from .linear import (DEFAULT_BATCH_SIZE, DEFAULT_LR, MIN_LR, MOMENTUM, WEIGHT_DECAY, LinearHead, as_label_array,
                     check_indices, fit_linear_head, weights_for_subset)


@dataclass
class ProbeResult:
    """Test metrics of one linear probe run.

    `metrics`: `accuracy`, `balanced_accuracy`, `per_class_accuracy` (list, one per class,
    None for a class absent from the test set), `num_samples` (test). `config`: every
    setting of the run (epochs, lr, batch size, seed, number of training rows, ...).
    """

    metrics: dict[str, Any]
    train_seconds: float
    config: dict[str, Any]
    head: LinearHead | None = field(default=None, repr=False)


def train_linear_probe(train_features: Any, train_labels: Any, test_features: Any, test_labels: Any, *,
                       indices: Any = None, sample_weights: Any = None, epochs: int = 30,
                       lr: float | None = DEFAULT_LR, batch_size: int | None = DEFAULT_BATCH_SIZE, seed: int = 0,
                       device: str = "cpu", num_classes: int | None = None, progress: bool = False) -> ProbeResult:
    """Train a linear head on `train_features[indices]` (all rows by default) and test it.

    `sample_weights` (CW-ERM) holds one loss weight per training sample (or one per
    selected index); `lr` / `batch_size` None mean the defaults. `num_classes` defaults to
    the largest label of either split + 1, so a coreset that misses a class still gets a
    head over every class (and scores 0 on it).
    """
    lr = DEFAULT_LR if lr is None else lr
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    y_train = as_label_array(train_labels)
    y_test = as_label_array(test_labels)
    x_train = check_features(train_features, y_train.shape[0], name="train_features")
    x_test = check_features(test_features, y_test.shape[0], name="test_features")
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train features have {x_train.shape[1]} dims but test features {x_test.shape[1]}: "
                         "they must come from the same backbone")
    c = int(max(y_train.max(), y_test.max())) + 1 if num_classes is None else int(num_classes)
    n_total = y_train.shape[0]
    idx = None if indices is None else check_indices(indices, n_total)
    weights = weights_for_subset(sample_weights, n_total, idx)
    x_fit, y_fit = (x_train, y_train) if idx is None else (x_train[idx], y_train[idx])

    start = time.perf_counter()
    head = fit_linear_head(x_fit, y_fit, num_classes=c, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                           sample_weights=weights, device=device, progress=progress)
    seconds = time.perf_counter() - start
    metrics = classification_metrics(y_test, head.predict(x_test), num_classes=c)
    config = {"protocol": "linear_probe", "epochs": int(epochs), "lr": float(lr), "batch_size": int(batch_size),
              "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY, "min_lr": MIN_LR, "seed": int(seed),
              "num_train": int(y_fit.shape[0]), "num_test": int(y_test.shape[0]), "num_classes": c,
              "sample_weighted": weights is not None, "device": device}
    return ProbeResult(metrics, seconds, config, head)
