"""The estimated work of preparing one data setting, from its sizes, before any of it runs.

Preparation (`Session.prepare`) is the backbone's forward pass over the training and test
images whose features are not cached yet, then the scoring head's run. The studio asks for
this estimate before it starts a setting that came from a link, so that a crafted link
cannot start hours of work without a click (`coreset_studio.sidebar`).

Forward work per image at 224 px, measured once with `torch.utils.flop_counter.FlopCounterMode`
on the pooled pre-logit pass (`features.embed`), and scaled by `(resolution / 224)^2`:
efficientnet_lite0 0.77 GFLOP, lite1 1.00, lite2 1.15 (all 1,280 features). The time is
that work at this machine's float32 GEMM rate (`methods.cost.gemm_flops`): a lower bound,
since convolutions run below the GEMM rate.
"""
from __future__ import annotations

from typing import Any

from .methods.cost import Cost

#: backbone -> (forward flop per image at 224 px, feature dimension)
FORWARD_FLOP_224: dict[str, tuple[float, int]] = {
    "efficientnet_lite0": (0.768e9, 1280), "efficientnet_lite1": (1.002e9, 1280),
    "efficientnet_lite2": (1.150e9, 1280),
}


def _count(split: Any, limit: int | None) -> int:
    return len(split) if limit is None else min(int(limit), len(split))


def _features_on_disk(session: Any, split: str, count: int) -> bool:
    """Whether the features of `split`'s first `count` images are cached (file exists; nothing read)."""
    from . import cache
    from .features import feature_key

    dataset = session.dataset
    if dataset.base is not None and (split == "test" or count >= len(dataset.split(split))):
        dataset = dataset.base  # a long-tailed subset reads its base's features
    total = len(dataset.split(split))
    limits = {None} if count >= total else {count, None}
    for limit in limits:
        key = feature_key(dataset, split, session.spec.backbone, session.resolution, limit, session.checkpoint)
        if cache.entry_path("features", key, session.cache_dir).is_file():
            return True
    return False


def preparation_cost(session: Any) -> Cost:
    """The `Cost` of `session.prepare()`: uncached feature extraction plus the scoring run."""
    from .scores.compute import scoring_work

    spec, dataset = session.spec, session.dataset
    n_train, n_test = _count(dataset.train, spec.limit), _count(dataset.test, spec.test_limit)
    flop, parts = 0.0, []
    if dataset.has_features:
        d = int(dataset.train.features.shape[1])
    else:
        per_image, d = FORWARD_FLOP_224.get(spec.backbone, max(FORWARD_FLOP_224.values()))
        per_image *= (session.resolution / 224.0) ** 2
        todo = [(name, n) for name, n in (("train", n_train), ("test", n_test))
                if not _features_on_disk(session, name, n)]
        images = sum(n for _, n in todo)
        if images:
            flop += images * per_image
            parts.append(f"{spec.backbone} at {session.resolution} px over {images:,} images "
                         f"({' + '.join(name for name, _ in todo)})")
    scoring = scoring_work(n_train, d, session.num_classes, spec.score_epochs, len(spec.score_seeds))
    flop += scoring.flop
    parts.append(f"scoring: {scoring.what}")
    return Cost(flop, "; ".join(parts), "fewer training images (limit), a lower input resolution or a smaller "
                                        "backbone, or fewer scoring epochs")


__all__ = ["FORWARD_FLOP_224", "preparation_cost"]
