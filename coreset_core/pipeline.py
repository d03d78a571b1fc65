"""Orchestration: dataset -> features -> scores -> selection, as the CLI, the sweep and the app use it.

`prepare(...)` loads a dataset, gets (cached) train and test features of one backbone and
computes (cached) difficulty scores, reporting progress per stage. `run_selection(...)`
feeds the right inputs of a `PreparedData` to a registered selection method and records
the data settings next to the method's own config, so a `Selection.config` names
everything needed to rebuild the selection (`selection_from_config` does exactly that).
This module only wires inputs; what a method does lives in `coreset_core.methods`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from .backbones import DEFAULT_BACKBONE
from .datasets import Dataset, load_dataset
from .features import FeatureSet, get_features
from .scores import SCORE_NAMES, ScoreSet, compute_scores

#: Backbones whose features RAM-APL averages over (SPEC 6: "for each of several backbones").
RAM_APL_BACKBONES: tuple[str, ...] = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
#: Methods that take a list of feature arrays, one per backbone, instead of one array.
MULTI_BACKBONE_METHODS: dict[str, tuple[str, ...]] = {"ram-apl": RAM_APL_BACKBONES}
#: Method parameters filled from the test split when the caller does not give them (NUCS-O's
#: oracle: measuring candidates on the test data makes it an upper bound, not a result to report).
HELD_OUT_PARAMS = ("val_features", "val_labels")

STAGES = ("train features", "test features", "scores")


@dataclass
class PreparedData:
    """Everything a selection needs, for one dataset/backbone/score setting."""

    dataset: Dataset
    train: FeatureSet
    test: FeatureSet
    scores: ScoreSet
    #: dataset name, imbalance, data_seed, backbone, resolution, limit, test_limit, score settings
    config: dict[str, Any]


def prepare(dataset: str, *, imbalance: float | None = None, data_seed: int = 0,
            backbone: str = DEFAULT_BACKBONE, resolution: int | None = None, limit: int | None = None,
            test_limit: int | None = None, device: str = "cpu", score_epochs: int = 3,
            score_seeds: tuple[int, ...] = (0,), data_dir: str | os.PathLike | None = None,
            cache_dir: str | os.PathLike | None = None, progress: bool = True,
            on_progress: Callable[[str, float], None] | None = None) -> PreparedData:
    """Load `dataset`, its train/test features from `backbone` and the difficulty scores.

    `imbalance` and `data_seed` make the long-tailed variant of a `<name>-lt` dataset;
    `limit` / `test_limit` keep the first N images of each split (quick runs); `resolution`
    defaults to the dataset's. Scores come from a linear head on the train features
    (`score_epochs` epochs per seed in `score_seeds`). Features and scores are cached under
    `cache_dir`. `on_progress(stage, fraction)` reports the stages "train features",
    "test features" and "scores", each from 0.0 to 1.0 (also when read from the cache).
    """
    def report(stage: str, fraction: float) -> None:
        if on_progress is not None:
            on_progress(stage, min(1.0, max(0.0, float(fraction))))

    ds = load_dataset(dataset, data_dir=data_dir, imbalance=imbalance, seed=int(data_seed))
    res = int(resolution or ds.default_resolution)
    splits = {}
    for split, split_limit in (("train", limit), ("test", test_limit)):
        stage = f"{split} features"
        report(stage, 0.0)
        splits[split] = get_features(ds, split, backbone=backbone, resolution=res, device=device,
                                     limit=split_limit, cache_dir=cache_dir, progress=progress,
                                     on_progress=lambda done, total, s=stage: report(s, done / max(total, 1)))
        report(stage, 1.0)
    train, test = splits["train"], splits["test"]
    report("scores", 0.0)
    scores = compute_scores(train.features, train.labels, epochs=score_epochs, seeds=tuple(score_seeds),
                            device=device, cache_key=train.key, cache_dir=cache_dir, progress=progress,
                            num_classes=ds.num_classes, on_progress=lambda f: report("scores", f))
    report("scores", 1.0)
    config = {
        "dataset": dataset,
        "imbalance": ds.config.get("imbalance"),
        "data_seed": int(data_seed),
        "backbone": backbone,
        "resolution": res,
        "limit": limit,
        "test_limit": test_limit,
        "score_epochs": int(score_epochs),
        "score_seeds": [int(s) for s in score_seeds],
        "score_lr": scores.config["lr"],
        "score_batch_size": scores.config["batch_size"],
        "num_train": int(train.labels.shape[0]),
        "num_test": int(test.labels.shape[0]),
        "num_classes": ds.num_classes,
        "dataset_identity": ds.identity,
    }
    return PreparedData(ds, train, test, scores, config)


def method_inputs(prepared: PreparedData, method: str, *, score: str = "el2n",
                  params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The keyword inputs `run_method` needs for `method` on `prepared` (scores, features, extras).

    Returns `{"scores": ..., "features": ..., "extra": {...}, "record": {...}}`: `extra` are
    parameters filled in for the method (NUCS-O's held-out data), `record` describes where
    every input came from, for the selection's config.
    """
    from .methods import get_method

    spec = get_method(method)
    params = params or {}
    record: dict[str, Any] = {"score": None, "feature_backbones": None}
    scores = None
    if spec.needs_scores:
        if score not in prepared.scores.scores:
            raise ValueError(f"unknown score {score!r}; available scores: {', '.join(SCORE_NAMES)}")
        scores = prepared.scores.difficulty(score)
        record["score"] = score
    features: Any = None
    if spec.needs_features:
        backbones = MULTI_BACKBONE_METHODS.get(method)
        if backbones is None:
            features = prepared.train.features
            record["feature_backbones"] = [prepared.config["backbone"]]
        else:
            cfg = prepared.config
            features = [prepared.train.features if b == cfg["backbone"] else
                        get_features(prepared.dataset, "train", backbone=b, resolution=cfg["resolution"],
                                     limit=cfg["limit"], cache_dir=_cache_dir(prepared), progress=False).features
                        for b in backbones]
            record["feature_backbones"] = list(backbones)
    extra: dict[str, Any] = {}
    if all(p in spec.params for p in HELD_OUT_PARAMS) and not any(p in params for p in HELD_OUT_PARAMS):
        extra = {"val_features": prepared.test.features, "val_labels": prepared.test.labels}
        record["held_out"] = "test split (oracle upper bound, not a reportable result)"
    return {"scores": scores, "features": features, "extra": extra, "record": record}


def _cache_dir(prepared: PreparedData) -> str | None:
    path = prepared.train.path
    # <cache>/features/<file>: the same cache root as the prepared features
    return str(path.parent.parent) if path is not None else None


def run_selection(prepared: PreparedData, method: str, *, prune_rate: float, score: str = "el2n", seed: int = 0,
                  **params: Any):
    """Run `method` on `prepared` at `prune_rate`; returns a `Selection`.

    Inputs: `scores = prepared.scores.difficulty(score)` for methods that need scores,
    `features = prepared.train.features` for those that need features (RAM-APL: a list of
    the EfficientNet-Lite0/1/2 features of the same dataset, resolution and limit). A method
    with `val_features`/`val_labels` parameters (NUCS-O) gets the test split's features when
    they are not given: the oracle upper bound. `selection.config["data"]` records the data
    settings and `selection.config["score"]` the score used, so the config reproduces it.
    """
    from .methods import run_method

    inputs = method_inputs(prepared, method, score=score, params=params)
    selection = run_method(method, prune_rate=prune_rate, labels=prepared.train.labels, scores=inputs["scores"],
                           features=inputs["features"], seed=seed, **inputs["extra"], **params)
    for name in inputs["extra"]:
        selection.config["params"][name] = "<test split>"
    selection.config["score"] = inputs["record"]["score"]
    selection.config["feature_backbones"] = inputs["record"]["feature_backbones"]
    if "held_out" in inputs["record"]:
        selection.config["held_out"] = inputs["record"]["held_out"]
    selection.config["data"] = dict(prepared.config)
    return selection


def selection_from_config(config: dict[str, Any], *, data_dir: str | os.PathLike | None = None,
                          cache_dir: str | os.PathLike | None = None, device: str = "cpu",
                          progress: bool = False):
    """Rebuild a selection from its recorded `Selection.config` (e.g. the "config" of a coreset JSON)."""
    data = config.get("data")
    if not isinstance(data, dict):
        raise ValueError("this config has no 'data' section: it was not made by run_selection / `coreset select`")
    prepared = prepare(data["dataset"], imbalance=data.get("imbalance") if str(data["dataset"]).endswith("-lt")
                       else None, data_seed=data.get("data_seed", 0), backbone=data["backbone"],
                       resolution=data.get("resolution"), limit=data.get("limit"), test_limit=data.get("test_limit"),
                       device=device, score_epochs=data.get("score_epochs", 3),
                       score_seeds=tuple(data.get("score_seeds", (0,))), data_dir=data_dir, cache_dir=cache_dir,
                       progress=progress)
    params = {k: v for k, v in config.get("params", {}).items() if not (isinstance(v, str) and v.startswith("<"))}
    return run_selection(prepared, config["method"], prune_rate=config["prune_rate"],
                         score=config.get("score") or "el2n", seed=config.get("seed", 0), **params)
