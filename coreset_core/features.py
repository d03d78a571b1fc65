"""Batched feature extraction from a frozen backbone, cached on disk.

Images are decoded and resized by one background thread while the model runs on the previous
batch, so preparing a batch does not stall the forward pass. Normalising (a torch operation) stays
in the calling thread: in the background its threads competed with the forward's (2,048 CIFAR-10
images: 0.78-0.87 of the bare forward's throughput, 1.03-1.15 without). Features are the backbone's
pooled pre-logits (1280-d for EfficientNet-Lite). Results are cached under
`<cache>/features/` keyed by dataset identity, split, backbone, resolution, limit and the
code version; a long-tailed dataset reuses (slices) its base dataset's features.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from PIL import Image

from . import cache
from .backbones import DEFAULT_BACKBONE, Backbone, load_backbone
from .datasets import Dataset, ImageSplit

log = logging.getLogger(__name__)

#: Images per shard of an extraction (rounded up to whole batches); each shard is cached on its own.
DEFAULT_SHARD_SIZE = 4096
SHARD_KIND = "feature-shards"
#: The `backbone` recorded in the key of features that an embeddings file carries.
FILE_BACKBONE = "embeddings-file"
MIN_RESOLUTION, MAX_RESOLUTION = 16, 1024


class CacheNotWrittenWarning(UserWarning):
    """Features were computed but could not be written to the cache directory."""


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
    #: False when the cache directory could not be written: the features were computed but not stored.
    cached: bool = True


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


def _batch_images(split: ImageSplit, first: int, stop: int, backbone: Backbone, resolution: int) -> np.ndarray:
    """uint8 NHWC batch of positions `first..stop-1`: decoded and resized."""
    prep = backbone.preprocessing
    return np.stack([prepare_image(split.image(i), resolution, prep.interpolation, prep.crop_pct)
                     for i in range(first, stop)])


#: The name of the one background thread that prepares the next batch (tests look for leftovers by it).
PREPARE_THREAD = "coreset-prepare"


def _ahead(make: Callable[[int], Any], starts: list[int]) -> Iterator[Any]:
    """`make(s)` for each `s` of `starts` in order, the next one computed in one background thread while
    the caller works on this one (decoding and resizing overlap the forward pass).

    Closing the iterator early (an error, Ctrl-C in the caller) cancels the queued batch and waits for
    the one in progress: no thread outlives it."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=PREPARE_THREAD) as pool:
        pending = pool.submit(make, starts[0]) if starts else None
        try:
            for nxt in starts[1:] + [None]:
                item = pending.result()
                pending = pool.submit(make, nxt) if nxt is not None else None
                yield item
        finally:
            if pending is not None:
                pending.cancel()


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
            on_progress: Callable[[int, int], None] | None = None, start: int = 0) -> np.ndarray:
    """Features of positions `start..count-1` of `split` (all by default), float32.

    Batches start at `start`; with `start` a multiple of `batch_size` they are the same
    batches as an extraction from 0, so sharded and whole extractions agree bit for bit.
    """
    import torch
    from tqdm.auto import tqdm

    count = len(split) if count is None else min(count, len(split))
    backbone.model.to(device).to(memory_format=torch.channels_last)
    out = np.empty((max(count - start, 0), backbone.num_features), dtype=np.float32)
    done = 0
    use_amp = device.startswith("cuda")

    def make(first: int) -> np.ndarray:  # in the background thread: decode and resize (PIL, no torch threads)
        return _batch_images(split, first, min(first + batch_size, count), backbone, resolution)

    batches = _ahead(make, list(range(start, count, batch_size)))
    with contextlib.closing(batches), torch.inference_mode(), \
            tqdm(total=out.shape[0], unit="img", desc=f"features {backbone.name}", disable=not progress) as bar:
        for batch in batches:
            x = to_model_input(batch, backbone, device)  # here: torch's threads in the background slowed the forward
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                feats = embed(backbone, x)
            out[done:done + len(x)] = feats.float().cpu().numpy()
            done += len(x)
            bar.update(len(x))
            if on_progress is not None:
                on_progress(done, out.shape[0])
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


def shard_key(dataset: Dataset, split: str, start: int, stop: int, *, backbone: str, resolution: int,
              checkpoint: str | os.PathLike | None = None) -> dict[str, Any]:
    """The cache key of the features of positions `start..stop-1` (independent of any limit)."""
    return {**feature_key(dataset, split, backbone, resolution, None, checkpoint), "kind": "feature-shard",
            "start": int(start), "stop": int(stop)}


def shard_ranges(count: int, shard_size: int = DEFAULT_SHARD_SIZE, batch_size: int = 64) -> list[tuple[int, int]]:
    """(start, stop) of each shard of the first `count` positions; shard size rounded up to whole batches."""
    size = max(batch_size, -(-int(shard_size) // batch_size) * batch_size)
    return [(a, min(a + size, count)) for a in range(0, count, size)]


def _check_args(dataset: Dataset, split: str, resolution: int | None, batch_size: int, limit: int | None,
                shard_size: int) -> int:
    """Validate the extraction arguments up front; returns the resolution to use."""
    dataset.split(split)
    for name, value in (("batch_size", batch_size), ("shard_size", shard_size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit must be a whole number >= 1 (use the first N images) or None for all, got {limit!r}")
    if resolution is None:
        return dataset.default_resolution
    if not isinstance(resolution, (int, np.integer)) or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution must be a whole number of pixels in {MIN_RESOLUTION}..{MAX_RESOLUTION} "
                         f"(or None for the dataset's default, {dataset.default_resolution}), got {resolution!r}")
    return int(resolution)


def _shard(dataset: Dataset, split: str, start: int, stop: int, opts: dict[str, Any],
           model: Backbone | None, on_progress: Callable[[int, int], None] | None = None,
           save: bool = True) -> tuple[np.ndarray, Backbone | None, bool, bool]:
    """(features, model, computed now, saved): the shard from the cache, else extracted and saved atomically.

    A failed save (cache not writable) warns and keeps the computed features.
    """
    key = shard_key(dataset, split, start, stop, backbone=opts["backbone"], resolution=opts["resolution"],
                    checkpoint=opts["checkpoint"])
    path = cache.entry_path(SHARD_KIND, key, opts["cache_dir"])
    hit = None if opts.get("refresh") else cache.load(path, key, ("features",))
    if hit is not None and hit["features"].shape[0] == stop - start:
        return hit["features"], model, False, True
    model = model or load_backbone(opts["backbone"], checkpoint=opts["checkpoint"], device=opts["device"])
    feats = extract(dataset.split(split), model, resolution=opts["resolution"], start=start, count=stop,
                    device=opts["device"], batch_size=opts["batch_size"], progress=False, on_progress=on_progress)
    if not save:
        return feats, model, True, False
    try:
        cache.save(path, key, {"features": feats})
    except OSError as exc:
        _warn_not_cached(path.parent, f"{type(exc).__name__}: {exc}")
        return feats, model, True, False
    return feats, model, True, True


def extract_shard(dataset: Dataset, split: str, start: int, stop: int, *, backbone: str = DEFAULT_BACKBONE,
                  resolution: int | None = None, checkpoint: str | os.PathLike | None = None, device: str = "cpu",
                  batch_size: int = 64, cache_dir: str | os.PathLike | None = None,
                  model: Backbone | None = None) -> np.ndarray:
    """Features (float32) of positions `start..stop-1` of `dataset`'s `split`, saved atomically as one shard.

    A shard already in the cache is read, not recomputed. Run shards on workers with the
    ranges of `shard_ranges(len(split), shard_size, batch_size)` (same `batch_size` as the
    driver's `get_features`, so the batches and hence the numbers are identical); the
    driver's `get_features` then finds every shard cached and only assembles them. Not for
    derived datasets (extract the shards of `dataset.base`) or embeddings files.
    """
    if dataset.base is not None or dataset.has_features:
        raise ValueError(f"{dataset.name} has no shards of its own: "
                         + ("extract the shards of dataset.base (a long-tailed set slices its base's features)"
                            if dataset.base is not None else "an embeddings file carries its features"))
    resolution = _check_args(dataset, split, resolution, batch_size, None, DEFAULT_SHARD_SIZE)
    n = len(dataset.split(split))
    if not (isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer)) and 0 <= start < stop <= n):
        raise ValueError(f"shard range must satisfy 0 <= start < stop <= {n} (the split's size), got {start}, {stop}")
    opts = dict(backbone=backbone, resolution=resolution, checkpoint=checkpoint, device=device,
                batch_size=batch_size, cache_dir=cache_dir)
    return _shard(dataset, split, int(start), int(stop), opts, model)[0]


def _warn_not_cached(folder: Path, why: str) -> None:
    msg = (f"the cache directory {folder} is not writable ({why}): features are computed but NOT cached and "
           "will be recomputed next time; set --cache-dir (or CORESET_CACHE_DIR) to a writable folder")
    log.warning(msg)
    warnings.warn(msg, CacheNotWrittenWarning, stacklevel=3)


def _extract_sharded(dataset: Dataset, split: str, count: int, opts: dict[str, Any]) -> tuple[np.ndarray, bool]:
    """Features of the first `count` positions, shard by shard; (features, whether the shards were cached)."""
    from tqdm.auto import tqdm

    folder = cache.entry_path(SHARD_KIND, {}, opts["cache_dir"]).parent
    writable = cache.is_writable(folder)
    if not writable:
        _warn_not_cached(folder, "cannot create a file there")
    out: np.ndarray | None = None
    model: Backbone | None = None
    on_progress, on_shard = opts["on_progress"], opts["on_shard"]
    with tqdm(total=count, unit="img", desc=f"features {opts['backbone']}", disable=not opts["progress"]) as bar:
        for start, stop in shard_ranges(count, opts["shard_size"], opts["batch_size"]):
            def step(done: int, _total: int, start: int = start) -> None:
                bar.n = start + done
                bar.refresh()
                if on_progress is not None:
                    on_progress(start + done, count)

            feats, model, computed, saved = _shard(dataset, split, start, stop, opts, model, step, save=writable)
            writable = writable and saved  # after a failed write, stop trying (and warning) for every shard
            if out is None:
                out = np.empty((count, feats.shape[1]), dtype=np.float32)
            out[start:stop] = feats
            step(stop - start, count)
            if computed and on_shard is not None:
                on_shard(start, stop)
    return out, writable


def _file_features(dataset: Dataset, split: str, limit: int | None, start: float) -> FeatureSet:
    """The features an embeddings file carries (no backbone, no extraction, nothing to cache)."""
    ds_split = dataset.split(split)
    n = len(ds_split) if limit is None else min(limit, len(ds_split))
    key = {"kind": "features", "dataset": dataset.identity, "split": split, "backbone": FILE_BACKBONE,
           "resolution": None, "limit": None if n == len(ds_split) else n}
    return FeatureSet(np.asarray(ds_split.features[:n], dtype=np.float32), ds_split.labels[:n], key,
                      Path(dataset.config.get("path", "")), time.perf_counter() - start, True)


def _is_cached(dataset: Dataset, split: str, opts: dict[str, Any]) -> bool:
    key = feature_key(dataset, split, opts["backbone"], opts["resolution"], None, opts["checkpoint"])
    return cache.load(cache.entry_path("features", key, opts["cache_dir"]), key, ("features",)) is not None


def _store(path: Path, key: dict[str, Any], feats: np.ndarray, labels: np.ndarray, opts: dict[str, Any],
           count: int) -> bool:
    """Save the assembled features and drop their shards; False (with a warning) if the cache cannot be written."""
    try:
        cache.save(path, key, {"features": feats, "labels": labels})
    except OSError as exc:
        _warn_not_cached(path.parent, str(exc))
        return False
    for a, b in shard_ranges(count, opts["shard_size"], opts["batch_size"]):
        k = shard_key(opts["dataset"], opts["split"], a, b, backbone=opts["backbone"], resolution=opts["resolution"],
                      checkpoint=opts["checkpoint"])
        cache.entry_path(SHARD_KIND, k, opts["cache_dir"]).unlink(missing_ok=True)
    return True


def get_features(dataset: Dataset, split: str = "train", *, backbone: str = DEFAULT_BACKBONE,
                 resolution: int | None = None, device: str = "cpu", batch_size: int = 64,
                 limit: int | None = None, checkpoint: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, progress: bool = True, refresh: bool = False,
                 on_progress: Callable[[int, int], None] | None = None, shard_size: int = DEFAULT_SHARD_SIZE,
                 on_shard: Callable[[int, int], None] | None = None) -> FeatureSet:
    """Features of `dataset`'s `split`, from the cache when present, else extracted and cached.

    `limit` keeps the first N images of the split (quick runs; splits are stored in a fixed
    shuffled order, so these are a representative sample); a full cached split also
    serves limited requests. Extraction runs in shards of `shard_size` images, each saved
    atomically, so an interrupted run resumes after the last finished shard; `on_shard(start,
    stop)` is called after each newly computed shard. A dataset that carries its own
    features (`dataset.has_features`, an embeddings file) returns them: backbone and
    resolution do not apply and the key's backbone is `FILE_BACKBONE`. A cache directory
    that cannot be written gives a `CacheNotWrittenWarning` and uncached features.
    """
    start = time.perf_counter()
    if dataset.has_features:
        dataset.split(split)
        if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 1):
            raise ValueError(f"limit must be a whole number >= 1 or None for all, got {limit!r}")
        return _file_features(dataset, split, limit, start)
    resolution = _check_args(dataset, split, resolution, batch_size, limit, shard_size)
    if str(device).split(":")[0] == "cuda":
        from .validation import check_device

        check_device("cuda")  # a ValueError naming the fix, as the CLI gives, not torch's RuntimeError
    ds_split = dataset.split(split)
    if limit is not None and limit >= len(ds_split):
        limit = None
    opts = dict(backbone=backbone, resolution=resolution, device=device, batch_size=batch_size,
                checkpoint=checkpoint, cache_dir=cache_dir, progress=progress, refresh=refresh,
                on_progress=on_progress, shard_size=shard_size, on_shard=on_shard)
    if dataset.base is not None and split == "test":
        return get_features(dataset.base, "test", limit=limit, **opts)  # derived datasets keep the base's test set
    if dataset.base is not None and split == "train" and (limit is None or _is_cached(dataset.base, split, opts)):
        # A long-tailed subsample slices its base's features (extracted once for every imbalance and seed).
        positions = dataset.base_train_positions[:limit]
        base = get_features(dataset.base, "train", **opts)
        key = {**feature_key(dataset, split, backbone, resolution, limit, checkpoint), "derived_from": base.key}
        return FeatureSet(base.features[positions], ds_split.labels[:len(positions)], key, base.path,
                          time.perf_counter() - start, base.from_cache, base.cached)
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
    count = limit or len(ds_split)
    if hit is not None and hit["features"].shape[0] == count:
        return FeatureSet(hit["features"], hit["labels"], key, path, time.perf_counter() - start, True)
    feats, writable = _extract_sharded(dataset, split, count, opts)
    labels = ds_split.labels[:count]
    cached = writable and _store(path, key, feats, labels, {**opts, "dataset": dataset, "split": split}, count)
    return FeatureSet(feats, labels, key, path, time.perf_counter() - start, False, cached)
