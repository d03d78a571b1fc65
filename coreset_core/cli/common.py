"""Arguments shared by several subcommands."""
from __future__ import annotations

import argparse


def add_data_args(p: argparse.ArgumentParser, *, dataset_default: str = "cifar10") -> None:
    """--dataset, --imbalance, --data-dir, --cache-dir, --backbone, --resolution, --device, --limit."""
    p.add_argument("--dataset", default=dataset_default, help="dataset name (see `coreset datasets`)")
    p.add_argument("--imbalance", type=float, default=None,
                   help="imbalance factor for long-tailed datasets (e.g. cifar10-lt), >= 1")
    p.add_argument("--data-dir", default=None, help="folder with the dataset files (env CORESET_DATA_DIR)")
    p.add_argument("--cache-dir", default=None, help="folder for cached features/scores (env CORESET_CACHE_DIR)")
    p.add_argument("--backbone", default="efficientnet_lite0", help="backbone name (see `coreset backbones`)")
    p.add_argument("--checkpoint", default=None, help="local checkpoint file for a timm backbone")
    p.add_argument("--resolution", type=int, default=None, help="input resolution in pixels (default: the dataset's)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to run the backbone")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images (quick runs)")
