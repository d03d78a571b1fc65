"""The linear-probe protocol: train a linear head on (a coreset of) frozen features, test it.

This is the fast, CPU evaluation of a coreset (SPEC 8): the backbone stays frozen, its
cached features are the inputs, and only a linear classifier is trained (SGD, momentum
0.9, weight decay 5e-4, cosine to 1e-4, features standardised on the training rows).
`train_linear_probe` takes the trainers' common keyword arguments (`TRAINER_ARGS` in
`coreset_core.training`), as `finetune` does.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..validation import check_features, check_indices, check_label_ids
from .evaluate import classification_metrics
from .linear import (DEFAULT_BATCH_SIZE, DEFAULT_LR, MIN_LR, MOMENTUM, WEIGHT_DECAY, LinearHead, _fit_linear_head,
                     check_schedule, check_test_limit, weights_for_subset)


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
                       indices: Any = None, sample_weights: Any = None, epochs: int = 30, lr: float | None = None,
                       batch_size: int | None = None, seed: int = 0, device: str | None = None,
                       progress: bool = False, test_limit: int | None = None,
                       num_classes: int | None = None) -> ProbeResult:
    """Train a linear head on `train_features[indices]` (all rows by default) and test it.

    `sample_weights` (CW-ERM) holds one loss weight per training sample (or one per
    selected index); `lr` / `batch_size` None mean the protocol's defaults (0.01, 256);
    `device` None means the CPU; `test_limit` tests on the first N test rows only.
    `num_classes` defaults to the largest training label + 1 (`train_labels` is the whole
    training split, so a coreset that misses a class still gets a head over every class and
    scores 0 on it); test labels must lie in `0..num_classes-1`.
    """
    epochs, lr, batch_size = check_schedule(epochs, DEFAULT_LR if lr is None else lr,
                                            DEFAULT_BATCH_SIZE if batch_size is None else batch_size)
    device = "cpu" if device is None else str(device)
    y_train = check_label_ids(train_labels, num_classes=num_classes, name="train_labels")
    c = int(y_train.max()) + 1 if num_classes is None else int(num_classes)
    y_test = check_label_ids(test_labels, num_classes=c, name="test_labels")
    x_train = check_features(train_features, y_train.shape[0], name="train_features")
    x_test = check_features(test_features, y_test.shape[0], name="test_features")
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train features have {x_train.shape[1]} dims but test features {x_test.shape[1]}: "
                         "they must come from the same backbone")
    count = check_test_limit(test_limit, y_test.shape[0])
    n_total = y_train.shape[0]
    idx = None if indices is None else check_indices(indices, n_total)
    weights = weights_for_subset(sample_weights, n_total, idx)
    x_fit, y_fit = (x_train, y_train) if idx is None else (x_train[idx], y_train[idx])

    start = time.perf_counter()
    head = _fit_linear_head(x_fit, y_fit, c, weights, epochs=epochs, lr=lr, batch_size=batch_size,
                            momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, min_lr=MIN_LR, seed=int(seed),
                            device=device, epoch_callback=None, progress=progress)
    seconds = time.perf_counter() - start
    metrics = classification_metrics(y_test[:count], head.predict(x_test[:count]), num_classes=c)
    config = {"protocol": "linear_probe", "epochs": epochs, "lr": lr, "batch_size": batch_size,
              "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY, "min_lr": MIN_LR, "seed": int(seed),
              "num_train": int(y_fit.shape[0]), "num_test": count, "num_classes": c,
              "sample_weighted": weights is not None, "device": device, "test_limit": test_limit}
    return ProbeResult(metrics, seconds, config, head)
