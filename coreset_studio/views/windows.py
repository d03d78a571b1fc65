"""The Windows page's data: the NUCS window at the KRR endpoint, or at the user's endpoint (SPEC 3-4).

Both come from `Session.select`: the KRR choice is the method's own search (its info holds
the whole accuracy curve), and an endpoint set by hand is the same method with
`endpoints=[k]`, so the selection's recorded config says honestly how it was made and
reproduces it (`coreset select ... --param 'endpoints=[k]'`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Hashable

import numpy as np
import pandas as pd

from coreset_core.session import SEARCH_METHODS as METHOD_OF_MODE
from coreset_core.windows import window_starts
from coreset_studio.settings import winsor_params


#: The KRR search runs by itself up to this many training samples and this much estimated work (flop);
#: above either it waits for a click (at 500,000 x 1,000 classes it takes minutes).
AUTO_MAX_SAMPLES = 20_000
AUTO_MAX_FLOP = 2e11


@dataclass
class WindowView:
    """What the Windows page shows: the kept window and where it came from."""

    method: str
    params: dict[str, Any]  #: the method's parameters of `selection` (winsor, and endpoints when overridden)
    selection: Any  #: the shown selection (at `endpoint`)
    search: Any | None  #: the KRR-chosen selection (None while the search waits for a click)
    endpoint: float
    budgets: np.ndarray

    @property
    def overridden(self) -> bool:
        return self.search is None or "endpoints" in self.params

    @property
    def krr_endpoint(self) -> float | None:
        return None if self.search is None else float(self.search.info["best_endpoint"])


def krr_selection(session: Any, prune_rate: float, *, score: str, winsor: tuple[float, float],
                  mode: str = "nucs") -> Any:
    """The selection of the method of `mode` with its endpoint chosen by the KRR search (memoised)."""
    method = METHOD_OF_MODE[mode]
    return session.select(method, prune_rate, score=score, **winsor_params(method, winsor))


def window_view(session: Any, prune_rate: float, *, score: str, winsor: tuple[float, float], mode: str = "nucs",
                endpoint: float | None = None, search: bool = True) -> WindowView:
    """The window at the KRR endpoint (`endpoint` None), or at `endpoint` chosen by hand.

    `search=False` skips the KRR search (large sets run it on request); the window is then
    the one at `endpoint` (default 1.0, the hardest samples).
    """
    method = METHOD_OF_MODE[mode]
    base = winsor_params(method, winsor)
    krr = krr_selection(session, prune_rate, score=score, winsor=winsor, mode=mode) if search else None
    if endpoint is None and krr is not None:
        return WindowView(method, base, krr, krr, float(krr.info["best_endpoint"]), np.asarray(krr.info["budgets"]))
    k = 1.0 if endpoint is None else float(endpoint)
    params = {**base, "endpoints": [k]}
    shown = session.select(method, prune_rate, score=score, **params)
    return WindowView(method, params, shown, krr, k, np.asarray(shown.info["budgets"]))


@dataclass(frozen=True)
class SearchGate:
    """Whether a page runs the KRR endpoint search on this rerun, and what its button says otherwise."""

    key: tuple  #: the search's settings: what a click asks for (kept in the page's set of requests)
    flop: float  #: the estimated work (`search_cost`)
    num_samples: int
    num_classes: int
    auto: bool  #: small enough to run by itself, or held already
    requested: bool  #: asked for by a click

    @property
    def runs(self) -> bool:
        return self.auto or self.requested

    @property
    def button_label(self) -> str:
        return (f"Run the KRR endpoint search ({self.num_samples:,} samples x {self.num_classes:,} classes, "
                f"~{self.flop:.0e} flop: this takes a while)")


def search_gate(session: Any, prune_rate: float, *, data_key: Hashable, mode: str, score: str,
                winsor: tuple[float, float], requested: Collection[tuple]) -> SearchGate:
    """The gate of the KRR search of `mode` at `prune_rate` on `session` (the data `data_key` names):
    it runs by itself when held already or small (`AUTO_MAX_SAMPLES`, `AUTO_MAX_FLOP`), else once
    its key is in `requested` (the keys of the clicked buttons)."""
    method = METHOD_OF_MODE[mode]
    key = (data_key, mode, float(prune_rate), score, tuple(winsor))
    n = int(session.labels.shape[0])
    flop = search_cost(session, prune_rate, mode)
    held = session.has_selection(method, prune_rate, score=score, **winsor_params(method, winsor))
    auto = held or (n <= AUTO_MAX_SAMPLES and flop <= AUTO_MAX_FLOP)
    return SearchGate(key, flop, n, int(session.num_classes), auto, key in requested)


def search_cost(session: Any, prune_rate: float, mode: str = "nucs") -> float:
    """The estimated work (flop) of the KRR endpoint search of `mode` at `prune_rate`: the same estimate
    (`coreset_core.methods.cost.estimate`) that refuses a search too large to run."""
    from coreset_core.methods import get_method
    from coreset_core.methods.cost import estimate
    from coreset_core.validation import budget_for

    spec = get_method(METHOD_OF_MODE[mode])
    labels = session.labels
    cost = estimate(spec.alias_of or spec.name, labels, budget_for(prune_rate, labels.shape[0]),
                    int(session.train.features.shape[1]), spec.params)
    return 0.0 if cost is None else float(cost.flop)


def window_bounds(class_sizes: np.ndarray, budgets: np.ndarray, endpoint: float) -> pd.DataFrame:
    """Per class: the window `[start, end)` in sorted positions and as fractions of the class (SPEC 3)."""
    sizes = np.asarray(class_sizes, dtype=np.int64)
    budgets = np.asarray(budgets, dtype=np.int64)
    start = window_starts(sizes, budgets, np.array([float(endpoint)]))[0]
    end = start + budgets
    safe = np.maximum(sizes, 1)
    return pd.DataFrame({"N_c": sizes, "n_c": budgets, "start": start, "end": end,
                         "start_frac": start / safe, "end_frac": end / safe})


def window_table(session: Any, view: WindowView, score: str, winsor: tuple[float, float]) -> pd.DataFrame:
    """The page's table: class, window bounds, class difficulty, mean score kept and of the class (per-class
    means by one weighted count over the samples, not one pass per class)."""
    d, labels, kept = session.difficulty(score), session.labels, view.selection.indices
    c = session.num_classes
    table = window_bounds(session.class_sizes, view.budgets, view.endpoint)
    table.insert(0, "class", session.class_names)
    table["difficulty"] = np.asarray(session.class_difficulty(score, winsor))
    kept_n = np.bincount(labels[kept], minlength=c)
    kept_sum = np.bincount(labels[kept], weights=d[kept], minlength=c)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["mean score kept"] = np.where(np.asarray(view.budgets) > 0, kept_sum / kept_n, np.nan)
        table["mean score class"] = np.bincount(labels, weights=d, minlength=c) / np.asarray(session.class_sizes)
    return table


def krr_measured(search: Any) -> bool:
    """Whether the search measured its accuracies: not when every endpoint gave the same coreset
    (nothing to choose, no ridge model fitted: `info["krr_evaluated"]` False, accuracies NaN)."""
    return search.info.get("krr_evaluated", True) is not False


def krr_accuracy_at(search: Any, endpoint: float) -> float | None:
    """The KRR proxy accuracy at `endpoint`, interpolated on the search's grid; None when not measured."""
    if not krr_measured(search):
        return None
    return float(np.interp(endpoint, search.info["endpoints"], search.info["accuracies"]))
