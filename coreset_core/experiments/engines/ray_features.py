"""Feature extraction on Ray: the split cut into shards, each extracted by a Ray worker.

Every shard is written atomically into the usual cache by `features.extract_shard` (the
same batches as a one-machine extraction, so the numbers are identical bit for bit);
shards already cached are not submitted again, so an interrupted extraction resumes
from the shards it finished. The driver then assembles the shards with `get_features`,
which stores the whole split as one cache entry.

A long-tailed dataset's features are slices of its base dataset's, so Ray extracts the
base split (in full for the training split). A dataset that carries its own features
(an embeddings file) has nothing to extract.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coreset_core.experiments.engines.ray import (SYSTEM_RETRIES, check_shared_folders, connect, disconnect,
                                                  import_ray, this_node)

_MODELS: dict[tuple, Any] = {}
_DATASETS: dict[tuple, Any] = {}


@dataclass
class ShardReport:
    """How an extraction went: shards in all, extracted now (on Ray), found in the cache
    (all 0 when the assembled features were in the cache, or an embeddings file carries them)."""

    shards: int
    extracted: int
    reused: int
    seconds: float
    #: Ray node id -> shards it extracted now.
    nodes: dict[str, int] = field(default_factory=dict)


def _target(dataset: Any, split: str, limit: int | None) -> tuple[Any, int | None]:
    """The dataset whose shards hold the features, and the limit that applies to it."""
    if dataset.base is None:
        return dataset, limit
    return dataset.base, (limit if split == "test" else None)


def _normal_limit(dataset: Any, split: str, limit: int | None) -> int | None:
    return None if limit is None or limit >= len(dataset.split(split)) else int(limit)


def _extract_one(spec_json: str, data_dir: str | None, cache_dir: str, split: str, start: int, stop: int,
                 opts: dict[str, Any]) -> tuple[int, int, float, str]:
    """A Ray task: extract positions start..stop-1 into the cache (dataset and model loaded once per worker);
    returns (start, stop, seconds, the node that ran it)."""
    from coreset_core.datasets import load_dataset
    from coreset_core.features import extract_shard
    from coreset_core.spec import DataSpec

    t0 = time.perf_counter()
    spec = DataSpec.from_json(spec_json)
    dkey = (spec_json, data_dir)
    if dkey not in _DATASETS:
        _DATASETS.clear()
        _DATASETS[dkey] = load_dataset(spec.dataset, data_dir=data_dir, imbalance=spec.imbalance,
                                       seed=spec.data_seed)
    dataset, _ = _target(_DATASETS[dkey], split, None)
    mkey = (opts["backbone"], opts["checkpoint"], opts["device"])
    if mkey not in _MODELS:
        from coreset_core.backbones import load_backbone

        _MODELS.clear()
        _MODELS[mkey] = load_backbone(opts["backbone"], checkpoint=opts["checkpoint"], device=opts["device"])
    extract_shard(dataset, split, start, stop, cache_dir=cache_dir, model=_MODELS[mkey], **opts)
    return start, stop, time.perf_counter() - t0, this_node()


def _shard_paths(dataset: Any, split: str, ranges: list, opts: dict[str, Any], cache_dir: str) -> list[Path]:
    from coreset_core import cache
    from coreset_core.features import SHARD_KIND, shard_key

    return [cache.entry_path(SHARD_KIND, shard_key(dataset, split, a, b, backbone=opts["backbone"],
                                                     resolution=opts["resolution"], checkpoint=opts["checkpoint"]),
                             cache_dir) for a, b in ranges]


def _forget(dataset: Any, split: str, limit: int | None, opts: dict[str, Any], cache_dir: str,
            shards: list[Path]) -> None:
    """--refresh: drop this split's assembled features and its shards before extracting again."""
    from coreset_core import cache
    from coreset_core.features import feature_key

    for lim in {limit, None}:
        key = feature_key(dataset, split, opts["backbone"], opts["resolution"], lim, opts["checkpoint"])
        cache.entry_path("features", key, cache_dir).unlink(missing_ok=True)
    for path in shards:
        path.unlink(missing_ok=True)


def extract_features_ray(session: Any, split: str = "train", *, batch_size: int = 64, shard_size: int | None = None,
                         refresh: bool = False, address: str | None = None, progress: bool = True):
    """The `FeatureSet` of `session`'s `split`, its missing shards extracted by Ray workers.

    `address` joins a running cluster (none: a local Ray instance, stopped afterwards).
    Returns `(FeatureSet, ShardReport)`. The cache folder must be shared by every node.
    """
    from coreset_core.config import default_cache_dir, resolve_dir
    from coreset_core.features import DEFAULT_SHARD_SIZE, get_features, shard_ranges

    t0 = time.perf_counter()
    spec, dataset = session.spec, session.dataset
    shard_size = int(shard_size or DEFAULT_SHARD_SIZE)
    limit = spec.limit if split == "train" else spec.test_limit
    final = dict(backbone=spec.backbone, resolution=session.resolution, device=session.device,
                 batch_size=batch_size, checkpoint=session.checkpoint, cache_dir=session.cache_dir,
                 progress=False, shard_size=shard_size)
    if dataset.has_features:
        return get_features(dataset, split, limit=limit, **final), ShardReport(0, 0, 0, time.perf_counter() - t0)
    target, target_limit = _target(dataset, split, limit)
    target_limit = _normal_limit(target, split, target_limit)
    cache_dir = str(Path(resolve_dir(session.cache_dir, default_cache_dir())).resolve())
    checkpoint = None if session.checkpoint is None else str(Path(session.checkpoint).resolve())
    opts = dict(backbone=spec.backbone, resolution=session.resolution, checkpoint=checkpoint,
                device=session.device, batch_size=batch_size)
    count = target_limit or len(target.split(split))
    ranges = shard_ranges(count, shard_size, batch_size)
    paths = _shard_paths(target, split, ranges, opts, cache_dir)
    if refresh:
        _forget(target, split, target_limit, opts, cache_dir, paths)
    if _assembled(target, split, target_limit, opts, cache_dir):
        ranges, missing = [], []
    else:
        missing = [r for r, p in zip(ranges, paths) if not p.is_file()]
    nodes = _run_shards(spec, session.data_dir, cache_dir, split, missing, opts, address, progress) if missing else {}
    final.update(cache_dir=cache_dir, checkpoint=checkpoint)
    features = get_features(target, split, limit=target_limit, **final)
    if target is not dataset:
        features = get_features(dataset, split, limit=limit, **final)
    return features, ShardReport(len(ranges), len(missing), len(ranges) - len(missing), time.perf_counter() - t0,
                                 nodes)


def _assembled(dataset: Any, split: str, limit: int | None, opts: dict[str, Any], cache_dir: str) -> bool:
    """Whether the whole split (or its limited part) is already one cache entry."""
    from coreset_core import cache
    from coreset_core.features import feature_key

    for lim in {limit, None}:
        key = feature_key(dataset, split, opts["backbone"], opts["resolution"], lim, opts["checkpoint"])
        if cache.entry_path("features", key, cache_dir).is_file():
            return True
    return False


def _run_shards(spec: Any, data_dir: Any, cache_dir: str, split: str, ranges: list, opts: dict[str, Any],
                address: str | None, progress: bool) -> dict[str, int]:
    """Submit one Ray task per shard and wait for all (tqdm over images); stops a Ray it started.
    Returns how many shards each node extracted."""
    from tqdm.auto import tqdm

    ray = import_ray()
    data = None if data_dir is None else str(Path(data_dir).expanduser().resolve())
    owned = connect(address)
    pending: dict[Any, tuple[int, int]] = {}
    nodes: dict[str, int] = {}
    try:
        check_shared_folders(cache_dir, data)
        task = ray.remote(_extract_one).options(num_cpus=1, num_gpus=1 if opts["device"] == "cuda" else 0,
                                                max_retries=SYSTEM_RETRIES, scheduling_strategy="SPREAD")
        pending = {task.remote(spec.to_json(), data, cache_dir, split, a, b, opts): (a, b) for a, b in ranges}
        total = sum(b - a for a, b in ranges)
        with tqdm(total=total, unit="img", desc=f"features {opts['backbone']} (ray)", disable=not progress) as bar:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    a, b = pending.pop(ref)
                    node = ray.get(ref)[3]
                    nodes[node] = nodes.get(node, 0) + 1
                    bar.update(b - a)
    finally:
        for ref in pending:  # only after an error or Ctrl-C
            ray.cancel(ref, force=True)
        if owned:
            disconnect()
    return nodes


__all__ = ["ShardReport", "extract_features_ray"]
