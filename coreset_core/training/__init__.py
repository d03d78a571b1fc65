"""Training: a linear head on frozen features, the linear-probe protocol, full fine-tuning, metrics.

- `fit_linear_head` (linear.py): SGD + cosine, standardised features, per-sample loss weights,
  a per-epoch callback with the logits on the whole training set (used by the scores).
- `train_linear_probe` (probe.py): train on (a coreset of) cached features, test -> `ProbeResult`.
- `finetune` (finetune.py): backbone + new head on images, GPU mixed precision -> `FinetuneResult`.
- `classification_metrics` (evaluate.py): accuracy, balanced accuracy, per-class accuracy (numpy).

torch is imported inside the functions, so importing this package stays cheap.
"""
from .evaluate import accuracy, balanced_accuracy, classification_metrics, per_class_accuracy
from .finetune import FinetuneEpoch, FinetuneResult, finetune, load_checkpoint, load_finetuned
from .linear import DEFAULT_BATCH_SIZE, DEFAULT_LR, EpochEnd, LinearHead, fit_linear_head
from .probe import ProbeResult, train_linear_probe

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_LR", "EpochEnd", "FinetuneEpoch", "FinetuneResult", "LinearHead",
           "ProbeResult", "accuracy", "balanced_accuracy", "classification_metrics", "finetune",
           "fit_linear_head", "load_checkpoint", "load_finetuned", "per_class_accuracy", "train_linear_probe"]
