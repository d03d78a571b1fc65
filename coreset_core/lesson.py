"""The Lesson's data: the NUCS argument in six steps, each a table built from a `Session`.

a. `starvation`: pruning the hardest samples globally (el2n-easy) starves minority classes
   (per-class kept fraction against the pruning rate; the paper's Figure 2).
b. `budget_comparison`: class-wise uniform against difficulty-proportional budgets
   (Observation 1), with `allocation_accuracy` (results store) / `live_accuracy` (probes now).
c. label noise: plain against winsorized class difficulty (`coreset_core.label_noise`).
d. `windows_view`: the KRR accuracy over the window endpoint k and each class's chosen window.
e. the toy model of Section 3.2 and eq. 6 (`coreset_core.toy_model`).
f. `outcome_curves`: accuracy against pruning rate for Random, EL2N, BWS and NUCS from the store.

Pure library code (no streamlit); every function returns plain pandas tables for a chart.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .label_noise import NoiseComparison, inject_label_noise, noisy_class_difficulty  # noqa: F401 (step c)
from .toy_model import ToyAnalysis, ToyModel, analyse as toy_analysis  # noqa: F401 (step e)

#: The pruning rates of step a's chart (the paper's Figure 2 spans 0-90 %).
STARVATION_RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: The methods of step f (the paper's main comparison) and of step b (uniform vs NUCS budgets).
OUTCOME_METHODS = ("random", "el2n", "bws", "nucs")
ALLOCATION_METHODS = ("nucs-uniform", "nucs")


def _check_rates(rates: Iterable[float]) -> list[float]:
    from .validation import check_prune_rate

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


def _spec_rows(frame: pd.DataFrame, session) -> pd.DataFrame:
    """The results rows made under the session's data setting (resolution: same or not recorded)."""
    spec = session.spec
    wanted = {"dataset": spec.dataset, "imbalance": spec.imbalance, "data_seed": spec.data_seed,
              "backbone": spec.backbone, "limit_n": spec.limit, "test_limit": spec.test_limit,
              "score": spec.score, "score_epochs": spec.score_epochs}
    mask = np.ones(len(frame), dtype=bool)
    for col, value in wanted.items():
        if col in frame.columns:
            mask &= (frame[col].isna() if value is None else frame[col] == value).to_numpy()
    if "resolution" in frame.columns:
        mask &= (frame["resolution"].isna() | (frame["resolution"] == session.resolution)).to_numpy()
    return frame[mask]


def store_summary(frame: pd.DataFrame | None, session, methods: Sequence[str]) -> tuple[pd.DataFrame, dict]:
    """Mean, std and count of accuracy (percent) per method and rate for the session's data setting.

    Rows of `methods` and the full-data run are kept; when they still span several training
    settings (mode, epochs, ...), the one with the most rows is used and returned beside the table.
    """
    from .store import FULL_DATA, settings_of, summary_frame

    empty = pd.DataFrame(columns=["method", "label", "prune_rate", "mean", "std", "n"])
    if frame is None or frame.empty:
        return empty, {}
    rows = _spec_rows(frame, session)
    rows = rows[rows["method"].isin(list(methods) + [FULL_DATA])]
    settings = settings_of(rows)
    if not settings:
        return empty, {}

    def members(setting: dict) -> pd.Series:
        mask = pd.Series(True, index=rows.index)
        for col, value in setting.items():
            mask &= rows[col].isna() if value is None else rows[col] == value
        return mask

    best = max(settings, key=lambda s: (s.get("mode") == "linear", int(members(s).sum())))
    return summary_frame(rows[members(best)]), best


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


def live_accuracy(session, prune_rate: float, methods: Sequence[str] = ALLOCATION_METHODS, *,
                  seeds: Sequence[int] = (0,), epochs: int = 30, winsor: Iterable[float] = (0.0, 0.0)
                  ) -> pd.DataFrame:
    """Train the linear probe on each method's selection now: method, seed, accuracy, balanced_accuracy."""
    rows = []
    for method in methods:
        params = {"winsor": tuple(winsor)} if method.startswith("nucs") else {}
        for seed in seeds:
            sel = session.select(method, prune_rate, seed=int(seed), **params)
            metrics = session.probe(sel.indices, seed=int(seed), epochs=epochs).metrics
            rows.append({"method": method, "seed": int(seed), "prune_rate": float(prune_rate),
                         "num_kept": int(sel.indices.size), "accuracy": float(metrics["accuracy"]),
                         "balanced_accuracy": float(metrics["balanced_accuracy"])})
    return pd.DataFrame(rows)


def windows_view(session, prune_rate: float, *, winsor: Iterable[float] = (0.0, 0.0), score: str | None = None,
                 mode: str = "nucs", endpoint: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Step d: (KRR accuracy per endpoint k, per-class window at the chosen k, the chosen k).

    The window of class c at endpoint k covers sorted positions `[end - n_c, end)` with
    `end = clamp(round(k N_c), n_c, N_c)` (ascending difficulty); `start_q` / `end_q` are
    these positions as fractions of the class. `endpoint` overrides the search's choice.
    """
    from .windows import window_starts

    search = session.window_search(prune_rate, score=score, winsor=winsor, mode=mode)
    curve = pd.DataFrame({"endpoint": search.endpoints, "accuracy": search.accuracies})
    k = float(search.best_endpoint if endpoint is None else endpoint)
    sizes = session.class_sizes
    budgets = session.budgets(prune_rate, score=score, winsor=winsor, mode=mode)
    starts = window_starts(sizes, budgets, np.array([k]))[0]
    windows = pd.DataFrame({"class": np.arange(session.num_classes), "class_name": session.class_names,
                            "class_size": sizes, "kept": budgets, "start": starts, "end": starts + budgets,
                            "start_q": starts / sizes, "end_q": (starts + budgets) / sizes})
    return curve, windows, k


def outcome_curves(frame: pd.DataFrame | None, session, methods: Sequence[str] = OUTCOME_METHODS
                   ) -> tuple[pd.DataFrame, dict]:
    """Step f: accuracy (mean, std over seeds, percent) per method and pruning rate, and the setting used."""
    return store_summary(frame, session, methods)


__all__ = ["ALLOCATION_METHODS", "OUTCOME_METHODS", "STARVATION_RATES", "NoiseComparison", "ToyAnalysis", "ToyModel",
           "allocation_accuracy", "budget_comparison", "inject_label_noise", "is_long_tailed", "live_accuracy",
           "missing_allocation_runs", "noisy_class_difficulty", "outcome_curves", "starvation", "store_summary",
           "toy_analysis", "windows_view"]
