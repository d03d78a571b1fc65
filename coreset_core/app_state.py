"""Pure logic behind the Streamlit studio (`app.py`, `pages/`): configuration and chart data.

Nothing here imports streamlit, so every number the app draws can be computed and tested
without a browser: the pages only lay out what these functions return.

- `StudioConfig` / `config_from_env`: the sidebar's settings (dataset, backbone,
  resolution, number of images, score) and their defaults, which the environment can
  override (`CORESET_STUDIO_DATASET`, `CORESET_STUDIO_LIMIT`, ...; used by the browser
  tests and for demos).
- chart data: class sizes, per-class score statistics, (winsorized) class difficulty,
  kept fractions per class and pruning rate, sorted-difficulty strips and windows,
  selection comparisons, exports.
- `timed` / `RENDER_LOG`: per-rerun server compute time of each page.
"""
from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger("coreset_studio")

# ----------------------------------------------------------------------------- configuration

#: Built-in datasets offered in the sidebar (plus a free "imagefolder:<path>" entry).
DATASETS: tuple[str, ...] = ("cifar10", "cifar10-lt", "fashion-mnist", "imagewoof", "digits")
IMAGEFOLDER = "imagefolder"
DATASET_LABELS: dict[str, str] = {
    "cifar10": "CIFAR-10",
    "cifar10-lt": "CIFAR-10-LT (long-tailed)",
    "fashion-mnist": "Fashion-MNIST",
    "imagewoof": "Imagewoof (10 dog breeds)",
    "digits": "digits (scikit-learn, tiny)",
    IMAGEFOLDER: "my own images (imagefolder:<path>)",
}
DATASET_CAVEATS: dict[str, str] = {
    "imagewoof": ("Imagewoof images come from ImageNet, which the pretrained backbones were trained on: "
                  "features and difficulty scores are optimistic (the backbone has seen these images)."),
    "digits": "8x8 scikit-learn digits: a toy set for quick demos and tests, not a benchmark.",
    "cifar10-lt": ("Long-tailed variant (Cui et al. 2019): class k keeps N_max * I^(-k/(C-1)) training "
                   "images; the test set is unchanged."),
}
BACKBONES: tuple[str, ...] = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
SCORES: tuple[str, ...] = ("el2n", "aum", "forgetting", "grand", "moderate")
SCORE_LABELS: dict[str, str] = {
    "el2n": "EL2N (error L2 norm)",
    "aum": "AUM (area under the margin, as difficulty)",
    "forgetting": "forgetting events",
    "grand": "GraNd / effort (gradient norm)",
    "moderate": "moderate (distance to class median)",
}
#: Choices for the number of training images ("all" = None).
LIMITS: tuple[int | None, ...] = (300, 500, 1000, 2000, 5000, 10000, 20000, None)
RESOLUTIONS: tuple[int | None, ...] = (None, 64, 96, 128, 160, 192, 224, 240, 260)
DEFAULT_LIMIT = 5000
DEFAULT_TEST_LIMIT = 2000
#: Pruning-rate grid of the budget charts (fraction removed).
RATE_GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(0, 20))  # 0, 0.05, ..., 0.95


def _env_int_or_none(value: str | None, default: int | None) -> int | None:
    if value is None or value.strip() == "":
        return default
    v = value.strip().lower()
    if v in ("all", "none", "full"):
        return None
    n = int(v)
    if n < 1:
        raise ValueError(f"expected a positive integer or 'all', got {value!r}")
    return n


@dataclass(frozen=True)
class StudioConfig:
    """What the sidebar chooses. `prepare_kwargs()` feeds `coreset_core.pipeline.prepare`.

    `limit`/`test_limit` None mean every image of the split. `score` (the score type the
    pages show) does not change the prepared data, so it is not part of `key()`.
    """

    dataset: str = "cifar10"
    imbalance: float | None = None
    backbone: str = "efficientnet_lite0"
    resolution: int | None = None
    limit: int | None = DEFAULT_LIMIT
    test_limit: int | None = DEFAULT_TEST_LIMIT
    score: str = "el2n"
    score_epochs: int = 3
    data_seed: int = 0

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ValueError("choose a dataset")
        if self.dataset.endswith("-lt"):
            if self.imbalance is None:
                object.__setattr__(self, "imbalance", 10.0)
            object.__setattr__(self, "imbalance", float(self.imbalance))
        elif self.imbalance is not None:
            object.__setattr__(self, "imbalance", None)
        if self.score not in SCORES:
            raise ValueError(f"unknown score {self.score!r}; choose one of {', '.join(SCORES)}")

    def prepare_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `pipeline.prepare(self.dataset, **...)`."""
        return dict(imbalance=self.imbalance, data_seed=self.data_seed, backbone=self.backbone,
                    resolution=self.resolution, limit=self.limit, test_limit=self.test_limit,
                    score_epochs=self.score_epochs)

    def key(self) -> tuple:
        """Hashable identity of the prepared data (features + scores) this config needs."""
        return (self.dataset, self.imbalance, self.data_seed, self.backbone, self.resolution, self.limit,
                self.test_limit, self.score_epochs)

    def run_fields(self) -> dict[str, Any]:
        """The `coreset_core.sweep.RunConfig` fields this config fixes (for sweeps and result filters)."""
        return dict(imbalance=self.imbalance, data_seed=self.data_seed, backbone=self.backbone,
                    resolution=self.resolution, limit=self.limit, test_limit=self.test_limit, score=self.score,
                    score_epochs=self.score_epochs)

    def describe(self) -> str:
        parts = [self.dataset + (f" (I={self.imbalance:g})" if self.imbalance is not None else ""),
                 self.backbone, f"{self.resolution or 'auto'} px",
                 f"{'all' if self.limit is None else f'{self.limit:,}'} train images", f"score {self.score}"]
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_limit(dataset: str) -> int | None:
    """Number of training images a fresh start uses: 5,000 (features in about a minute on 2 cores)."""
    if dataset == "digits":
        return None
    return DEFAULT_LIMIT


def config_from_env(environ: Mapping[str, str] | None = None) -> StudioConfig:
    """Sidebar defaults, overridable by environment variables.

    `CORESET_STUDIO_DATASET` (e.g. digits, cifar10-lt, imagefolder:/path),
    `CORESET_STUDIO_IMBALANCE`, `CORESET_STUDIO_BACKBONE`, `CORESET_STUDIO_RESOLUTION`,
    `CORESET_STUDIO_LIMIT` / `CORESET_STUDIO_TEST_LIMIT` (a number or "all"),
    `CORESET_STUDIO_SCORE`, `CORESET_STUDIO_SCORE_EPOCHS`.
    """
    env = os.environ if environ is None else environ
    dataset = env.get("CORESET_STUDIO_DATASET", "cifar10").strip() or "cifar10"
    imbalance = env.get("CORESET_STUDIO_IMBALANCE")
    limit = _env_int_or_none(env.get("CORESET_STUDIO_LIMIT"), default_limit(dataset))
    test_default = None if limit is None else DEFAULT_TEST_LIMIT
    return StudioConfig(
        dataset=dataset,
        imbalance=float(imbalance) if imbalance else None,
        backbone=env.get("CORESET_STUDIO_BACKBONE", "efficientnet_lite0"),
        resolution=_env_int_or_none(env.get("CORESET_STUDIO_RESOLUTION"), None),
        limit=limit,
        test_limit=_env_int_or_none(env.get("CORESET_STUDIO_TEST_LIMIT"), test_default),
        score=env.get("CORESET_STUDIO_SCORE", "el2n"),
        score_epochs=int(env.get("CORESET_STUDIO_SCORE_EPOCHS", "3")),
    )


def limit_label(limit: int | None) -> str:
    return "all" if limit is None else f"{limit:,}"


def resolution_label(res: int | None) -> str:
    return "auto (dataset default)" if res is None else f"{res} px"


# ----------------------------------------------------------------------------- data page


def class_sizes_frame(class_names: Sequence[str], train_labels: np.ndarray,
                      test_labels: np.ndarray | None = None) -> pd.DataFrame:
    """One row per class: name, train count (and test count)."""
    c = len(class_names)
    out = pd.DataFrame({"class": list(class_names),
                        "train": np.bincount(np.asarray(train_labels), minlength=c)[:c]})
    if test_labels is not None:
        out["test"] = np.bincount(np.asarray(test_labels), minlength=c)[:c]
    return out


def sample_indices_per_class(labels: np.ndarray, per_class: int, seed: int = 0) -> dict[int, np.ndarray]:
    """A seeded choice of up to `per_class` sample indices of each class (for image grids)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = {}
    for c in range(int(labels.max()) + 1 if labels.size else 0):
        idx = np.flatnonzero(labels == c)
        out[c] = np.sort(rng.choice(idx, size=min(per_class, idx.size), replace=False)) if idx.size else idx
    return out


# ----------------------------------------------------------------------------- difficulty page


def _class_slices(values: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """`(sorted values by class then value, class offsets (C + 1))`."""
    order = np.lexsort((values, labels))
    counts = np.bincount(labels, minlength=num_classes)
    offsets = np.zeros(num_classes + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return values[order], offsets


def score_box_stats(scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """Per-class box-plot statistics of a score: quartiles, Tukey whiskers (1.5 IQR, clipped to
    the data), mean, min, max, count. Precomputed so the chart ships 10 numbers per class, not N."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    c = len(class_names)
    x, offsets = _class_slices(scores, labels, c)
    rows = []
    for k in range(c):
        seg = x[offsets[k]:offsets[k + 1]]
        if seg.size == 0:
            rows.append({"class": class_names[k], "n": 0})
            continue
        q1, med, q3 = np.quantile(seg, [0.25, 0.5, 0.75])
        iqr = q3 - q1
        lo = seg[np.searchsorted(seg, q1 - 1.5 * iqr, side="left")]
        hi = seg[np.searchsorted(seg, q3 + 1.5 * iqr, side="right") - 1]
        rows.append({"class": class_names[k], "n": int(seg.size), "min": seg[0], "q1": q1, "median": med,
                     "q3": q3, "max": seg[-1], "lowerfence": lo, "upperfence": hi, "mean": seg.mean()})
    return pd.DataFrame(rows)


def per_class_sample(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subsample with at most `per_class` samples of each class
    (for violin plots and scatter plots that would otherwise ship every point)."""
    labels = np.asarray(labels)
    n = labels.shape[0]
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(n), labels))  # random order inside each class
    counts = np.bincount(labels)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(offsets, counts)
    return np.flatnonzero(rank < per_class)


def stratified_subsample(labels: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of about `max_points` samples, the same fraction of every class (all if fewer)."""
    labels = np.asarray(labels)
    n = labels.shape[0]
    if max_points >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    frac = max_points / n
    keep = np.zeros(n, dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        m = max(1, int(round(frac * idx.size)))
        keep[rng.choice(idx, size=min(m, idx.size), replace=False)] = True
    return np.flatnonzero(keep)


def class_sorted(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """`(values, offsets)`: the scores grouped by class and sorted ascending inside each class, and the
    start of each class (length C + 1). Sorting once lets per-class quantiles be read per slider move."""
    return _class_slices(np.asarray(scores, dtype=np.float64), np.asarray(labels), num_classes)


def winsor_limits(scores: np.ndarray, labels: np.ndarray, winsor: tuple[float, float], num_classes: int,
                  presorted: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-class clip limits `(q(lo), q(1 - hi))` (`numpy.quantile`, linear) of the winsorized mean.
    `presorted` is `class_sorted(scores, labels, num_classes)` when the caller has it."""
    x, offsets = presorted if presorted is not None else class_sorted(scores, labels, num_classes)
    lo, hi = winsor
    low = np.array([np.quantile(x[offsets[k]:offsets[k + 1]], lo) for k in range(num_classes)])
    high = np.array([np.quantile(x[offsets[k]:offsets[k + 1]], 1.0 - hi) for k in range(num_classes)])
    return low, high


def difficulty_frame(scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                     winsor: tuple[float, float]) -> pd.DataFrame:
    """Per class: size, plain mean difficulty, winsorized mean (SPEC 1), their ratio to the
    average class, and the rank (1 = hardest) under the winsorized mean."""
    from .difficulty import class_difficulty

    c = len(class_names)
    labels = np.asarray(labels)
    mean = class_difficulty(scores, labels, winsor=(0.0, 0.0), num_classes=c)
    wmean = class_difficulty(scores, labels, winsor=tuple(winsor), num_classes=c)
    out = pd.DataFrame({
        "class": list(class_names),
        "n": np.bincount(labels, minlength=c)[:c],
        "mean": mean,
        "winsorized": wmean,
    })
    out["change_%"] = np.where(mean > 0, 100.0 * (wmean - mean) / np.where(mean > 0, mean, 1.0), 0.0)
    out["rank"] = (-out["winsorized"]).rank(method="min").astype(int)
    return out


def extreme_examples(scores: np.ndarray, labels: np.ndarray, cls: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`(hardest, easiest)` sample indices of class `cls`: the `k` highest scores (descending) and
    the `k` lowest (ascending); ties by sample index."""
    scores = np.asarray(scores)
    idx = np.flatnonzero(np.asarray(labels) == cls)
    easiest = idx[np.lexsort((idx, scores[idx]))][:k]
    hardest = idx[np.lexsort((idx, -scores[idx]))][:k]
    return hardest, easiest


# ----------------------------------------------------------------------------- budgets page


def allocation_table(difficulty: np.ndarray, class_sizes: np.ndarray, rates: Sequence[float], *,
                     mode: str = "nucs", min_per_class: int = 1) -> pd.DataFrame:
    """Per-class kept counts (classes x rates) of a budget allocation (`allocate_budgets`)."""
    from .allocation import allocate_budgets

    sizes = np.asarray(class_sizes, dtype=np.int64)
    cols = {float(r): allocate_budgets(difficulty, sizes, float(r), mode=mode, min_per_class=min_per_class)
            for r in rates}
    return pd.DataFrame(cols, index=pd.RangeIndex(sizes.shape[0], name="class"))


def counts_to_fractions(counts: pd.DataFrame, class_sizes: np.ndarray) -> pd.DataFrame:
    """Kept counts -> kept fraction of each class (rows divided by `N_c`)."""
    return counts.div(np.asarray(class_sizes, dtype=np.float64), axis=0)


def ranking_kept_counts(order: np.ndarray, labels: np.ndarray, rates: Sequence[float],
                        num_classes: int) -> pd.DataFrame:
    """Per-class kept counts (classes x rates) of a global ranking that keeps the first `B` of
    `order` (e.g. hardest-first for EL2N): one cumulative count table, no per-rate sort."""
    from .validation import budget_for

    labels = np.asarray(labels)
    n = labels.shape[0]
    onehot_cum = np.zeros((n + 1, num_classes), dtype=np.int64)
    np.cumsum(np.eye(num_classes, dtype=np.int64)[labels[order]], axis=0, out=onehot_cum[1:])
    cols = {float(r): onehot_cum[budget_for(float(r), n)] for r in rates}
    return pd.DataFrame(cols, index=pd.RangeIndex(num_classes, name="class"))


def long_fraction_frame(tables: Mapping[str, pd.DataFrame], class_names: Sequence[str]) -> pd.DataFrame:
    """`{label: classes x rates}` -> long form rows (allocation, class, prune_rate, kept_fraction)."""
    rows = []
    for label, tab in tables.items():
        for k, row in tab.iterrows():
            for rate, value in row.items():
                rows.append((label, class_names[int(k)], float(rate), float(value)))
    return pd.DataFrame(rows, columns=["allocation", "class", "prune_rate", "kept_fraction"])


def budget_counts_frame(class_names: Sequence[str], class_sizes: np.ndarray, difficulty: np.ndarray,
                        columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The counts table at one pruning rate: class, N_c, difficulty, then kept count and kept %
    for each allocation in `columns` (`{label: per-class counts}`), and a total row."""
    sizes = np.asarray(class_sizes, dtype=np.int64)
    out = pd.DataFrame({"class": list(class_names), "N_c": sizes, "difficulty": np.round(difficulty, 4)})
    for label, counts in columns.items():
        counts = np.asarray(counts, dtype=np.int64)
        out[f"{label} kept"] = counts
        out[f"{label} %"] = np.round(100.0 * counts / sizes, 1)
    # the total row's difficulty: the sample-weighted mean over classes (the whole set's mean difficulty)
    total = {"class": "total", "N_c": int(sizes.sum()),
             "difficulty": round(float(np.sum(sizes * difficulty) / sizes.sum()), 4)}
    for label, counts in columns.items():
        total[f"{label} kept"] = int(np.sum(counts))
        total[f"{label} %"] = round(100.0 * float(np.sum(counts)) / sizes.sum(), 1)
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


# ----------------------------------------------------------------------------- windows page


def sorted_strips(scores: np.ndarray, labels: np.ndarray, num_classes: int, bins: int = 200) -> np.ndarray:
    """`(C, bins)`: each class's difficulties sorted ascending and resampled to `bins` points
    (the value at the centre of each bin of sorted positions); the strip plot's image."""
    x, offsets = _class_slices(np.asarray(scores, dtype=np.float64), np.asarray(labels), num_classes)
    out = np.empty((num_classes, bins))
    centres = (np.arange(bins) + 0.5) / bins
    for k in range(num_classes):
        seg = x[offsets[k]:offsets[k + 1]]
        pos = np.minimum((centres * seg.size).astype(np.int64), seg.size - 1)
        out[k] = seg[pos]
    return out


def window_bounds(class_sizes: np.ndarray, budgets: np.ndarray, endpoint: float) -> pd.DataFrame:
    """Per class: window `[start, end)` in sorted positions and as fractions of the class (SPEC 3)."""
    from .windows import window_starts

    sizes = np.asarray(class_sizes, dtype=np.int64)
    budgets = np.asarray(budgets, dtype=np.int64)
    start = window_starts(sizes, budgets, np.array([float(endpoint)]))[0]
    end = start + budgets
    return pd.DataFrame({"N_c": sizes, "n_c": budgets, "start": start, "end": end,
                         "start_frac": start / sizes, "end_frac": end / sizes})


# ----------------------------------------------------------------------------- selections


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|A ∩ B| / |A ∪ B| of two index sets (1.0 for two empty sets)."""
    a, b = np.unique(a), np.unique(b)
    union = np.union1d(a, b).size
    return 1.0 if union == 0 else np.intersect1d(a, b, assume_unique=True).size / union


def compare_counts_frame(a: np.ndarray, b: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                         names: tuple[str, str] = ("A", "B")) -> pd.DataFrame:
    """Per class: N_c, kept by A, kept by B, B - A, and the overlap of the two selections."""
    labels = np.asarray(labels)
    c = len(class_names)
    ca = np.bincount(labels[np.asarray(a, dtype=np.int64)], minlength=c)[:c]
    cb = np.bincount(labels[np.asarray(b, dtype=np.int64)], minlength=c)[:c]
    both = np.bincount(labels[np.intersect1d(a, b)], minlength=c)[:c]
    return pd.DataFrame({"class": list(class_names), "N_c": np.bincount(labels, minlength=c)[:c],
                         names[0]: ca, names[1]: cb, f"{names[1]} - {names[0]}": cb - ca, "both": both})


def shared_histogram(values: np.ndarray, groups: Mapping[str, np.ndarray], bins: int = 40,
                     normalize: bool = False) -> pd.DataFrame:
    """Histogram counts of `values[idx]` for every `{name: idx}` on one common set of bins
    (of all values): columns bin_left, bin_right, bin_centre, then one column per group, holding
    counts, or with `normalize` the fraction of the group in each bin (groups of different sizes
    become comparable)."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.histogram_bin_edges(values, bins=bins)
    out = pd.DataFrame({"bin_left": edges[:-1], "bin_right": edges[1:], "bin_centre": (edges[:-1] + edges[1:]) / 2})
    for name, idx in groups.items():
        counts = np.histogram(values[np.asarray(idx, dtype=np.int64)], bins=edges)[0]
        out[name] = counts / max(1, counts.sum()) if normalize else counts
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def selection_exports(indices: np.ndarray, config: Mapping[str, Any], labels: np.ndarray,
                      class_names: Sequence[str]) -> tuple[bytes, bytes]:
    """`(csv, json)` bytes of a selection: one row per kept sample (index, label, class) in the
    CSV (its config in a leading comment line); indices, class counts and config in the JSON."""
    idx = np.sort(np.asarray(indices, dtype=np.int64))
    labels = np.asarray(labels)
    cfg = _jsonable(dict(config))
    buf = io.StringIO()
    buf.write("# " + json.dumps(cfg, sort_keys=True) + "\n")
    pd.DataFrame({"index": idx, "label": labels[idx],
                  "class": [class_names[int(v)] for v in labels[idx]]}).to_csv(buf, index=False)
    counts = np.bincount(labels[idx], minlength=len(class_names))
    payload = {"config": cfg, "num_selected": int(idx.size), "num_samples": int(labels.shape[0]),
               "class_counts": {class_names[k]: int(v) for k, v in enumerate(counts)},
               "indices": idx.tolist()}
    return buf.getvalue().encode(), json.dumps(payload, indent=1, sort_keys=False).encode()


def selection_filename(config: Mapping[str, Any], ext: str) -> str:
    """A readable file name for an exported selection, e.g. `cifar10-nucs-p70-s0.json`."""
    rate = config.get("prune_rate")
    parts = [str(config.get("dataset", "selection")), str(config.get("method", "")),
             f"p{round(100 * float(rate))}" if rate is not None else "", f"s{config.get('seed', 0)}"]
    name = "-".join(p for p in parts if p)
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) + f".{ext}"


def coerce_param(value: str, default: Any) -> Any:
    """A method parameter typed in the app as text -> the type of its default (JSON for lists)."""
    if isinstance(default, bool):
        return str(value).strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, (list, tuple)):
        v = json.loads(value)
        return type(default)(v) if isinstance(v, list) else v
    if default is None:
        text = str(value).strip()
        if text.lower() in ("", "none", "null"):
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text
    return value


# ----------------------------------------------------------------------------- accuracy page


def accuracy_curves(frame: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Results rows -> `method, prune_rate, mean, std, n` in percent (std over seeds, ddof=1,
    0 for a single seed), with the full-data run repeated as a flat reference line."""
    cols = ["method", "prune_rate", "mean", "std", "n"]
    if frame is None or frame.empty or metric not in frame.columns:
        return pd.DataFrame(columns=cols)
    rows = frame[frame[metric].notna()].copy()
    if rows.empty:
        return pd.DataFrame(columns=cols)
    rows["_v"] = rows[metric].astype(float) * 100.0
    stats = rows.groupby(["method", "prune_rate"])["_v"].agg(["mean", "std", "count"]).reset_index()
    stats = stats.rename(columns={"count": "n"})
    stats["std"] = stats["std"].fillna(0.0)
    return stats[cols].sort_values(["method", "prune_rate"]).reset_index(drop=True)


def per_class_accuracy_frame(frame: pd.DataFrame, class_names: Sequence[str]) -> pd.DataFrame:
    """Rows of the results store -> mean per-class accuracy (percent) per (method, prune_rate)."""
    out = []
    if frame is None or frame.empty or "per_class_accuracy_json" not in frame.columns:
        return pd.DataFrame(columns=["method", "prune_rate", "class", "accuracy"])
    for (method, rate), grp in frame.groupby(["method", "prune_rate"]):
        vals = []
        for text in grp["per_class_accuracy_json"].dropna():
            try:
                arr = [np.nan if v is None else float(v) for v in json.loads(text)]
            except (TypeError, ValueError):
                continue
            vals.append(arr)
        if not vals:
            continue
        width = max(len(v) for v in vals)
        mat = np.full((len(vals), width), np.nan)
        for i, v in enumerate(vals):
            mat[i, :len(v)] = v
        counts = np.sum(~np.isnan(mat), axis=0)
        mean = np.where(counts > 0, np.nansum(mat, axis=0) / np.maximum(counts, 1), np.nan) * 100.0
        for k, v in enumerate(mean):
            out.append((method, float(rate), class_names[k] if k < len(class_names) else str(k), float(v)))
    return pd.DataFrame(out, columns=["method", "prune_rate", "class", "accuracy"])


# ----------------------------------------------------------------------------- timing


@dataclass
class RenderRecord:
    page: str
    ms: float
    at: float = field(default_factory=time.time)


class RenderLog:
    """Thread-safe ring buffer of per-rerun server compute times (milliseconds) per page."""

    def __init__(self, maxlen: int = 2000):
        self._records: deque[RenderRecord] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, page: str, ms: float) -> None:
        with self._lock:
            self._records.append(RenderRecord(page, float(ms)))

    def records(self, page: str | None = None) -> list[RenderRecord]:
        with self._lock:
            return [r for r in self._records if page is None or r.page == page]

    def last(self, page: str | None = None) -> float | None:
        recs = self.records(page)
        return recs[-1].ms if recs else None

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def summary(self, page: str | None = None) -> dict[str, float]:
        ms = np.array([r.ms for r in self.records(page)])
        if ms.size == 0:
            return {"n": 0}
        return {"n": int(ms.size), "median_ms": float(np.median(ms)), "max_ms": float(ms.max()),
                "last_ms": float(ms[-1])}


#: Every page rerun of this process (read by tests and the timing benchmark).
RENDER_LOG = RenderLog()


@contextmanager
def timed(page: str, render_log: RenderLog = RENDER_LOG) -> Iterator[dict[str, float]]:
    """Time a page script body; records it in `render_log` and logs `render page=... ms=...`.
    With `CORESET_STUDIO_TIMING=1` the line also goes to stderr (visible in the server log)."""
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        ms = (time.perf_counter() - start) * 1000.0
        out["ms"] = ms
        render_log.add(page, ms)
        line = f"render page={page} ms={ms:.1f}"
        log.info(line)
        if os.environ.get("CORESET_STUDIO_TIMING", "") not in ("", "0"):
            print(f"[coreset-studio] {line}", file=sys.stderr, flush=True)


__all__ = [
    "BACKBONES", "DATASETS", "DATASET_CAVEATS", "DATASET_LABELS", "IMAGEFOLDER", "LIMITS", "RATE_GRID", "RENDER_LOG",
    "RESOLUTIONS", "SCORES", "SCORE_LABELS", "RenderLog", "StudioConfig", "accuracy_curves", "allocation_table",
    "budget_counts_frame", "class_sizes_frame", "class_sorted", "coerce_param", "compare_counts_frame",
    "config_from_env",
    "counts_to_fractions", "default_limit", "difficulty_frame", "extreme_examples", "jaccard", "long_fraction_frame",
    "per_class_accuracy_frame", "per_class_sample", "ranking_kept_counts", "sample_indices_per_class",
    "score_box_stats", "selection_exports", "selection_filename", "shared_histogram", "sorted_strips",
    "stratified_subsample", "timed", "window_bounds", "winsor_limits",
]
