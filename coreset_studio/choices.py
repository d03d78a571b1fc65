"""What the studio's widgets offer and how values are written for people.

The lists come from the registries (datasets, backbones, scores, selection and
reweighting methods), so a new entry there appears in the studio without an edit here;
this module only adds display labels and the formatting of numbers (image counts,
durations, resolutions). No streamlit import.
"""
from __future__ import annotations

#: Sidebar entries for data the user names by a path (the path is typed next to it).
PATH_CHOICES = {"imagefolder": "my own images (imagefolder:<path>)",
                "embeddings": "my own features (embeddings:<file>)",
                "hf": "a Hugging Face dataset (hf:<save_to_disk folder>)"}
#: Imbalance factors offered for long-tailed sets (any number >= 1 can also be typed).
IMBALANCE_CHOICES: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200)
#: Number of training images offered ("all" = None) and input resolutions ("auto" = None).
LIMITS: tuple[int | None, ...] = (300, 500, 1000, 2000, 5000, 10000, 20000, None)
TEST_LIMITS: tuple[int | None, ...] = (200, 500, 1000, 2000, 5000, None)
RESOLUTIONS: tuple[int | None, ...] = (None, 64, 96, 128, 160, 192, 224, 240, 260)
#: Pruning rates (fractions) of the budget charts: 0, 0.05, ..., 0.95.
RATE_GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20))
#: Points the embedding map may draw (a stratified sample when the set is larger).
POINT_CHOICES: tuple[int, ...] = (2000, 5000, 10000, 20000, 50000)

DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar10-lt": "CIFAR-10-LT (long-tailed)", "cifar100": "CIFAR-100",
                  "cifar100-lt": "CIFAR-100-LT (long-tailed)", "fashion-mnist": "Fashion-MNIST",
                  "imagewoof": "Imagewoof (10 dog breeds)", "digits": "digits (scikit-learn, tiny)",
                  **PATH_CHOICES}
DATASET_CAVEATS = {
    "imagewoof": "Imagewoof images come from ImageNet, which the pretrained backbones were trained on: "
                 "features and difficulty scores are optimistic (the backbone has seen these images).",
    "digits": "8x8 scikit-learn digits: a toy set for quick demos and tests, not a benchmark.",
}
LONG_TAIL_CAVEAT = ("Long-tailed variant (Cui et al. 2019): class k keeps N_max * I^(-k/(C-1)) training images; "
                    "the test set is unchanged.")
SCORE_LABELS = {"el2n": "EL2N (error L2 norm)", "aum": "AUM (area under the margin, as difficulty)",
                "forgetting": "forgetting events", "grand": "GraNd / effort (gradient norm)",
                "moderate": "moderate (distance to class median)"}
REWEIGHTING_NOTE = ("{names}: reweighting, not a subset (every sample is kept, its loss weighted); "
                    "run it on the Accuracy page's sweep or with `coreset sweep --methods {first}`.")


def dataset_choices() -> list[str]:
    """Registry datasets (without the path patterns), then the path entries."""
    from coreset_core.datasets import list_datasets

    names = [info.name for info in list_datasets() if ":" not in info.name]
    return names + list(PATH_CHOICES)


def dataset_caveat(name: str) -> str | None:
    return LONG_TAIL_CAVEAT if name.endswith("-lt") else DATASET_CAVEATS.get(name)


def backbone_choices() -> list[str]:
    from coreset_core.backbones import list_backbones

    return list_backbones()


def score_choices() -> list[str]:
    from coreset_core.scores import SCORE_NAMES

    return list(SCORE_NAMES)


def selection_methods() -> list[str]:
    """Every registered selection method (they return a subset)."""
    from coreset_core.methods import list_methods

    return list_methods()


def global_methods() -> list[str]:
    """Selection methods that rank all samples together (their class shares follow from the ranking)."""
    from coreset_core.methods import method_specs

    return [s.name for s in method_specs() if s.allocation == "global"]


def reweighting_methods() -> list[str]:
    """Methods that weight every sample instead of choosing a subset (CW-ERM)."""
    from coreset_core.methods import list_reweighting_methods

    return list_reweighting_methods()


def reweighting_note() -> str:
    """The line the method lists show about the reweighting methods."""
    names = reweighting_methods()
    return REWEIGHTING_NOTE.format(names=", ".join(names), first=names[0]) if names else ""


def sweep_methods() -> list[str]:
    """Methods a sweep can run: the selection methods and the reweighting methods."""
    return selection_methods() + reweighting_methods()


def point_choices(num_samples: int) -> list[int]:
    """Embedding point counts below `num_samples`, then `num_samples` itself (every point)."""
    return [p for p in POINT_CHOICES if p < num_samples] + [int(num_samples)]


def imbalance_choices(current: float | None) -> list[float]:
    """The usual imbalance factors plus the current one (a typed value stays selectable)."""
    values = sorted({float(v) for v in IMBALANCE_CHOICES} | ({float(current)} if current is not None else set()))
    return values


def parse_imbalance(text: str | float) -> float:
    """An imbalance factor typed by the user: a finite number >= 1, else ValueError saying so."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError(f"the imbalance factor must be a number >= 1 (e.g. 50), got {text!r}") from None
    if not value >= 1 or value == float("inf"):
        raise ValueError(f"the imbalance factor must be a finite number >= 1 (largest / smallest class), got {text!r}")
    return value


def number_label(value: float) -> str:
    """20.0 -> '20', 2.5 -> '2.5'."""
    return f"{value:g}"


def limit_label(limit: int | None) -> str:
    return "all" if limit is None else f"{limit:,}"


def resolution_label(resolution: int | None, default: int | None = None) -> str:
    """'auto (128 px, the dataset's default)' / 'auto (dataset default)' / '224 px'."""
    if resolution is not None:
        return f"{resolution} px"
    return f"auto ({default} px, the dataset's default)" if default else "auto (dataset default)"


def format_duration(seconds: float) -> str:
    """A duration people read at a glance: '85 ms', '4.2 s', '3 min 00 s', '1 h 02 min'."""
    seconds = max(0.0, float(seconds))
    if seconds < 1:
        return f"{1000 * seconds:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def data_label(spec, num_train: int, resolution: int) -> str:
    """One line about the prepared data with the REAL numbers (a 240-image folder says 240, whatever
    the limit), e.g. 'cifar10-lt (I=10), efficientnet_lite0, 128 px, 5,000 train images, score el2n'."""
    from coreset_core.features import FILE_BACKBONE

    name = spec.dataset + (f" (I={spec.imbalance:g})" if spec.imbalance is not None else "")
    pixels = "" if spec.backbone == FILE_BACKBONE else f", {resolution} px"  # an embeddings file has no resolution
    return f"{name}, {spec.backbone}{pixels}, {num_train:,} train images, score {spec.score}"


def subset_note(used: int, available: int) -> str:
    """'' when every test image is used, else 'on 200 of 360 test images'."""
    return "" if used >= available else f"on {used:,} of {available:,} test images"
