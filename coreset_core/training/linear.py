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

from ..validation import check_features, check_label_ids, check_sample_weights

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
#: rows per block of `standardization` (8 MB of float64 at d = 1,280)
_STAT_BLOCK_ROWS = 1 << 10
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
    """What `epoch_callback` receives after each epoch.

    `logit_blocks()` streams the logits on every training row in row blocks (memory: one
    block); `logits` builds the whole N x C matrix on first access (small C only).
    """

    epoch: int  #: 1-based
    train_loss: float
    lr: float
    head: LinearHead  #: a snapshot of the head at the end of this epoch
    inputs: Any = field(default=None, repr=False)  #: the standardised training features (torch)

    def logit_blocks(self, floats: int = 1 << 22) -> Iterator[tuple[int, np.ndarray]]:
        """`(start, float32 logits of rows start:start+k)` over all training rows, in order."""
        import torch

        x = self.inputs
        w = torch.from_numpy(self.head.weight).to(x.device)
        b = torch.from_numpy(self.head.bias).to(x.device)
        step = max(1, floats // max(1, w.shape[0]))
        with torch.no_grad():
            for s in range(0, x.shape[0], step):
                yield s, (x[s:s + step] @ w.T + b).float().cpu().numpy()

    @property
    def logits(self) -> np.ndarray:
        """(N, C) float32 logits on every training row, in input order (built from the blocks)."""
        return np.concatenate([block for _, block in self.logit_blocks()])


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
    """Per-dimension mean and standard deviation (float32); std below 1e-6 is replaced by 1.

    Two passes in row blocks of float64 (numpy's `std` over the whole array allocates two N x d
    float64 temporaries: 4.7 s at 100,000 x 512, against 0.12 s in blocks).
    """
    f = np.asarray(features)
    n, step = f.shape[0], _STAT_BLOCK_ROWS
    mean = sum(f[s:s + step].sum(axis=0, dtype=np.float64) for s in range(0, n, step)) / n
    var = np.zeros_like(mean)
    for s in range(0, n, step):
        centred = f[s:s + step] - mean
        var += np.einsum("ij,ij->j", centred, centred)
    std = np.sqrt(var / n)
    std = np.where(std < 1e-6, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


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


def cosine_lr(step: int, total_steps: int, lr: float, min_lr: float) -> float:
    """Cosine annealing from `lr` (step 0) towards `min_lr` (step `total_steps`)."""
    low = min(min_lr, lr)
    return low + (lr - low) * 0.5 * (1.0 + math.cos(math.pi * step / max(1, total_steps)))


def check_schedule(epochs: Any, lr: Any, batch_size: Any) -> tuple[int, float, int]:
    """`(epochs, lr, batch_size)` as numbers: epochs and batch size >= 1, lr > 0 (ValueError otherwise)."""
    try:
        e, b, rate = int(epochs), int(batch_size), float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"epochs, lr and batch_size must be numbers, got {epochs!r}, {lr!r}, {batch_size!r}") from None
    if e < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if b < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"lr must be > 0, got {lr}")
    return e, rate, b


def check_test_limit(test_limit: Any, n_test: int) -> int:
    """How many test samples are evaluated: all for None, else `min(test_limit, n_test)` (>= 1)."""
    if test_limit is None:
        return n_test
    if isinstance(test_limit, bool) or int(test_limit) != test_limit or int(test_limit) < 1:
        raise ValueError(f"test_limit must be a positive integer (the first N test samples) or None, got "
                         f"{test_limit!r}")
    return min(int(test_limit), n_test)


def fit_linear_head(features: Any, labels: Any, *, num_classes: int | None = None, epochs: int = 30,
                    lr: float | None = DEFAULT_LR, batch_size: int | None = DEFAULT_BATCH_SIZE,
                    momentum: float = MOMENTUM,
                    weight_decay: float = WEIGHT_DECAY, min_lr: float = MIN_LR, seed: int = 0,
                    sample_weights: Any = None, device: str = "cpu",
                    epoch_callback: Callable[[EpochEnd], None] | None = None,
                    progress: bool = False, threads: int = CPU_THREADS) -> LinearHead:
    """Train a linear head on `features` (N x d) with integer `labels`; see the module docstring.

    `num_classes` defaults to `max(labels) + 1` (pass it when a subset may miss the last
    classes). The run is a deterministic function of the inputs and `seed` (initialisation
    and batch order) on a given device. `threads`: torch's intra-op threads on the CPU (see
    `cpu_threads`; large heads gain from more, e.g. `scores.compute.head_threads`).
    """
    epochs, lr, batch_size = check_schedule(epochs, DEFAULT_LR if lr is None else lr,
                                            DEFAULT_BATCH_SIZE if batch_size is None else batch_size)
    labels = check_label_ids(labels, num_classes=num_classes)
    feats = check_features(features, labels.shape[0])
    c = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    weights = None if sample_weights is None else check_sample_weights(sample_weights, labels.shape[0])
    return _fit_linear_head(feats, labels, c, weights, epochs=epochs, lr=lr, batch_size=batch_size,
                            momentum=float(momentum), weight_decay=float(weight_decay), min_lr=float(min_lr),
                            seed=int(seed), device=device, epoch_callback=epoch_callback, progress=progress,
                            threads=max(1, int(threads)))


def _fit_linear_head(feats: np.ndarray, labels: np.ndarray, c: int, weights: np.ndarray | None, *, epochs: int,
                     lr: float, batch_size: int, momentum: float, weight_decay: float, min_lr: float, seed: int,
                     device: str, epoch_callback: Callable[[EpochEnd], None] | None, progress: bool,
                     threads: int = CPU_THREADS) -> LinearHead:
    """`fit_linear_head` on validated inputs (float32 weights or None, labels in `0..c-1`)."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    n, d = feats.shape
    mean, std = standardization(feats)
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(((feats - mean) / std).astype(np.float32, copy=False)).to(device)
    y = torch.tensor(labels).to(device)  # a copy: the caller's labels may be read-only
    w_all = None if weights is None else torch.from_numpy(weights).to(device)
    bound = 1.0 / math.sqrt(d)
    weight = ((torch.rand(c, d, generator=gen) * 2 - 1) * bound).to(device).requires_grad_(True)
    bias = ((torch.rand(c, generator=gen) * 2 - 1) * bound).to(device).requires_grad_(True)
    params, buffers = [weight, bias], [None, None]
    total = epochs * math.ceil(n / batch_size)
    config = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "momentum": momentum,
              "weight_decay": weight_decay, "min_lr": min_lr, "seed": seed, "num_samples": n, "num_classes": c,
              "sample_weighted": weights is not None, "schedule": "cosine per step", "standardize": True}
    history: list[dict[str, Any]] = []

    def snapshot() -> LinearHead:
        return LinearHead(weight.detach().cpu().numpy().copy(), bias.detach().cpu().numpy().copy(),
                          mean, std, dict(config), list(history))

    step, current_lr = 0, lr
    with cpu_threads(device, threads):
        for epoch in tqdm(range(1, epochs + 1), desc="linear head", unit="epoch", disable=not progress):
            perm = torch.randperm(n, generator=gen).to(device)
            loss_sum = torch.zeros((), device=device)
            for start in range(0, n, batch_size):
                idx = perm[start:start + batch_size]
                current_lr = cosine_lr(step, total, lr, min_lr)
                per_sample = F.cross_entropy(x[idx] @ weight.T + bias, y[idx], reduction="none")
                loss = (per_sample * w_all[idx]).mean() if w_all is not None else per_sample.mean()
                grads = torch.autograd.grad(loss, params)
                _sgd_step(params, grads, buffers, current_lr, momentum, weight_decay)
                loss_sum += loss.detach() * idx.shape[0]
                step += 1
            history.append({"epoch": epoch, "train_loss": float(loss_sum) / n, "lr": current_lr})
            if epoch_callback is not None:
                epoch_callback(EpochEnd(epoch, history[-1]["train_loss"], current_lr, snapshot(), x))
    return snapshot()


def weights_for_subset(sample_weights: Any, n_total: int, indices: np.ndarray | None) -> np.ndarray | None:
    """The validated loss weights (float32) of the rows that are trained on, or None.

    `sample_weights` holds one weight per sample of the full training set (length
    `n_total`, then indexed by `indices`), or, when `indices` is given and shorter than the
    set, one weight per selected sample (aligned with `indices`).
    """
    w = _weights_for_subset(sample_weights, n_total, indices)
    return None if w is None else check_sample_weights(w, w.shape[0])


def _weights_for_subset(sample_weights: Any, n_total: int, indices: np.ndarray | None) -> np.ndarray | None:
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
