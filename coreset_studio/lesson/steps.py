"""The Lesson's data: the NUCS argument in six steps, each a table built from a `Session`.

a. `starvation`: pruning the hardest samples globally (el2n-easy) starves minority classes
   (per-class kept fraction against the pruning rate; the paper's Figure 2).
b. `budget_comparison`: class-wise uniform against difficulty-proportional budgets
   (Observation 1), with `allocation_accuracy` from the results store (`run_allocation_runs`
   trains and stores the missing runs).
c. label noise: plain against winsorized class difficulty (`coreset_studio.lesson.label_noise`).
d. `windows_view`: the KRR accuracy over the window endpoint k and each class's chosen window.
e. the toy model of Section 3.2 and eq. 6 (`coreset_studio.lesson.toy_model`).
f. `outcome_curves`: accuracy against pruning rate for Random, EL2N, BWS and NUCS from the store.

Pure library code (no streamlit); every function returns plain pandas tables for a chart.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from coreset_studio.lesson.label_noise import NoiseComparison, inject_label_noise, noisy_class_difficulty  # noqa: F401 (step c)
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


def starvation(session, rates: Iterable[float] = STARVATION_RATES, *, method: str = "el2n-easy",
               score: str | None = None) -> pd.DataFrame:
    """Step a: one row per class and rate: class, class_name, class_size, prune_rate, kept_fraction."""
    table = session.kept_fraction_table(method, _check_rates(rates), score=score)
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
    from coreset_core.experiments.store import FULL_DATA, settings_of, summary_frame
    from coreset_studio.views.accuracy import matching_runs, rows_of_setting  # the Accuracy page's matching rule

    empty = pd.DataFrame(columns=["method", "label", "prune_rate", "mean", "std", "n"])
    if frame is None or frame.empty:
        return empty, {}
    rows = matching_runs(frame, session.spec, session.resolution)
    rows = rows[rows["method"].isin(list(methods) + [FULL_DATA])]
    settings = settings_of(rows)
    if not settings:
        return empty, {}
    best = max(settings, key=lambda s: (s.get("mode") == "linear", len(rows_of_setting(rows, s))))
    return summary_frame(rows_of_setting(rows, best), metric=metric), best


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


def allocation_configs(session, prune_rate: float, *, seeds: Sequence[int] = (0,), epochs: int = 30,
                       winsor: Iterable[float] = (0.0, 0.0)) -> list:
    """Step b's runs (nucs-uniform and nucs, linear probe) at `prune_rate`, one per seed (`RunConfig`s)."""
    from coreset_core.experiments.sweep import plan_sweep

    winsor = tuple(float(w) for w in winsor)
    params = {m: {"winsor": winsor} for m in ALLOCATION_METHODS} if winsor != (0.0, 0.0) else None
    return plan_sweep(session.spec, list(ALLOCATION_METHODS), [float(prune_rate)], list(seeds), include_full=False,
                      method_params=params, mode="linear", epochs=int(epochs))


def run_allocation_runs(session, store, prune_rate: float, *, seeds: Sequence[int] = (0,), epochs: int = 30,
                        winsor: Iterable[float] = (0.0, 0.0), on_progress: Any = None):
    """Train and store step b's runs (`allocation_configs`) that `store` lacks; the sweep report.

    The sweep skips every run already stored, so this runs exactly the missing ones.
    """
    from coreset_core.experiments.sweep import run_sweep

    configs = allocation_configs(session, prune_rate, seeds=seeds, epochs=epochs, winsor=winsor)
    return run_sweep(configs, store, workers=1, progress=False, on_progress=on_progress,
                     cache_dir=session.cache_dir, data_dir=session.data_dir)


def windows_view(session, prune_rate: float, *, winsor: Iterable[float] = (0.0, 0.0), score: str | None = None,
                 mode: str = "nucs", endpoint: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Step d: (KRR accuracy per endpoint k, per-class window at the chosen k, the chosen k).

    The window of class c at endpoint k covers sorted positions `[end - n_c, end)` with
    `end = clamp(round(k N_c), n_c, N_c)` (ascending difficulty); `start_q` / `end_q` are
    these positions as fractions of the class. `endpoint` overrides the search's choice.
    """
    from coreset_core.windows import window_starts

    search = session.window_search(prune_rate, score=score, winsor=winsor, mode=mode).info
    curve = pd.DataFrame({"endpoint": search["endpoints"], "accuracy": search["accuracies"]})
    k = float(search["best_endpoint"] if endpoint is None else endpoint)
    sizes = session.class_sizes
    budgets = np.asarray(search["budgets"], dtype=np.int64)
    starts = window_starts(sizes, budgets, np.array([k]))[0]
    windows = pd.DataFrame({"class": np.arange(session.num_classes), "class_name": session.class_names,
                            "class_size": sizes, "kept": budgets, "start": starts, "end": starts + budgets,
                            "start_q": starts / sizes, "end_q": (starts + budgets) / sizes})
    return curve, windows, k


def outcome_curves(frame: pd.DataFrame | None, session, methods: Sequence[str] = OUTCOME_METHODS, *,
                   metric: str = "accuracy") -> tuple[pd.DataFrame, dict]:
    """Step f: accuracy (mean, std over seeds, percent) per method and pruning rate, and the setting used."""
    return store_summary(frame, session, methods, metric=metric)


__all__ = ["ALLOCATION_METHODS", "OUTCOME_METHODS", "STARVATION_RATES", "NoiseComparison", "ToyAnalysis", "ToyModel",
           "allocation_accuracy", "allocation_configs", "budget_comparison", "inject_label_noise", "is_long_tailed",
           "missing_allocation_runs", "noisy_class_difficulty", "outcome_curves", "run_allocation_runs", "starvation", "store_summary",
           "toy_analysis", "windows_view"]
