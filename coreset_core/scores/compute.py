"""Computing the scores: one seed loop over a trainer's epoch-end checkpoints, a step floor, a cache.

Both score sources (a linear head on frozen features, full fine-tuning) run the same loop
(`_seed_runs`): train once per seed, hand every epoch-end checkpoint (logits on the whole
training set and the norms of the head's inputs) to an `EpochAccumulator`, average the
per-seed results, keep the head's train accuracy at each checkpoint.

Step floor: a short run is measured in epochs, but what trains the head is the number of
optimiser steps. 3 epochs at batch 256 is 588 steps on 50,000 samples but 3 steps on 240,
which left the head near chance. Every run therefore lasts at least `min_steps` steps:
`effective_epochs = max(epochs, ceil(min_steps / ceil(n / batch_size)))`. The config (and
the cache key) records the requested epochs, min_steps, effective_epochs, steps_per_epoch
and steps.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, Iterable

import numpy as np

from .. import cache
from ..row_blocks import row_blocks
from ..validation import check_features, check_label_ids
from .aum import margins
from .el2n import el2n
from .forgetting import forgetting_counts
from .grand import augmented_norms
from .moderate import moderate_distance
from .scoreset import SCORE_NAMES, ScoreSet

#: Bumped when the score definitions change (part of every cache key, with CODE_VERSION).
#: 2: runs last at least `min_steps` optimiser steps.
SCORES_VERSION = "2"
#: Default floor on the optimiser steps of a score run. Measured on 240 images (24 per class)
#: of scikit-learn digits (64 raw pixel features), linear head at lr 0.01, batch 256, train
#: accuracy over seeds 0-2: 3 steps 9-18 %, 30 steps 77-83 %, 100 steps 95-96 %, 200 steps
#: 97 %; on an image folder of 240 CIFAR-10 files (190 training images, EfficientNet-Lite0
#: features) 3 steps 31 %, 30 steps 99.8 %, 200 steps 100 %. Spearman correlation of the
#: class-mean EL2N with a 1000-step run: 3 steps 0.15 (digits) / 0.39 (folder), 200 steps
#: 0.96 / 1.00. Large sets are not affected (CIFAR-10: 3 epochs are already 588 steps).
DEFAULT_MIN_STEPS = 200

#: Per-step multiply-adds (batch x d x C) from which the scoring head trains on every core: below it
#: a step's products are too small to share (torch's OpenMP threads then cost more than they save).
#: Measured on this project's shared 2-core machine, one pass of 256-row steps over 20,000 x 512
#: rows, 1 vs 2 threads: C = 10 0.06 vs 1.9 s, C = 100 0.13 vs 3.0 s, C = 1,000 3.2 vs 6.7-8.5 s
#: with the load average at 19 (other jobs: spinning threads collapse), hence `head_threads` times
#: both before it chooses.
PARALLEL_HEAD_MACS = 1 << 24
#: float64 elements of one block of the per-checkpoint score computation (32 MB)
_BLOCK_FLOATS = 1 << 22
#: `record(epoch, logits, input_norms)`: what a trainer calls at every epoch end.
Recorder = Callable[[int, np.ndarray, np.ndarray], None]


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
        step = max(1, _BLOCK_FLOATS // max(1, logits.shape[1]))
        self.add_blocks(((s, logits[s:s + step]) for s in range(0, logits.shape[0], step)), input_norms)

    def add_blocks(self, blocks, input_norms: np.ndarray) -> None:
        """Add one checkpoint given as `(start, logits of rows start:start+k)` blocks covering every row."""
        norms = np.asarray(input_norms, dtype=np.float64)
        correct = np.zeros(self.labels.shape[0], dtype=bool)
        covered = 0
        for s, block in blocks:
            e_ = s + block.shape[0]
            lab = self.labels[s:e_]
            e = el2n(block, lab)
            self.el2n[s:e_] += e
            self.grand[s:e_] += e * norms[s:e_]
            self.margin[s:e_] += margins(block, lab)
            correct[s:e_] = np.argmax(block, axis=1) == lab
            covered += block.shape[0]
        if covered != self.labels.shape[0]:
            raise ValueError(f"logit blocks covered {covered} rows for {self.labels.shape[0]} labels")
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


def head_threads(batch_size: int, d: int, c: int) -> int:
    """torch threads for training the scoring head on the CPU: one for small heads (`PARALLEL_HEAD_MACS`),
    else whichever of one thread and every core runs a few steps of this shape faster, timed here.

    Every core wins on idle cores; when other jobs hold the cores, OpenMP's spinning threads
    collapse (up to 20x slower), so the choice is measured, not assumed (~0.1-0.5 s).
    """
    import torch

    cores = os.cpu_count() or 1
    if batch_size * d * c < PARALLEL_HEAD_MACS or cores == 1:
        return 1
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(batch_size, d, generator=gen), torch.randn(c, d, generator=gen)
    previous, best = torch.get_num_threads(), {}
    try:
        for threads in (1, cores, 1, cores):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            for _ in range(4):  # a step's products: logits, weight gradient, input-side product
                g = x @ w.T
                g.T @ x
                g @ w
            best[threads] = min(best.get(threads, np.inf), time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return cores if best[cores] < 0.8 * best[1] else 1


def check_seeds(seeds: Iterable[int] | int) -> tuple[int, ...]:
    """Score-run seeds as a non-empty tuple of distinct ints."""
    out = (int(seeds),) if np.ndim(seeds) == 0 else tuple(int(s) for s in seeds)
    if not out:
        raise ValueError("seeds is empty: give at least one seed, e.g. seeds=(0,)")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds {out} repeat a value: repeated seeds give identical runs")
    return out


def run_length(n: int, batch_size: int, epochs: int, min_steps: int) -> dict[str, int]:
    """The schedule fields of a score config: epochs, min_steps, effective_epochs, steps_per_epoch, steps."""
    if int(epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if int(min_steps) < 0:
        raise ValueError(f"min_steps must be >= 0 (0 = no floor), got {min_steps}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    per_epoch = math.ceil(int(n) / int(batch_size))
    effective = max(int(epochs), math.ceil(int(min_steps) / per_epoch))
    return {"epochs": int(epochs), "min_steps": int(min_steps), "effective_epochs": effective,
            "steps_per_epoch": per_epoch, "steps": effective * per_epoch}


def scoring_work(n: int, d: int, c: int, epochs: int, seeds: int):
    """The estimated work (`methods.cost.Cost`) of `compute_scores` on `n` x `d` features and `c`
    classes at the default batch size and step floor: what the cost checks and the studio's gates use."""
    from ..methods.cost import scoring_cost
    from ..training.linear import DEFAULT_BATCH_SIZE

    plan = run_length(n, DEFAULT_BATCH_SIZE, epochs, DEFAULT_MIN_STEPS)
    return scoring_cost(n, d, c, plan["steps"], plan["effective_epochs"], seeds, DEFAULT_BATCH_SIZE)


def _seed_runs(labels: np.ndarray, seeds: tuple[int, ...], epochs: int, train: Callable[[int, Recorder], None],
               on_progress: Callable[[float], None] | None) -> dict[str, np.ndarray]:
    """Run `train(seed, record)` per seed; the per-seed scores averaged plus `train_accuracy` (seeds x epochs)."""
    runs, accuracy = [], []
    total = len(seeds) * epochs
    for i, seed in enumerate(seeds):
        acc = EpochAccumulator(labels)

        def record(epoch: int, logits, input_norms: np.ndarray, acc=acc, i=i) -> None:
            if isinstance(logits, np.ndarray):
                acc.add(logits, input_norms)
            else:  # an iterable of (start, block)
                acc.add_blocks(logits, input_norms)
            if on_progress is not None:
                on_progress((i * epochs + epoch) / total)

        train(seed, record)
        if acc.checkpoints != epochs:
            raise RuntimeError(f"the trainer reported {acc.checkpoints} epoch ends for {epochs} epochs")
        runs.append(acc.result())
        accuracy.append(acc.train_accuracy)
    arrays = {name: np.mean([r[name] for r in runs], axis=0) for name in runs[0]}
    arrays["train_accuracy"] = np.asarray(accuracy, dtype=np.float64)
    return arrays


def _readable(cache_key: Any) -> dict[str, Any]:
    if isinstance(cache_key, dict):
        return {k: cache_key[k] for k in ("dataset", "split", "backbone") if k in cache_key}
    return {}


def _cached_score_set(key: dict[str, Any] | None, compute: Callable[[], dict[str, np.ndarray]], config: dict[str, Any],
                      cache_dir: Any, refresh: bool, on_progress: Callable[[float], None] | None) -> ScoreSet:
    """The ScoreSet from the cache or `compute()` (then stored); info holds from_cache, path, seconds."""
    start = time.perf_counter()
    path, arrays, hit = None, None, False
    if key is not None:
        path = cache.entry_path("scores", key, cache_dir)
        arrays = None if refresh else cache.load(path, key, SCORE_NAMES + ("train_accuracy",))
        hit = arrays is not None
    if arrays is None:
        arrays = compute()
        if path is not None:
            cache.save(path, key, arrays)
    elif on_progress is not None:
        on_progress(1.0)
    accuracy = np.asarray(arrays["train_accuracy"], dtype=np.float64)
    info = {"from_cache": hit, "path": None if path is None else str(path),
            "seconds": time.perf_counter() - start, "train_accuracy": accuracy.tolist()}
    scores = {name: np.asarray(arrays[name], dtype=np.float64) for name in SCORE_NAMES}
    return ScoreSet(scores, config, info, accuracy)


def compute_scores(features: Any, labels: Any, *, epochs: int = 3, min_steps: int = DEFAULT_MIN_STEPS,
                   seeds: Iterable[int] | int = (0,), lr: float | None = None, batch_size: int | None = None,
                   device: str = "cpu", cache_key: Any = None, cache_dir: str | os.PathLike | None = None,
                   progress: bool = True, num_classes: int | None = None, refresh: bool = False,
                   on_progress: Callable[[float], None] | None = None) -> ScoreSet:
    """The five difficulty scores of every training sample from a linear head on frozen features.

    `features` (N x d) and `labels` (N) are the whole training set; each seed's run lasts
    `epochs`, or longer to reach `min_steps` optimiser steps (one checkpoint per epoch end);
    `seeds` are the runs averaged. `lr` and `batch_size` default to the linear probe's.
    `cache_key` identifies the features (pass `FeatureSet.key`); with it, results are cached
    under `cache_dir` (default cache). `on_progress(fraction)` is called after every epoch.
    """
    from ..training.linear import (DEFAULT_BATCH_SIZE, DEFAULT_LR, MIN_LR, MOMENTUM, WEIGHT_DECAY,
                                   _fit_linear_head, check_schedule, standardization)

    y = check_label_ids(labels, num_classes=num_classes)
    n = y.shape[0]
    feats = check_features(features, n)  # once: the head below trusts it (a full pass over N x d)
    c = int(y.max()) + 1 if num_classes is None else int(num_classes)
    seeds = check_seeds(seeds)
    _, lr, batch_size = check_schedule(epochs, DEFAULT_LR if lr is None else lr,
                                       DEFAULT_BATCH_SIZE if batch_size is None else batch_size)
    config = {"source": "linear-head", **run_length(n, batch_size, epochs, min_steps), "seeds": list(seeds),
              "lr": lr, "batch_size": batch_size, "momentum": MOMENTUM,
              "weight_decay": WEIGHT_DECAY, "min_lr": MIN_LR, "num_samples": n, "num_classes": c,
              "scores_version": SCORES_VERSION}
    key = None if cache_key is None else {"kind": "scores", **_readable(cache_key), "features": cache_key,
                                         **config}

    def compute() -> dict[str, np.ndarray]:
        mean, std = standardization(feats)
        norms = np.concatenate([augmented_norms((block - mean) / std) for _, block in row_blocks(feats, 8192)])

        def train(seed: int, record: Recorder) -> None:
            _fit_linear_head(feats, y, c, None, epochs=config["effective_epochs"], lr=lr, batch_size=batch_size,
                             momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, min_lr=MIN_LR, seed=seed, device=device,
                             epoch_callback=lambda end: record(end.epoch, end.logit_blocks(), norms),
                             progress=progress, threads=head_threads(batch_size, feats.shape[1], c))

        arrays = _seed_runs(y, seeds, config["effective_epochs"], train, on_progress)
        arrays["moderate"] = moderate_distance(feats, y)
        return arrays

    return _cached_score_set(key, compute, config, cache_dir, refresh, on_progress)


def compute_scores_finetune(dataset: Any, *, backbone: str = "efficientnet_lite0", resolution: int | None = None,
                            limit: int | None = None, epochs: int = 3, min_steps: int = DEFAULT_MIN_STEPS,
                            seeds: Iterable[int] | int = (0,), lr: float = 5e-3, batch_size: int = 64,
                            device: str | None = None, cache_dir: str | os.PathLike | None = None,
                            progress: bool = True, refresh: bool = False, num_workers: int | None = None,
                            on_progress: Callable[[float], None] | None = None) -> ScoreSet:
    """The five scores from full fine-tuning of `backbone` on the training images (GPU path).

    Each seed fine-tunes for `epochs` (or longer to reach `min_steps` steps; cosine schedule
    over the run, the paper's lr 5e-3 and batch 64 by default, SPEC 8; momentum, weight decay
    and the final lr are the linear head's, the same values) and reads the training-set
    logits and pre-logit feature norms after each epoch (eval mode, no augmentation).
    `limit` uses the first N training images, like `get_features`. Moderate distance uses
    the frozen pretrained features.
    """
    from ..features import get_features
    from ..training.finetune import finetune, resolve_device
    from ..training.linear import MIN_LR, MOMENTUM, WEIGHT_DECAY

    seeds = check_seeds(seeds)
    device = resolve_device(device)
    resolution = int(resolution or dataset.default_resolution)
    n_total = len(dataset.train)
    n = n_total if limit is None else min(int(limit), n_total)
    idx = np.arange(n, dtype=np.int64)
    y = dataset.train.labels[:n].astype(np.int64)
    config = {"source": "finetune", **run_length(n, batch_size, epochs, min_steps), "seeds": list(seeds),
              "lr": float(lr), "batch_size": int(batch_size), "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY,
              "min_lr": MIN_LR, "augment": True, "num_samples": n, "num_classes": dataset.num_classes,
              "scores_version": SCORES_VERSION}
    key = {"kind": "scores", "dataset": dataset.identity, "split": "train", "backbone": backbone,
           "resolution": resolution, "limit": None if n == n_total else n, **config}

    def compute() -> dict[str, np.ndarray]:
        def train(seed: int, record: Recorder) -> None:
            def on_epoch(ep: Any) -> None:
                logits, feat_norms = ep.train_outputs()
                record(ep.epoch, logits, np.sqrt(feat_norms.astype(np.float64) ** 2 + 1.0))

            finetune(dataset, None if n == n_total else idx, backbone=backbone, resolution=resolution,
                     epochs=config["effective_epochs"], lr=config["lr"], batch_size=config["batch_size"],
                     momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, min_lr=MIN_LR, seed=seed, device=device,
                     progress=progress, epoch_callback=on_epoch, evaluate=False, num_workers=num_workers)

        arrays = _seed_runs(y, seeds, config["effective_epochs"], train, on_progress)
        frozen = get_features(dataset, "train", backbone=backbone, resolution=resolution, device=device,
                              limit=None if n == n_total else n, cache_dir=cache_dir, progress=progress)
        arrays["moderate"] = moderate_distance(frozen.features, y)
        return arrays

    return _cached_score_set(key, compute, {**config, "backbone": backbone, "resolution": resolution},
                             cache_dir, refresh, on_progress)
