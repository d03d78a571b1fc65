"""`coreset score`, `coreset select`, `coreset methods`."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import FILE_SCORE
from .common import add_data_args, method_params, parse_param, print_table, session_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="compute (or load cached) difficulty scores of a training set",
                       description="Train a linear head on the frozen features and read EL2N, AUM, forgetting, "
                                   "GraNd and the moderate distance of every training sample.")
    add_data_args(p)
    p.set_defaults(func=run_score)

    p = sub.add_parser("select", help="select a coreset with a registered method and write it as JSON",
                       description="Select a coreset. The JSON output lists the kept samples by their original ids "
                                   "(and paths), the per-class counts, the method's extras (e.g. the KRR accuracy "
                                   "curve) and the config that reproduces it.")
    add_data_args(p)
    p.add_argument("--method", default="nucs", help="selection method (see `coreset methods`)")
    p.add_argument("--prune-rate", type=float, required=True, help="fraction of the training set removed, in [0, 1)")
    p.add_argument("--winsor", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="winsorization limits of the class difficulty (nucs), e.g. 0.05 0.05")
    p.add_argument("--param", type=parse_param, action="append", default=[], metavar="[METHOD.]KEY=VALUE",
                   help="a method parameter (repeatable; VALUE parsed as JSON, else a string), e.g. --param ridge=0.5")
    p.add_argument("--backbones", default=None,
                   help="comma-separated backbones of a multi-backbone method (ram-apl; default lite0,1,2)")
    p.add_argument("--seed", type=int, default=0, help="selection seed")
    p.add_argument("--out", default=None, help="write the coreset as JSON to this file (a new file: checked before "
                                               "the selection runs)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=run_select)

    p = sub.add_parser("methods", help="list the selection and reweighting methods with their parameters")
    p.set_defaults(func=run_methods)


def run_score(args: argparse.Namespace) -> int:
    from ..scores import SCORE_NAMES

    session = session_from_args(args)
    scores = session.scores
    source = "read from cache" if scores.info["from_cache"] else "computed"
    spec = session.spec
    cfg = scores.config
    print(f"{session.dataset.name}: scores of {len(scores)} training samples ({spec.backbone}, "
          f"{cfg.get('effective_epochs', spec.score_epochs)} epoch(s) = {cfg.get('steps', '?')} optimiser steps, "
          f"seeds {list(spec.score_seeds)}) {source} in {scores.info['seconds']:.2f} s -> {scores.info.get('path')}")
    _print_score_health(session)
    means = scores.class_means(session.labels, session.num_classes)
    header = ["class", "N_c"] + [n if n != "aum" else "aum(max-s)" for n in SCORE_NAMES]
    rows = [[session.class_names[c], str(session.class_sizes[c])] + [f"{means[n][c]:.4f}" for n in SCORE_NAMES]
            for c in range(session.num_classes)]
    print("per-class mean difficulty (higher = harder):")
    print_table(header, rows)
    return 0


def _print_score_health(session) -> None:
    """The score head's final train accuracy and any warning about the scores' trustworthiness."""
    scores = session.scores
    acc = np.asarray(scores.info.get("train_accuracy", []), dtype=float)
    if acc.size:
        print(f"score head train accuracy (last epoch, mean over seeds): {acc.reshape(-1, acc.shape[-1])[:, -1].mean():.3f}")
    for text in scores.warnings(session.labels, session.num_classes):
        print(f"warning: {text}")


def _print_curve(info: dict[str, Any]) -> None:
    endpoints, accuracies = info.get("endpoints"), info.get("accuracies")
    if endpoints is None or accuracies is None:
        return
    best = info.get("best_endpoint")
    print(f"chosen endpoint k = {best:.2f}" if best is not None else "chosen endpoint: n/a")
    if info.get("krr_evaluated") is False:
        print("every endpoint gives the same coreset: nothing to choose, so the ridge model was not fitted "
              "(KRR accuracy not measured)")
        return
    kind = "held-out probe accuracy" if "oracle" in info else "KRR accuracy on the training set"
    print(f"endpoint curve ({kind}):")
    for k, a in zip(np.asarray(endpoints, dtype=float), np.asarray(accuracies, dtype=float)):
        mark = "  <- chosen" if best is not None and abs(k - float(best)) < 1e-12 else ""
        print(f"  k={k:.2f}  acc={a:.4f}{mark}")


#: `coreset select` prints every class up to this many, else the extremes of the kept fraction.
MAX_PRINTED_CLASSES = 40


def _classes_to_print(fractions: list) -> list[int]:
    """All classes, or the half-limit with the lowest and the half-limit with the highest kept fraction."""
    c = len(fractions)
    if c <= MAX_PRINTED_CLASSES:
        return list(range(c))
    order = np.argsort([-1.0 if f is None else f for f in fractions], kind="stable")
    half = MAX_PRINTED_CLASSES // 2
    return sorted(set(order[:half].tolist()) | set(order[-half:].tolist()))


def _select_params(args: argparse.Namespace) -> dict[str, Any]:
    params = method_params(args.param, [args.method], option="--method").get(args.method, {})
    if args.winsor is not None:
        if "winsor" in params:
            raise ValueError("give the winsorization limits once: --winsor LO HI or --param winsor=[LO,HI]")
        params["winsor"] = tuple(args.winsor)
    return params


def run_select(args: argparse.Namespace) -> int:
    from ..methods import get_method
    from ..outputs import check_file_destination, write_file
    from ..request import SelectionRequest
    from ..selection_schema import session_document

    if args.out:
        check_file_destination(args.out, force=args.force)  # before any work: an hour's selection is never lost
    # an unknown method or parameter, a bad rate or stray backbones stop here, before any data is loaded
    request = SelectionRequest(args.method, args.prune_rate, seed=args.seed, params=_select_params(args),
                               backbones=args.backbones)
    session = session_from_args(args)
    t0 = time.perf_counter()
    labels = session.labels
    if get_method(args.method).needs_scores and session.spec.score != FILE_SCORE:
        _print_score_health(session)
    t1 = time.perf_counter()
    selection = session.select(request)
    t2 = time.perf_counter()
    cfg = selection.config
    doc = session_document(session, selection)
    score_txt = f", score {cfg['score']}" if cfg.get("score") else ""
    print(f"{session.dataset.name}: {args.method} keeps {doc['num_selected']} of {labels.shape[0]} training samples "
          f"(prune rate {cfg['prune_rate']:g}{score_txt}, {session.spec.backbone} features)")
    class_difficulty = selection.info.get("class_difficulty")
    header = ["class", "N_c", "kept", "fraction"] + (["difficulty"] if class_difficulty is not None else [])
    rows = []
    shown = _classes_to_print(doc["class_fractions"])
    for c in shown:
        name = session.class_names[c]
        fraction = doc["class_fractions"][c]
        row = [name, str(doc["class_sizes"][c]), str(doc["class_counts"][c]),
               f"{fraction:.3f}" if fraction is not None else "-"]
        if class_difficulty is not None:
            row.append(f"{float(np.asarray(class_difficulty)[c]):.4f}")
        rows.append(row)
    print_table(header, rows)
    if len(shown) < session.num_classes:
        print(f"({len(shown)} of {session.num_classes} classes shown: the {MAX_PRINTED_CLASSES // 2} with the lowest "
              f"and the highest kept fraction; every class is in the --out document)")
    _print_curve(selection.info)
    print(f"time: data + scores {t1 - t0:.2f} s, selection {t2 - t1:.2f} s")
    if args.out:
        out = write_file(Path(args.out).expanduser(), (json.dumps(doc, separators=(",", ":")) + "\n").encode(),
                         force=args.force)
        print(f"wrote {out} (original ids of the kept samples; export them with `coreset export {out} ...`)")
    print(f"ids: {doc['id_space']}")
    return 0


def run_methods(args: argparse.Namespace) -> int:
    from ..methods import get_method, list_reweighting_methods, method_specs

    for spec in method_specs() + [get_method(name) for name in list_reweighting_methods()]:
        needs = [n for n, flag in (("scores", spec.needs_scores), ("features", spec.needs_features)) if flag]
        kind = ("reweighting: one loss weight per training sample, not a subset" if spec.reweights
                else spec.allocation)
        print(f"{spec.name}  [{kind}; needs {', '.join(needs) if needs else 'labels only'}]")
        print(f"    {spec.description}")
        if spec.params:
            print("    parameters: " + ", ".join(f"{k}={v!r}" for k, v in spec.params.items()))
    return 0
