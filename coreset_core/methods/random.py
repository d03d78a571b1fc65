"""Random baselines, plus the small helpers every class-wise baseline shares.

- `random`: `B` indices drawn uniformly without replacement (`numpy.random.default_rng(seed)`).
- `random-classwise`: the same fraction in every class. The per-class counts come from the
  shared allocation (`coreset_core.allocation.allocate_budgets_for_total`, mode
  ``"uniform"``: ideal `(1 - alpha) * N_c`, floor, then the leftover units to the largest
  fractional parts, at least one per class while `B >= C`), so `sum(n_c) == B` exactly.
  Then `n_c` members of class `c` are drawn uniformly, classes in order `0..C-1`, from one
  generator seeded with `seed`.

`uniform_class_counts` and `class_members` are used by every class-wise baseline
(`el2n-classwise`, `moderate-classwise`, `kcenter-classwise`, `d2`, `ram-apl`, `bws`).
"""
from __future__ import annotations

import numpy as np

from .registry import register


def class_members(labels: np.ndarray, num_classes: int | None = None) -> list[np.ndarray]:
    """Indices of each class's samples, ascending, for classes `0..C-1`."""
    labels = np.asarray(labels)
    c = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    order = np.argsort(labels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=c))])
    return [order[bounds[k]:bounds[k + 1]] for k in range(c)]


def uniform_class_counts(labels: np.ndarray, budget: int) -> np.ndarray:
    """Per-class counts with the same fraction kept in every class, summing to `budget` exactly.

    Delegates to the shared allocation (`allocate_budgets_for_total(..., mode="uniform")`) so
    that every class-wise method and NUCS-uniform agree on the rounding.
    """
    from ..allocation import allocate_budgets_for_total  # lazy: keeps module import order free

    sizes = np.bincount(np.asarray(labels))
    counts = allocate_budgets_for_total(np.ones(sizes.size), sizes, int(budget), mode="uniform")
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() != budget or np.any(counts > sizes) or np.any(counts < 0):
        raise RuntimeError(f"uniform allocation returned counts {counts.tolist()} for budget {budget}")
    return counts


def check_budget(budget: int, n: int) -> int:
    """`budget` as an int in `[1, n]` (a ValueError otherwise)."""
    b = int(budget)
    if b < 1 or b > n:
        raise ValueError(f"budget must be between 1 and the number of samples ({n}), got {budget}")
    return b


@register(
    "random",
    description="Uniform random sample of B indices without replacement (seeded); class fractions vary by chance.",
    allocation="global",
)
def random_global(labels, budget, *, scores=None, features=None, seed=0):
    labels = np.asarray(labels)
    n = labels.shape[0]
    budget = check_budget(budget, n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=budget, replace=False)).astype(np.int64)


@register(
    "random-classwise",
    description="Uniform random sample inside each class, the same fraction in every class (uniform allocation).",
    allocation="classwise",
)
def random_classwise(labels, budget, *, scores=None, features=None, seed=0):
    labels = np.asarray(labels)
    budget = check_budget(budget, labels.shape[0])
    counts = uniform_class_counts(labels, budget)
    rng = np.random.default_rng(seed)
    kept = [rng.choice(members, size=int(n_c), replace=False)
            for members, n_c in zip(class_members(labels), counts)]
    return np.sort(np.concatenate(kept)).astype(np.int64)
