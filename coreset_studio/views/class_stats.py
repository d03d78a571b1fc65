"""Per-class views of a training set: sizes, thumbnails, score distributions, class difficulty.

Statistics are precomputed here so a chart ships a few numbers per class instead of one
per sample; the sorting behind them is done once per (session, score) (`Session.memoised`).
"""
from __future__ import annotations

import base64
import io
from typing import Any, Sequence

import numpy as np
import pandas as pd



def class_sizes_frame(class_names: Sequence[str], train_labels: np.ndarray,
                      test_labels: np.ndarray | None = None) -> pd.DataFrame:
    """One row per class: name, train count (and test count)."""
    c = len(class_names)
    out = pd.DataFrame({"class": list(class_names), "train": np.bincount(np.asarray(train_labels), minlength=c)[:c]})
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


def _png(img: Any, size: int) -> str:
    """The image resized to `size` as a PNG data URI (st.image passes URIs through as they are)."""
    buf = io.BytesIO()
    img.resize((size, size)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _blank(size: int) -> str:
    """A light grey square: the stand-in for a sample whose source holds no image (embeddings files)."""
    from PIL import Image

    return _png(Image.new("RGB", (size, size), (225, 225, 225)), size)


def thumbnails(session: Any, indices: Sequence[int], size: int) -> list[str]:
    """PNG data URIs of training images at `indices` (memoised per session and size); grey squares
    when the source has no images (an embeddings file without a `paths` column)."""
    from coreset_core.datasets.base import NoImagesError

    split = session.dataset.train

    def one(i: int) -> str:
        try:
            return _png(split.image(int(i)), size)
        except NoImagesError:
            return session.memoised(("view", "blank", int(size)), lambda: _blank(size))
    return [session.memoised(("view", "thumb", int(i), int(size)), lambda i=i: one(i)) for i in indices]


def class_sorted(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """`(values, offsets)`: scores grouped by class, ascending inside each class, and the start of
    each class (length C + 1)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    order = np.lexsort((scores, labels))
    offsets = np.zeros(num_classes + 1, dtype=np.int64)
    np.cumsum(np.bincount(labels, minlength=num_classes), out=offsets[1:])
    return scores[order], offsets


def sorted_by_class(session: Any, score: str) -> tuple[np.ndarray, np.ndarray]:
    """`class_sorted` of a session's difficulty, computed once per (session, score)."""
    return session.memoised(("view", "class_sorted", score),
                    lambda: class_sorted(session.difficulty(score), session.labels, session.num_classes))


def score_box_stats(session: Any, score: str) -> pd.DataFrame:
    """Per-class box-plot statistics: quartiles, Tukey whiskers (1.5 IQR, clipped to the data), mean,
    min, max, count."""
    def compute() -> pd.DataFrame:
        x, offsets = sorted_by_class(session, score)
        rows = []
        for k, name in enumerate(session.class_names):
            seg = x[offsets[k]:offsets[k + 1]]
            if seg.size == 0:
                rows.append({"class": name, "n": 0})
                continue
            q1, med, q3 = np.quantile(seg, [0.25, 0.5, 0.75])
            lo = seg[np.searchsorted(seg, q1 - 1.5 * (q3 - q1), side="left")]
            hi = seg[np.searchsorted(seg, q3 + 1.5 * (q3 - q1), side="right") - 1]
            rows.append({"class": name, "n": int(seg.size), "min": seg[0], "q1": q1, "median": med, "q3": q3,
                         "max": seg[-1], "lowerfence": lo, "upperfence": hi, "mean": seg.mean()})
        return pd.DataFrame(rows)
    return session.memoised(("view", "box_stats", score), compute)


def per_class_sample(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subsample with at most `per_class` samples of each class."""
    labels = np.asarray(labels)
    n = labels.shape[0]
    order = np.lexsort((np.random.default_rng(seed).random(n), labels))  # random order inside each class
    counts = np.bincount(labels)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    return np.flatnonzero(rank < per_class)


def violin_values(session: Any, score: str, per_class: int = 1000) -> list[list[float]]:
    """Each class's difficulties of a seeded sample of at most `per_class` samples."""
    def compute() -> list[list[float]]:
        d, labels = session.difficulty(score), session.labels
        pts = per_class_sample(labels, per_class, seed=0)
        return [d[pts[labels[pts] == k]].tolist() for k in range(session.num_classes)]
    return session.memoised(("view", "violin", score, per_class), compute)


def winsor_limits(session: Any, score: str, winsor: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-class clip limits `(q(lo), q(1 - hi))` (`numpy.quantile`, linear) of the winsorized mean,
    memoised per (score, winsor)."""
    def compute() -> tuple[np.ndarray, np.ndarray]:
        x, offsets = sorted_by_class(session, score)
        return sorted_quantiles(x, offsets, winsor[0]), sorted_quantiles(x, offsets, 1.0 - winsor[1])
    return session.memoised(("view", "winsor_limits", score, tuple(winsor)), compute)


def sorted_quantiles(x: np.ndarray, offsets: np.ndarray, q: float) -> np.ndarray:
    """`numpy.quantile(x[offsets[k]:offsets[k+1]], q)` (method "linear") of every non-empty segment of an
    array sorted within segments, for all segments at once (same arithmetic as numpy, so the same bits)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    n = np.diff(offsets)
    h = (n - 1) * float(q)
    below = np.floor(h)
    gamma = h - below
    lo = offsets[:-1] + below.astype(np.int64)
    a, b = x[lo], x[np.minimum(lo + 1, offsets[1:] - 1)]
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def difficulty_frame(session: Any, score: str, winsor: tuple[float, float]) -> pd.DataFrame:
    """Per class: size, plain mean difficulty, winsorized mean (SPEC 1), their relative change and the
    rank (1 = hardest) under the winsorized mean."""
    mean = np.asarray(session.class_difficulty(score, (0.0, 0.0)))
    wmean = np.asarray(session.class_difficulty(score, winsor))
    out = pd.DataFrame({"class": session.class_names, "n": np.asarray(session.class_sizes), "mean": mean,
                        "winsorized": wmean})
    out["change_%"] = np.where(mean > 0, 100.0 * (wmean - mean) / np.where(mean > 0, mean, 1.0), 0.0)
    out["rank"] = (-out["winsorized"]).rank(method="min").astype(int)
    return out


def extreme_examples(scores: np.ndarray, labels: np.ndarray, cls: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`(hardest, easiest)` indices of class `cls`: the `k` highest scores (descending) and the `k`
    lowest (ascending); ties by sample index."""
    scores = np.asarray(scores)
    idx = np.flatnonzero(np.asarray(labels) == cls)
    return idx[np.lexsort((idx, -scores[idx]))][:k], idx[np.lexsort((idx, scores[idx]))][:k]


def sorted_strips(session: Any, score: str, bins: int = 200) -> np.ndarray:
    """`(C, bins)`: each class's difficulties sorted ascending, resampled to `bins` points (the value
    at the centre of each bin of sorted positions): the Windows page's strip image."""
    def compute() -> np.ndarray:
        x, offsets = sorted_by_class(session, score)
        out = np.full((session.num_classes, bins), np.nan)
        centres = (np.arange(bins) + 0.5) / bins
        for k in range(session.num_classes):
            seg = x[offsets[k]:offsets[k + 1]]
            if seg.size:
                out[k] = seg[np.minimum((centres * seg.size).astype(np.int64), seg.size - 1)]
        return out
    return session.memoised(("view", "strips", score, bins), compute)
