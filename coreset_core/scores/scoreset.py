"""`ScoreSet`: the raw scores of one training set, how they were made, and whether to trust them.

Trust rule (`ScoreSet.warnings`). The scores are read from a head trained for a short
while; if that head has not learned the training set, its errors and margins say little
about the samples. The reference is the best constant guess, `chance` = the largest
class's share of the training labels (1/C for balanced classes). With `acc` the head's
train accuracy at the last checkpoint (mean over seeds):

- `acc < (1 + chance) / 2`: low, the head has closed less than half the gap between the
  constant guess and a perfect fit (a linear head on pretrained features usually fits far
  better: measured 100 % on 190 CIFAR-10 images with EfficientNet-Lite0 features);
- and if also `acc <= 1.5 * chance`, the warning says near chance: the scores are noise.
  (Only the first test decides whether to warn: with a majority class above 2/3, 1.5 x
  chance exceeds 100 %.)

Memorising head: the opposite failure. When the head fits the training set (`acc >=
MEMORISED_ACCURACY`, 99 %) and half the EL2N scores are below `NEAR_ZERO_EL2N` (0.1, of at most
sqrt(2)), the head has memorised the samples and EL2N (and GraNd) barely separate easy from hard.
Measured with 200 steps: 300 CIFAR-10 images (EfficientNet-Lite0 features) reach 100 % with
median EL2N 0.053 (warned), 2,000 images 97.8 % with median 0.15 (not warned); 240 scikit-learn
digits 97 % / 0.23 (not warned), the same with 1,000 steps 100 % / 0.07 (warned).

Classes with fewer than `MIN_CLASS_SAMPLES` (5) training samples get a warning too: the
head barely sees them and their mean difficulty rests on a handful of values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .aum import aum_difficulty

#: Every score `compute_scores` produces, in display order.
SCORE_NAMES: tuple[str, ...] = ("el2n", "aum", "forgetting", "grand", "moderate")
#: Scores where LOW means hard (converted by `ScoreSet.difficulty`).
SIGNED_SCORES = frozenset({"aum"})
#: Classes with fewer training samples than this get a warning (see the module docstring).
MIN_CLASS_SAMPLES = 5
#: "Near chance": train accuracy at most this multiple of the best constant guess.
NEAR_CHANCE_FACTOR = 1.5
#: A memorising head (see the module docstring): train accuracy at least this, and median EL2N below
#: NEAR_ZERO_EL2N.
MEMORISED_ACCURACY = 0.99
NEAR_ZERO_EL2N = 0.1


def to_difficulty(name: str, values: np.ndarray) -> np.ndarray:
    """Non-negative difficulty (higher = harder) from a raw score: `max(s) - s` for AUM, else `s`."""
    v = np.asarray(values, dtype=np.float64)
    if name in SIGNED_SCORES:
        return aum_difficulty(v)
    return v.copy()


def _class_list(classes: np.ndarray, class_names: Sequence[str] | None, limit: int = 10) -> str:
    shown = [class_names[c] if class_names is not None else str(c) for c in classes[:limit]]
    more = f" and {classes.size - limit} more" if classes.size > limit else ""
    return ", ".join(shown) + more


def _accuracy_warning(acc: float, chance: float) -> str | None:
    """The train-accuracy warning of the module docstring's rule, or None."""
    if acc >= (1.0 + chance) / 2.0:
        return None
    hint = "train the score head longer (more scoring epochs or a larger min_steps) before selecting with these scores"
    if acc <= NEAR_CHANCE_FACTOR * chance:
        return (f"the score head's train accuracy is {acc:.1%}, near chance ({chance:.1%}, the largest class's "
                f"share): the difficulty scores are noise; {hint}")
    return (f"the score head's train accuracy is only {acc:.1%}: it closes less than half the gap between a "
            f"constant guess ({chance:.1%}) and a perfect fit, so the scores are unreliable; {hint}")


def _memorising_warning(acc: float, el2n: np.ndarray) -> str | None:
    """The memorising-head warning of the module docstring's rule, or None."""
    median = float(np.median(el2n))
    if acc < MEMORISED_ACCURACY or median >= NEAR_ZERO_EL2N:
        return None
    return (f"the score head memorised the training set (train accuracy {acc:.1%}, half the EL2N scores below "
            f"{median:.3f}): EL2N and GraNd then barely separate easy from hard samples. Use more training "
            "images, another score (moderate: the distance to the class median of the features, no head; or "
            "aum), or a shorter head run (fewer steps: compute_scores(min_steps=...) in the library)")


@dataclass
class ScoreSet:
    """Raw scores per name (float64, one per training sample) and the settings that made them.

    `config`: what determines the scores (source, epochs, min_steps, effective_epochs,
    steps, seeds, lr, batch size, ...); it is part of the cache key.
    `train_accuracy`: the score head's accuracy on the training set at each checkpoint,
    (seeds x checkpoints); None for scores that come without a head (a user's own scores).
    `info`: how this instance was obtained (seconds, from_cache, cache path, and the train
    accuracy again as nested lists).
    """

    scores: dict[str, np.ndarray]
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    train_accuracy: np.ndarray | None = None

    @property
    def names(self) -> list[str]:
        return list(self.scores)

    def __len__(self) -> int:
        return int(next(iter(self.scores.values())).shape[0]) if self.scores else 0

    @property
    def final_train_accuracy(self) -> float | None:
        """The head's train accuracy at its last checkpoint, mean over seeds (None without a head)."""
        if self.train_accuracy is None or np.size(self.train_accuracy) == 0:
            return None
        return float(np.mean(np.atleast_2d(self.train_accuracy)[:, -1]))

    def raw(self, name: str) -> np.ndarray:
        """The score as computed (AUM: the mean margin, low = hard)."""
        if name not in self.scores:
            raise ValueError(f"unknown score {name!r}; available scores: {', '.join(self.scores)}")
        return self.scores[name]

    def difficulty(self, name: str = "el2n") -> np.ndarray:
        """Non-negative difficulty per sample, higher = harder (AUM: `max(aum) - aum`)."""
        return to_difficulty(name, self.raw(name))

    def class_means(self, labels: Any, num_classes: int | None = None) -> dict[str, np.ndarray]:
        """Mean difficulty of every class, for every score (NaN for an empty class)."""
        y = np.asarray(labels, dtype=np.int64)
        c = int(y.max()) + 1 if num_classes is None else int(num_classes)
        counts = np.bincount(y, minlength=c).astype(np.float64)
        out = {}
        for name in self.scores:
            sums = np.bincount(y, weights=self.difficulty(name), minlength=c)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return out

    def warnings(self, labels: Any, num_classes: int | None = None, *,
                 class_names: Sequence[str] | None = None) -> list[str]:
        """Reasons not to trust these scores (empty when there are none); see the module docstring."""
        y = np.asarray(labels, dtype=np.int64)
        if y.ndim != 1 or y.size != len(self):
            raise ValueError(f"labels must hold one class id per scored sample ({len(self)}), got shape {y.shape}")
        c = int(y.max()) + 1 if num_classes is None else int(num_classes)
        counts = np.bincount(y, minlength=c)
        out = []
        acc = self.final_train_accuracy
        if acc is not None:
            message = _accuracy_warning(acc, float(counts.max() / counts.sum()))
            if message is None and "el2n" in self.scores:
                message = _memorising_warning(acc, self.scores["el2n"])
            out += [message] if message else []
        small = np.flatnonzero(counts < MIN_CLASS_SAMPLES)
        if small.size:
            sizes = ", ".join(str(int(counts[k])) for k in small[:10])
            out.append(f"{small.size} class(es) have fewer than {MIN_CLASS_SAMPLES} training samples "
                       f"({_class_list(small, class_names)}: {sizes}): their difficulty rests on too few samples "
                       "and the head barely sees them; treat their scores and budgets with care")
        return out
