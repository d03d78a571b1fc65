"""Coreset Studio's library: the public facade.

Everything a user, the CLI or the app needs is importable from here. Names are loaded
lazily (PEP 562) so that `import coreset_core` stays fast and does not pull in torch
until a function that needs it is used.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    # data and features
    "load_dataset": "datasets",
    "list_datasets": "datasets",
    "load_backbone": "backbones",
    "list_backbones": "backbones",
    "get_features": "features",
    "DataSpec": "spec",
    "Session": "session",
    "prepare": "session",
    "selection_from_config": "session",
    "SelectionRequest": "request",
    # difficulty, budgets, windows (NUCS core)
    "compute_scores": "scores",
    "class_difficulty": "difficulty",
    "allocate_budgets": "allocation",
    "window_select": "windows",
    "krr_window_search": "windows",
    # selection methods
    "select": "methods",
    "run_method": "methods",
    "list_methods": "methods",
    "method_specs": "methods",
    "Selection": "methods",
    "kept_fraction_table": "analysis",
    "reweight": "methods",
    "list_reweighting_methods": "methods",
    # training
    "train_linear_probe": "training",
    "finetune": "training",
    "FinetuneOptions": "training",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'coreset_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
