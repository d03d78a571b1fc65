"""Full fine-tuning of a pretrained backbone with a new linear head, on (a coreset of) images.

The NUCS paper's protocol (SPEC 8): SGD with momentum 0.9 and weight decay 5e-4, lr 5e-3
with a cosine schedule down to 1e-4 (updated every step), batch 64, 30 epochs. Built for
a GPU (mixed precision with `torch.autocast` + `GradScaler`, channels_last, cuDNN autotune,
image decoding in DataLoader worker processes), it also runs on the CPU for tiny subsets.

Images go through the same preprocessing as feature extraction
(`features.prepare_image` to `resolution`, then `features.to_model_input`); training images
also get a light augmentation: a random crop after reflection padding of `resolution // 8`
pixels, and a horizontal flip with probability 1/2. The augmentation of sample `k` in epoch
`e` is drawn from a generator seeded with `(seed, e, k)` and the batch order of epoch `e`
from `(seed, e)`, so a run does not depend on the number of worker processes and a resumed
run continues exactly where it stopped.

Checkpoints (`<checkpoint_dir>/last.pt`, rewritten atomically after every epoch) hold the
model, optimizer and scaler states, the epoch, the history and the run's config; with
`resume=True` a run whose config matches continues from it. `load_finetuned(path)`
rebuilds the model. `epoch_callback(FinetuneEpoch)` is called after every epoch run now;
its `train_outputs()` gives the logits (and pre-logit feature norms) on the training
images, which the difficulty scores use.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..backbones import DEFAULT_BACKBONE, Backbone, load_backbone
from ..cache import write_bytes_atomic
from ..datasets import Dataset, ImageSplit
from ..features import prepare_image, to_model_input
from .evaluate import classification_metrics
from .linear import check_indices, check_sample_weights, cosine_lr, weights_for_subset

CHECKPOINT_NAME = "last.pt"


@dataclass
class FinetuneEpoch:
    """What `epoch_callback` receives after each epoch."""

    epoch: int  #: 1-based
    train_loss: float
    lr: float
    seconds: float
    model: Any = field(repr=False)
    _outputs: Callable[[], tuple[np.ndarray, np.ndarray]] = field(repr=False, default=None)
    _cached: tuple[np.ndarray, np.ndarray] | None = field(repr=False, default=None)

    def train_outputs(self) -> tuple[np.ndarray, np.ndarray]:
        """`(logits, feature_norms)` on the training images (eval mode, no augmentation, in
        the order of `indices`): logits (n x C) float32 and the L2 norm of each pre-logit
        feature vector (n,). Computed once per epoch, on first call."""
        if self._cached is None:
            self._cached = self._outputs()
        return self._cached


@dataclass
class FinetuneResult:
    """Outcome of one fine-tuning run.

    `metrics` (None when `evaluate=False`): `accuracy`, `balanced_accuracy`,
    `per_class_accuracy`, `num_samples` on the test split. `history`: one dict per epoch
    (epoch, train_loss, lr, seconds). `checkpoint`: the file written, if any.
    """

    metrics: dict[str, Any] | None
    history: list[dict[str, Any]]
    train_seconds: float
    config: dict[str, Any]
    checkpoint: Path | None = None
    model: Any = field(default=None, repr=False)


class _Images:
    """torch-style dataset: item `(k, epoch)` -> (uint8 HxWx3 array, label, k) of `positions[k]`."""

    def __init__(self, split: ImageSplit, positions: np.ndarray, resolution: int, backbone: Backbone,
                 augment: bool, seed: int):
        self.split, self.positions, self.resolution = split, positions, int(resolution)
        self.prep = backbone.preprocessing
        self.augment, self.seed = augment, int(seed)
        self.pad = max(1, self.resolution // 8)

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def __getitem__(self, item: tuple[int, int]):
        k, epoch = item
        pos = int(self.positions[k])
        img = prepare_image(self.split.image(pos), self.resolution, self.prep.interpolation, self.prep.crop_pct)
        if self.augment:
            rng = np.random.default_rng([self.seed, int(epoch), int(k)])
            r, p = self.resolution, self.pad
            padded = np.pad(img, ((p, p), (p, p), (0, 0)), mode="reflect")
            top, left = rng.integers(0, 2 * p + 1, size=2)
            img = padded[top:top + r, left:left + r]
            if rng.random() < 0.5:
                img = img[:, ::-1]
            img = np.ascontiguousarray(img)
        return img, int(self.split.labels[pos]), int(k)


class _Batches:
    """Batch sampler: batches of `(k, epoch)` items; shuffled per epoch with seed `(seed, epoch)`."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int):
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle
                 else np.arange(self.n))
        for start in range(0, self.n, self.batch_size):
            yield [(int(k), self.epoch) for k in order[start:start + self.batch_size]]


def _collate(items):
    import torch

    images = np.stack([it[0] for it in items])
    labels = torch.tensor([it[1] for it in items], dtype=torch.int64)
    ks = torch.tensor([it[2] for it in items], dtype=torch.int64)
    return torch.from_numpy(images), labels, ks


def _loader(data: _Images, sampler: _Batches, device: str, num_workers: int):
    import torch

    kwargs: dict[str, Any] = {}
    if num_workers > 0:
        kwargs = {"num_workers": num_workers, "persistent_workers": True, "prefetch_factor": 4}
        if "fork" in __import__("multiprocessing").get_all_start_methods():
            # the image decoders are closures over in-memory archives: fork shares them, spawn cannot pickle them
            kwargs["multiprocessing_context"] = "fork"
    return torch.utils.data.DataLoader(data, batch_sampler=sampler, collate_fn=_collate,
                                       pin_memory=device.startswith("cuda"), **kwargs)


def _digest(arr: np.ndarray | None) -> str | None:
    if arr is None:
        return None
    return hashlib.sha1(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def resolve_device(device: str | None) -> str:
    """`device`, or "cuda" when available else "cpu" for None."""
    if device is not None:
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_model(backbone: str, num_classes: int, seed: int) -> Backbone:
    """The pretrained backbone with a freshly initialised (seeded) linear head of `num_classes` outputs."""
    import torch

    bb = load_backbone(backbone, device="cpu")
    torch.manual_seed(int(seed))
    bb.model.reset_classifier(num_classes)
    return bb


def _forward_outputs(model, x):
    """Logits and pre-logit features of a timm model."""
    feats = model.forward_head(model.forward_features(x), pre_logits=True)
    return model.get_classifier()(feats), feats


def predict(model, bb: Backbone, split: ImageSplit, positions: np.ndarray, *, resolution: int, device: str,
            batch_size: int = 128, num_workers: int = 0, progress: bool = False,
            desc: str = "predict") -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode logits (n x C, float32) and pre-logit feature norms (n,) of `split[positions]`."""
    import torch
    from tqdm.auto import tqdm

    data = _Images(split, positions, resolution, bb, augment=False, seed=0)
    loader = _loader(data, _Batches(len(data), batch_size, False, 0), device, num_workers)
    use_amp = device.startswith("cuda")
    logits_out: list[np.ndarray] = []
    norms_out: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    with torch.inference_mode(), tqdm(total=len(data), desc=desc, unit="img", disable=not progress,
                                      leave=False) as bar:
        for images, _, _ in loader:
            x = to_model_input(images.numpy(), bb, device)
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                logits, feats = _forward_outputs(model, x)
            logits_out.append(logits.float().cpu().numpy())
            norms_out.append(torch.linalg.vector_norm(feats.float(), dim=1).cpu().numpy())
            bar.update(images.shape[0])
    model.train(was_training)
    return np.concatenate(logits_out).astype(np.float32), np.concatenate(norms_out).astype(np.float32)


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    import torch

    buf = io.BytesIO()
    torch.save(payload, buf)
    return write_bytes_atomic(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The dict stored by `finetune` (state dicts, epoch, history, config, metrics)."""
    import torch

    return torch.load(Path(path), map_location="cpu", weights_only=True)


def load_finetuned(path: str | os.PathLike, device: str = "cpu"):
    """The fine-tuned model (timm module, eval mode) stored in a `finetune` checkpoint."""
    ckpt = load_checkpoint(path)
    cfg = ckpt["config"]
    bb = build_model(cfg["backbone"], int(cfg["num_classes"]), int(cfg["seed"]))
    bb.model.load_state_dict(ckpt["model"])
    return bb.model.eval().to(device)


def finetune(dataset: Dataset, indices: Any = None, *, backbone: str = DEFAULT_BACKBONE,
             resolution: int | None = None, epochs: int = 30, lr: float = 5e-3, batch_size: int = 64,
             weight_decay: float = 5e-4, momentum: float = 0.9, min_lr: float = 1e-4, seed: int = 0,
             device: str | None = None, sample_weights: Any = None,
             checkpoint_dir: str | os.PathLike | None = None, resume: bool = True, progress: bool = True,
             epoch_callback: Callable[[FinetuneEpoch], None] | None = None, augment: bool = True,
             evaluate: bool = True, test_limit: int | None = None, num_workers: int | None = None,
             amp: bool = True) -> FinetuneResult:
    """Fine-tune `backbone` + a new linear head on `dataset.train[indices]` and test it.

    `indices` are positions in the training split (all by default). `sample_weights`
    (CW-ERM) holds one loss weight per training sample (or per selected index); the batch
    loss is `mean(w_i * ce_i)`. `device` defaults to CUDA when available. `num_workers`
    (image decoding processes) defaults to 0 on the CPU and `min(8, cpus)` on a GPU.
    `test_limit` evaluates on the first N test images only (quick runs).
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    device = resolve_device(device)
    split = dataset.train
    n_total = len(split)
    idx = np.arange(n_total, dtype=np.int64) if indices is None else check_indices(indices, n_total)
    weights = weights_for_subset(sample_weights, n_total, None if indices is None else idx)
    if weights is not None:
        weights = check_sample_weights(weights, idx.shape[0])
    if int(epochs) < 1 or int(batch_size) < 1 or not float(lr) > 0:
        raise ValueError(f"epochs and batch_size must be >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
    epochs, batch_size, lr = int(epochs), int(batch_size), float(lr)
    resolution = int(resolution or dataset.default_resolution)
    if num_workers is None:
        num_workers = 0 if device == "cpu" else min(8, os.cpu_count() or 1)
    use_amp = bool(amp) and device.startswith("cuda")
    c = dataset.num_classes
    config = {"protocol": "finetune", "dataset": dataset.identity, "backbone": backbone, "resolution": resolution,
              "num_train": int(idx.shape[0]), "indices_sha1": _digest(idx), "weights_sha1": _digest(weights),
              "num_classes": c, "epochs": epochs, "lr": lr, "batch_size": batch_size,
              "weight_decay": float(weight_decay), "momentum": float(momentum), "min_lr": float(min_lr),
              "seed": int(seed), "augment": bool(augment), "amp": use_amp, "schedule": "cosine per step"}

    bb = build_model(backbone, c, seed)
    model = bb.model.to(device).to(memory_format=torch.channels_last)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=float(momentum), weight_decay=float(weight_decay))
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if ckpt_path is not None and resume and ckpt_path.is_file():
        try:
            ckpt = load_checkpoint(ckpt_path)
        except Exception:  # unreadable: start over (it is rewritten atomically, so this is rare)
            ckpt = None
        if ckpt is not None and ckpt.get("config") == config:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            scaler.load_state_dict(ckpt["scaler"])
            start_epoch, history = int(ckpt["epoch"]), list(ckpt["history"])
            if ckpt.get("rng") is not None:
                torch.set_rng_state(ckpt["rng"])

    data = _Images(split, idx, resolution, bb, augment=augment, seed=seed)
    sampler = _Batches(len(data), batch_size, True, seed)
    loader = _loader(data, sampler, device, num_workers)
    w_all = None if weights is None else torch.from_numpy(weights).to(device)
    steps_per_epoch = len(sampler)
    total = epochs * steps_per_epoch
    step = start_epoch * steps_per_epoch
    current_lr = cosine_lr(step, total, lr, min_lr)
    start = time.perf_counter()

    def outputs() -> tuple[np.ndarray, np.ndarray]:
        return predict(model, bb, split, idx, resolution=resolution, device=device, batch_size=2 * batch_size,
                       num_workers=num_workers, progress=progress, desc="train outputs")

    for epoch in range(start_epoch + 1, epochs + 1):
        sampler.epoch = epoch
        model.train()
        t0 = time.perf_counter()
        loss_sum, seen = 0.0, 0
        with tqdm(total=len(data), desc=f"finetune {epoch}/{epochs}", unit="img", disable=not progress,
                  leave=False) as bar:
            for images, labels, ks in loader:
                current_lr = cosine_lr(step, total, lr, min_lr)
                step += 1
                bar.update(images.shape[0])
                if images.shape[0] < 2:
                    continue  # BatchNorm cannot train on a single image; a 1-image tail batch is skipped
                for group in opt.param_groups:
                    group["lr"] = current_lr
                x = to_model_input(images.numpy(), bb, device)
                y = labels.to(device, non_blocking=True)
                with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                    logits = model(x)
                per_sample = F.cross_entropy(logits.float(), y, reduction="none")
                loss = (per_sample * w_all[ks.to(device)]).mean() if w_all is not None else per_sample.mean()
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                loss_sum += float(loss.detach()) * images.shape[0]
                seen += images.shape[0]
                bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.3f}", lr=f"{current_lr:.2e}")
        train_loss = loss_sum / max(seen, 1)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"fine-tuning diverged in epoch {epoch} (loss {train_loss}); lower lr={lr}")
        history.append({"epoch": epoch, "train_loss": train_loss, "lr": current_lr,
                        "seconds": time.perf_counter() - t0})
        if ckpt_path is not None:
            _save_checkpoint(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                         "scaler": scaler.state_dict(), "epoch": epoch, "history": history,
                                         "config": config, "metrics": None, "rng": torch.get_rng_state()})
        if epoch_callback is not None:
            epoch_callback(FinetuneEpoch(epoch, train_loss, current_lr, history[-1]["seconds"], model, outputs))
    train_seconds = time.perf_counter() - start

    metrics = None
    if evaluate:
        test = dataset.test
        count = len(test) if test_limit is None else min(int(test_limit), len(test))
        logits, _ = predict(model, bb, test, np.arange(count), resolution=resolution, device=device,
                            batch_size=2 * batch_size, num_workers=num_workers, progress=progress, desc="test")
        metrics = classification_metrics(test.labels[:count], logits.argmax(axis=1), num_classes=c)
        config["test_limit"] = test_limit
        if ckpt_path is not None:
            _save_checkpoint(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                         "scaler": scaler.state_dict(), "epoch": epochs, "history": history,
                                         "config": {k: v for k, v in config.items() if k != "test_limit"},
                                         "metrics": metrics, "rng": torch.get_rng_state()})
    model.eval()
    return FinetuneResult(metrics, history, train_seconds, config, ckpt_path, model)
