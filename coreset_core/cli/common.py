"""Arguments shared by several subcommands: the data setting (a `DataSpec`) and where things live.

Every subcommand that works on data takes the same options, named the same way:
`--score-epochs` / `--score-seeds` always mean the scoring run, `--epochs` / `--seeds`
(where a subcommand has them) always mean training and run seeds.
"""
from __future__ import annotations

import argparse
import json
from typing import Any, NamedTuple, Sequence

from ..spec import DEFAULT_BACKBONE, DEFAULT_SCORE, DEFAULT_SCORE_EPOCHS, DataSpec
from ..validation import DEVICES


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


class Param(NamedTuple):
    """One `--param`: the method it is for (None: every method of the command), its name and value."""

    method: str | None
    key: str
    value: Any


def parse_param(text: str) -> Param:
    """argparse type of every command's `--param`: `[METHOD.]KEY=VALUE`, VALUE parsed as JSON when it can
    be (numbers, lists, true/false/null), else kept as a string."""
    head, sep, raw = text.partition("=")
    method, _, key = head.rpartition(".")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--param takes [METHOD.]KEY=VALUE (e.g. --param beta=0.1, or "
                                         f"--param ccs.beta=0.1 for one method), got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return Param(method.strip() or None, key.strip().replace("-", "_"), value)


def method_params(items: Sequence[Param], methods: Sequence[str], *, option: str = "--methods"
                  ) -> dict[str, dict[str, Any]]:
    """`--param` values per method: KEY=VALUE for every method, METHOD.KEY=VALUE for that method only
    (which must be one of `methods`, the command's `option`)."""
    common: dict[str, Any] = {}
    per_method: dict[str, dict[str, Any]] = {}
    for item in items:
        if item.method is None:
            common[item.key] = item.value
        elif item.method not in methods:
            raise ValueError(f"--param {item.method}.{item.key} names method {item.method!r}, which is not in "
                             f"{option} ({', '.join(methods)})")
        else:
            per_method.setdefault(item.method, {})[item.key] = item.value
    return {m: {**common, **per_method.get(m, {})} for m in methods if common or m in per_method}


def add_data_args(p: argparse.ArgumentParser, *, dataset_default: str = "cifar10", checkpoint: bool = True) -> None:
    """The options that build a `DataSpec`, plus --data-dir, --cache-dir, --device, --quiet and (where the
    subcommand can use one: not train/sweep, whose run config has no checkpoint) --checkpoint."""
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
    h = p.add_argument_group("Hugging Face datasets (--dataset hf:<folder or Hub name>)")
    for option, what in (("split", "the split to select from (default train)"),
                         ("test-split", "the split to test on (default test, else validation, else 20 %% of --hf-split)"),
                         ("config", "the Hub configuration name"),
                         ("image", "the image column (default: the one Image column)"),
                         ("label", "the label column (default: the one ClassLabel column)")):
        h.add_argument(f"--hf-{option}", default=None, help=what)
    w = p.add_argument_group("where and how")
    w.add_argument("--data-dir", default=None, help="folder with the dataset files (env CORESET_DATA_DIR)")
    w.add_argument("--cache-dir", default=None, help="folder for cached features/scores (env CORESET_CACHE_DIR)")
    if checkpoint:
        w.add_argument("--checkpoint", default=None, help="local checkpoint file for a timm backbone")
    w.add_argument("--device", default="cpu", choices=list(DEVICES), help="where to run the backbone")
    w.add_argument("--quiet", action="store_true", help="no progress bars")


def spec_from_args(args: argparse.Namespace) -> DataSpec:
    """The `DataSpec` the common data options describe (validated: bad values stop here)."""
    from ..datasets.hf import with_options

    dataset = with_options(args.dataset, **{k: getattr(args, f"hf_{k}", None)
                                            for k in ("split", "test_split", "config", "image", "label")})
    return DataSpec(dataset=dataset, imbalance=args.imbalance, data_seed=args.data_seed, backbone=args.backbone,
                    resolution=args.resolution, limit=args.limit, test_limit=args.test_limit, score=args.score,
                    score_epochs=args.score_epochs, score_seeds=args.score_seeds)


def session_from_args(args: argparse.Namespace):
    """A `Session` on the spec of the common options, with their folders and device."""
    from ..session import Session

    return Session(spec_from_args(args), data_dir=args.data_dir, cache_dir=args.cache_dir, device=args.device,
                   progress=not args.quiet, checkpoint=getattr(args, "checkpoint", None))


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A plain aligned text table (first column left-aligned, the rest right-aligned)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths))))

