"""Hardest-first pruning by a difficulty score (EL2N in Paul et al. 2021; any score works).

- `el2n`: keep the `B` highest scores over the whole set (SPEC 6, "EL2N (hard)"). The
  class fractions are an output, not an input: on long-tailed data hard minority classes
  may keep more or less than their share.
- `el2n-easy`: the mirror image, keep the `B` lowest scores (prune the hardest first), the
  protocol behind the NUCS paper's Figure 2 (minority-class under-selection).
- `el2n-classwise`: keep the hardest `n_c` of every class, with `n_c` the uniform
  allocation (same fraction per class, exact integer rounding).

Ties in the score are broken by the lower sample index (a lower index counts as harder,
so `el2n-easy` takes the higher index of a tie first),
so the result is a deterministic function of the scores; `seed` is unused.
"""
from __future__ import annotations

import numpy as np

from .common import class_members, hardest_first, sorted_indices, uniform_class_counts
from .registry import register


@register(
    "el2n",
    description="Keep the B hardest samples over the whole set (highest score first; ties by lower index).",
    needs_scores=True,
    allocation="global",
)
def el2n_global(labels, budget, *, scores, features=None, seed=0):
    return np.sort(hardest_first(scores)[:budget]).astype(np.int64)


@register(
    "el2n-classwise",
    description="Keep the hardest samples of each class, the same fraction in every class (uniform allocation).",
    needs_scores=True,
    allocation="classwise",
)
def el2n_classwise(labels, budget, *, scores, features=None, seed=0):
    counts = uniform_class_counts(labels, budget)
    kept = [hardest_first(scores, members)[:n_c] for members, n_c in zip(class_members(labels), counts)]
    return sorted_indices(kept)


@register(
    "el2n-easy",
    description="Prune the hardest: keep the B easiest samples over the whole set (the protocol of the NUCS "
                "paper's Figure 2, where minority classes are starved).",
    needs_scores=True,
    allocation="global",
)
def el2n_easy(labels, budget, *, scores, features=None, seed=0):
    return np.sort(hardest_first(scores)[::-1][:budget]).astype(np.int64)
