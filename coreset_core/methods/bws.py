"""BWS, Best Window Selection (Choi et al., ICML 2024).

The same fraction is kept in every class (uniform allocation: `n_c` from the shared
helper, exact integer rounding), and each class keeps a contiguous *window* of its
difficulty order. BWS parameterises a window by its start offset from the hardest end
(sorted hardest first, keep positions `[s * N_c, s * N_c + n_c)`); here windows use the
shared endpoint `k` of SPEC section 3 (sorted easiest first, keep `[end - n_c, end)` with
`end = clamp(round(k * N_c), n_c, N_c)`). With the same fraction in every class the two
families coincide: offset `s = 1 - k` (up to per-class integer rounding), so the grid
`k = 0, 0.05, ..., 1` is BWS's grid of offsets. The window is chosen by the ridge proxy
of SPEC section 4 (`coreset_core.windows.krr_window_search`: ridge regression on the
frozen features, accuracy on the whole training set, ties to the larger `k`).

NUCS is this method with difficulty-driven per-class widths instead of uniform ones.
Deterministic (`seed` only seeds `eval_subsample` when one is given).
"""
from __future__ import annotations

import numpy as np

from .random import check_budget, uniform_class_counts
from .registry import register


@register(
    "bws",
    description="Best Window Selection: same fraction per class, one difficulty window shared by all classes, "
                "the window chosen by ridge regression accuracy on frozen features.",
    needs_scores=True,
    needs_features=True,
    allocation="classwise",
)
def bws(labels, budget, *, scores, features, seed=0, endpoints=None, ridge=1.0, eval_subsample=None):
    from ..windows import krr_window_search  # lazy: windows pulls in the KRR backends

    labels = np.asarray(labels)
    budget = check_budget(budget, labels.shape[0])
    budgets = uniform_class_counts(labels, budget)
    res = krr_window_search(features, labels, scores, budgets, endpoints=endpoints, ridge=ridge,
                            eval_subsample=eval_subsample, seed=seed)
    best = float(res.best_endpoint)
    info = {
        "endpoints": np.asarray(res.endpoints, dtype=np.float64).tolist(),
        "accuracies": np.asarray(res.accuracies, dtype=np.float64).tolist(),
        "best_endpoint": best,
        "best_start_offset": 1.0 - best,
        "budgets": budgets.tolist(),
    }
    return np.sort(np.asarray(res.indices, dtype=np.int64)), info
