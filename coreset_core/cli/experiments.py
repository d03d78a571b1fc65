"""`coreset train`, `coreset sweep`, `coreset results`: runs, grids and the results table."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .common import add_data_args

_METRICS = ("accuracy", "balanced_accuracy")


def _add_training_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-seed", type=int, default=0, help="seed of the long-tailed subsample (default 0)")
    p.add_argument("--test-limit", type=int, default=None, help="use only the first N test images")
    p.add_argument("--mode", default="linear", choices=["linear", "finetune"],
                   help="linear probe on cached frozen features (CPU) or full fine-tuning (GPU)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30, the paper's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the trainer's)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default: the trainer's)")
    p.add_argument("--score", default="el2n", help="difficulty score used by score-based methods (default el2n)")
    p.add_argument("--score-epochs", type=int, default=3, help="epochs of the scoring run (default 3)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="method parameter (repeatable; VALUE parsed as JSON, else a string). In a sweep, "
                        "METHOD.KEY=VALUE applies to one method only")
    p.add_argument("--db", default=None, help="results database (default <cache dir>/results.sqlite)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="select a coreset, train on it, print and store the test metrics")
    add_data_args(p)
    p.add_argument("--method", required=True,
                   help="selection method (see `coreset methods`), 'full' for all data, or 'cw-erm'")
    p.add_argument("--prune-rate", type=float, default=0.0, help="fraction of the training set removed")
    p.add_argument("--seed", type=int, default=0, help="seed of the selection and of training")
    _add_training_args(p)
    p.add_argument("--no-store", action="store_true", help="do not write the result to the database")
    p.add_argument("--force", action="store_true", help="run even if this exact run is already stored")
    p.set_defaults(func=run_train)

    p = sub.add_parser("sweep", help="run methods x pruning rates x seeds (resumable, parallel) into the database")
    add_data_args(p, dataset_default="cifar10-lt")
    p.add_argument("--methods", default="random,el2n,moderate,ccs,d2,bws,nucs,nucs-o",
                   help="comma-separated method names")
    p.add_argument("--prune-rates", default="0.7,0.8,0.9,0.95", help="comma-separated pruning rates")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--no-full", action="store_true", help="skip the full-data baseline runs")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    p.add_argument("--dry-run", action="store_true", help="list the runs (and which are stored) without running")
    _add_training_args(p)
    p.set_defaults(func=run_sweep_cmd)

    p = sub.add_parser("results", help="methods x pruning rates table (mean ± std over seeds) from the database")
    p.add_argument("--db", default=None, help="results database (default <cache dir>/results.sqlite)")
    p.add_argument("--cache-dir", default=None, help="cache folder holding results.sqlite (env CORESET_CACHE_DIR)")
    p.add_argument("--dataset", default=None, help="only this dataset (default: every dataset in the database)")
    p.add_argument("--mode", default=None, choices=["linear", "finetune"], help="only this training mode")
    p.add_argument("--limit", default=None, help="only runs with this --limit ('none' for full-size runs)")
    p.add_argument("--metric", default="accuracy", choices=list(_METRICS))
    p.add_argument("--export", default=None, metavar="FILE", help="also write the selected rows to .csv or .parquet")
    p.set_defaults(func=run_results)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_params(items: list[str], methods: list[str] | None = None) -> tuple[dict, dict[str, dict]]:
    """KEY=VALUE -> common params; METHOD.KEY=VALUE -> per-method params (sweeps)."""
    common: dict[str, Any] = {}
    per_method: dict[str, dict[str, Any]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--param {item!r} must look like KEY=VALUE (e.g. --param beta=0.1)")
        key, value = item.split("=", 1)
        key = key.strip()
        if methods is not None and "." in key:
            method, key = key.split(".", 1)
            if method not in methods:
                raise ValueError(f"--param {item!r} names method {method!r}, which is not in --methods")
            per_method.setdefault(method, {})[key] = _parse_value(value)
        else:
            common[key] = _parse_value(value)
    return common, per_method


def _common_settings(args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "checkpoint", None):
        raise ValueError("--checkpoint is not supported by train/sweep yet: the run config has no checkpoint field")
    return dict(imbalance=args.imbalance, data_seed=args.data_seed, backbone=args.backbone,
                resolution=args.resolution, limit=args.limit, test_limit=args.test_limit, mode=args.mode,
                epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, score=args.score,
                score_epochs=args.score_epochs, device=args.device)


def _store(args: argparse.Namespace):
    from pathlib import Path

    from ..store import ResultsStore

    if args.db:
        return ResultsStore(args.db)
    if getattr(args, "cache_dir", None):
        return ResultsStore(Path(args.cache_dir).expanduser() / "results.sqlite")
    return ResultsStore()


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * float(v):.2f}%"


def run_train(args: argparse.Namespace) -> int:
    from ..sweep import RunConfig, run_one

    params, _ = _parse_params(args.param)
    config = RunConfig(args.dataset, args.method, args.prune_rate, args.seed, params, **_common_settings(args))
    store = None if args.no_store else _store(args)
    if store is not None and not args.force and store.has(config.run_id):
        row = store.get(config.run_id)
        print(f"run {config.run_id} is already stored ({row['created_at']}); --force re-runs it")
    else:
        row = run_one(config, cache_dir=args.cache_dir, data_dir=args.data_dir)
        if store is not None:
            store.add({k: v for k, v in row.items()})
    kept = row["class_kept_json"]
    sizes = row["class_sizes_json"]
    kept = json.loads(kept) if isinstance(kept, str) else kept
    sizes = json.loads(sizes) if isinstance(sizes, str) else sizes
    per_class = row["per_class_accuracy_json"]
    per_class = json.loads(per_class) if isinstance(per_class, str) else per_class
    print(f"{config.describe()}  (run {config.run_id})")
    print(f"kept {row['num_kept']} of {row['num_train']} training samples")
    print(f"accuracy {_pct(row['accuracy'])}   balanced accuracy {_pct(row['balanced_accuracy'])}")
    print(f"times: prepare {row['prepare_seconds']:.2f} s, selection {row['selection_seconds']:.2f} s, "
          f"training {row['train_seconds']:.2f} s")
    print(f"{'class':>5} {'kept':>7} {'of':>7} {'test acc':>9}")
    for c, (k, n) in enumerate(zip(kept, sizes)):
        acc = per_class[c] if per_class and c < len(per_class) else None
        print(f"{c:>5} {k:>7} {n:>7} {_pct(acc):>9}")
    if store is not None:
        print(f"stored in {store.path}")
    return 0


def run_sweep_cmd(args: argparse.Namespace) -> int:
    from ..sweep import plan_sweep, run_sweep

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    common_params, per_method = _parse_params(args.param, methods)
    method_params = {m: {**common_params, **per_method.get(m, {})} for m in methods
                     if common_params or m in per_method}
    configs = plan_sweep(args.dataset, methods, args.prune_rates, args.seeds, include_full=not args.no_full,
                         method_params=method_params, **_common_settings(args))
    store = _store(args)
    stored = store.run_ids()
    if args.dry_run:
        for c in configs:
            print(f"{c.run_id}  {'stored ' if c.run_id in stored else 'pending'}  {c.describe()}")
        print(f"{len(configs)} runs, {sum(c.run_id in stored for c in configs)} stored")
        return 0
    print(f"{len(configs)} runs planned ({sum(c.run_id in stored for c in configs)} already stored) -> {store.path}")
    report = run_sweep(configs, store, workers=args.workers, cache_dir=args.cache_dir, data_dir=args.data_dir)
    print(report.summary())
    for run_id, what, error in report.failed:
        print(f"  failed {run_id} {what}: {error}", file=sys.stderr)
    return 0 if report.ok else 1


def print_tables(frame, *, metric: str = "accuracy", dataset: str | None = None, out=None) -> int:
    """Print one methods x pruning-rates table per dataset and setting; returns how many."""
    from ..store import SETTING_COLUMNS, accuracy_table, settings_of, to_markdown

    out = out or sys.stdout
    datasets = [dataset] if dataset else sorted(frame["dataset"].dropna().unique())
    count = 0
    for ds in datasets:
        settings = settings_of(frame, ds)
        for setting in settings:
            table = accuracy_table(frame, dataset=ds, metric=metric,
                                   **{k: v for k, v in setting.items() if k != "dataset"})
            if table.empty:
                continue
            shown = {k: v for k, v in setting.items() if v is not None and k in SETTING_COLUMNS and k != "dataset"}
            desc = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
            print(f"\n{ds} ({desc}): test {metric.replace('_', ' ')} %, mean ± std over seeds", file=out)
            print(to_markdown(table), file=out)
            count += 1
    return count


def run_results(args: argparse.Namespace) -> int:
    store = _store(args)
    where: dict[str, Any] = {}
    if args.dataset:
        where["dataset"] = args.dataset
    if args.mode:
        where["mode"] = args.mode
    if args.limit is not None:
        where["limit_n"] = None if str(args.limit).lower() in ("none", "all", "full") else int(args.limit)
    frame = store.to_frame(**where)
    if frame.empty:
        print(f"no results in {store.path}" + (f" matching {where}" if where else "") +
              "; run `coreset train` or `coreset sweep` first")
        return 1
    print_tables(frame, metric=args.metric, dataset=args.dataset)
    if args.export:
        path = store.export(args.export, **where)
        print(f"\nexported {len(frame)} rows to {path}")
    return 0
