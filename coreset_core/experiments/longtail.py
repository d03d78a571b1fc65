"""Long-tail metrics of one run, from its per-class test accuracies and class sizes (SPEC section 9).

Imbalance research judges a pruning method by who pays for it: the rare classes. Every
metric here is computed from the per-class test accuracies `a_c` and the class sizes `n_c`
of the **full, unpruned** training set, so every method at every rate groups classes the
same way:

- worst-class accuracy: `min_c a_c`;
- many / medium / few-shot accuracy: mean `a_c` over classes with `n_c > many`,
  `few <= n_c <= many`, `n_c < few` (default `many=100, few=20`); a group without a class
  (or without a measured class) is None, never 0;
- tail accuracy: mean `a_c` over the `max(1, floor(C / 3))` classes with the fewest training
  images (ties: lower class id first, a stable sort by `n_c`);
- classes with nothing kept: how many classes kept no training sample.

A class without test samples has no accuracy (None/NaN) and is left out of every mean and
of the minimum. `METRICS` lists the results-store columns these fill.
"""
from __future__ import annotations

import json
import math
from typing import Any, Sequence

import numpy as np

#: Default shot thresholds `(many, few)`: many-shot `n_c > 100`, few-shot `n_c < 20`.
DEFAULT_SHOTS: tuple[int, int] = (100, 20)

#: Metric name -> label, in display order: every metric a table, a chart or the store offers.
METRIC_LABELS: dict[str, str] = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "worst_class_accuracy": "worst-class accuracy",
    "tail_accuracy": "tail accuracy (rarest third of the classes)",
    "many_shot_accuracy": "many-shot accuracy",
    "medium_shot_accuracy": "medium-shot accuracy",
    "few_shot_accuracy": "few-shot accuracy",
    "classes_nothing_kept": "classes with nothing kept",
}
#: The long-tail metrics this module computes (also results-store columns).
METRICS: tuple[str, ...] = ("worst_class_accuracy", "tail_accuracy", "many_shot_accuracy", "medium_shot_accuracy",
                            "few_shot_accuracy", "classes_nothing_kept")
#: Metrics that count classes instead of measuring an accuracy (shown as they are, not in percent).
COUNT_METRICS: tuple[str, ...] = ("classes_nothing_kept",)


def check_shots(shots: Any) -> tuple[int, int]:
    """`(many, few)` from a pair or a text like "100,20"; a clear error for anything else."""
    if isinstance(shots, str):
        parts = [p.strip() for p in shots.split(",")]
    else:
        parts = list(shots) if isinstance(shots, (tuple, list)) else [shots]
    try:
        many, few = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"shots must be two whole numbers MANY,FEW such as 100,20 (many-shot: more than MANY "
                         f"training images, few-shot: fewer than FEW), got {shots!r}") from None
    if few < 1 or many < few:
        raise ValueError(f"shots {many},{few}: need MANY >= FEW >= 1 (many-shot: more than MANY training images, "
                         "few-shot: fewer than FEW), e.g. 100,20")
    return many, few


def shot_groups(class_sizes: Sequence[int], shots: Any = DEFAULT_SHOTS) -> np.ndarray:
    """Per class its group name: "many", "medium" or "few" (by the full training set's sizes)."""
    many, few = check_shots(shots)
    n = np.asarray(class_sizes, dtype=np.int64)
    return np.where(n > many, "many", np.where(n < few, "few", "medium"))


def tail_classes(class_sizes: Sequence[int]) -> np.ndarray:
    """Ids of the `max(1, floor(C / 3))` classes with the fewest training images (stable sort by size)."""
    n = np.asarray(class_sizes, dtype=np.int64)
    return np.argsort(n, kind="stable")[:max(1, n.size // 3)]


def _mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def longtail_metrics(per_class_accuracy: Sequence[Any], class_sizes: Sequence[int],
                     class_kept: Sequence[int] | None = None, shots: Any = DEFAULT_SHOTS) -> dict[str, Any]:
    """Every metric of `METRICS` for one run (accuracies as fractions; None where undefined).

    `per_class_accuracy` may hold None for classes without test samples; `class_sizes` are
    the full training set's; `class_kept` the kept counts (None: `classes_nothing_kept` is None).
    """
    acc = np.array([np.nan if v is None else float(v) for v in per_class_accuracy], dtype=np.float64)
    n = np.asarray(class_sizes, dtype=np.int64)
    if acc.shape != n.shape or n.size == 0:
        raise ValueError(f"per-class accuracies ({acc.size}) and class sizes ({n.size}) must list the same "
                         "classes, at least one")
    groups = shot_groups(n, shots)
    finite = acc[np.isfinite(acc)]
    kept = None if class_kept is None else np.asarray(class_kept, dtype=np.int64)
    if kept is not None and kept.shape != n.shape:
        raise ValueError(f"kept counts ({kept.size}) and class sizes ({n.size}) must list the same classes")
    return {
        "worst_class_accuracy": float(finite.min()) if finite.size else None,
        "tail_accuracy": _mean(acc[tail_classes(n)]),
        "many_shot_accuracy": _mean(acc[groups == "many"]),
        "medium_shot_accuracy": _mean(acc[groups == "medium"]),
        "few_shot_accuracy": _mean(acc[groups == "few"]),
        "classes_nothing_kept": None if kept is None else int(np.sum(kept == 0)),
    }


def _decoded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def row_metrics(record: Any, shots: Any = DEFAULT_SHOTS) -> dict[str, Any]:
    """`longtail_metrics` of a stored row (a mapping with the JSON columns); all None when it lacks them."""
    accuracies = _decoded(record.get("per_class_accuracy_json"))
    sizes = _decoded(record.get("class_sizes_json"))
    kept = _decoded(record.get("class_kept_json"))
    if not isinstance(accuracies, list) or not isinstance(sizes, list) or len(accuracies) != len(sizes) or not sizes:
        return dict.fromkeys(METRICS)
    if not isinstance(kept, list) or len(kept) != len(sizes):
        kept = None
    return longtail_metrics(accuracies, sizes, kept, shots)


def with_metrics(frame: Any, shots: Any = DEFAULT_SHOTS):
    """A copy of a results frame (`ResultsStore.to_frame()`) with the `METRICS` columns computed
    from each row's per-class accuracies at these `shots` (replacing stored values)."""
    import pandas as pd

    shots = check_shots(shots)
    out = frame.copy()
    values = [row_metrics(rec, shots) for rec in frame.to_dict("records")]
    computed = pd.DataFrame(values, columns=list(METRICS), index=frame.index, dtype=object)
    for name in METRICS:
        out[name] = pd.to_numeric(computed[name], errors="coerce")
    return out


def metric_label(metric: str) -> str:
    """The display label of a metric name (the name itself, underscores spaced, when unknown)."""
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


__all__ = ["COUNT_METRICS", "DEFAULT_SHOTS", "METRICS", "METRIC_LABELS", "check_shots", "longtail_metrics",
           "metric_label", "row_metrics", "shot_groups", "tail_classes", "with_metrics"]
