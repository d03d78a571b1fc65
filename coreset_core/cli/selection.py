"""`coreset score`, `coreset select`, `coreset methods`."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import add_data_args


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers like 0,1,2, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def _param(text: str) -> tuple[str, Any]:
    """`key=value`; the value is parsed as JSON when it can be (numbers, lists, true/false/null)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param takes key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip().replace("-", "_")
    if not key:
        raise argparse.ArgumentTypeError(f"--param takes key=value, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def _add_score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-seed", type=int, default=0, help="seed of the long-tailed subsample (-lt datasets)")
    p.add_argument("--epochs", "--score-epochs", dest="epochs", type=int, default=3,
                   help="epochs of the linear-head run the scores are read from (default 3)")
    p.add_argument("--seeds", "--score-seeds", dest="seeds", type=_seeds, default=(0,),
                   help="comma-separated seeds of the score runs, averaged (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="compute (or load cached) difficulty scores of a training set",
                       description="Train a linear head on the frozen features for a few epochs and read EL2N, "
                                   "AUM, forgetting, GraNd and the moderate distance of every training sample.")
    add_data_args(p)
    _add_score_args(p)
    p.set_defaults(func=run_score)

    p = sub.add_parser("select", help="select a coreset with a registered method and write it as JSON",
                       description="Select a coreset. The JSON output holds the indices, the per-class counts, the "
                                   "method's extras (e.g. the KRR accuracy curve) and the config that reproduces it.")
    add_data_args(p)
    _add_score_args(p)
    p.add_argument("--method", default="nucs", help="selection method (see `coreset methods`)")
    p.add_argument("--prune-rate", type=float, required=True, help="fraction of the training set removed, in [0, 1)")
    p.add_argument("--score", default="el2n", help="difficulty score fed to the method (el2n, aum, forgetting, "
                                                    "grand, moderate)")
    p.add_argument("--winsor", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="winsorization limits of the class difficulty (nucs), e.g. 0.05 0.05")
    p.add_argument("--param", type=_param, action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter (repeatable), e.g. --param ridge=0.5")
    p.add_argument("--seed", type=int, default=0, help="selection seed")
    p.add_argument("--test-limit", type=int, default=None, help="use only the first N test images")
    p.add_argument("--out", default=None, help="write the coreset as JSON to this file")
    p.set_defaults(func=run_select)

    p = sub.add_parser("methods", help="list the selection methods with their parameters")
    p.set_defaults(func=run_methods)


def _dataset_and_train(args: argparse.Namespace):
    from ..datasets import load_dataset
    from ..features import get_features

    ds = load_dataset(args.dataset, data_dir=args.data_dir, imbalance=args.imbalance, seed=args.data_seed)
    train = get_features(ds, "train", backbone=args.backbone, resolution=args.resolution, device=args.device,
                         limit=args.limit, checkpoint=args.checkpoint, cache_dir=args.cache_dir,
                         progress=not args.quiet)
    return ds, train


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(h).rjust(w) if i else str(h).ljust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    for row in rows:
        lines.append("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def run_score(args: argparse.Namespace) -> int:
    from ..scores import SCORE_NAMES, compute_scores

    if args.checkpoint is not None:
        raise ValueError("score works on the offline backbones' features; --checkpoint is not supported here")
    ds, train = _dataset_and_train(args)
    scores = compute_scores(train.features, train.labels, epochs=args.epochs, seeds=args.seeds, device=args.device,
                            cache_key=train.key, cache_dir=args.cache_dir, progress=not args.quiet,
                            num_classes=ds.num_classes)
    source = "read from cache" if scores.info["from_cache"] else "computed"
    print(f"{ds.name}: scores of {len(scores)} training samples ({args.backbone}, {args.epochs} epoch(s), "
          f"seeds {list(args.seeds)}) {source} in {scores.info['seconds']:.2f} s -> {scores.info['path']}")
    acc = np.asarray(scores.info["train_accuracy"])
    print(f"train accuracy of the score head at each epoch end (mean over seeds): "
          f"{', '.join(f'{a:.3f}' for a in acc.mean(axis=0))}")
    means = scores.class_means(train.labels, ds.num_classes)
    sizes = np.bincount(train.labels, minlength=ds.num_classes)
    header = ["class", "N_c"] + [n if n != "aum" else "aum(max-s)" for n in SCORE_NAMES]
    rows = [[ds.class_names[c], str(sizes[c])] + [f"{means[n][c]:.4f}" for n in SCORE_NAMES]
            for c in range(ds.num_classes)]
    print("per-class mean difficulty (higher = harder):")
    print(_table(header, rows))
    return 0


def _jsonable(value: Any) -> Any:
    """numpy values -> plain Python, recursively (for the JSON output)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def coreset_document(selection: Any, labels: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """The JSON document `coreset select --out` writes."""
    c = len(class_names)
    counts = np.bincount(labels[selection.indices], minlength=c)
    sizes = np.bincount(labels, minlength=c)
    from .. import __version__

    return {
        "format": "coreset-studio/selection-v1",
        "coreset_version": __version__,
        "indices": selection.indices.tolist(),
        "num_selected": int(selection.indices.size),
        "class_names": list(class_names),
        "class_sizes": sizes.tolist(),
        "class_counts": counts.tolist(),
        "class_fractions": [float(k / s) if s else None for k, s in zip(counts, sizes)],
        "info": _jsonable(selection.info),
        "config": _jsonable(selection.config),
    }


def _print_curve(info: dict[str, Any]) -> None:
    endpoints, accuracies = info.get("endpoints"), info.get("accuracies")
    if endpoints is None or accuracies is None:
        return
    best = info.get("best_endpoint")
    print(f"chosen endpoint k = {best:.2f}" if best is not None else "chosen endpoint: n/a")
    kind = "held-out probe accuracy" if "oracle" in info else "KRR accuracy on the training set"
    print(f"endpoint curve ({kind}):")
    for k, a in zip(np.asarray(endpoints, dtype=float), np.asarray(accuracies, dtype=float)):
        mark = "  <- chosen" if best is not None and abs(k - float(best)) < 1e-12 else ""
        print(f"  k={k:.2f}  acc={a:.4f}{mark}")


def run_select(args: argparse.Namespace) -> int:
    from ..cache import write_bytes_atomic
    from ..pipeline import prepare, run_selection

    if args.checkpoint is not None:
        raise ValueError("select works on the offline backbones' features; --checkpoint is not supported here")
    params = dict(args.param)
    if args.winsor is not None:
        if "winsor" in params:
            raise ValueError("give the winsorization limits once: --winsor LO HI or --param winsor=[LO,HI]")
        params["winsor"] = tuple(args.winsor)
    t0 = time.perf_counter()
    prepared = prepare(args.dataset, imbalance=args.imbalance, data_seed=args.data_seed, backbone=args.backbone,
                       resolution=args.resolution, limit=args.limit, test_limit=args.test_limit, device=args.device,
                       score_epochs=args.epochs, score_seeds=args.seeds, data_dir=args.data_dir,
                       cache_dir=args.cache_dir, progress=not args.quiet)
    t1 = time.perf_counter()
    selection = run_selection(prepared, args.method, prune_rate=args.prune_rate, score=args.score, seed=args.seed,
                              **params)
    t2 = time.perf_counter()
    ds, labels = prepared.dataset, prepared.train.labels
    doc = coreset_document(selection, labels, ds.class_names)
    cfg = selection.config
    score_txt = f", score {cfg['score']}" if cfg.get("score") else ""
    print(f"{ds.name}: {args.method} keeps {doc['num_selected']} of {labels.shape[0]} training samples "
          f"(prune rate {cfg['prune_rate']:g}{score_txt}, {prepared.config['backbone']} features)")
    info = selection.info
    class_difficulty = info.get("class_difficulty")
    header = ["class", "N_c", "kept", "fraction"] + (["difficulty"] if class_difficulty is not None else [])
    rows = []
    for c, name in enumerate(ds.class_names):
        row = [name, str(doc["class_sizes"][c]), str(doc["class_counts"][c]),
               f"{doc['class_fractions'][c]:.3f}" if doc["class_fractions"][c] is not None else "-"]
        if class_difficulty is not None:
            row.append(f"{float(np.asarray(class_difficulty)[c]):.4f}")
        rows.append(row)
    print(_table(header, rows))
    _print_curve(info)
    print(f"time: data + scores {t1 - t0:.2f} s, selection {t2 - t1:.2f} s")
    if args.out:
        out = Path(args.out)
        write_bytes_atomic(out, (json.dumps(doc, indent=1) + "\n").encode())
        print(f"wrote {out}")
    return 0


def run_methods(args: argparse.Namespace) -> int:
    from ..methods import method_specs

    for spec in method_specs():
        needs = [n for n, flag in (("scores", spec.needs_scores), ("features", spec.needs_features)) if flag]
        print(f"{spec.name}  [{spec.allocation}; needs {', '.join(needs) if needs else 'labels only'}]")
        print(f"    {spec.description}")
        if spec.params:
            print("    parameters: " + ", ".join(f"{k}={v!r}" for k, v in spec.params.items()))
    return 0
