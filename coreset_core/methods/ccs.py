"""Coverage-centric coreset selection, CCS (Zheng et al., ICLR 2023).

1. **Hard cutoff**: drop the `floor(beta * N)` hardest samples (highest score; ties: the
   lower index counts as harder, as in `el2n`). `floor` is the authors' `int(beta * N)`.
   `beta = 0` drops nothing. A budget larger than what is left raises a ValueError.
2. **Strata**: split the score range `[min, max]` of the remaining samples into `strata`
   (default 50) bins of equal width; a sample with score `s` goes to bin
   `min(floor((s - min) / width), strata - 1)`, so the maximum falls in the last bin (the
   authors instead stretch the top edge by `max * 1.0001`, which misbehaves for scores
   `<= 0`). When all remaining scores are equal, everything is in bin 0.
3. **Budgets**: visit the bins from the smallest (ties: lower bin index), each taking
   `min(size, remaining // bins_left)`, where `bins_left` counts the bin being visited and
   the ones after it (empty bins included; they take 0): `common.equal_counts`, the rule D2
   Pruning uses for its class counts. It hands out exactly `B` when the bins hold `B`.
4. **Sampling**: inside each bin (bins in index order), a uniform random subset of its
   budget, from one `numpy.random.default_rng(seed)`.

The class fractions are an output (the method is global).
"""
from __future__ import annotations

import math

import numpy as np

from .common import equal_counts, hardest_first, sorted_indices
from .registry import register


def ccs_strata(scores: np.ndarray, strata: int) -> np.ndarray:
    """Equal-width bin (`0..strata-1`) of every score over `[min, max]`, max in the last bin."""
    scores = np.asarray(scores, dtype=np.float64)
    lo, hi = float(scores.min()), float(scores.max())
    if hi <= lo:
        return np.zeros(scores.shape[0], dtype=np.int64)
    width = (hi - lo) / strata
    return np.minimum(np.floor((scores - lo) / width).astype(np.int64), strata - 1)


@register(
    "ccs",
    description="Coverage-centric selection: drop the hardest beta*N, split the remaining score range into "
                "equal-width strata, spread the budget evenly over strata (smallest first), random inside each.",
    needs_scores=True,
    allocation="global",
)
def ccs(labels, budget, *, scores, features=None, seed=0, beta=0.0, strata=50):
    n = labels.shape[0]
    beta = float(beta)
    if not (0.0 <= beta < 1.0):
        raise ValueError(f"ccs: beta (fraction of hardest samples dropped) must be in [0, 1), got {beta}")
    strata = int(strata)
    if strata < 1:
        raise ValueError(f"ccs: strata must be a positive integer, got {strata}")
    dropped = int(math.floor(beta * n))
    if budget > n - dropped:
        raise ValueError(
            f"ccs: budget {budget} exceeds the {n - dropped} samples left after dropping the hardest "
            f"floor(beta*N) = {dropped}; lower beta or the budget (raise the pruning rate)"
        )
    pool = np.sort(hardest_first(scores)[dropped:])
    bins = ccs_strata(scores[pool], strata)
    sizes = np.bincount(bins, minlength=strata)
    per_bin = equal_counts(sizes, budget)
    rng = np.random.default_rng(seed)
    kept = []
    for b in range(strata):
        if per_bin[b] == 0:
            continue
        members = pool[bins == b]
        kept.append(rng.choice(members, size=int(per_bin[b]), replace=False))
    indices = sorted_indices(kept)
    info = {"dropped": dropped, "strata_sizes": sizes.tolist(), "strata_budgets": per_bin.tolist()}
    return indices, info
