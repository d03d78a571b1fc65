"""A linear classification head trained on frozen feature vectors (torch, CPU by default).

The protocol (SPEC 8, linear probe): SGD with momentum 0.9 and weight decay 5e-4 (on the
weight and the bias), mini-batches, a cosine learning-rate schedule from `lr` down to
`min_lr = 1e-4` over all optimisation steps (updated every step, so a 3-epoch score run
anneals as smoothly as a 30-epoch probe), cross-entropy loss, optionally weighted per
sample (CW-ERM reweighting: the batch loss is `mean(w_i * ce_i)`, so all-ones weights are
the plain loss).

Features are standardised with the training set's per-dimension mean and standard
deviation (dimensions with a standard deviation below 1e-6 are only centred); the head
stores both, so `LinearHead.logits(raw_features)` applies the same transform to new data.

`epoch_callback(EpochEnd)` is called after every epoch with the logits of the head on the
whole training set (every row of `features`, in order, no shuffling) at that moment; the
difficulty scores (EL2N, AUM, forgetting, GraNd) are computed from these.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from ..validation import check_features

#: Default learning rate of the head on standardised EfficientNet-Lite features. Chosen on
#: CIFAR-10 (efficientnet_lite0, 128 px, 30 epochs, batch 256, 1,000 test images): 3,000
#: training samples reach 75.3 / 75.1 / 74.7 / 74.3 / 73.4 / 71.4 % test accuracy at lr
#: 0.001 / 0.003 / 0.01 / 0.03 / 0.1 / 0.3, a 300-sample subset 59.3 / 65.2 / 66.3 / 66.4 /
#: 63.8 / 61.3 %; 0.01 is within a point of the best at both sizes.
DEFAULT_LR = 0.01
DEFAULT_BATCH_SIZE = 256
MIN_LR = 1e-4
#: torch intra-op threads used while training on the CPU (see `cpu_threads`).
CPU_THREADS = 1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


@dataclass
class LinearHead:
    """A trained head: `logits = ((f - mean) / std) @ weight.T + bias` (all float32 numpy)."""

    weight: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)
    #: One dict per epoch: epoch, train_loss (mean weighted loss over its batches), lr (last step).
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return int(self.weight.shape[0])

    def standardize(self, features: Any) -> np.ndarray:
        """The inputs the head sees: `(features - mean) / std`, float32."""
        f = np.asarray(features, dtype=np.float32)
        return (f - self.mean) / self.std

    def logits(self, features: Any, batch_size: int = 16384) -> np.ndarray:
        """Logits (samples x classes, float32) of raw (unstandardised) features."""
        f = np.asarray(features)
        out = np.empty((f.shape[0], self.num_classes), dtype=np.float32)
        for start in range(0, f.shape[0], batch_size):
            x = self.standardize(f[start:start + batch_size])
            out[start:start + batch_size] = x @ self.weight.T + self.bias
        return out

    def predict(self, features: Any) -> np.ndarray:
        """Predicted class ids of raw features."""
        return np.argmax(self.logits(features), axis=1).astype(np.int64)


@dataclass
class EpochEnd:
    """What `epoch_callback` receives after each epoch."""

    epoch: int  #: 1-based
    logits: np.ndarray  #: (N, C) float32 logits on every training row, in input order
    train_loss: float
    lr: float
    head: LinearHead  #: a snapshot of the head at the end of this epoch


@contextmanager
def cpu_threads(device: str, threads: int = CPU_THREADS) -> Iterator[None]:
    """Limit torch's intra-op threads while training on the CPU, then restore the setting.

    The per-step operations of a linear head (a 256 x 1280 by 1280 x C product) are far too
    small to gain from several threads, and OpenMP's spinning threads collapse when the
    cores are shared: measured 17x slower with 2 threads than with 1 on a busy 2-core machine.
    """
    import torch

    if not str(device).startswith("cpu"):
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def standardization(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation (float32); std below 1e-6 is replaced by 1."""
    f = np.asarray(features)
    mean = f.mean(axis=0, dtype=np.float64)
    std = f.std(axis=0, dtype=np.float64)
    std = np.where(std < 1e-6, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def check_sample_weights(sample_weights: Any, n: int) -> np.ndarray:
    """Per-sample loss weights as float32: finite, non-negative, not all zero, one per sample."""
    w = np.asarray(sample_weights, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"sample_weights must hold one weight per training sample ({n}), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or w.min() < 0:
        raise ValueError("sample_weights must be finite and non-negative")
    if not np.any(w > 0):
        raise ValueError("sample_weights are all zero: nothing would be learned")
    return w.astype(np.float32)


def _sgd_step(params: list[Any], grads: tuple[Any, ...], buffers: list[Any], lr: float, momentum: float,
              weight_decay: float) -> None:
    """One step of `torch.optim.SGD` (momentum, no dampening, coupled weight decay), written out.

    Identical arithmetic to torch's: `d = g + wd * p; buf = momentum * buf + d` (`buf = d` on
    the first step); `p -= lr * buf`. Written by hand because the first `torch.optim` step
    imports torch._dynamo, which costs seconds to tens of seconds on a busy machine, far
    more than training a linear head.
    """
    import torch

    with torch.no_grad():
        for i, (p, g) in enumerate(zip(params, grads)):
            d = g.add(p, alpha=weight_decay) if weight_decay else g
            if momentum:
                if buffers[i] is None:
                    buffers[i] = d.clone()
                else:
                    buffers[i].mul_(momentum).add_(d)
                d = buffers[i]
            p.add_(d, alpha=-lr)


def as_label_array(labels: Any) -> np.ndarray:
    """Labels as a non-empty 1-D int64 array (a subset may miss some classes, unlike `check_labels`)."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array of class ids, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not (np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
            raise ValueError(f"labels must be integer class ids 0..C-1, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.min() < 0:
        raise ValueError(f"labels must be class ids 0..C-1, found negative label {int(arr.min())}")
    return arr


def cosine_lr(step: int, total_steps: int, lr: float, min_lr: float) -> float:
    """Cosine annealing from `lr` (step 0) towards `min_lr` (step `total_steps`)."""
    low = min(min_lr, lr)
    return low + (lr - low) * 0.5 * (1.0 + math.cos(math.pi * step / max(1, total_steps)))


def fit_linear_head(features: Any, labels: Any, *, num_classes: int | None = None, epochs: int = 30,
                    lr: float | None = DEFAULT_LR, batch_size: int | None = DEFAULT_BATCH_SIZE,
                    momentum: float = MOMENTUM,
                    weight_decay: float = WEIGHT_DECAY, min_lr: float = MIN_LR, seed: int = 0,
                    sample_weights: Any = None, device: str = "cpu",
                    epoch_callback: Callable[[EpochEnd], None] | None = None,
                    progress: bool = False) -> LinearHead:
    """Train a linear head on `features` (N x d) with integer `labels`; see the module docstring.

    `num_classes` defaults to `max(labels) + 1` (pass it when a subset may miss the last
    classes). The run is a deterministic function of the inputs and `seed` (initialisation
    and batch order) on a given device.
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    lr = DEFAULT_LR if lr is None else lr
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    labels = as_label_array(labels)
    n = labels.shape[0]
    feats = check_features(features, n)
    c = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.min() < 0 or labels.max() >= c:
        raise ValueError(f"labels must be class ids in 0..{c - 1}")
    if int(epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not (float(lr) > 0):
        raise ValueError(f"lr must be > 0, got {lr}")
    epochs, batch_size, lr = int(epochs), int(batch_size), float(lr)
    weights = None if sample_weights is None else check_sample_weights(sample_weights, n)

    mean, std = standardization(feats)
    d = feats.shape[1]
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.from_numpy(((feats - mean) / std).astype(np.float32, copy=False)).to(device)
    y = torch.from_numpy(labels).to(device)
    w_all = None if weights is None else torch.from_numpy(weights).to(device)
    bound = 1.0 / math.sqrt(d)
    weight = ((torch.rand(c, d, generator=gen) * 2 - 1) * bound).to(device).requires_grad_(True)
    bias = ((torch.rand(c, generator=gen) * 2 - 1) * bound).to(device).requires_grad_(True)
    params = [weight, bias]
    buffers: list[Any] = [None, None]

    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    config = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "momentum": float(momentum),
              "weight_decay": float(weight_decay), "min_lr": float(min_lr), "seed": int(seed),
              "num_samples": n, "num_classes": c, "sample_weighted": weights is not None,
              "schedule": "cosine per step", "standardize": True}
    history: list[dict[str, Any]] = []

    def snapshot() -> LinearHead:
        return LinearHead(weight.detach().cpu().numpy().copy(), bias.detach().cpu().numpy().copy(),
                          mean, std, dict(config), list(history))

    step = 0
    current_lr = lr
    with cpu_threads(device):
        for epoch in tqdm(range(1, epochs + 1), desc="linear head", unit="epoch", disable=not progress):
            perm = torch.randperm(n, generator=gen).to(device)
            loss_sum = torch.zeros((), device=device)
            for start in range(0, n, batch_size):
                idx = perm[start:start + batch_size]
                current_lr = cosine_lr(step, total, lr, min_lr)
                logits = x[idx] @ weight.T + bias
                per_sample = F.cross_entropy(logits, y[idx], reduction="none")
                loss = (per_sample * w_all[idx]).mean() if w_all is not None else per_sample.mean()
                grads = torch.autograd.grad(loss, params)
                _sgd_step(params, grads, buffers, current_lr, float(momentum), float(weight_decay))
                loss_sum += loss.detach() * idx.shape[0]
                step += 1
            history.append({"epoch": epoch, "train_loss": float(loss_sum) / n, "lr": current_lr})
            if epoch_callback is not None:
                with torch.no_grad():
                    full = (x @ weight.T + bias).float().cpu().numpy()
                epoch_callback(EpochEnd(epoch, full, history[-1]["train_loss"], current_lr, snapshot()))
    return snapshot()


def weights_for_subset(sample_weights: Any, n_total: int, indices: np.ndarray | None) -> np.ndarray | None:
    """The loss weights of the rows that are trained on.

    `sample_weights` holds one weight per sample of the full training set (length
    `n_total`, then indexed by `indices`), or, when `indices` is given and shorter than the
    set, one weight per selected sample (aligned with `indices`).
    """
    if sample_weights is None:
        return None
    w = np.asarray(sample_weights, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"sample_weights must be 1-D, got shape {w.shape}")
    if indices is None:
        if w.shape[0] != n_total:
            raise ValueError(f"sample_weights has {w.shape[0]} entries but the training set has {n_total} samples")
        return w
    if w.shape[0] == n_total:
        return w[indices]
    if w.shape[0] == indices.shape[0]:
        return w
    raise ValueError(f"sample_weights has {w.shape[0]} entries: give one per training sample ({n_total}) "
                     f"or one per selected index ({indices.shape[0]})")


def check_indices(indices: Any, n_total: int) -> np.ndarray:
    """Selected rows as a 1-D int64 array of distinct positions in [0, n_total)."""
    idx = np.asarray(indices)
    if idx.ndim != 1 or idx.size == 0:
        raise ValueError(f"indices must be a non-empty 1-D array of training positions, got shape {idx.shape}")
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64, copy=False)
    if idx.min() < 0 or idx.max() >= n_total:
        raise ValueError(f"indices must lie in [0, {n_total}), found {int(idx.min())}..{int(idx.max())}")
    if np.unique(idx).size != idx.size:
        raise ValueError("indices contain duplicates; a coreset is a set of distinct samples")
    return idx
