"""`coreset train`, `coreset sweep`, `coreset results`: runs, grids and the results table.

The data options are the common ones (`add_data_args`: a `DataSpec`); here `--epochs` and
`--seed(s)` mean training epochs and run seeds (`--score-epochs` / `--score-seeds` are
the scoring run's).
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from coreset_core.experiments.longtail import METRIC_LABELS

from .common import add_data_args, method_params, parse_param, positive_int, print_table, spec_from_args

if TYPE_CHECKING:
    from coreset_core.experiments.run_config import RunConfig
    from coreset_core.experiments.sweep import SweepPlan

#: `coreset sweep`'s default grid: the paper's methods, pruning rates and seeds.
SWEEP_METHODS = "random,el2n,moderate,ccs,d2,bws,nucs,nucs-o"
SWEEP_RATES = "0.7,0.8,0.9,0.95"
SWEEP_SEEDS = "0,1,2"

def _add_training_args(p: argparse.ArgumentParser, *, sweep: bool) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--mode", default="linear", choices=["linear", "finetune"],
                   help="linear probe on cached frozen features (CPU) or full fine-tuning (GPU)")
    g.add_argument("--epochs", type=positive_int, default=30, help="training epochs (default 30, the paper's)")
    g.add_argument("--lr", type=float, default=None, help="learning rate (default: the trainer's)")
    g.add_argument("--batch-size", type=positive_int, default=None,
                   help="training batch size (default: the trainer's)")
    g.add_argument("--train-budget", "--budget", dest="train_budget", default="epochs", choices=["epochs", "steps"],
                   help="training budget: epochs: every subset trains --epochs epochs (default); steps: a subset "
                        "trains as many optimiser steps as the full training set gets in --epochs epochs "
                        "(--budget is its earlier name)")
    g.add_argument("--param", type=parse_param, action="append", default=[], metavar="[METHOD.]KEY=VALUE",
                   help="method parameter (repeatable; VALUE parsed as JSON, else a string)"
                        + ("; METHOD.KEY=VALUE applies to one method only" if sweep else ""))
    g.add_argument("--backbones", default=None,
                   help="comma-separated backbones of a multi-backbone method (ram-apl; default lite0,1,2)")
    p.add_argument("--db", default=None, help="results database (default <cache dir>/results.sqlite)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="select a coreset, train on it, print and store the test metrics",
                       description="Run one experiment: select a coreset with --method at --prune-rate (or reweight "
                                   "every sample with cw-erm, or keep all with 'full'), train a linear probe on the "
                                   "frozen features (--mode linear) or fine-tune the backbone (--mode finetune), "
                                   "test it, print the per-class accuracy and store the row in the results database "
                                   "(an already stored run is shown, not re-run, unless --force).")
    add_data_args(p, checkpoint=False)
    p.add_argument("--method", required=True,
                   help="selection method (see `coreset methods`), 'full' for all data, or 'cw-erm'")
    p.add_argument("--prune-rate", type=float, default=0.0, help="fraction of the training set removed")
    p.add_argument("--seed", type=int, default=0, help="seed of the selection and of training")
    _add_training_args(p, sweep=False)
    p.add_argument("--no-store", action="store_true", help="do not write the result to the database")
    p.add_argument("--force", action="store_true",
                   help="run even if this exact run is already stored, and replace the stored row")
    p.set_defaults(func=run_train)

    p = sub.add_parser("sweep", help="run methods x pruning rates x seeds (resumable) into the database",
                       description="Run every method at every pruning rate and seed, plus the full-data baseline "
                                   f"per seed. Defaults (the paper's grid): --methods {SWEEP_METHODS}, --prune-rates "
                                   f"{SWEEP_RATES}, --seeds {SWEEP_SEEDS}. Every run's method, parameters, score and "
                                   "dataset are checked before the first run; stored runs are skipped, so the same "
                                   "command resumes an interrupted sweep.")
    add_data_args(p, dataset_default="cifar10-lt", checkpoint=False)
    p.add_argument("--methods", default=SWEEP_METHODS, help=f"comma-separated method names (default {SWEEP_METHODS})")
    p.add_argument("--prune-rates", default=SWEEP_RATES, help=f"comma-separated pruning rates (default {SWEEP_RATES})")
    p.add_argument("--seeds", default=SWEEP_SEEDS,
                   help=f"comma-separated run seeds, selection and training (default {SWEEP_SEEDS})")
    p.add_argument("--no-full", action="store_true", help="skip the full-data baseline runs")
    e = p.add_argument_group("engine")
    e.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="local: processes on this machine (default); ray: one Ray task per run (pip install ray)")
    e.add_argument("--workers", type=positive_int, default=None,
                   help="local engine: parallel worker processes (default 1)")
    e.add_argument("--address", default=None,
                   help="ray engine: address of a running cluster (`ray start --head` prints it); "
                        "without it a local Ray instance is started")
    p.add_argument("--dry-run", action="store_true", help="list the runs (and which are stored) without running")
    _add_training_args(p, sweep=True)
    p.set_defaults(func=run_sweep_cmd)

    p = sub.add_parser("results", help="methods x pruning rates table (mean ± std over seeds) from the database")
    p.add_argument("--db", default=None, help="results database (default <cache dir>/results.sqlite)")
    p.add_argument("--cache-dir", default=None, help="cache folder holding results.sqlite (env CORESET_CACHE_DIR)")
    p.add_argument("--dataset", default=None, help="only this dataset (default: every dataset in the database)")
    p.add_argument("--mode", default=None, choices=["linear", "finetune"], help="only this training mode")
    p.add_argument("--run-limit", default=None, metavar="N|none",
                   help="only runs made with --limit N ('none': full-size runs); a filter, unlike the data "
                        "option --limit of select/train")
    p.add_argument("--metric", default="accuracy", choices=list(METRIC_LABELS),
                   help="the table's metric (default accuracy); the long-tail ones group classes by their size "
                        "in the full training set (see --shots)")
    p.add_argument("--shots", default="100,20", metavar="MANY,FEW",
                   help="many-shot: more than MANY training images, few-shot: fewer than FEW (default 100,20)")
    p.add_argument("--per-class", action="store_true",
                   help="one row per run and class (n_train, n_kept, n_test, accuracy) instead of the table")
    p.add_argument("--export", default=None, metavar="FILE",
                   help="also write the selected rows (with --per-class: the per-class rows) to .csv or .parquet")
    p.set_defaults(func=run_results)


def _run_fields(args: argparse.Namespace) -> dict[str, Any]:
    return dict(mode=args.mode, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, device=args.device,
                train_budget=args.train_budget)


def _store(args: argparse.Namespace):
    """The results store of --db (else <cache dir>/results.sqlite); a bad path stops here."""
    from pathlib import Path

    from coreset_core.experiments.store import ResultsStore

    if args.db:
        return ResultsStore(args.db)
    if getattr(args, "cache_dir", None):
        return ResultsStore(Path(args.cache_dir).expanduser() / "results.sqlite")
    return ResultsStore()


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * float(v):.2f}%"


def train_config_of(args: argparse.Namespace) -> RunConfig:
    """The `RunConfig` of `coreset train`'s options (what `RunConfig.command` renders, read back)."""
    from coreset_core.experiments.run_config import RunConfig

    params = method_params(args.param, [args.method], option="--method").get(args.method, {})
    return RunConfig(spec_from_args(args), args.method, args.prune_rate, args.seed, params,
                     backbones=args.backbones, **_run_fields(args))


def run_train(args: argparse.Namespace) -> int:
    from ..session import Session
    from coreset_core.experiments.sweep import run_one

    config = train_config_of(args)
    store = None if args.no_store else _store(args)
    session = Session(config.spec, data_dir=args.data_dir, cache_dir=args.cache_dir, device=args.device,
                      progress=not args.quiet)
    if store is not None and not args.force and store.has(config.run_id):
        row = store.get_row(config.run_id)
        print(f"run {config.run_id} is already stored ({row.created_at}); --force re-runs it")
    else:
        row = run_one(config, session=session, progress=not args.quiet)
        if store is not None and not store.add(row, replace=args.force):
            print(f"(run {config.run_id} was already stored: the stored row is kept)")
    print(f"{config.describe()}  (run {config.run_id})")
    print(f"kept {row.num_kept} of {row.num_train} training samples; trained {row.train_epochs} epochs "
          f"({row.train_budget or 'epochs'} training budget)")
    print(f"accuracy {_pct(row.accuracy)}   balanced accuracy {_pct(row.balanced_accuracy)}   "
          f"worst-class {_pct(row.worst_class_accuracy)}   tail {_pct(row.tail_accuracy)}")
    print(f"times: prepare {row.prepare_seconds:.2f} s, selection {row.selection_seconds:.2f} s, "
          f"training {row.train_seconds:.2f} s")
    per_class = row.per_class_accuracy_json or []
    names = session.class_names
    tests = row.class_test_sizes_json or []
    rows = [[names[c] if c < len(names) else str(c), str(n), str(k), str(tests[c]) if c < len(tests) else "-",
             _pct(per_class[c] if c < len(per_class) else None)]
            for c, (k, n) in enumerate(zip(row.class_kept_json, row.class_sizes_json))]
    print_table(["class", "N_c", "kept", "test n", "test acc"], rows)
    if store is not None:
        print(f"stored in {store.path}")
    return 0


def sweep_plan_of(args: argparse.Namespace) -> SweepPlan:
    """The `SweepPlan` of `coreset sweep`'s options (what `SweepPlan.command` renders, read back)."""
    from coreset_core.experiments.sweep import SweepPlan

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    return SweepPlan(spec_from_args(args), methods, args.prune_rates, args.seeds, include_full=not args.no_full,
                     method_params=method_params(args.param, methods), backbones=args.backbones,
                     run_fields=_run_fields(args))


def run_sweep_cmd(args: argparse.Namespace) -> int:
    from coreset_core.experiments.sweep import run_sweep

    from coreset_core.experiments.engines import check_engine_options

    check_engine_options(args.engine, workers=args.workers, address=args.address)
    configs = sweep_plan_of(args).configs()
    store = _store(args)
    stored = store.run_ids()
    already = sum(c.run_id in stored for c in configs)
    if args.dry_run:
        for c in configs:
            print(f"{c.run_id}  {'stored ' if c.run_id in stored else 'pending'}  {c.describe()}")
        print(f"{len(configs)} runs, {already} stored")
        return 0
    print(f"{len(configs)} runs planned ({already} already stored) -> {store.path}")
    try:
        report = run_sweep(configs, store, engine=args.engine, workers=args.workers or 1, address=args.address,
                           progress=not args.quiet, cache_dir=args.cache_dir, data_dir=args.data_dir)
    except KeyboardInterrupt:
        done = sum(c.run_id in store.run_ids() for c in configs)
        print(f"\ninterrupted: {done} of {len(configs)} runs are stored; the same command resumes the sweep",
              file=sys.stderr)
        return 130
    print(report.summary())
    for run_id, what, error in report.failed:
        print(f"  failed {run_id} {what}: {error}", file=sys.stderr)
    frame = store.to_frame()
    frame = frame[frame["run_id"].isin({c.run_id for c in configs})]
    if not frame.empty:
        for metric in ("accuracy", "worst_class_accuracy", "tail_accuracy"):
            print_tables(frame, metric=metric)
    return 0 if report.ok else 1


def print_tables(frame, *, metric: str = "accuracy", dataset: str | None = None, out=None) -> int:
    """Print one methods x pruning-rates table per dataset and setting; returns how many."""
    from coreset_core.experiments.longtail import COUNT_METRICS
    from coreset_core.experiments.store import SETTING_COLUMNS, accuracy_table, settings_of, to_markdown

    out = out or sys.stdout
    datasets = [dataset] if dataset else sorted(frame["dataset"].dropna().unique())
    count = 0
    for ds in datasets:
        for setting in settings_of(frame, ds):
            table = accuracy_table(frame, dataset=ds, metric=metric,
                                   **{k: v for k, v in setting.items() if k != "dataset"})
            if table.empty:
                continue
            shown = {k: v for k, v in setting.items() if v is not None and k in SETTING_COLUMNS and k != "dataset"}
            desc = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
            what = METRIC_LABELS[metric] if metric in COUNT_METRICS else f"test {METRIC_LABELS[metric]} %"
            print(f"\n{ds} ({desc}): {what}, mean ± std over seeds", file=out)
            print(to_markdown(table), file=out)
            count += 1
    return count


def _run_limit(text: str) -> int | None:
    """`--run-limit`: a whole number >= 1, or none/all/full for the runs without a limit."""
    if str(text).lower() in ("none", "all", "full"):
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise ValueError(f"--run-limit takes a whole number >= 1 or 'none', got {text!r}") from None


def run_results(args: argparse.Namespace) -> int:
    store = _store(args)
    where: dict[str, Any] = {}
    if args.dataset:
        where["dataset"] = args.dataset
    if args.mode:
        where["mode"] = args.mode
    if args.run_limit is not None:
        where["limit_n"] = _run_limit(args.run_limit)
    from coreset_core.experiments.longtail import DEFAULT_SHOTS, check_shots, with_metrics
    from coreset_core.experiments.store import check_table_path, per_class_frame, write_table

    shots = check_shots(args.shots)
    if args.export:
        check_table_path(args.export)
    frame = store.to_frame(**where)
    if frame.empty:
        print(f"no results in {store.path}" + (f" matching {where}" if where else "") +
              "; run `coreset train` or `coreset sweep` first")
        return 1
    if shots != DEFAULT_SHOTS:  # the stored columns use the default thresholds
        frame = with_metrics(frame, shots)
    table = per_class_frame(frame) if args.per_class else None
    if table is None:
        print_tables(frame, metric=args.metric, dataset=args.dataset)
    elif not args.export:
        print(table.drop(columns=["params_json", "run_id"]).to_string(index=False))
    if args.export:
        path = write_table(frame if table is None else table, args.export)
        print(f"\nexported {len(frame if table is None else table)} rows to {path}")
    return 0
