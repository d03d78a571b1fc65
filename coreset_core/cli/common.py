"""Arguments shared by several subcommands: the data setting (a `DataSpec`) and where things live.

Every subcommand that works on data takes the same options, named the same way:
`--score-epochs` / `--score-seeds` always mean the scoring run, `--epochs` / `--seeds`
(where a subcommand has them) always mean training and run seeds.
"""
from __future__ import annotations

import argparse

from ..spec import DEFAULT_BACKBONE, DEFAULT_SCORE, DEFAULT_SCORE_EPOCHS, DataSpec


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def int_list(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated whole numbers such as 0,1,2."""
    try:
        values = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers like 0,1,2, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one number, e.g. 0")
    return values


def add_data_args(p: argparse.ArgumentParser, *, dataset_default: str = "cifar10") -> None:
    """The options that build a `DataSpec`, plus --data-dir, --cache-dir, --device, --checkpoint, --quiet."""
    g = p.add_argument_group("data setting")
    g.add_argument("--dataset", default=dataset_default, help="dataset name (see `coreset datasets`)")
    g.add_argument("--imbalance", type=float, default=None,
                   help="imbalance factor of a long-tailed dataset (e.g. cifar10-lt), >= 1 (default 10)")
    g.add_argument("--data-seed", type=int, default=0, help="seed of the long-tailed subsample (default 0)")
    g.add_argument("--backbone", default=DEFAULT_BACKBONE, help="backbone name (see `coreset backbones`)")
    g.add_argument("--resolution", type=int, default=None, help="input resolution in pixels (default: the dataset's)")
    g.add_argument("--limit", type=int, default=None, help="use only the first N training images (quick runs)")
    g.add_argument("--test-limit", type=int, default=None, help="use only the first N test images")
    g.add_argument("--score", default=DEFAULT_SCORE,
                   help="difficulty score (el2n, aum, forgetting, grand, moderate; default el2n)")
    g.add_argument("--score-epochs", type=int, default=DEFAULT_SCORE_EPOCHS,
                   help=f"epochs of the linear-head run the scores come from (default {DEFAULT_SCORE_EPOCHS})")
    g.add_argument("--score-seeds", type=int_list, default=(0,),
                   help="comma-separated seeds of the scoring runs, averaged (default 0)")
    w = p.add_argument_group("where and how")
    w.add_argument("--data-dir", default=None, help="folder with the dataset files (env CORESET_DATA_DIR)")
    w.add_argument("--cache-dir", default=None, help="folder for cached features/scores (env CORESET_CACHE_DIR)")
    w.add_argument("--checkpoint", default=None, help="local checkpoint file for a timm backbone")
    w.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to run the backbone")
    w.add_argument("--quiet", action="store_true", help="no progress bars")


def spec_from_args(args: argparse.Namespace) -> DataSpec:
    """The `DataSpec` the common data options describe (validated: bad values stop here)."""
    return DataSpec(dataset=args.dataset, imbalance=args.imbalance, data_seed=args.data_seed, backbone=args.backbone,
                    resolution=args.resolution, limit=args.limit, test_limit=args.test_limit, score=args.score,
                    score_epochs=args.score_epochs, score_seeds=args.score_seeds)


def session_from_args(args: argparse.Namespace):
    """A `Session` on the spec of the common options, with their folders and device."""
    from ..session import Session

    return Session(spec_from_args(args), data_dir=args.data_dir, cache_dir=args.cache_dir, device=args.device,
                   progress=not args.quiet, checkpoint=args.checkpoint)


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A plain aligned text table (first column left-aligned, the rest right-aligned)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths))))

