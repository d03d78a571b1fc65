"""Per-sample difficulty scores from a short training run (SPEC 5), cached, with a trust check.

`compute_scores(features, labels)` trains a linear head (training/linear.py) on the frozen
backbone features for `epochs` epochs (default 3, as NUCS does for ResNet-18) but at least
`min_steps` optimiser steps (default 200, so that a small set's head learns: see
compute.py), once per seed, and reads the head's logits on the whole training set at the
end of every epoch. From these checkpoints:

- `el2n`: `||softmax(z) - onehot(y)||_2`, averaged over the checkpoints and seeds;
- `grand`: the gradient norm of the loss w.r.t. the head's weight and bias,
  `||p - y|| * ||[x, 1]||` with `x` the standardised feature the head sees; same averaging;
- `aum`: the mean over the checkpoints of the margin `z_y - max_{j != y} z_j` (measured at
  epoch ends, not after every step), averaged over seeds; LOW = hard, see `difficulty`;
- `forgetting`: number of correct -> incorrect transitions between consecutive epoch-end
  checkpoints, averaged over seeds;
- `moderate`: Euclidean distance of the (raw) feature to its class's coordinate-wise median.

`compute_scores_finetune(dataset)` gives the same five scores from full fine-tuning of the
backbone (GPU), reading the training-set logits after each epoch through `finetune`'s
epoch callback (GraNd there is the last layer's gradient norm).

`ScoreSet.difficulty(name)` returns the non-negative, higher-is-harder difficulty the
selection methods need: the score itself, except AUM which becomes `max(aum) - aum`.
`ScoreSet.train_accuracy` holds the head's train accuracy at every checkpoint (cached with
the scores) and `ScoreSet.warnings(labels)` says when it is too low to trust the scores or
when a class has too few samples (rule in scoreset.py).

Results are cached under `<cache>/scores/`, keyed by the identity of the features
(`cache_key`, e.g. `FeatureSet.key`), the score config (epochs, min_steps, effective
epochs and steps, seeds, lr, batch size, optimizer constants) and the code version;
without a `cache_key` nothing is cached.
"""
from __future__ import annotations

from .aum import aum_difficulty, margins
from .compute import (DEFAULT_MIN_STEPS, SCORES_VERSION, EpochAccumulator, compute_scores, compute_scores_finetune,
                      run_length)
from .el2n import el2n, softmax
from .forgetting import forgetting_counts
from .grand import augmented_norms, grand_linear
from .moderate import class_medians, moderate_distance
from .scoreset import MIN_CLASS_SAMPLES, SCORE_NAMES, SIGNED_SCORES, ScoreSet, to_difficulty

__all__ = ["DEFAULT_MIN_STEPS", "MIN_CLASS_SAMPLES", "SCORE_NAMES", "SCORES_VERSION", "SIGNED_SCORES", "ScoreSet",
           "EpochAccumulator", "compute_scores", "compute_scores_finetune", "run_length", "aum_difficulty",
           "augmented_norms", "class_medians", "el2n", "forgetting_counts", "grand_linear", "margins",
           "moderate_distance", "softmax", "to_difficulty"]
