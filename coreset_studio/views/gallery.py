"""Galleries: the samples of one class that a selection keeps and the ones it drops.

For a class, a method and a pruning rate, every training sample of the class is listed once,
ordered by difficulty (easiest first, ties by position), with its original id (SPEC 7), its
file name and path when the source has files, its label, its difficulty score, and, when a
probe is given (e.g. one trained on the selection), the probe's prediction. The kept and the
dropped lists together are exactly the class.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from coreset_studio.text import sample_name

COLUMNS = ("position", "id", "file", "path", "label", "class_name", "rank", "score", "kept", "prediction",
           "predicted_class", "correct")


@dataclass
class Gallery:
    """The kept and dropped samples of one class under one selection (see `class_gallery`)."""

    cls: int
    class_name: str
    method: str
    prune_rate: float
    score: str
    kept: pd.DataFrame
    dropped: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.kept) + len(self.dropped)


def _check_class(session, cls: Any) -> int:
    c = session.num_classes
    if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)) or not 0 <= int(cls) < c:
        raise ValueError(f"class must be a class id in 0..{c - 1}, got {cls!r}")
    return int(cls)


def class_table(session, cls: int, indices: Any, *, score: str | None = None, probe: Any = None) -> pd.DataFrame:
    """Every sample of class `cls`, easiest first, with `kept` = whether its position is in `indices`.

    `probe` is a `ProbeResult` (its `head` predicts from the training features) or None.
    """
    from coreset_core.validation import check_indices

    cls = _check_class(session, cls)
    labels = session.labels
    kept_idx = check_indices(indices, labels.shape[0], allow_empty=True)
    difficulty = session.difficulty(score)
    members = np.flatnonzero(labels == cls)
    members = members[np.argsort(difficulty[members], kind="stable")]
    paths = session.paths
    table = pd.DataFrame({
        "position": members,
        "id": session.ids[members],
        "file": [os.path.basename(str(p)) for p in paths[members]] if paths is not None else None,
        "path": paths[members] if paths is not None else None,
        "label": labels[members],
        "class_name": session.class_names[cls],
        "rank": np.arange(members.size),
        "score": difficulty[members],
        "kept": np.isin(members, kept_idx),
    })
    if probe is not None:
        head = getattr(probe, "head", probe)
        if head is None or not hasattr(head, "predict"):
            raise ValueError("probe must be a ProbeResult with a trained head (or a head with .predict)")
        table["prediction"] = head.predict(session.train.features[members])
        table["predicted_class"] = [session.class_names[int(p)] for p in table["prediction"]]
        table["correct"] = table["prediction"].to_numpy() == table["label"].to_numpy()
    else:
        table["prediction"] = table["predicted_class"] = table["correct"] = None
    return table[list(COLUMNS)]


def class_gallery(session, cls: int, method: str, prune_rate: float, *, score: str | None = None, seed: int = 0,
                  probe: Any = None, **params: Any) -> Gallery:
    """The kept and dropped samples of class `cls` under `session.select(method, prune_rate, ...)`."""
    score = score or session.spec.score
    selection = session.select(method, prune_rate, score=score, seed=seed, **params)
    table = class_table(session, cls, selection.indices, score=score, probe=probe)
    kept, dropped = table[table["kept"]], table[~table["kept"]]
    return Gallery(int(cls), session.class_names[int(cls)], method, float(prune_rate), score,
                   kept.reset_index(drop=True), dropped.reset_index(drop=True), dict(selection.config))


def caption(row: Any) -> str:
    """A short caption for one gallery image (plain text): file name or original id, score and (if any)
    the predicted class by name, with a cross when it is wrong."""
    name = row["file"] if row.get("file") else sample_name(row["id"])
    text = f"{name} · {row['score']:.3f}"
    if row.get("prediction") is not None and not pd.isna(row.get("prediction")):
        text += f" · pred {row['predicted_class']}" + ("" if row.get("correct") else " ✗")
    return text


def images(session, positions: Any, size: int | None = 96) -> list:
    """The training images at `positions` (PIL, RGB), thumbnailed to `size` px; [] without images.
    Memoised in the Session (a page rerun does not decode them again)."""
    split = session.dataset.train
    if not split.has_images:
        return []
    wanted = tuple(int(p) for p in np.asarray(positions, dtype=np.int64))

    def decode() -> list:
        return [split.image(p).resize((int(size), int(size))) if size else split.image(p) for p in wanted]
    return session.memoised(("gallery images", wanted, size), decode)


__all__ = ["COLUMNS", "Gallery", "caption", "class_gallery", "class_table", "images"]
