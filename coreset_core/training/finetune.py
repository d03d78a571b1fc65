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

import dataclasses
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
from ..validation import check_indices
from .linear import check_schedule, check_test_limit, cosine_lr, weights_for_subset

CHECKPOINT_NAME = "last.pt"
#: The NUCS paper's fine-tuning protocol (SPEC 8): used when `lr` / `batch_size` are None.
DEFAULT_LR = 5e-3
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class FinetuneOptions:
    """The knobs of one fine-tuning run (the paper's protocol by default; see `finetune`)."""

    epochs: int = 30
    lr: float | None = None  #: None: `DEFAULT_LR`
    batch_size: int | None = None  #: None: `DEFAULT_BATCH_SIZE`
    seed: int = 0
    device: str | None = None  #: None: CUDA when available
    progress: bool = True
    test_limit: int | None = None  #: evaluate on the first N test images (None: all)
    backbone: str = DEFAULT_BACKBONE
    resolution: int | None = None  #: None: the dataset's default
    weight_decay: float = 5e-4
    momentum: float = 0.9
    min_lr: float = 1e-4
    checkpoint_dir: str | os.PathLike | None = None
    resume: bool = True
    augment: bool = True
    evaluate: bool = True
    num_workers: int | None = None  #: None: 0 on the CPU, min(8, cpus) on a GPU
    amp: bool = True

    def replace(self, **changes: Any) -> "FinetuneOptions":
        """A copy with `changes`; an unknown name is a ValueError listing the options."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"finetune has no option(s) {unknown}; its options are "
                             f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)


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


@dataclass
class _Run:
    """Everything one fine-tuning run works with (built by `_setup`)."""

    bb: Backbone
    model: Any
    opt: Any
    scaler: Any
    idx: np.ndarray
    weights: Any  #: torch tensor of per-sample loss weights on the device, or None
    config: dict[str, Any]
    device: str
    use_amp: bool
    num_workers: int
    ckpt_path: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0


def _setup(dataset: Dataset, indices: Any, sample_weights: Any, options: FinetuneOptions) -> _Run:
    """Validate the arguments, build the model and optimiser, and record the run's config."""
    import torch

    o = options
    check_test_limit(o.test_limit, 1)
    epochs, lr, batch_size = check_schedule(o.epochs, DEFAULT_LR if o.lr is None else o.lr,
                                            DEFAULT_BATCH_SIZE if o.batch_size is None else o.batch_size)
    device = resolve_device(o.device)
    n_total = len(dataset.train)
    idx = np.arange(n_total, dtype=np.int64) if indices is None else check_indices(indices, n_total)
    weights = weights_for_subset(sample_weights, n_total, None if indices is None else idx)
    use_amp = bool(o.amp) and device.startswith("cuda")
    c = dataset.num_classes
    resolution = int(o.resolution or dataset.default_resolution)
    config = {"protocol": "finetune", "dataset": dataset.identity, "backbone": o.backbone, "resolution": resolution,
              "num_train": int(idx.shape[0]), "indices_sha1": _digest(idx), "weights_sha1": _digest(weights),
              "num_classes": c, "epochs": epochs, "lr": lr, "batch_size": batch_size,
              "weight_decay": float(o.weight_decay), "momentum": float(o.momentum), "min_lr": float(o.min_lr),
              "seed": int(o.seed), "augment": bool(o.augment), "amp": use_amp, "schedule": "cosine per step"}
    bb = build_model(o.backbone, c, o.seed)
    model = bb.model.to(device).to(memory_format=torch.channels_last)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=float(o.momentum), weight_decay=float(o.weight_decay))
    num_workers = (0 if device == "cpu" else min(8, os.cpu_count() or 1)) if o.num_workers is None else o.num_workers
    return _Run(bb, model, opt, torch.amp.GradScaler("cuda", enabled=use_amp), idx,
                None if weights is None else torch.from_numpy(weights).to(device), config, device, use_amp,
                int(num_workers), Path(o.checkpoint_dir) / CHECKPOINT_NAME if o.checkpoint_dir is not None else None)


def _restore(run: _Run) -> None:
    """Continue from `run.ckpt_path` when it holds a run with the same config (else start over)."""
    import torch

    if run.ckpt_path is None or not run.ckpt_path.is_file():
        return
    try:
        ckpt = load_checkpoint(run.ckpt_path)
    except Exception:  # unreadable: start over (it is rewritten atomically, so this is rare)
        return
    if ckpt.get("config") != run.config:
        return
    run.model.load_state_dict(ckpt["model"])
    run.opt.load_state_dict(ckpt["optimizer"])
    run.scaler.load_state_dict(ckpt["scaler"])
    run.start_epoch, run.history = int(ckpt["epoch"]), list(ckpt["history"])
    if ckpt.get("rng") is not None:
        torch.set_rng_state(ckpt["rng"])


def _save(run: _Run, epoch: int, metrics: dict[str, Any] | None = None) -> None:
    import torch

    if run.ckpt_path is not None:
        _save_checkpoint(run.ckpt_path, {"model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
                                         "scaler": run.scaler.state_dict(), "epoch": epoch, "history": run.history,
                                         "config": run.config, "metrics": metrics, "rng": torch.get_rng_state()})


def _train_epoch(run: _Run, loader, epoch: int, step: int, total: int, progress: bool) -> tuple[float, int, float]:
    """One epoch of SGD; returns `(mean training loss, steps done so far, last learning rate)`."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    cfg = run.config
    run.model.train()
    loss_sum, seen, current_lr = 0.0, 0, cosine_lr(step, total, cfg["lr"], cfg["min_lr"])
    with tqdm(total=run.idx.shape[0], desc=f"finetune {epoch}/{cfg['epochs']}", unit="img", disable=not progress,
              leave=False) as bar:
        for images, labels, ks in loader:
            current_lr = cosine_lr(step, total, cfg["lr"], cfg["min_lr"])
            step += 1
            bar.update(images.shape[0])
            if images.shape[0] < 2:
                continue  # BatchNorm cannot train on a single image; a 1-image tail batch is skipped
            for group in run.opt.param_groups:
                group["lr"] = current_lr
            x = to_model_input(images.numpy(), run.bb, run.device)
            y = labels.to(run.device, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=run.use_amp):
                logits = run.model(x)
            per_sample = F.cross_entropy(logits.float(), y, reduction="none")
            w = run.weights
            loss = (per_sample * w[ks.to(run.device)]).mean() if w is not None else per_sample.mean()
            run.opt.zero_grad(set_to_none=True)
            run.scaler.scale(loss).backward()
            run.scaler.step(run.opt)
            run.scaler.update()
            loss_sum += float(loss.detach()) * images.shape[0]
            seen += images.shape[0]
            bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.3f}", lr=f"{current_lr:.2e}")
    train_loss = loss_sum / max(seen, 1)
    if not math.isfinite(train_loss):
        raise FloatingPointError(f"fine-tuning diverged in epoch {epoch} (loss {train_loss}); lower lr={cfg['lr']}")
    return train_loss, step, current_lr


def _evaluate(run: _Run, dataset: Dataset, test_limit: int | None, progress: bool) -> dict[str, Any]:
    """Test metrics on the first `test_limit` (default all) test images."""
    test = dataset.test
    count = check_test_limit(test_limit, len(test))
    logits, _ = predict(run.model, run.bb, test, np.arange(count), resolution=run.config["resolution"],
                        device=run.device, batch_size=2 * run.config["batch_size"], num_workers=run.num_workers,
                        progress=progress, desc="test")
    return classification_metrics(test.labels[:count], logits.argmax(axis=1), num_classes=run.config["num_classes"])


def finetune(dataset: Dataset, indices: Any = None, *, sample_weights: Any = None,
             options: FinetuneOptions | None = None, epoch_callback: Callable[[FinetuneEpoch], None] | None = None,
             **option_values: Any) -> FinetuneResult:
    """Fine-tune `options.backbone` + a new linear head on `dataset.train[indices]` and test it.

    `options` (a `FinetuneOptions`, the paper's protocol by default) holds the run's knobs;
    keyword arguments set single options on top (`finetune(ds, idx, epochs=5, lr=1e-3)`),
    so the trainers' common keywords (`TRAINER_ARGS` in `coreset_core.training`, as for
    `train_linear_probe`) work the same. `indices` are positions in the training split (all
    by default). `sample_weights` (CW-ERM) holds one loss weight per training sample (or per
    selected index); the batch loss is `mean(w_i * ce_i)`. `epoch_callback(FinetuneEpoch)` is
    called after every epoch run now.
    """
    o = (options or FinetuneOptions()).replace(**option_values)
    run = _setup(dataset, indices, sample_weights, o)
    seed, progress, test_limit = o.seed, o.progress, o.test_limit
    if o.resume:
        _restore(run)
    cfg = run.config
    data = _Images(dataset.train, run.idx, cfg["resolution"], run.bb, augment=o.augment, seed=seed)
    sampler = _Batches(len(data), cfg["batch_size"], True, seed)
    loader = _loader(data, sampler, run.device, run.num_workers)
    total = cfg["epochs"] * len(sampler)
    step = run.start_epoch * len(sampler)
    start = time.perf_counter()

    def outputs() -> tuple[np.ndarray, np.ndarray]:
        return predict(run.model, run.bb, dataset.train, run.idx, resolution=cfg["resolution"], device=run.device,
                       batch_size=2 * cfg["batch_size"], num_workers=run.num_workers, progress=progress,
                       desc="train outputs")

    for epoch in range(run.start_epoch + 1, cfg["epochs"] + 1):
        sampler.epoch = epoch
        t0 = time.perf_counter()
        train_loss, step, current_lr = _train_epoch(run, loader, epoch, step, total, progress)
        run.history.append({"epoch": epoch, "train_loss": train_loss, "lr": current_lr,
                            "seconds": time.perf_counter() - t0})
        _save(run, epoch)
        if epoch_callback is not None:
            epoch_callback(FinetuneEpoch(epoch, train_loss, current_lr, run.history[-1]["seconds"], run.model,
                                         outputs))
    train_seconds = time.perf_counter() - start
    metrics = None
    if o.evaluate:
        metrics = _evaluate(run, dataset, test_limit, progress)
        _save(run, cfg["epochs"], metrics)
    run.model.eval()
    return FinetuneResult(metrics, run.history, train_seconds, {**cfg, "test_limit": test_limit}, run.ckpt_path,
                          run.model)
