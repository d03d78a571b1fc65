"""NUCS (Zhang et al.): non-uniform class-wise coreset selection, and its oracle.

* ``nucs``: class difficulty (winsorized mean of the scores) -> difficulty-proportional
  class budgets (water-filling, exact rounding) -> one common window endpoint chosen by
  ridge regression (KRR) on frozen features, scored on the whole training set.
* ``nucs-uniform`` (the paper's uniform-allocation ablation) is the same search with the
  same fraction in every class, which is BWS: it is registered as an alias of ``bws``
  (`coreset_core.methods.bws`).
* ``nucs-o``: the oracle. Same candidates, but each is scored by training a linear probe on
  the candidate coreset's features and measuring accuracy on held-out data
  (`val_features`, `val_labels`). The CLI passes the test split, so NUCS-O is an upper
  bound that tells how good the KRR proxy is, not a method to report as a result.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..allocation import allocate_budgets_for_total
from ..difficulty import _class_difficulty
from ..validation import check_features, check_label_ids, check_winsor
from ..windows import _check_endpoints, _krr_window_search, _window_candidates
from .common import one_backbone
from .registry import register


def _class_budgets(labels: np.ndarray, budget: int, scores: np.ndarray, winsor: Any, mode: str,
                   min_per_class: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(class difficulty, class sizes, class budgets)` of validated inputs."""
    lo, hi = check_winsor(winsor)
    sizes = np.bincount(labels)
    difficulty = _class_difficulty(scores, labels, sizes.size, lo, hi)
    return difficulty, sizes, allocate_budgets_for_total(difficulty, sizes, budget, mode, min_per_class)


@register("nucs", needs_scores=True, needs_features=True, allocation="classwise", non_negative_scores=True,
          description="NUCS: class budgets proportional to class difficulty x size, and one difficulty "
                      "window endpoint for all classes chosen by ridge regression (KRR) on frozen features")
def nucs(labels, budget, *, scores, features, seed, winsor=(0.0, 0.0), endpoints=None, ridge=1.0,
         min_per_class=1, eval_subsample=None, device="cpu"):
    """NUCS. `winsor`: (lo, hi) tails clipped in the class difficulty; `endpoints`: the grid
    (default 0, 0.05, ..., 1); `ridge`: KRR lambda; `eval_subsample`: evaluate the KRR on a seeded
    stratified subsample (int or fraction) instead of the whole training set; `device`: 'cpu',
    'torch' or 'cuda'."""
    features = one_backbone(features, "nucs")
    difficulty, sizes, budgets = _class_budgets(labels, budget, scores, winsor, "nucs", min_per_class)
    res = _krr_window_search(features, labels, scores, sizes, budgets, endpoints=endpoints, ridge=ridge,
                             eval_subsample=eval_subsample, seed=seed, device=device)
    info = {
        "budgets": budgets,
        "class_difficulty": difficulty,
        "endpoints": res.endpoints,
        "accuracies": res.accuracies,
        "best_endpoint": res.best_endpoint,
        "allocation_mode": "nucs",
        "krr_form": res.form,
        "eval_size": res.num_eval,
        "krr_evaluated": res.evaluated,
    }
    return res.indices, info


# ----------------------------------------------------------------------------- oracle


def _probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, *,
                    epochs: int, seed: int) -> float:
    """Held-out accuracy of a linear probe trained on `(train_x, train_y)`.

    Multinomial logistic regression (scikit-learn, L-BFGS, L2 with C=1) on features
    standardized with the training subset's statistics; `epochs` bounds the L-BFGS iterations
    (each is one full pass over the subset). Kept behind this one function so that the
    project's torch linear-probe protocol can replace it.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    present = np.unique(train_y)
    if present.size == 1:  # a one-class coreset predicts that class everywhere
        return float(np.mean(val_y == present[0]))
    mean = train_x.mean(axis=0, dtype=np.float64)
    std = train_x.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=int(epochs), random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit((train_x - mean) / std, train_y)
    return float(np.mean(clf.predict((val_x - mean) / std) == val_y))


def _check_val(val_features: Any, val_labels: Any, d: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    if val_features is None or val_labels is None:
        raise ValueError(
            "nucs-o needs held-out data: pass val_features=(M, d) features and val_labels=(M,) labels "
            "(the CLI uses the test split; NUCS-O is the oracle upper bound, not a deployable method)"
        )
    y = check_label_ids(val_labels, num_classes=c, name="val_labels")
    x = check_features(val_features, y.shape[0], name="val_features")
    if x.shape[1] != d:
        raise ValueError(f"val_features have {x.shape[1]} dims but the training features have {d}")
    return x, y


@register("nucs-o", needs_scores=True, needs_features=True, allocation="classwise", non_negative_scores=True,
          description="NUCS-O oracle: NUCS candidates scored by a linear probe's held-out accuracy "
                      "(needs val_features/val_labels; an upper bound for the KRR proxy)")
def nucs_o(labels, budget, *, scores, features, seed, val_features=None, val_labels=None, winsor=(0.0, 0.0),
           endpoints=None, min_per_class=1, probe_epochs=100, budget_mode="nucs"):
    """NUCS-O. `val_features`, `val_labels`: held-out data (required); `probe_epochs`: L-BFGS
    iterations of the probe; `budget_mode`: 'nucs' or 'uniform' (NUCS-O(uniform) ablation)."""
    features = one_backbone(features, "nucs-o")
    vx, vy = _check_val(val_features, val_labels, features.shape[1], int(labels.max()) + 1)
    if int(probe_epochs) < 1:
        raise ValueError(f"probe_epochs must be >= 1, got {probe_epochs!r}")
    difficulty, sizes, budgets = _class_budgets(labels, budget, scores, winsor, budget_mode, min_per_class)
    cand = _window_candidates(scores, labels, sizes, budgets, _check_endpoints(endpoints))
    acc_distinct = np.empty(cand.distinct.shape[0])
    for j, i in enumerate(cand.distinct):
        idx = cand.indices(int(i))
        acc_distinct[j] = _probe_accuracy(features[idx], labels[idx], vx, vy, epochs=int(probe_epochs), seed=seed)
    acc = acc_distinct[cand.group]
    best = int(np.flatnonzero(acc == acc.max())[-1])  # ties: larger k
    info = {
        "budgets": budgets,
        "class_difficulty": difficulty,
        "endpoints": cand.endpoints,
        "accuracies": acc,
        "best_endpoint": float(cand.endpoints[best]),
        "allocation_mode": budget_mode,
        "oracle": "linear probe (logistic regression) accuracy on the given held-out data",
    }
    return cand.indices(best), info
