"""Label noise for the lesson: flip some labels of one class, rescore, compare mean and winsorized mean.

The newer NUCS abstract argues for a winsorized class difficulty because a few mislabelled
samples can dominate a plain mean. `inject_label_noise` makes such samples on purpose: it
flips `round(fraction * N_c)` labels of class `cls` (chosen with a seeded generator) to other
classes (uniformly among them, or all to `target`). `noisy_class_difficulty` then recomputes
the scores on the noisy labels with the same scoring run as the session's (the cache key
includes the noise, so the clean scores are never reused) and puts the plain and the
winsorized class difficulty side by side, before and after.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from coreset_core.spec import FILE_SCORE
from coreset_core.validation import check_labels, check_winsor


@dataclass(frozen=True)
class NoisyLabels:
    """Noisy labels and which positions were flipped (sorted), with the recipe that made them."""

    labels: np.ndarray
    flipped: np.ndarray
    cls: int
    fraction: float
    seed: int
    target: int | None

    @property
    def recipe(self) -> dict[str, Any]:
        return {"cls": self.cls, "fraction": self.fraction, "seed": self.seed, "target": self.target,
                "count": int(self.flipped.size)}


def _check_class(value: Any, num_classes: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < num_classes:
        raise ValueError(f"{name} must be a class id in 0..{num_classes - 1}, got {value!r}")
    return int(value)


def inject_label_noise(labels: Any, cls: int, fraction: float, *, seed: int = 0, target: int | None = None,
                       num_classes: int | None = None) -> NoisyLabels:
    """Flip `round(fraction * N_cls)` labels of class `cls` to other classes (seeded).

    The flipped samples are drawn without replacement from class `cls`; each gets a class
    drawn uniformly from the other classes, or `target` when given. At least one sample of
    `cls` keeps its label (a class must not vanish). Other classes' samples are untouched.
    """
    y = check_labels(labels, num_classes)
    c = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if c < 2:
        raise ValueError("label noise needs at least two classes to flip between")
    cls = _check_class(cls, c, "cls")
    if target is not None and _check_class(target, c, "target") == cls:
        raise ValueError(f"target must differ from the noisy class {cls}: a label flipped to itself is no flip")
    fraction = float(fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1) (the share of class {cls} to flip), got {fraction}")
    members = np.flatnonzero(y == cls)
    k = int(round(fraction * members.size))
    if k >= members.size:
        raise ValueError(f"flipping {k} of the {members.size} samples of class {cls} would empty it; "
                         "use a smaller fraction")
    rng = np.random.default_rng(int(seed))
    flipped = np.sort(rng.choice(members, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    if target is None:
        new = rng.integers(0, c - 1, size=k)
        new = new + (new >= cls)  # uniform over the other classes
    else:
        new = np.full(k, int(target))
    noisy = y.copy()
    noisy[flipped] = new
    target = None if target is None else int(target)
    return NoisyLabels(noisy, flipped.astype(np.int64), cls, fraction, int(seed), target)


@dataclass
class NoiseComparison:
    """Per-class difficulty before and after the noise, plain and winsorized, plus the noisy scores."""

    noise: NoisyLabels
    winsor: tuple[float, float]
    score: str
    difficulty: np.ndarray  #: per-sample difficulty recomputed on the noisy labels
    table: Any  #: DataFrame: class, clean_mean, clean_winsorized, noisy_mean, noisy_winsorized, flipped_in


def noisy_scores(session, noise: NoisyLabels):
    """The session's scoring run repeated on the noisy labels (cached under a key that includes the noise)."""
    from coreset_core.scores import compute_scores

    train, spec = session.train, session.spec
    if noise.labels.shape != train.labels.shape:
        raise ValueError(f"the noisy labels have {noise.labels.shape[0]} entries, the session's training set "
                         f"{train.labels.shape[0]}; inject the noise into session.labels")
    digest = hashlib.sha256(np.ascontiguousarray(noise.labels, dtype=np.int64).tobytes()).hexdigest()[:16]
    key = {**train.key, "label_noise": {**noise.recipe, "labels_sha256": digest}}
    return compute_scores(train.features, noise.labels, epochs=spec.score_epochs, seeds=spec.score_seeds,
                          device=session.device, cache_key=key, cache_dir=session.cache_dir, progress=False,
                          num_classes=session.num_classes)


def noisy_class_difficulty(session, cls: int, fraction: float, *, seed: int = 0, target: int | None = None,
                           winsor: Iterable[float] = (0.1, 0.1), score: str | None = None) -> NoiseComparison:
    """Flip labels of `cls`, rescore, and compare plain vs winsorized class difficulty before and after
    (memoised in the session: a rerun of the page redoes none of it)."""
    winsor = check_winsor(winsor)
    score = score or session.spec.score
    if score == FILE_SCORE:
        raise ValueError("the embeddings file's own scores cannot be recomputed on noisy labels; choose a score "
                         "the studio computes (el2n, aum, forgetting, grand) to see this step")
    key = ("lesson", "label noise", int(cls), float(fraction), int(seed), target, winsor, score)
    return session.memoised(key, lambda: _noise_comparison(session, cls, fraction, seed, target, winsor, score))


def _noise_comparison(session, cls: int, fraction: float, seed: int, target: int | None,
                      winsor: tuple[float, float], score: str) -> NoiseComparison:
    import pandas as pd

    from coreset_core.difficulty import class_difficulty

    noise = inject_label_noise(session.labels, cls, fraction, seed=seed, target=target,
                               num_classes=session.num_classes)
    d = np.asarray(noisy_scores(session, noise).difficulty(score), dtype=np.float64)
    c = session.num_classes
    table = pd.DataFrame({
        "class": np.arange(c),
        "class_name": session.class_names,
        "clean_mean": session.class_difficulty(score, (0.0, 0.0)),
        "clean_winsorized": session.class_difficulty(score, winsor),
        "noisy_mean": class_difficulty(d, noise.labels, num_classes=c),
        "noisy_winsorized": class_difficulty(d, noise.labels, winsor=winsor, num_classes=c),
        "flipped_in": np.bincount(noise.labels[noise.flipped], minlength=c),
    })
    return NoiseComparison(noise, winsor, score, d, table)


__all__ = ["NoiseComparison", "NoisyLabels", "inject_label_noise", "noisy_class_difficulty", "noisy_scores"]
