"""`DataSpec`: the one description of a data setting.

A data setting is everything that fixes the training samples, their features and their
difficulty scores: the dataset (and its parameters), the backbone, the input resolution,
the train/test limits and the scoring run. The command line's common options, a sweep's
run config and the studio's sidebar each build a `DataSpec`; cache keys, selection
configs and result rows derive from it, and nothing else describes a data setting.

It is validated once, here, at the public edge: a bad limit, resolution, imbalance factor
or score name is refused with a message naming the fix before anything is loaded.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping

from .backbones import DEFAULT_BACKBONE
from .datasets import DEFAULT_IMBALANCE
from .features import FILE_BACKBONE

DEFAULT_DATASET = "cifar10"
DEFAULT_SCORE = "el2n"
DEFAULT_SCORE_EPOCHS = 3
#: Input resolutions outside this range are refused (below, pretrained features break down;
#: above, one image no longer fits a sensible batch on a CPU).
RESOLUTION_RANGE = (16, 1024)
#: Prefixes of datasets named by a path (`imagefolder:<path>`, `embeddings:<path>`, `hf:<path-or-name>`).
PATH_PREFIXES = ("imagefolder:", "embeddings:", "hf:")
EMBEDDINGS_PREFIX = "embeddings:"
#: The score name of an embeddings file's own `scores` column (its features go by `FILE_BACKBONE`).
FILE_SCORE = "file"


def _positive_int_or_none(name: str, value: Any, fix: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or str(value).strip() == "":
        raise ValueError(f"{name} must be a positive whole number or None, got {value!r}; {fix}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a positive whole number or None, got {value!r}; {fix}") from None
    if number != int(number) or number < 1:
        raise ValueError(f"{name} must be a positive whole number or None, got {value!r}; {fix}")
    return int(number)


def _check_dataset(dataset: Any) -> str:
    if not isinstance(dataset, str) or not dataset.strip():
        raise ValueError(f"dataset must be a dataset name, got {dataset!r}; see `coreset datasets`")
    dataset = dataset.strip()
    for prefix in PATH_PREFIXES:
        if dataset.startswith(prefix) and not dataset[len(prefix):].strip():
            raise ValueError(f"{prefix} needs a path after the colon, e.g. {prefix}/data/my_images")
    if dataset.startswith("hf:"):
        from .datasets.hf import with_options

        return with_options(dataset)  # one name per setting: options in order, the folder absolute
    return dataset


def _check_imbalance(dataset: str, imbalance: Any) -> float | None:
    long_tailed = dataset.endswith("-lt") and not dataset.startswith(PATH_PREFIXES)
    if not long_tailed:
        if imbalance is not None:
            raise ValueError(f"an imbalance factor needs a long-tailed dataset name: use {dataset}-lt "
                             f"(got imbalance={imbalance!r} for {dataset!r})")
        return None
    value = DEFAULT_IMBALANCE if imbalance is None else imbalance
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"imbalance must be a number >= 1, got {imbalance!r}") from None
    if not value >= 1 or value != value or value == float("inf"):
        raise ValueError(f"imbalance must be a finite number >= 1 (largest / smallest class), got {imbalance!r}")
    return value


def check_score(score: Any) -> str:
    """`score` if it names a difficulty score (or the embeddings file's own), else a ValueError listing them."""
    from .scores import SCORE_NAMES

    if score not in SCORE_NAMES + (FILE_SCORE,):
        raise ValueError(f"unknown score {score!r}; choose one of {', '.join(SCORE_NAMES)} "
                         f"(or {FILE_SCORE!r}: the scores column of an embeddings file)")
    return str(score)


def _check_backbone(dataset: str, backbone: Any) -> str:
    if not isinstance(backbone, str) or not backbone.strip():
        raise ValueError(f"backbone must be a backbone name, got {backbone!r}; see `coreset backbones`")
    if dataset.startswith(EMBEDDINGS_PREFIX):
        if backbone not in (DEFAULT_BACKBONE, FILE_BACKBONE):
            raise ValueError(f"an embeddings file carries its own features, so backbone {backbone!r} does not "
                             "apply; leave --backbone out")
        return FILE_BACKBONE
    if backbone == FILE_BACKBONE:
        raise ValueError(f"backbone {FILE_BACKBONE!r} means an embeddings file's own features; "
                         "use an embeddings:<path> dataset")
    return backbone


def _check_seeds(seeds: Any) -> tuple[int, ...]:
    if isinstance(seeds, (int, str)) and not isinstance(seeds, bool):
        seeds = [seeds]
    try:
        out = tuple(int(s) for s in seeds)
    except (TypeError, ValueError):
        raise ValueError(f"score_seeds must be whole numbers like (0, 1, 2), got {seeds!r}") from None
    if not out:
        raise ValueError("score_seeds must name at least one seed, e.g. (0,)")
    return out


@dataclass(frozen=True)
class DataSpec:
    """One data setting: frozen, hashable, JSON round-trippable (`to_dict` / `from_dict`).

    `imbalance` applies to `<name>-lt` datasets only (default 10 there, None elsewhere);
    `resolution` None means the dataset's default; `limit` / `test_limit` None mean the
    whole split. `score` is the difficulty score that selections use by default; it does
    not change the prepared data, so `prepare_key` leaves it out.
    """

    dataset: str = DEFAULT_DATASET
    imbalance: float | None = None
    data_seed: int = 0
    backbone: str = DEFAULT_BACKBONE
    resolution: int | None = None
    limit: int | None = None
    test_limit: int | None = None
    score: str = DEFAULT_SCORE
    score_epochs: int = DEFAULT_SCORE_EPOCHS
    score_seeds: tuple[int, ...] = field(default=(0,))

    def __post_init__(self) -> None:
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        put("dataset", _check_dataset(self.dataset))
        put("imbalance", _check_imbalance(self.dataset, self.imbalance))
        if isinstance(self.data_seed, bool) or not isinstance(self.data_seed, (int, float, str)) \
                or str(self.data_seed).strip().lstrip("-").isdigit() is False or int(self.data_seed) < 0:
            raise ValueError(f"data_seed must be a whole number >= 0, got {self.data_seed!r}")
        put("data_seed", int(self.data_seed))
        put("backbone", _check_backbone(self.dataset, self.backbone))
        resolution = _positive_int_or_none("resolution", self.resolution,
                                           f"use a size in pixels from {RESOLUTION_RANGE[0]} to {RESOLUTION_RANGE[1]}, "
                                           "or leave it out for the dataset's default")
        if resolution is not None and not RESOLUTION_RANGE[0] <= resolution <= RESOLUTION_RANGE[1]:
            raise ValueError(f"resolution {resolution} px is outside {RESOLUTION_RANGE[0]}-{RESOLUTION_RANGE[1]}; "
                             "pick a size in that range (128 suits 32 px images, 224 the backbones' own size)")
        put("resolution", resolution)
        put("limit", _positive_int_or_none("limit", self.limit, "use --limit N with N >= 1, or leave it out for all"))
        put("test_limit", _positive_int_or_none("test_limit", self.test_limit,
                                                "use --test-limit N with N >= 1, or leave it out for all"))
        put("score", check_score(self.score))
        put("score_epochs", _positive_int_or_none("score_epochs", self.score_epochs, "use 1 or more epochs"))
        if self.score_epochs is None:
            raise ValueError("score_epochs must be a positive whole number, e.g. 3")
        put("score_seeds", _check_seeds(self.score_seeds))

    # ------------------------------------------------------------------ identity

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (`DataSpec.from_dict` inverts it)."""
        out = dataclasses.asdict(self)
        out["score_seeds"] = list(self.score_seeds)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DataSpec":
        """A spec from `to_dict()` output; unknown keys are refused (a typo must not pass silently)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a data spec must be a mapping of its fields, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown data setting(s) {unknown}; the fields are {sorted(names)}")
        return cls(**dict(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "DataSpec":
        return cls.from_dict(json.loads(text))

    @property
    def key(self) -> str:
        """Stable short hash of every field (equal specs share it, across processes)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @property
    def prepare_key(self) -> str:
        """Hash of the fields that fix features and scores (all but `score`)."""
        return self.replace(score=DEFAULT_SCORE).key

    def replace(self, **changes: Any) -> "DataSpec":
        """A copy with some fields changed (validated again)."""
        if "dataset" in changes and "imbalance" not in changes and not str(changes["dataset"]).endswith("-lt"):
            changes["imbalance"] = None
        return dataclasses.replace(self, **changes)

    @property
    def base_dataset(self) -> str:
        """The dataset name without a path (`imagefolder` for `imagefolder:/x`)."""
        return self.dataset.split(":", 1)[0] if self.dataset.startswith(PATH_PREFIXES) else self.dataset

    # ------------------------------------------------------------------ presentation

    def describe(self) -> str:
        """One human line, e.g. 'cifar10-lt (I=10), efficientnet_lite0, auto px, all train images, score el2n'."""
        parts = [self.dataset + (f" (I={self.imbalance:g})" if self.imbalance is not None else ""),
                 self.backbone, f"{self.resolution or 'auto'} px",
                 f"{'all' if self.limit is None else f'{self.limit:,}'} train images", f"score {self.score}"]
        return ", ".join(parts)

    def cli_args(self) -> list[str]:
        """The `coreset` options that rebuild this spec (defaults left out)."""
        default = DataSpec()
        args = ["--dataset", self.dataset]
        if self.imbalance is not None and self.imbalance != DEFAULT_IMBALANCE:
            args += ["--imbalance", f"{self.imbalance:g}"]
        pairs = [("--data-seed", self.data_seed, default.data_seed), ("--backbone", self.backbone, default.backbone),
                 ("--resolution", self.resolution, None), ("--limit", self.limit, None),
                 ("--test-limit", self.test_limit, None), ("--score", self.score, default.score),
                 ("--score-epochs", self.score_epochs, default.score_epochs)]
        args += [item for flag, value, dflt in pairs if value != dflt for item in (flag, str(value))]
        if self.score_seeds != default.score_seeds:
            args += ["--score-seeds", ",".join(str(s) for s in self.score_seeds)]
        return args

    def command(self, subcommand: str, *extra: str) -> str:
        """A copy-pasteable `coreset <subcommand> ...` line for this spec plus `extra` options."""
        return shlex.join(["coreset", subcommand, *self.cli_args(), *extra])

