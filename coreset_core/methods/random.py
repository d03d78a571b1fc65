"""Random baselines.

- `random`: `B` indices drawn uniformly without replacement (`numpy.random.default_rng(seed)`).
- `random-classwise`: the same fraction in every class (the shared uniform allocation,
  `common.uniform_class_counts`, so `sum(n_c) == B` exactly), then `n_c` members of class `c`
  drawn uniformly, classes in order `0..C-1`, from one generator seeded with `seed`.
"""
from __future__ import annotations

import numpy as np

from .common import class_members, sorted_indices, uniform_class_counts
from .registry import register


@register(
    "random",
    description="Uniform random sample of B indices without replacement (seeded); class fractions vary by chance.",
    allocation="global",
)
def random_global(labels, budget, *, scores=None, features=None, seed=0):
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(labels.shape[0], size=budget, replace=False)).astype(np.int64)


@register(
    "random-classwise",
    description="Uniform random sample inside each class, the same fraction in every class (uniform allocation).",
    allocation="classwise",
)
def random_classwise(labels, budget, *, scores=None, features=None, seed=0):
    counts = uniform_class_counts(labels, budget)
    rng = np.random.default_rng(seed)
    kept = [rng.choice(members, size=int(n_c), replace=False)
            for members, n_c in zip(class_members(labels), counts)]
    return sorted_indices(kept)
