"""Batched feature extraction from a frozen backbone, cached on disk.

Images are decoded and resized by a background thread while the model runs on the
previous batch, so decoding does not stall the forward pass. Features are the backbone's
pooled pre-logits (1280-d for EfficientNet-Lite). Results are cached under
`<cache>/features/` keyed by dataset identity, split, backbone, resolution, limit and the
code version; a long-tailed dataset reuses (slices) its base dataset's features.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from PIL import Image

from . import cache
from .backbones import DEFAULT_BACKBONE, Backbone, load_backbone
from .datasets import Dataset, ImageSplit

_PIL_INTERPOLATION = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}


@dataclass
class FeatureSet:
    """Features (float32, samples x dims) and labels of one split, with the cache key that made them."""

    features: np.ndarray
    labels: np.ndarray
    key: dict[str, Any]
    path: Path
    seconds: float
    from_cache: bool


def prepare_image(img: Image.Image, resolution: int, interpolation: str = "bicubic",
                  crop_pct: float = 1.0) -> np.ndarray:
    """Resize (and centre-crop when `crop_pct` < 1) to `resolution`, as uint8 HxWx3.

    Images no larger than the target are upsampled whole (cropping a 32 px image would
    throw away content); larger ones follow the model's eval crop.
    """
    method = _PIL_INTERPOLATION.get(interpolation, Image.BICUBIC)
    if crop_pct < 1.0 and min(img.size) > resolution:
        scale = int(round(resolution / crop_pct))
        w, h = img.size
        if w < h:
            img = img.resize((scale, max(scale, round(h * scale / w))), method)
        else:
            img = img.resize((max(scale, round(w * scale / h)), scale), method)
        w, h = img.size
        left, top = (w - resolution) // 2, (h - resolution) // 2
        img = img.crop((left, top, left + resolution, top + resolution))
    elif img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), method)
    return np.asarray(img, dtype=np.uint8)


def _prepared_batches(split: ImageSplit, count: int, backbone: Backbone, resolution: int,
                      batch_size: int) -> Iterator[np.ndarray]:
    """uint8 NHWC batches, the next one prepared in a background thread."""
    prep = backbone.preprocessing

    def make(start: int) -> np.ndarray:
        stop = min(start + batch_size, count)
        return np.stack([prepare_image(split.image(i), resolution, prep.interpolation, prep.crop_pct)
                         for i in range(start, stop)])

    starts = list(range(0, count, batch_size))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(make, starts[0]) if starts else None
        for nxt in starts[1:] + [None]:
            batch = pending.result()
            pending = pool.submit(make, nxt) if nxt is not None else None
            yield batch


def to_model_input(batch: np.ndarray, backbone: Backbone, device: str):
    """uint8 NHWC -> normalised float NCHW tensor in channels_last memory format."""
    import torch

    prep = backbone.preprocessing
    if not batch.flags.writeable:
        batch = batch.copy()
    x = torch.from_numpy(batch).to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(prep.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(prep.std, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def embed(backbone: Backbone, x) -> Any:
    """Pooled pre-logit features of a prepared input batch."""
    model = backbone.model
    return model.forward_head(model.forward_features(x), pre_logits=True)


def extract(split: ImageSplit, backbone: Backbone, *, resolution: int, count: int | None = None,
            device: str = "cpu", batch_size: int = 64, progress: bool = True,
            on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Features of the first `count` images of `split` (all by default), float32."""
    import torch
    from tqdm.auto import tqdm

    count = len(split) if count is None else min(count, len(split))
    backbone.model.to(device).to(memory_format=torch.channels_last)
    out = np.empty((count, backbone.num_features), dtype=np.float32)
    done = 0
    use_amp = device.startswith("cuda")
    with torch.inference_mode(), tqdm(total=count, unit="img", desc=f"features {backbone.name}",
                                      disable=not progress) as bar:
        for batch in _prepared_batches(split, count, backbone, resolution, batch_size):
            x = to_model_input(batch, backbone, device)
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                feats = embed(backbone, x)
            out[done:done + len(batch)] = feats.float().cpu().numpy()
            done += len(batch)
            bar.update(len(batch))
            if on_progress is not None:
                on_progress(done, count)
    return out


def feature_key(dataset: Dataset, split: str, backbone: str, resolution: int, limit: int | None,
                checkpoint: str | os.PathLike | None = None) -> dict[str, Any]:
    """Everything that determines a feature file."""
    key: dict[str, Any] = {"kind": "features", "dataset": dataset.identity, "split": split, "backbone": backbone,
                           "resolution": int(resolution), "limit": limit}
    if checkpoint is not None:
        p = Path(checkpoint)
        key["checkpoint"] = f"{p.resolve()}:{p.stat().st_size}:{int(p.stat().st_mtime)}"
    return key


def _is_cached(dataset: Dataset, split: str, opts: dict[str, Any]) -> bool:
    key = feature_key(dataset, split, opts["backbone"], opts["resolution"], None, opts["checkpoint"])
    return cache.load(cache.entry_path("features", key, opts["cache_dir"]), key, ("features",)) is not None


def get_features(dataset: Dataset, split: str = "train", *, backbone: str = DEFAULT_BACKBONE,
                 resolution: int | None = None, device: str = "cpu", batch_size: int = 64,
                 limit: int | None = None, checkpoint: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, progress: bool = True, refresh: bool = False,
                 on_progress: Callable[[int, int], None] | None = None) -> FeatureSet:
    """Features of `dataset`'s `split`, from the cache when present, else extracted and cached.

    `limit` keeps the first N images of the split (quick runs; splits are stored in a fixed
    shuffled order, so these are a representative sample); a full cached split also
    serves limited requests.
    """
    start = time.perf_counter()
    resolution = int(resolution or dataset.default_resolution)
    ds_split = dataset.split(split)
    if limit is not None and limit >= len(ds_split):
        limit = None
    opts = dict(backbone=backbone, resolution=resolution, device=device, batch_size=batch_size,
                checkpoint=checkpoint, cache_dir=cache_dir, progress=progress, refresh=refresh,
                on_progress=on_progress)
    if dataset.base is not None and split == "test":
        return get_features(dataset.base, "test", limit=limit, **opts)  # derived datasets keep the base's test set
    if dataset.base is not None and split == "train" and (limit is None or _is_cached(dataset.base, split, opts)):
        # A long-tailed subsample slices its base's features (extracted once for every imbalance and seed).
        positions = dataset.base_train_positions[:limit]
        base = get_features(dataset.base, "train", **opts)
        key = {**feature_key(dataset, split, backbone, resolution, limit, checkpoint), "derived_from": base.key}
        return FeatureSet(base.features[positions], ds_split.labels[:len(positions)], key, base.path,
                          time.perf_counter() - start, base.from_cache)
    if limit is not None and not refresh:
        full_key = feature_key(dataset, split, backbone, resolution, None, checkpoint)
        full_path = cache.entry_path("features", full_key, cache_dir)
        hit = cache.load(full_path, full_key, ("features", "labels"))
        if hit is not None:
            return FeatureSet(hit["features"][:limit], hit["labels"][:limit], full_key, full_path,
                              time.perf_counter() - start, True)
    key = feature_key(dataset, split, backbone, resolution, limit, checkpoint)
    path = cache.entry_path("features", key, cache_dir)
    hit = None if refresh else cache.load(path, key, ("features", "labels"))
    if hit is not None and hit["features"].shape[0] == (limit or len(ds_split)):
        return FeatureSet(hit["features"], hit["labels"], key, path, time.perf_counter() - start, True)
    model = load_backbone(backbone, checkpoint=checkpoint, device=device)
    feats = extract(ds_split, model, resolution=resolution, count=limit, device=device, batch_size=batch_size,
                    progress=progress, on_progress=on_progress)
    labels = ds_split.labels[:feats.shape[0]]
    cache.save(path, key, {"features": feats, "labels": labels})
    return FeatureSet(feats, labels, key, path, time.perf_counter() - start, False)
