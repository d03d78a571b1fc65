"""Training: a linear head on frozen features, the linear-probe protocol, full fine-tuning, metrics.

- `fit_linear_head` (linear.py): SGD + cosine, standardised features, per-sample loss weights,
  a per-epoch callback with the logits on the whole training set (used by the scores).
- `train_linear_probe` (probe.py): train on (a coreset of) cached features, test -> `ProbeResult`.
- `finetune` (finetune.py): backbone + new head on images, GPU mixed precision -> `FinetuneResult`.
- `classification_metrics` (evaluate.py): accuracy, balanced accuracy, per-class accuracy (numpy).

One trainer interface: `train_linear_probe(train_features, train_labels, test_features,
test_labels, **kw)` and `finetune(dataset, **kw)` accept the same keyword arguments
`TRAINER_ARGS` with the same meaning (`indices`: training positions, None = all;
`sample_weights`: per-sample loss weights, None = unweighted; `epochs`; `lr` and
`batch_size`: None = the protocol's default; `seed`; `device`: None = the protocol's
default; `progress`; `test_limit`: evaluate on the first N test samples, None = all), and
both results carry `metrics`, `train_seconds` and `config`.

torch is imported inside the functions, so importing this package stays cheap.
"""
from .evaluate import classification_metrics, per_class_accuracy
from .finetune import FinetuneEpoch, FinetuneOptions, FinetuneResult, finetune, load_checkpoint, load_finetuned
from .linear import DEFAULT_BATCH_SIZE, DEFAULT_LR, EpochEnd, LinearHead, fit_linear_head
from .probe import ProbeResult, train_linear_probe

#: Keyword arguments that `train_linear_probe` and `finetune` both accept, with the same meaning.
TRAINER_ARGS = ("indices", "sample_weights", "epochs", "lr", "batch_size", "seed", "device", "progress", "test_limit")

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_LR", "EpochEnd", "FinetuneEpoch", "FinetuneOptions", "FinetuneResult", "LinearHead",
           "ProbeResult", "TRAINER_ARGS", "classification_metrics", "finetune",
           "fit_linear_head", "load_checkpoint", "load_finetuned", "per_class_accuracy", "train_linear_probe"]
