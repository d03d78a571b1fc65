"""Label noise for the lesson: flip some labels of one class, rescore, compare mean and winsorized mean.

The newer NUCS abstract argues for a winsorized class difficulty because a few mislabelled
samples can dominate a plain mean. `inject_label_noise` makes such samples on purpose: it
flips `round(fraction * N_c)` labels of class `cls` (chosen with a seeded generator) to other
classes (uniformly among them, or all to `target`). `noisy_class_difficulty` then recomputes
the scores on the noisy labels with the same scoring run as the session's (the cache key
includes the noise, so the clean scores are never reused) and puts the plain and the
winsorized class difficulty side by side, before and after.

What matters for NUCS is not the difficulty itself but the per-class budgets it produces:
`budget_error_curve` measures, over a range of flipped shares, how much of the coreset the
noisy budgets move away from the clean ones (half the L1 distance over the total budget),
under the plain and the winsorized mean; `noise_verdict` writes the lesson's text from it.
A session whose score is an embeddings file's own column is rescored with `RESCORE` (the
file's column cannot be recomputed on other labels).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from coreset_core.spec import FILE_SCORE
from coreset_core.validation import check_labels, check_winsor

#: The flipped shares of `budget_error_curve` (0 to 40 %).
NOISE_LEVELS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4)
#: The score used for rescoring when the session's score cannot be recomputed (an embeddings file's column).
RESCORE = "el2n"
#: Budget errors closer than this (share of the coreset) count as equal in `noise_verdict`.
SAME_ERROR = 0.002


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


def noise_curve_work(session, levels: Iterable[float] = NOISE_LEVELS) -> float:
    """The estimated work (flop) of `budget_error_curve`: one scoring run of the session's linear head
    (`scores.compute.scoring_work`) per noise level with flipped labels, plus the clean run when the
    session's score is an embeddings file's own column (it is rescored as well)."""
    from coreset_core.scores.compute import scoring_work

    n, d = session.train.features.shape
    spec = session.spec
    runs = sum(1 for level in levels if float(level) > 0) + (spec.score == FILE_SCORE)
    return runs * scoring_work(n, d, session.num_classes, spec.score_epochs, len(spec.score_seeds)).flop


def noisy_class_difficulty(session, cls: int, fraction: float, *, seed: int = 0, target: int | None = None,
                           winsor: Iterable[float] = (0.1, 0.1), score: str | None = None) -> NoiseComparison:
    """Flip labels of `cls`, rescore, and compare plain vs winsorized class difficulty before and after
    (memoised in the session: a rerun of the page redoes none of it)."""
    winsor = check_winsor(winsor)
    score = rescore_name(score or session.spec.score)
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


def rescore_name(score: str) -> str:
    """The score that can be recomputed on noisy labels: `score` itself, `RESCORE` for an embeddings file's."""
    return RESCORE if score == FILE_SCORE else score


def _budgets(difficulty: np.ndarray, labels: np.ndarray, c: int, total: int, winsor: tuple[float, float]):
    from coreset_core.allocation import allocate_budgets_for_total
    from coreset_core.difficulty import class_difficulty

    sizes = np.bincount(labels, minlength=c)
    return allocate_budgets_for_total(class_difficulty(difficulty, labels, winsor=winsor, num_classes=c), sizes,
                                      total)


def budget_error_curve(session, cls: int, prune_rate: float, *, levels: Iterable[float] = NOISE_LEVELS,
                       winsor: Iterable[float] = (0.1, 0.1), score: str | None = None, seed: int = 0,
                       on_progress: Any = None):
    """Per flipped share and estimator ("mean", "winsorized"): how far the NUCS budgets on the noisy
    labels are from the same estimator's budgets on the clean labels.

    Columns: `fraction`, `flipped` (count), `estimator`, `budget_error` (share of the coreset
    moved: half the L1 distance over the total budget), `class_budget` / `clean_class_budget`
    (the flipped class's own budget, noisy and clean). Budgets use the noisy labels' class sizes,
    as NUCS would on that data; the total is the clean `round((1 - rate) N)`. `on_progress(done, total)`
    is called after each noise level (each one rescoring run, cached on disk). Memoised in the
    session: a rerun of the page recomputes no budgets (0.9 s at 500,000 x 1,000 classes).
    """
    from coreset_core.validation import check_prune_rate

    winsor, score = check_winsor(winsor), rescore_name(score or session.spec.score)
    rate, levels = check_prune_rate(prune_rate), tuple(float(f) for f in levels)
    key = ("lesson budget error curve", int(cls), rate, levels, winsor, score, int(seed))
    return session.memoised(key, lambda: _budget_error_curve(session, int(cls), rate, levels, winsor, score,
                                                             int(seed), on_progress))


def _budget_error_curve(session, cls: int, prune_rate: float, levels: tuple[float, ...], winsor: tuple[float, float],
                        score: str, seed: int, on_progress: Any):
    import pandas as pd

    from coreset_core.validation import budget_for

    c, labels = session.num_classes, session.labels
    total = budget_for(prune_rate, labels.shape[0])
    clean_d = np.asarray(session.difficulty(score), dtype=np.float64)
    estimators = {"mean": (0.0, 0.0), "winsorized": winsor}
    clean = {k: _budgets(clean_d, labels, c, total, w) for k, w in estimators.items()}
    out = []
    for done, fraction in enumerate(levels, 1):
        noise = inject_label_noise(labels, cls, float(fraction), seed=seed, num_classes=c)
        d = clean_d if not noise.flipped.size else np.asarray(noisy_scores(session, noise).difficulty(score), float)
        for name, w in estimators.items():
            b = _budgets(d, noise.labels, c, total, w)
            moved = np.abs(b - clean[name])
            out.append((float(fraction), int(noise.flipped.size), name, 0.5 * float(moved.sum()) / max(total, 1),
                        int(b[cls]), int(clean[name][cls]), int(np.delete(moved, cls).max(initial=0))))
        if on_progress is not None:
            on_progress(done, len(levels))
    return pd.DataFrame(out, columns=["fraction", "flipped", "estimator", "budget_error", "class_budget",
                                      "clean_class_budget", "largest_other_change"])


def _pct_list(values: Iterable[float]) -> str:
    return ", ".join(f"{100 * v:g} %" for v in values)


def noise_verdict(curve, class_name: str) -> list[str]:
    """The lesson's sentences about `budget_error_curve`, every number read from `curve`.

    Winsorizing "helps" at a level when its budget error is lower than the plain mean's by more
    than `SAME_ERROR`, "hurts" when higher by more than that, and is "the same" otherwise.
    """
    wide = curve.pivot(index="fraction", columns="estimator", values="budget_error").sort_index()
    wide = wide[wide.index > 0]
    if wide.empty:
        return ["No labels flipped: both estimators give the clean budgets."]
    diff = wide["winsorized"] - wide["mean"]
    helps, hurts = wide.index[diff < -SAME_ERROR], wide.index[diff > SAME_ERROR]
    same = wide.index[diff.abs() <= SAME_ERROR]
    top = wide.index.max()
    own = curve[(curve["fraction"] == top)].set_index("estimator")
    lines = [f"With {100 * top:g} % of {class_name}'s labels flipped, the NUCS budgets computed from the plain "
             f"mean move {100 * wide.loc[top, 'mean']:.1f} % of the coreset between classes compared with the clean "
             f"labels' budgets; those from the winsorized mean move {100 * wide.loc[top, 'winsorized']:.1f} %."]
    parts = []
    if len(helps):
        parts.append(f"winsorizing moves less of the budget at {_pct_list(helps)} flipped")
    if len(same):
        parts.append(f"it makes no difference (within {100 * SAME_ERROR:g} % of the coreset) at {_pct_list(same)}")
    if len(hurts):
        parts.append(f"it moves more at {_pct_list(hurts)}")
    lines.append(parts[0][0].upper() + parts[0][1:] + ("; " + "; ".join(parts[1:]) if parts[1:] else "") + ".")
    m, w = ({k: int(v) for k, v in own.loc[e, ["class_budget", "clean_class_budget", "largest_other_change"]].items()}
            for e in ("mean", "winsorized"))
    own_change = max(abs(m["class_budget"] - m["clean_class_budget"]), abs(w["class_budget"] - w["clean_class_budget"]))
    other = int(max(m["largest_other_change"], w["largest_other_change"]))
    lines.append(f"At {100 * top:g} % flipped, {class_name}'s own budget goes from {m['clean_class_budget']:,} to "
                 f"{m['class_budget']:,} samples under the mean and from {w['clean_class_budget']:,} to "
                 f"{w['class_budget']:,} winsorized; " + ("it changes more than any other class (at most "
                 f"{other:,} samples)." if own_change > other else f"another class changes as much or more "
                 f"({other:,} samples)."))
    if len(hurts) or len(same):
        lines.append("Winsorizing clips each class's most extreme scores; where it does not help, the flipped "
                     "samples are too many (or too ordinary) to be the extremes it clips.")
    return lines


__all__ = ["NOISE_LEVELS", "RESCORE", "NoiseComparison", "NoisyLabels", "budget_error_curve", "inject_label_noise",
           "noise_curve_work", "noise_verdict", "noisy_class_difficulty", "noisy_scores", "rescore_name"]
