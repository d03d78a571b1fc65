"""The Lesson's data: the NUCS argument in six steps, each a table built from a `Session`.

a. `starvation`: pruning the hardest samples globally (el2n-easy) starves minority classes
   (per-class kept fraction against the pruning rate; the paper's Figure 2); `starvation_table`
   and `size_extremes` give the many-class view (bands plus the largest and smallest classes).
b. `budget_comparison`: class-wise uniform against difficulty-proportional budgets
   (Observation 1), with `allocation_differences` (NUCS minus uniform per seed: accuracy,
   worst-class and tail accuracy) from the results store (`run_allocation_runs` trains and
   stores the missing runs).
c. label noise: plain against winsorized class difficulty and the budget error they cause
   (`coreset_studio.lesson.label_noise`: `budget_error_curve`, `noise_verdict`).
d. `windows_view`: the KRR accuracy over the window endpoint k and each class's chosen window.
e. the toy model of Section 3.2 and eq. 6 (`coreset_studio.lesson.toy_model`).
f. `outcome_curves`: accuracy against pruning rate for Random, EL2N, BWS and NUCS from the store
   (`outcome_plan` / `missing_outcome_runs` for the button that trains the missing ones).

Pure library code (no streamlit); every function returns plain pandas tables for a chart.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from coreset_core.experiments.sweep import SweepPlan

from coreset_studio.lesson.label_noise import (NoiseComparison, budget_error_curve, inject_label_noise,  # noqa: F401
                                               noise_curve_work, noise_verdict, noisy_class_difficulty,
                                               rescore_name)  # (step c)
from coreset_studio.settings import winsor_params
from coreset_studio.lesson.toy_model import ToyAnalysis, ToyModel, analyse as toy_analysis  # noqa: F401 (step e)

#: The pruning rates of step a's chart (the paper's Figure 2 spans 0-90 %).
STARVATION_RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: The methods of step f (the paper's main comparison) and of step b (uniform vs NUCS budgets).
OUTCOME_METHODS = ("random", "el2n", "bws", "nucs")
ALLOCATION_METHODS = ("nucs-uniform", "nucs")


def _check_rates(rates: Iterable[float]) -> list[float]:
    from coreset_core.validation import check_prune_rate

    out = [check_prune_rate(r) for r in rates]
    if not out:
        raise ValueError("give at least one pruning rate, e.g. (0.5, 0.9)")
    return out


def is_long_tailed(session) -> bool:
    """True for a `<name>-lt` dataset or class sizes that differ by more than 1.5x."""
    sizes = session.class_sizes
    return session.spec.dataset.endswith("-lt") or bool(sizes.max() > 1.5 * sizes.min())


def starvation_table(session, rates: Iterable[float] = STARVATION_RATES, *, method: str = "el2n-easy",
                     score: str | None = None) -> pd.DataFrame:
    """Step a, wide: classes x pruning rates of kept fractions (the Budgets page's bands take it as is)."""
    return session.kept_fraction_table(method, _check_rates(rates), score=score)


def size_extremes(session, k: int) -> list[int]:
    """The `k` largest and the `k` smallest classes (largest first, then smallest first; ties: lower id)."""
    order = np.argsort(-np.asarray(session.class_sizes), kind="stable")
    k = min(int(k), order.size // 2)
    return [int(c) for c in order[:k]] + [int(c) for c in order[::-1][:k]] if k else []


def starvation(session, rates: Iterable[float] = STARVATION_RATES, *, method: str = "el2n-easy",
               score: str | None = None) -> pd.DataFrame:
    """Step a: one row per class and rate: class, class_name, class_size, prune_rate, kept_fraction."""
    table = starvation_table(session, rates, method=method, score=score)
    long = table.reset_index().melt(id_vars="class", var_name="prune_rate", value_name="kept_fraction")
    long["class_name"] = np.asarray(session.class_names, dtype=object)[long["class"].to_numpy()]
    long["class_size"] = session.class_sizes[long["class"].to_numpy()]
    return long[["class", "class_name", "class_size", "prune_rate", "kept_fraction"]]


def budget_comparison(session, prune_rate: float, *, winsor: Iterable[float] = (0.0, 0.0),
                      score: str | None = None) -> pd.DataFrame:
    """Step b: per class its size, difficulty, and kept counts and fractions under uniform and NUCS budgets."""
    sizes = session.class_sizes
    uniform = session.budgets(prune_rate, mode="uniform")
    nucs = session.budgets(prune_rate, score=score, winsor=winsor, mode="nucs")
    return pd.DataFrame({"class": np.arange(session.num_classes), "class_name": session.class_names,
                         "class_size": sizes, "difficulty": session.class_difficulty(score, winsor),
                         "uniform": uniform, "nucs": nucs,
                         "uniform_fraction": uniform / sizes, "nucs_fraction": nucs / sizes})


def store_summary(frame: pd.DataFrame | None, session, methods: Sequence[str], *, metric: str = "accuracy"
                  ) -> tuple[pd.DataFrame, dict]:
    """Mean, std and count of accuracy (percent) per method and rate for the session's data setting.

    The rows are matched as on the Accuracy page (`views.accuracy.matching_runs`); of `methods`
    and the full-data run, when they span several training settings (mode, epochs, test limit,
    ...), the linear-probe one with the most rows is used and returned beside the table.
    """
    from coreset_core.experiments.store import summary_frame

    rows, best = setting_rows(frame, session, methods)
    if rows.empty:
        return pd.DataFrame(columns=["method", "label", "prune_rate", "mean", "std", "n"]), {}
    return summary_frame(rows, metric=metric), best


def setting_rows(frame: pd.DataFrame | None, session, methods: Sequence[str]) -> tuple[pd.DataFrame, dict]:
    """The stored rows of `methods` (and full data) on the session's data setting, in the one training
    setting `store_summary` uses (the linear-probe one with the most rows), and that setting."""
    from coreset_core.experiments.store import FULL_DATA, settings_of
    from coreset_studio.views.accuracy import matching_runs, rows_of_setting  # the Accuracy page's matching rule

    if frame is None or frame.empty:
        return pd.DataFrame(columns=["method", "prune_rate", "seed"]), {}
    rows = matching_runs(frame, session.spec, session.resolution)
    rows = rows[rows["method"].isin(list(methods) + [FULL_DATA])]
    settings = settings_of(rows)
    if not settings:
        return rows.iloc[:0], {}
    best = max(settings, key=lambda s: (s.get("mode") == "linear", len(rows_of_setting(rows, s))))
    return rows_of_setting(rows, best), best


#: The metrics step b compares (accuracy and the two the argument is about: the worst class and the tail).
CLASS_METRICS = ("accuracy", "worst_class_accuracy", "tail_accuracy")


def allocation_differences(frame: pd.DataFrame | None, session, prune_rate: float) -> pd.DataFrame:
    """Step b: NUCS minus uniform budgets per metric (percentage points), paired by seed.

    Columns: metric, mean (of the per-seed differences), std (sample std, NaN for one seed),
    n (seeds both methods ran), nucs, uniform (their means over those seeds, percent).
    """
    rows, _ = setting_rows(frame, session, ALLOCATION_METHODS)
    rows = rows[np.isclose(rows["prune_rate"].astype(float), _check_rates([prune_rate])[0])] if len(rows) else rows
    out = []
    for metric in CLASS_METRICS:
        if metric not in rows:
            continue
        by = {m: rows[rows["method"] == m].groupby("seed")[metric].mean().dropna() for m in ALLOCATION_METHODS}
        seeds = sorted(set(by["nucs"].index) & set(by["nucs-uniform"].index))
        if not seeds:
            continue
        a, b = 100 * by["nucs"][seeds].to_numpy(), 100 * by["nucs-uniform"][seeds].to_numpy()
        d = a - b
        out.append((metric, float(d.mean()), float(d.std(ddof=1)) if d.size > 1 else float("nan"), len(seeds),
                    float(a.mean()), float(b.mean())))
    return pd.DataFrame(out, columns=["metric", "mean", "std", "n", "nucs", "uniform"])


def allocation_accuracy(frame: pd.DataFrame | None, session, prune_rates: Iterable[float] | None = None
                        ) -> pd.DataFrame:
    """Step b's accuracy rows from the results store: nucs-uniform vs nucs (optionally at some rates)."""
    stats, _ = store_summary(frame, session, ALLOCATION_METHODS)
    if prune_rates is not None and not stats.empty:
        stats = stats[np.isin(stats["prune_rate"].astype(float), _check_rates(prune_rates))]
    return stats


def missing_allocation_runs(frame: pd.DataFrame | None, session, prune_rate: float) -> list[str]:
    """Which of step b's methods have no stored run at `prune_rate` (for the "run them" button)."""
    stats = allocation_accuracy(frame, session, [prune_rate])
    have = set(stats["method"]) if not stats.empty else set()
    return [m for m in ALLOCATION_METHODS if m not in have]


def allocation_plan(session, prune_rate: float, *, seeds: Sequence[int] = (0,), epochs: int = 30,
                    winsor: Iterable[float] = (0.0, 0.0)) -> SweepPlan:
    """Step b's sweep: nucs-uniform and nucs (linear probe) at `prune_rate`, one run each per seed."""
    params = {m: winsor_params(m, tuple(winsor)) for m in ALLOCATION_METHODS}  # nucs-uniform takes none
    return SweepPlan(session.spec, ALLOCATION_METHODS, [float(prune_rate)], list(seeds), include_full=False,
                     method_params=params, run_fields={"mode": "linear", "epochs": int(epochs)})


def run_allocation_runs(session, store, prune_rate: float, *, seeds: Sequence[int] = (0,), epochs: int = 30,
                        winsor: Iterable[float] = (0.0, 0.0), on_progress: Any = None):
    """Train and store step b's runs (`allocation_plan`) that `store` lacks; the sweep report.

    The sweep skips every run already stored, so this runs exactly the missing ones.
    """
    from coreset_core.experiments.sweep import run_sweep

    configs = allocation_plan(session, prune_rate, seeds=seeds, epochs=epochs, winsor=winsor).configs()
    return run_sweep(configs, store, workers=1, progress=False, on_progress=on_progress,
                     cache_dir=session.cache_dir, data_dir=session.data_dir)


def windows_view(session, prune_rate: float, *, winsor: Iterable[float] = (0.0, 0.0), score: str | None = None,
                 mode: str = "nucs", endpoint: float | None = None,
                 search: bool = True) -> tuple[pd.DataFrame | None, pd.DataFrame, float | None]:
    """Step d: (KRR accuracy per endpoint k, per-class window at the chosen k, the chosen k).

    The window of class c at endpoint k covers sorted positions `[end - n_c, end)` with
    `end = clamp(round(k N_c), n_c, N_c)` (ascending difficulty); `start_q` / `end_q` are
    these positions as fractions of the class. `endpoint` overrides the search's choice.
    `search=False` runs no search (large sets run it on request): the curve and the chosen k
    are then None and the windows are those at `endpoint` (default 1.0) with the same budgets.
    The curve's accuracies are NaN when the search had nothing to choose (one candidate coreset).
    """
    from coreset_core.windows import window_starts

    if search:
        info = session.window_search(prune_rate, score=score, winsor=winsor, mode=mode).info
        curve = pd.DataFrame({"endpoint": info["endpoints"], "accuracy": info["accuracies"]})
        chosen, budgets = float(info["best_endpoint"]), np.asarray(info["budgets"], dtype=np.int64)
    else:
        curve, chosen = None, None
        budgets = session.budgets(prune_rate, score=score, winsor=winsor, mode=mode)
    k = float((chosen if chosen is not None else 1.0) if endpoint is None else endpoint)
    sizes = session.class_sizes
    starts = window_starts(sizes, budgets, np.array([k]))[0]
    windows = pd.DataFrame({"class": np.arange(session.num_classes), "class_name": session.class_names,
                            "class_size": sizes, "kept": budgets, "start": starts, "end": starts + budgets,
                            "start_q": starts / sizes, "end_q": (starts + budgets) / sizes})
    return curve, windows, chosen


def outcome_curves(frame: pd.DataFrame | None, session, methods: Sequence[str] = OUTCOME_METHODS, *,
                   metric: str = "accuracy") -> tuple[pd.DataFrame, dict]:
    """Step f: accuracy (mean, std over seeds, percent) per method and pruning rate, and the setting used."""
    return store_summary(frame, session, methods, metric=metric)


#: The pruning rates step f's button trains.
OUTCOME_RATES = (0.5, 0.7, 0.9)


def outcome_plan(session, *, rates: Sequence[float] = OUTCOME_RATES, seeds: Sequence[int] = (0,),
                 epochs: int = 30) -> SweepPlan:
    """Step f's sweep: Random, EL2N, BWS, NUCS at `rates` plus full data (linear probe), per seed."""
    return SweepPlan(session.spec, OUTCOME_METHODS, _check_rates(rates), list(seeds),
                     run_fields={"mode": "linear", "epochs": int(epochs)})


def missing_outcome_runs(frame: pd.DataFrame | None, session, *, rates: Sequence[float] = OUTCOME_RATES,
                         seeds: Sequence[int] = (0,)) -> list[str]:
    """The methods of step f with a run of `outcome_plan` not yet stored (for the "run them" button)."""
    have = set() if frame is None or frame.empty else set(frame["run_id"])
    return list(dict.fromkeys(c.method for c in outcome_plan(session, rates=rates, seeds=seeds).configs()
                              if c.run_id not in have))


__all__ = ["ALLOCATION_METHODS", "CLASS_METRICS", "OUTCOME_METHODS", "OUTCOME_RATES", "STARVATION_RATES",
           "allocation_differences", "budget_error_curve", "missing_outcome_runs", "noise_curve_work", "noise_verdict", "outcome_plan",
           "rescore_name", "setting_rows", "size_extremes", "starvation_table", "NoiseComparison", "ToyAnalysis", "ToyModel",
           "allocation_accuracy", "allocation_plan", "budget_comparison", "inject_label_noise", "is_long_tailed",
           "missing_allocation_runs", "noisy_class_difficulty", "outcome_curves", "run_allocation_runs", "starvation", "store_summary",
           "toy_analysis", "windows_view"]
