"""Per-class budgets across pruning rates: NUCS, uniform and a global method side by side (SPEC 2).

NUCS and uniform counts come from `Session.budgets`, a global method's class shares from
`Session.kept_fraction_table` (its real selections); tables are classes x rates.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd


def allocation_counts(session: Any, rates: Sequence[float], *, mode: str, score: str | None = None,
                      winsor: tuple[float, float] = (0.0, 0.0)) -> pd.DataFrame:
    """Kept count per class (classes x rates) of the `mode` allocation ('nucs' or 'uniform')."""
    cols = {float(r): np.asarray(session.budgets(float(r), score=score, winsor=winsor, mode=mode)) for r in rates}
    table = pd.DataFrame(cols, index=pd.RangeIndex(session.num_classes, name="class"))
    table.columns = pd.Index(list(cols), name="prune_rate", dtype=np.float64)
    return table


def fractions(counts: pd.DataFrame, class_sizes: np.ndarray) -> pd.DataFrame:
    """Kept counts -> kept fraction of each class (rows divided by `N_c`)."""
    return counts.div(np.asarray(class_sizes, dtype=np.float64), axis=0)


def budget_counts_frame(class_names: Sequence[str], class_sizes: np.ndarray, difficulty: np.ndarray,
                        columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The counts at one pruning rate: class, N_c, difficulty, then the kept count and kept % of each
    allocation in `columns` (`{label: per-class counts}`), and a total row (its difficulty is the
    sample-weighted mean over classes, the whole set's mean difficulty)."""
    sizes = np.asarray(class_sizes, dtype=np.int64)
    difficulty = np.asarray(difficulty, dtype=np.float64)
    out = pd.DataFrame({"class": list(class_names), "N_c": sizes, "difficulty": np.round(difficulty, 4)})
    total: dict[str, Any] = {"class": "total", "N_c": int(sizes.sum()),
                             "difficulty": round(float(np.sum(sizes * difficulty) / sizes.sum()), 4)}
    for label, counts in columns.items():
        counts = np.asarray(counts, dtype=np.int64)
        out[f"{label} kept"] = counts
        out[f"{label} %"] = np.round(100.0 * counts / np.maximum(sizes, 1), 1)
        total[f"{label} kept"] = int(counts.sum())
        total[f"{label} %"] = round(100.0 * float(counts.sum()) / sizes.sum(), 1)
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)
