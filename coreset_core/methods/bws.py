"""BWS, Best Window Selection (Choi et al., ICML 2024), also registered as ``nucs-uniform``.

The same fraction is kept in every class (the shared uniform allocation: `n_c` from
`coreset_core.allocation` in mode ``"uniform"``, exact integer rounding, at least
`min_per_class` per class while the budget allows), and each class keeps a contiguous
*window* of its difficulty order. BWS parameterises a window by its start offset from the
hardest end (sorted hardest first, keep positions `[s * N_c, s * N_c + n_c)`); here windows
use the shared endpoint `k` of SPEC section 3 (sorted easiest first, keep `[end - n_c, end)`
with `end = clamp(round(k * N_c), n_c, N_c)`). With the same fraction in every class the two
families coincide: offset `s = 1 - k` (up to per-class integer rounding), so the grid
`k = 0, 0.05, ..., 1` is BWS's grid of offsets. The window is chosen by the ridge proxy of
SPEC section 4 (`coreset_core.windows.krr_window_search`: ridge regression on the frozen
features, accuracy on the whole training set, ties to the larger `k`).

NUCS is this method with difficulty-driven per-class widths instead of uniform ones, and
the NUCS paper's uniform-allocation ablation *is* this method: ``nucs-uniform`` is an alias
of ``bws`` in the registry (one function, two names). Deterministic (`seed` only seeds
`eval_subsample` when one is given).
"""
from __future__ import annotations

import numpy as np

from ..allocation import allocate_budgets_for_total
from ..windows import _krr_window_search
from .common import one_backbone
from .registry import register, register_alias


@register(
    "bws",
    description="Best Window Selection: same fraction per class, one difficulty window shared by all classes, "
                "the window chosen by ridge regression accuracy on frozen features.",
    needs_scores=True,
    needs_features=True,
    allocation="classwise",
)
def bws(labels, budget, *, scores, features, seed=0, endpoints=None, ridge=1.0, min_per_class=1,
        eval_subsample=None, device="cpu"):
    """BWS. `endpoints`: the grid (default 0, 0.05, ..., 1); `ridge`: KRR lambda; `min_per_class`:
    floor of the uniform allocation; `eval_subsample`: evaluate the KRR on a seeded stratified
    subsample (int or fraction); `device`: 'cpu', 'torch' or 'cuda'."""
    features = one_backbone(features, "bws")
    sizes = np.bincount(labels)
    budgets = allocate_budgets_for_total(np.ones(sizes.size), sizes, budget, "uniform", min_per_class)
    res = _krr_window_search(features, labels, scores, sizes, budgets, endpoints=endpoints, ridge=ridge,
                             eval_subsample=eval_subsample, seed=seed, device=device)
    info = {
        "budgets": budgets,
        "endpoints": res.endpoints,
        "accuracies": res.accuracies,
        "best_endpoint": float(res.best_endpoint),
        "best_start_offset": 1.0 - float(res.best_endpoint),
        "allocation_mode": "uniform",
        "krr_form": res.form,
        "eval_size": res.num_eval,
        "krr_evaluated": res.evaluated,
    }
    return res.indices, info


register_alias("nucs-uniform", of="bws", note="the NUCS paper's uniform-allocation ablation is BWS")
