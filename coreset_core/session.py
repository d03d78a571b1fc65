"""`Session`: the prepared data of one `DataSpec` and everything derived from it, memoised.

The command line, a sweep's run and every studio page call a Session instead of wiring
datasets, features, scores and methods themselves. It loads lazily (a selection that does
not need the test split never extracts its features), keeps derived results (difficulty
per score, class difficulty per winsorization, budgets, selections, ridge searches,
probes, embeddings) in a bounded, thread-safe memo, and records the spec in every
selection's config so that `Session.from_config` rebuilds the selection exactly.

It never imports streamlit: the studio holds one Session per data setting in
`st.cache_resource` and only lays out what the Session returns.
"""
from __future__ import annotations

import inspect
import os
import threading
from collections import OrderedDict
from functools import cached_property
from typing import Any, Callable, Hashable, Iterable, Mapping

import numpy as np

from .jsonable import freeze
from .request import MULTI_BACKBONE_METHODS, RAM_APL_BACKBONES, SelectionRequest
from .spec import FILE_SCORE, DataSpec
from .validation import check_device

#: The selection method behind each budget mode of the KRR endpoint search (`Session.window_search`).
SEARCH_METHODS = {"nucs": "nucs", "uniform": "nucs-uniform"}
#: Method parameters filled from the test split when the caller does not give them (NUCS-O's
#: oracle: measuring candidates on the test data makes it an upper bound, not a result to report).
HELD_OUT_PARAMS = ("val_features", "val_labels")
#: The stages `prepare` reports through `on_progress(stage, fraction)`, in the order it runs them:
#: what the most pages need first (the test features serve only the linear probes).
STAGES = ("train features", "scores", "test features")
_STAGE_ATTRS = {"train features": "train", "scores": "scores", "test features": "test"}

ProgressFn = Callable[[str, float], None]


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


class Session:
    """Prepared data of `spec` plus memoised derived results.

    `data_dir` / `cache_dir` say where the dataset files and caches live (None: the
    defaults of `coreset_core.config`); `device` runs feature extraction and training;
    `progress` shows tqdm bars; `checkpoint` loads a timm backbone from a local file.
    `max_memo` bounds the derived results kept in memory (least recently used dropped).
    """

    def __init__(self, spec: DataSpec | None = None, *, data_dir: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, device: str = "cpu", progress: bool = False,
                 checkpoint: str | os.PathLike | None = None, max_memo: int = 128):
        if spec is not None and not isinstance(spec, DataSpec):
            raise ValueError(f"Session needs a DataSpec, got {type(spec).__name__}; build one with DataSpec(...)")
        self.spec = spec or DataSpec()
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.device = check_device(device)
        self.progress = bool(progress)
        self.checkpoint = checkpoint
        self._max_memo = int(max_memo)
        self._memo: OrderedDict[Hashable, Any] = OrderedDict()
        self._pinned: dict[Hashable, Any] = {}
        self._lock = threading.RLock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._on_progress: ProgressFn | None = None

    def __repr__(self) -> str:
        return f"Session({self.spec.describe()})"

    # ------------------------------------------------------------------ memo

    def memoised(self, key: Hashable, compute: Callable[[], Any], *, pinned: bool = False) -> Any:
        """`compute()` once per key, also when several threads ask at once (the studio's reruns).

        Derived results live in a bounded LRU memo; `pinned` ones (the prepared data: dataset
        features, scores, labels) are kept for the Session's lifetime and never evicted.
        """
        with self._lock:
            for store in (self._pinned, self._memo):
                if key in store:
                    if store is self._memo:
                        self._memo.move_to_end(key)
                    return store[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                for store in (self._pinned, self._memo):
                    if key in store:
                        return store[key]
            value = compute()
            with self._lock:
                if pinned:
                    self._pinned[key] = value
                else:
                    self._memo[key] = value
                    while len(self._memo) > self._max_memo:
                        self._memo.popitem(last=False)
                self._key_locks.pop(key, None)
        return value

    def has(self, key: Hashable) -> bool:
        """Whether a result is held now (e.g. `("features", "train", backbone)`)."""
        with self._lock:
            return key in self._pinned or key in self._memo

    @property
    def is_prepared(self) -> bool:
        """Whether the training features and the scores are loaded (`prepare` has run)."""
        return self.has(("features", "train", self.spec.backbone)) and self.has(("scores",))

    # ------------------------------------------------------------------ prepared data

    def _report(self, stage: str, fraction: float) -> None:
        if self._on_progress is not None:
            self._on_progress(stage, min(1.0, max(0.0, float(fraction))))

    def prepare(self, on_progress: ProgressFn | None = None, *, test: bool = True,
                scores: bool = True) -> "Session":
        """Load the dataset, the train features, the scores (unless not `scores`) and the test
        features (unless not `test`) now, in `STAGES` order, reporting each stage.

        `on_progress(stage, fraction)` is called for every stage run, from 0.0 to 1.0 (also when
        it is read from the cache). Each result is memoised under its own key with a per-key
        lock, so a page that asks for the train features while a background `prepare` computes
        them waits for that computation instead of repeating it.
        """
        skipped = {"test features": not test, "scores": not scores}
        self._on_progress = on_progress
        try:
            for stage in STAGES:
                if skipped.get(stage):
                    continue
                self._report(stage, 0.0)
                getattr(self, _STAGE_ATTRS[stage])
                self._report(stage, 1.0)
        finally:
            self._on_progress = None
        return self

    def stage_ready(self, stage: str) -> bool:
        """Whether one of `STAGES` is held in memory now (e.g. "scores")."""
        keys = {"train features": ("features", "train", self.spec.backbone), "scores": ("scores",),
                "test features": ("features", "test", self.spec.backbone)}
        return self.has(keys[stage])

    def preparation_cost(self):
        """The estimated work of `prepare` on this machine (`methods.cost.Cost`), before any of it runs.

        Counts the backbone's forward passes over the training and test images whose features are
        not on disk yet (a file check, nothing is read) and the scoring head's run (counted even
        when its scores are cached: an upper bound). Reads the dataset's index, not its images.
        """
        from .preparation import preparation_cost

        return preparation_cost(self)

    @cached_property
    def dataset(self):
        """The `coreset_core.datasets.Dataset` of the spec."""
        from .datasets import load_dataset

        spec = self.spec
        return load_dataset(spec.dataset, data_dir=self.data_dir, imbalance=spec.imbalance, seed=spec.data_seed)

    @cached_property
    def resolution(self) -> int:
        """The backbone's input size: the spec's, else the dataset's default."""
        return int(self.spec.resolution or self.dataset.default_resolution)

    def features_of(self, split: str = "train", backbone: str | None = None):
        """The cached `FeatureSet` of a split under a backbone (default: the spec's)."""
        from .features import get_features

        backbone = backbone or self.spec.backbone
        limit = self.spec.limit if split == "train" else self.spec.test_limit
        stage = f"{split} features"

        def compute():
            return get_features(self.dataset, split, backbone=backbone, resolution=self.resolution,
                                device=self.device, limit=limit, cache_dir=self.cache_dir,
                                checkpoint=self.checkpoint if backbone == self.spec.backbone else None,
                                progress=self.progress,
                                on_progress=lambda done, total: self._report(stage, done / max(total, 1)))
        return self.memoised(("features", split, backbone), compute, pinned=True)

    @property
    def train(self):
        """Training `FeatureSet` (features, labels, cache key)."""
        return self.features_of("train")

    @property
    def test(self):
        """Test `FeatureSet` (extracted only when something asks for it)."""
        return self.features_of("test")

    @property
    def scores(self):
        """The `ScoreSet` of difficulty scores from a linear head on the training features."""
        from .scores import compute_scores

        def compute():
            from .methods.cost import refuse_if_over
            from .scores.compute import scoring_work

            train = self.train
            n, d = train.features.shape
            refuse_if_over(scoring_work(n, d, self.num_classes, self.spec.score_epochs, len(self.spec.score_seeds)),
                           "scoring")
            return compute_scores(train.features, train.labels, epochs=self.spec.score_epochs,
                                  seeds=self.spec.score_seeds, device=self.device, cache_key=train.key,
                                  cache_dir=self.cache_dir, progress=self.progress,
                                  num_classes=self.num_classes, on_progress=lambda f: self._report("scores", f))
        return self.memoised(("scores",), compute, pinned=True)

    @property
    def labels(self) -> np.ndarray:
        """Training labels (int64, 0..C-1), read from the dataset: no features are extracted for them."""
        return self.memoised(("labels",), lambda: _readonly(
            np.asarray(self.dataset.train.labels, dtype=np.int64)[: self.spec.limit].copy()), pinned=True)

    @property
    def test_labels(self) -> np.ndarray:
        """Test labels (after the test limit), read from the dataset without extracting features."""
        return self.memoised(("test_labels",), lambda: _readonly(
            np.asarray(self.dataset.test.labels, dtype=np.int64)[: self.spec.test_limit].copy()), pinned=True)

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset.class_names)

    @property
    def num_classes(self) -> int:
        return int(self.dataset.num_classes)

    @property
    def class_sizes(self) -> np.ndarray:
        """Training samples per class (after the limit)."""
        return self.memoised(("class_sizes",), lambda: _readonly(
            np.bincount(self.labels, minlength=self.num_classes).astype(np.int64)), pinned=True)

    @property
    def ids(self) -> np.ndarray:
        """The original id of every training position (SPEC 7)."""
        return np.asarray(self.dataset.train.ids)[: self.spec.limit]

    @property
    def paths(self) -> np.ndarray | None:
        """The file path of every training position, or None when the source has no files."""
        paths = self.dataset.train.paths
        return None if paths is None else np.asarray(paths)[: self.spec.limit]

    def data_record(self) -> dict[str, Any]:
        """What a selection's config records about the data: the spec plus derived facts."""
        return {"spec": self.spec.to_dict(), "resolution": self.resolution,
                "num_train": int(self.labels.shape[0]), "num_classes": self.num_classes,
                "dataset_identity": self.dataset.identity}

    # ------------------------------------------------------------------ difficulty and budgets

    def difficulty(self, score: str | None = None) -> np.ndarray:
        """Per-sample difficulty (higher = harder) of a score type (default: the spec's score)."""
        score = score or self.spec.score
        return self.memoised(("difficulty", score), lambda: _readonly(
            self._file_scores() if score == FILE_SCORE else
            np.asarray(self.scores.difficulty(score), dtype=np.float64).copy()))

    def _file_scores(self) -> np.ndarray:
        """The embeddings file's own `scores` column (higher = harder) for the training positions."""
        from .validation import check_scores

        shipped = self.dataset.train_scores
        if shipped is None:
            raise ValueError(f"{self.spec.dataset} ships no scores, so score {FILE_SCORE!r} is not available; "
                             "choose el2n, aum, forgetting, grand or moderate")
        n = self.labels.shape[0]
        return check_scores(np.asarray(shipped, dtype=np.float64)[:n], n, name="the file's scores").copy()

    def class_difficulty(self, score: str | None = None, winsor: Iterable[float] = (0.0, 0.0)) -> np.ndarray:
        """Mean (or winsorized mean) difficulty per class (SPEC 1)."""
        from .difficulty import class_difficulty
        from .validation import check_winsor

        score, winsor = score or self.spec.score, check_winsor(winsor)
        return self.memoised(("class_difficulty", score, winsor), lambda: _readonly(np.asarray(
            class_difficulty(self.difficulty(score), self.labels, winsor=winsor, num_classes=self.num_classes))))

    def budgets(self, prune_rate: float, *, score: str | None = None, winsor: Iterable[float] = (0.0, 0.0),
                mode: str = "nucs", min_per_class: int = 1) -> np.ndarray:
        """Per-class counts at `prune_rate` (SPEC 2): 'nucs' (difficulty-driven) or 'uniform'."""
        from .allocation import allocate_budgets
        from .validation import check_prune_rate, check_winsor

        rate, winsor = check_prune_rate(prune_rate), check_winsor(winsor)
        difficulty = (np.ones(self.num_classes) if mode == "uniform"
                      else self.class_difficulty(score, winsor))
        key = ("budgets", rate, mode, min_per_class) + (() if mode == "uniform" else (score or self.spec.score, winsor))
        return self.memoised(key, lambda: _readonly(np.asarray(allocate_budgets(
            difficulty, self.class_sizes, rate, mode=mode, min_per_class=min_per_class))))

    # ------------------------------------------------------------------ selections

    def request(self, method: str | SelectionRequest, prune_rate: float = 0.0, *, score: str | None = None,
                seed: int = 0, backbones: Iterable[str] | None = None, **params: Any) -> SelectionRequest:
        """The `SelectionRequest` as this Session runs it: the score filled in where the method uses one
        (the spec's by default, else None), the default backbones of a multi-backbone method, and the
        parameters equal to the method's defaults left out (so both spellings share one memo entry).
        A method name plus keywords builds the request; a request passes through."""
        from dataclasses import replace

        from .methods import get_method

        if isinstance(method, SelectionRequest):
            if params or score is not None or seed or backbones is not None or prune_rate:
                raise ValueError("give either a SelectionRequest or a method name with keywords, not both")
            request = method
        else:
            request = SelectionRequest(method, prune_rate, score, seed, params, backbones)
        spec = get_method(request.method)
        defaults = freeze({k: v for k, v in spec.params.items()
                           if k not in HELD_OUT_PARAMS and v is not inspect.Parameter.empty})
        return replace(request, score=(request.score or self.spec.score) if spec.needs_scores else None,
                       params=tuple(p for p in request.params if p not in defaults),
                       backbones=(request.backbones or RAM_APL_BACKBONES) if request.method in MULTI_BACKBONE_METHODS
                       else None)

    def _method_inputs(self, request: SelectionRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        """The inputs `run_method` needs for the (resolved) request and a record of where they came from."""
        from .methods import get_method

        spec = get_method(request.method)
        inputs: dict[str, Any] = {"scores": None, "features": None}
        record: dict[str, Any] = {"score": None, "feature_backbones": None}
        if spec.needs_scores:
            inputs["scores"], record["score"] = self.difficulty(request.score), request.score
        if spec.needs_features:
            chosen = request.backbones or (self.spec.backbone,)
            inputs["features"] = ([self.features_of("train", b).features for b in chosen] if request.backbones
                                  else self.train.features)
            record["feature_backbones"] = list(chosen)
        if all(p in spec.params for p in HELD_OUT_PARAMS) and not any(p in request.param_dict for p in HELD_OUT_PARAMS):
            inputs.update(val_features=self.test.features, val_labels=self.test.labels)
            record["held_out"] = "test split (oracle upper bound, not a reportable result)"
        return inputs, record

    def select(self, request: SelectionRequest | str, prune_rate: float = 0.0, **keywords: Any):
        """Run the selection `request` describes; returns its `Selection` (memoised).

        `select("nucs", 0.9, winsor=(0.05, 0.05))` is a shortcut that builds the request
        (`Session.request`). `selection.config["request"]` records the request as run and
        `config["data"]` the spec, so `selection_from_config` rebuilds the selection.
        """
        from .methods import get_method
        from .methods.registry import _run_validated, check_cost, validated_inputs

        request = self.request(request, prune_rate, **keywords)
        spec = get_method(request.method)
        if spec.reweights:
            raise ValueError(f"{request.method!r} reweights every sample instead of choosing a subset: "
                             "use Session.reweight")

        def compute():
            params = request.param_dict
            if spec.needs_features:  # refused before the scores are computed for it
                features = ([self.features_of("train", b).features for b in request.backbones]
                            if request.backbones else self.train.features)
                check_cost(spec, request.prune_rate, self.labels, features, params)
            inputs, record = self._method_inputs(request)
            scores, features = inputs.pop("scores"), inputs.pop("features")
            scores, features = validated_inputs(spec, int(self.labels.shape[0]), scores, features)
            selection = _run_validated(spec, request.prune_rate, self.labels, scores, features, request.seed,
                                       {**params, **inputs})
            for name in inputs:
                selection.config["params"][name] = "<test split>"
            selection.config.update(record)
            selection.config["data"] = self.data_record()
            selection.config["request"] = request.to_dict()
            return selection
        return self.memoised(("select", request), compute)

    def has_selection(self, request: SelectionRequest | str, prune_rate: float = 0.0, **keywords: Any) -> bool:
        """Whether `select` with these arguments is held now (a look-up: nothing is computed)."""
        return self.has(("select", self.request(request, prune_rate, **keywords)))

    def reweight(self, request: SelectionRequest | str = "cw-erm", **keywords: Any):
        """Run the reweighting method `request` describes on the training features: its `Reweighting`
        (one loss weight per sample, memoised). `reweight("cw-erm", seed=1)` builds the request."""
        from .methods import reweight

        request = self.request(request, 0.0, **keywords)
        return self.memoised(("reweight", request), lambda: reweight(
            request.method, labels=self.labels, features=self.train.features, seed=request.seed,
            **request.param_dict))

    def kept_fraction_table(self, method: str, prune_rates: Iterable[float], *, score: str | None = None,
                            seed: int = 0, **params: Any):
        """Classes x pruning rates table of the fraction of each class that `method` keeps (memoised).

        Each column comes from `select` (memoised too); the table is built once per
        (method, rates, score, seed, params), so a page rerun only looks it up. A copy is
        returned: callers may change it without touching the memo.
        """
        from .analysis import fraction_frame, kept_fractions

        rates = tuple(float(r) for r in prune_rates)
        score = score or self.spec.score
        key = ("kept_fraction_table", method, rates, score, int(seed), freeze(params))

        def compute():
            labels, sizes = self.labels, self.class_sizes  # the Session's own checked arrays
            return fraction_frame({r: kept_fractions(self.select(method, r, score=score, seed=seed, **params).indices,
                                                     labels, sizes) for r in rates}, self.num_classes)
        return self.memoised(key, compute).copy()

    def window_search(self, prune_rate: float, *, score: str | None = None, winsor: Iterable[float] = (0.0, 0.0),
                      mode: str = "nucs"):
        """The KRR endpoint search (SPEC 4) with the budgets of `mode` ('nucs' or 'uniform') at `prune_rate`.

        One route: it is the selection of `SEARCH_METHODS[mode]` (cost check included), whose
        `info` holds the search (`endpoints`, `accuracies`, `best_endpoint`, `budgets`).
        """
        from .methods import get_method
        from .validation import check_winsor

        if mode not in SEARCH_METHODS:
            raise ValueError(f"mode must be one of {', '.join(SEARCH_METHODS)}, got {mode!r}")
        method = SEARCH_METHODS[mode]
        params = {"winsor": check_winsor(winsor)} if "winsor" in get_method(method).params else {}
        return self.select(method, prune_rate, score=score, **params)

    # ------------------------------------------------------------------ training, embeddings

    def probe(self, indices: Any = None, *, seed: int = 0, epochs: int = 30, sample_weights: Any = None,
              **options: Any):
        """A linear probe trained on `indices` (all by default) and tested on the test split (memoised)."""
        from .training import train_linear_probe

        idx = None if indices is None else np.asarray(indices, dtype=np.int64)
        key = ("probe", None if idx is None else hash(idx.tobytes()), int(seed), int(epochs),
               None if sample_weights is None else hash(np.asarray(sample_weights, np.float64).tobytes()),
               freeze(options))
        return self.memoised(key, lambda: train_linear_probe(
            self.train.features, self.labels, self.test.features, self.test.labels, indices=idx,
            sample_weights=sample_weights, epochs=epochs, seed=seed, device=self.device,
            num_classes=self.num_classes, **options))

    def embedding(self, method: str = "pca", **params: Any) -> np.ndarray:
        """2-D coordinates of the training features ('pca' or 'umap'), cached on disk."""
        from .embedding import get_embedding

        return self.memoised(("embedding", method, freeze(params)), lambda: get_embedding(
            self.train.features, method, feature_key=self.train.key, cache_dir=self.cache_root, **params))

    @property
    def cache_root(self) -> str:
        """The cache folder this Session reads and writes (its `cache_dir`, else the default)."""
        from .config import default_cache_dir, resolve_dir

        return str(resolve_dir(self.cache_dir, default_cache_dir()))

    # ------------------------------------------------------------------ provenance

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **session_options: Any) -> "Session":
        """The Session a selection's recorded config (`selection.config`) was made on."""
        data = config.get("data") if isinstance(config, Mapping) else None
        if not isinstance(data, Mapping) or not isinstance(data.get("spec"), Mapping):
            raise ValueError("this config has no 'data.spec' section: it was not made by Session.select / "
                             "`coreset select` of this version")
        return cls(DataSpec.from_dict(data["spec"]), **session_options)

    def reselect(self, config: Mapping[str, Any]):
        """Run the selection a recorded config describes again, on this Session."""
        return self.select(request_from_config(config))


def request_from_config(config: Mapping[str, Any]) -> SelectionRequest:
    """The `SelectionRequest` a selection's config records (`config["request"]`).

    Configs written before the request was recorded name the same fields at the top level
    (method, prune_rate, score, seed, params with `<...>` markers for arrays, feature_backbones).
    """
    if isinstance(config.get("request"), Mapping):
        return SelectionRequest.from_dict(config["request"])
    params = {k: v for k, v in dict(config.get("params", {})).items() if not (isinstance(v, str) and v.startswith("<"))}
    backbones = config.get("feature_backbones") if config.get("method") in MULTI_BACKBONE_METHODS else None
    return SelectionRequest(config["method"], config["prune_rate"], config.get("score") or None,
                            config.get("seed", 0), params, backbones)


def selection_from_config(config: Mapping[str, Any], **session_options: Any):
    """Rebuild a selection from its recorded config (the "config" of a coreset JSON, or the whole document,
    which is then checked against the selection-document schema first)."""
    if isinstance(config, Mapping) and "format" in config:
        from .selection_schema import reproducible_config

        config = reproducible_config(dict(config))
    return Session.from_config(config, **session_options).reselect(config)


def prepare(dataset: str = "cifar10", *, data_dir: str | os.PathLike | None = None,
            cache_dir: str | os.PathLike | None = None, device: str = "cpu", progress: bool = True,
            on_progress: ProgressFn | None = None, **spec_fields: Any) -> Session:
    """Shortcut: `Session(DataSpec(dataset, **spec_fields), ...)` with its data loaded now."""
    session = Session(DataSpec(dataset, **spec_fields), data_dir=data_dir, cache_dir=cache_dir, device=device,
                      progress=progress)
    return session.prepare(on_progress)
