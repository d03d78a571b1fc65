"""Per-sample difficulty scores from a short training run (SPEC 5), cached.

`compute_scores(features, labels)` trains a linear head (training/linear.py) on the frozen
backbone features for `epochs` epochs (default 3, as NUCS does for ResNet-18), once per
seed, and reads the head's logits on the whole training set at the end of every epoch.
From these checkpoints:

- `el2n`: `||softmax(z) - onehot(y)||_2`, averaged over the checkpoints and seeds;
- `grand`: the gradient norm of the loss w.r.t. the head's weight and bias,
  `||p - y|| * ||[x, 1]||` with `x` the standardised feature the head sees; same averaging;
- `aum`: the mean over the checkpoints of the margin `z_y - max_{j != y} z_j` (measured at
  epoch ends, not after every step), averaged over seeds; LOW = hard, see `difficulty`;
- `forgetting`: number of correct -> incorrect transitions between consecutive epoch-end
  checkpoints, averaged over seeds (so 0 or 1 per seed for 3 epochs);
- `moderate`: Euclidean distance of the (raw) feature to its class's coordinate-wise median.

`compute_scores_finetune(dataset)` gives the same five scores from full fine-tuning of the
backbone (GPU), reading the training-set logits after each epoch through `finetune`'s
epoch callback (GraNd there is the last layer's gradient norm).

`ScoreSet.difficulty(name)` returns the non-negative, higher-is-harder difficulty the
selection methods need: the score itself, except AUM which becomes `max(aum) - aum`.

Results are cached under `<cache>/scores/`, keyed by the identity of the features
(`cache_key`, e.g. `FeatureSet.key`), the training settings (epochs, seeds, lr, batch size,
optimizer constants) and the code version; without a `cache_key` nothing is cached.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from .. import cache
from ..validation import check_features
from .aum import aum_difficulty, margins
from .el2n import el2n, softmax
from .forgetting import forgetting_counts
from .grand import augmented_norms, grand_linear
from .moderate import class_medians, moderate_distance

log = logging.getLogger(__name__)

#: Every score `compute_scores` produces, in display order.
SCORE_NAMES: tuple[str, ...] = ("el2n", "aum", "forgetting", "grand", "moderate")
#: Scores where LOW means hard (converted by `ScoreSet.difficulty`).
SIGNED_SCORES = frozenset({"aum"})
#: Bumped when the score definitions change (part of every cache key, with CODE_VERSION).
SCORES_VERSION = "1"

__all__ = ["SCORE_NAMES", "ScoreSet", "EpochAccumulator", "compute_scores", "compute_scores_finetune",
           "aum_difficulty", "augmented_norms", "class_medians", "el2n", "forgetting_counts", "grand_linear",
           "margins", "moderate_distance", "softmax", "to_difficulty"]


def to_difficulty(name: str, values: np.ndarray) -> np.ndarray:
    """Non-negative difficulty (higher = harder) from a raw score: `max(s) - s` for AUM, else `s`."""
    v = np.asarray(values, dtype=np.float64)
    if name in SIGNED_SCORES:
        return aum_difficulty(v)
    return v.copy()


@dataclass
class ScoreSet:
    """Raw scores per name (float64, one per training sample) and the settings that made them.

    `config`: what determines the scores (source, epochs, seeds, lr, batch size, ...).
    `info`: how this instance was obtained (seconds, from_cache, cache path, the train
    accuracy of the head at each checkpoint per seed).
    """

    scores: dict[str, np.ndarray]
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.scores)

    def __len__(self) -> int:
        return int(next(iter(self.scores.values())).shape[0]) if self.scores else 0

    def raw(self, name: str) -> np.ndarray:
        """The score as computed (AUM: the mean margin, low = hard)."""
        if name not in self.scores:
            raise ValueError(f"unknown score {name!r}; available scores: {', '.join(self.scores)}")
        return self.scores[name]

    def difficulty(self, name: str = "el2n") -> np.ndarray:
        """Non-negative difficulty per sample, higher = harder (AUM: `max(aum) - aum`)."""
        return to_difficulty(name, self.raw(name))

    def class_means(self, labels: Any, num_classes: int | None = None) -> dict[str, np.ndarray]:
        """Mean difficulty of every class, for every score (NaN for an empty class)."""
        y = np.asarray(labels, dtype=np.int64)
        c = int(y.max()) + 1 if num_classes is None else int(num_classes)
        counts = np.bincount(y, minlength=c).astype(np.float64)
        out = {}
        for name in self.scores:
            sums = np.bincount(y, weights=self.difficulty(name), minlength=c)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return out


class EpochAccumulator:
    """Running sums of the per-checkpoint scores of one training run (one seed)."""

    def __init__(self, labels: np.ndarray):
        self.labels = np.asarray(labels, dtype=np.int64)
        n = self.labels.shape[0]
        self.el2n = np.zeros(n)
        self.grand = np.zeros(n)
        self.margin = np.zeros(n)
        self.forgotten = np.zeros(n, dtype=np.int64)
        self.previous: np.ndarray | None = None
        self.checkpoints = 0
        self.train_accuracy: list[float] = []

    def add(self, logits: np.ndarray, input_norms: np.ndarray) -> None:
        """Add one checkpoint: logits (N x C) and `||[x, 1]||` of the head's inputs (N,)."""
        logits = np.asarray(logits)
        if logits.shape[0] != self.labels.shape[0]:
            raise ValueError(f"logits have {logits.shape[0]} rows for {self.labels.shape[0]} labels")
        e = el2n(logits, self.labels)
        self.el2n += e
        self.grand += e * np.asarray(input_norms, dtype=np.float64)
        self.margin += margins(logits, self.labels)
        correct = np.argmax(logits, axis=1) == self.labels
        if self.previous is not None:
            self.forgotten += forgetting_counts(np.stack([self.previous, correct]))
        self.previous = correct
        self.checkpoints += 1
        self.train_accuracy.append(float(correct.mean()))

    def result(self) -> dict[str, np.ndarray]:
        """el2n, grand, aum (means over checkpoints) and forgetting (count) of this run."""
        if self.checkpoints == 0:
            raise RuntimeError("no checkpoint was added")
        k = float(self.checkpoints)
        return {"el2n": self.el2n / k, "grand": self.grand / k, "aum": self.margin / k,
                "forgetting": self.forgotten.astype(np.float64)}


def _check_seeds(seeds: Iterable[int] | int) -> tuple[int, ...]:
    out = (int(seeds),) if np.ndim(seeds) == 0 else tuple(int(s) for s in seeds)
    if not out:
        raise ValueError("seeds is empty: give at least one seed, e.g. seeds=(0,)")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds {out} repeat a value: repeated seeds give identical runs")
    return out


def _average(runs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.mean([r[name] for r in runs], axis=0) for name in runs[0]}


def _readable(cache_key: Any) -> dict[str, Any]:
    if isinstance(cache_key, dict):
        return {k: cache_key[k] for k in ("dataset", "split", "backbone") if k in cache_key}
    return {}


def _cached_scores(key: dict[str, Any] | None, compute: Callable[[], dict[str, np.ndarray]],
                   cache_dir: Any, refresh: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays from the cache or `compute()` (then stored); plus info (from_cache, path, seconds)."""
    start = time.perf_counter()
    required = SCORE_NAMES + ("train_accuracy",)
    if key is None:
        arrays = compute()
        return arrays, {"from_cache": False, "path": None, "seconds": time.perf_counter() - start}
    path = cache.entry_path("scores", key, cache_dir)
    hit = None if refresh else cache.load(path, key, required)
    if hit is not None:
        return hit, {"from_cache": True, "path": str(path), "seconds": time.perf_counter() - start}
    arrays = compute()
    cache.save(path, key, arrays)
    return arrays, {"from_cache": False, "path": str(path), "seconds": time.perf_counter() - start}


def _score_set(arrays: dict[str, np.ndarray], config: dict[str, Any], info: dict[str, Any]) -> ScoreSet:
    scores = {name: np.asarray(arrays[name], dtype=np.float64) for name in SCORE_NAMES}
    info = {**info, "train_accuracy": np.asarray(arrays["train_accuracy"]).tolist()}
    return ScoreSet(scores, config, info)


def compute_scores(features: Any, labels: Any, *, epochs: int = 3, seeds: Iterable[int] | int = (0,),
                   lr: float | None = None, batch_size: int | None = None, device: str = "cpu",
                   cache_key: Any = None, cache_dir: str | os.PathLike | None = None, progress: bool = True,
                   num_classes: int | None = None, refresh: bool = False,
                   on_progress: Callable[[float], None] | None = None) -> ScoreSet:
    """The five difficulty scores of every training sample from a linear head on frozen features.

    `features` (N x d) and `labels` (N) are the whole training set; `epochs` is the length
    of each run (one checkpoint per epoch end), `seeds` the runs averaged. `lr` and
    `batch_size` default to the linear probe's. `cache_key` identifies the features (pass
    `FeatureSet.key`); with it, results are cached under `cache_dir` (default cache).
    `on_progress(fraction)` is called after every epoch of every seed.
    """
    from ..training.linear import (DEFAULT_BATCH_SIZE, DEFAULT_LR, MIN_LR, MOMENTUM, WEIGHT_DECAY,
                                   as_label_array, fit_linear_head, standardization)

    y = as_label_array(labels)
    n = y.shape[0]
    feats = check_features(features, n)
    c = int(y.max()) + 1 if num_classes is None else int(num_classes)
    seeds = _check_seeds(seeds)
    if int(epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    config = {"source": "linear-head", "epochs": int(epochs), "seeds": list(seeds),
              "lr": float(DEFAULT_LR if lr is None else lr),
              "batch_size": int(DEFAULT_BATCH_SIZE if batch_size is None else batch_size),
              "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY, "min_lr": MIN_LR, "num_samples": n,
              "num_classes": c, "scores_version": SCORES_VERSION}
    key = None if cache_key is None else {"kind": "scores", **_readable(cache_key), "features": cache_key,
                                         **config}

    def compute() -> dict[str, np.ndarray]:
        mean, std = standardization(feats)
        norms = np.concatenate([augmented_norms((feats[s:s + 8192] - mean) / std) for s in range(0, n, 8192)])
        runs, accuracy = [], []
        total = len(seeds) * config["epochs"]
        for i, seed in enumerate(seeds):
            acc = EpochAccumulator(y)

            def on_epoch(end, acc=acc, i=i) -> None:
                acc.add(end.logits, norms)
                if on_progress is not None:
                    on_progress((i * config["epochs"] + end.epoch) / total)

            fit_linear_head(feats, y, num_classes=c, epochs=config["epochs"], lr=config["lr"],
                            batch_size=config["batch_size"], seed=seed, device=device, epoch_callback=on_epoch,
                            progress=progress)
            runs.append(acc.result())
            accuracy.append(acc.train_accuracy)
        arrays = _average(runs)
        arrays["moderate"] = moderate_distance(feats, y)
        arrays["train_accuracy"] = np.asarray(accuracy, dtype=np.float64)
        return arrays

    arrays, info = _cached_scores(key, compute, cache_dir, refresh)
    if on_progress is not None and info["from_cache"]:
        on_progress(1.0)
    return _score_set(arrays, config, info)


def compute_scores_finetune(dataset: Any, *, backbone: str = "efficientnet_lite0", resolution: int | None = None,
                            limit: int | None = None, epochs: int = 3, seeds: Iterable[int] | int = (0,),
                            lr: float = 5e-3, batch_size: int = 64, device: str | None = None,
                            cache_dir: str | os.PathLike | None = None, progress: bool = True,
                            refresh: bool = False, num_workers: int | None = None,
                            on_progress: Callable[[float], None] | None = None) -> ScoreSet:
    """The five scores from full fine-tuning of `backbone` on the training images (GPU path).

    Each seed fine-tunes for `epochs` (cosine schedule over those epochs, the paper's
    optimizer) and reads the training-set logits and pre-logit features after each epoch
    (eval mode, no augmentation). `limit` uses the first N training images, like
    `get_features`. Moderate distance uses the frozen pretrained features.
    """
    from ..features import get_features
    from ..training.finetune import finetune, resolve_device

    seeds = _check_seeds(seeds)
    if int(epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    device = resolve_device(device)
    resolution = int(resolution or dataset.default_resolution)
    n_total = len(dataset.train)
    n = n_total if limit is None else min(int(limit), n_total)
    idx = np.arange(n, dtype=np.int64)
    y = dataset.train.labels[:n].astype(np.int64)
    config = {"source": "finetune", "epochs": int(epochs), "seeds": list(seeds), "lr": float(lr),
              "batch_size": int(batch_size), "momentum": 0.9, "weight_decay": 5e-4, "min_lr": 1e-4,
              "augment": True, "num_samples": n, "num_classes": dataset.num_classes,
              "scores_version": SCORES_VERSION}
    key = {"kind": "scores", "dataset": dataset.identity, "split": "train", "backbone": backbone,
           "resolution": resolution, "limit": None if n == n_total else n, **config}

    def compute() -> dict[str, np.ndarray]:
        runs, accuracy = [], []
        total = len(seeds) * config["epochs"]
        for i, seed in enumerate(seeds):
            acc = EpochAccumulator(y)

            def on_epoch(ep, acc=acc, i=i) -> None:
                logits, feat_norms = ep.train_outputs()
                acc.add(logits, np.sqrt(feat_norms.astype(np.float64) ** 2 + 1.0))
                if on_progress is not None:
                    on_progress((i * config["epochs"] + ep.epoch) / total)

            finetune(dataset, None if n == n_total else idx, backbone=backbone, resolution=resolution,
                     epochs=config["epochs"], lr=config["lr"], batch_size=config["batch_size"], seed=seed,
                     device=device, progress=progress, epoch_callback=on_epoch, evaluate=False,
                     num_workers=num_workers)
            runs.append(acc.result())
            accuracy.append(acc.train_accuracy)
        arrays = _average(runs)
        frozen = get_features(dataset, "train", backbone=backbone, resolution=resolution, device=device,
                              limit=None if n == n_total else n, cache_dir=cache_dir, progress=progress)
        arrays["moderate"] = moderate_distance(frozen.features, y)
        arrays["train_accuracy"] = np.asarray(accuracy, dtype=np.float64)
        return arrays

    arrays, info = _cached_scores(key, compute, cache_dir, refresh)
    if on_progress is not None and info["from_cache"]:
        on_progress(1.0)
    return _score_set(arrays, {**config, "backbone": backbone, "resolution": resolution}, info)
