"""Reweighting methods: CW-ERM (Jafari et al., "The power of few", ICASSP 2024).

A reweighting method (registered with `registry.register_reweighting`; run it with
`coreset_core.methods.reweight` or `Session.reweight`) returns one weight per training sample for a weighted loss
(`sum_i w_i L_i`), not a subset. CW-ERM has three stages (paper, Algorithm 1):

1. **Coreset** - class-wise Moderate (`coreset_core.methods.moderate`): in every class the
   samples whose distance to the class's median feature is closest to the class's median
   distance. Size: `round(coreset_fraction * N)` (default 1 %) split over the classes by the
   uniform allocation, then raised to `min(min_per_class, N_c)` per class (default 5) so
   that every class can be both trained on and checked against.
2. **Coreset reweighting** - Meta-Weight-Net (Shu et al. 2019): an MLP `1 -> hidden (100)
   -> 1` with ReLU and a sigmoid output maps a sample's loss to its weight. The coreset is
   split per class, seeded, into a training part and a held-out *meta* part
   (`round(meta_fraction * n_c)`, at least 1 and at most `n_c - 1` per class; a class with
   a single coreset sample only trains). The inner model is a linear classifier (zero
   initialised) on the coreset's features, standardised with the coreset's mean and std
   and divided by `sqrt(d)` so that `|z|^2` is about 1 whatever the feature dimension
   (then `lr` = 1 is a sensible step; on raw 1280-d features one step already separates
   the coreset and every loss is 0, leaving MW-Net nothing to learn).
   Every step is full-batch (the coreset is small) and is the standard MW-Net bilevel step:
   (a) virtual SGD step of the classifier on the weighted training loss
   `mean_i(V(L_i) * L_i)` (the loss fed to `V` is detached, as in MW-Net), kept
   differentiable in `V`'s parameters; (b) the plain cross-entropy of the virtually updated
   classifier on the meta part, back-propagated into `V` (Adam, `meta_lr`, weight decay
   1e-4, as in the MW-Net code); (c) the real classifier step with the weights of the updated
   `V` (SGD with momentum 0.9 and weight decay 5e-4, learning rate cosine-annealed from `lr`
   (default 1.0) to 1e-4 over `steps` (default 200); the virtual step uses the current learning rate without momentum).
   After `steps` steps each coreset sample (training and meta parts) gets `V(L_i)` from
   its loss under the final classifier.
3. **Broadcast** - every training sample gets the weight of its nearest coreset sample in
   the (raw, unstandardised) feature space: Euclidean 1-NN by blocked brute force (numpy,
   no scikit-learn import; ties: the coreset sample with the lower index); a coreset
   sample keeps its own weight.

The cost is the coreset's: seconds for 50,000 x 1280 features on a CPU. Weights lie in
`(0, 1)`; the trainer may normalise them (e.g. to mean 1). Deterministic for a `seed`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .common import distance_ready, sorted_indices, uniform_class_counts
from .moderate import moderate_per_class
from .registry import register_reweighting


def coreset_counts(labels: np.ndarray, coreset_fraction: float, min_per_class: int) -> np.ndarray:
    """Per-class coreset sizes: uniform split of `round(fraction * N)`, at least `min(min_per_class, N_c)`."""
    sizes = np.bincount(labels)
    total = min(labels.shape[0], max(1, int(round(coreset_fraction * labels.shape[0]))))
    counts = uniform_class_counts(labels, total)
    return np.maximum(counts, np.minimum(sizes, int(min_per_class)))


def meta_split(labels: np.ndarray, coreset: np.ndarray, meta_fraction: float, seed: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """`(train, meta)` sorted index arrays: a seeded per-class split of the coreset."""
    rng = np.random.default_rng(seed)
    lab = labels[coreset]
    train, meta = [], []
    for c in range(int(labels.max()) + 1):
        members = coreset[lab == c]
        if members.size == 0:
            continue
        if members.size == 1:
            train.append(members)
            continue
        n_meta = min(members.size - 1, max(1, int(round(meta_fraction * members.size))))
        perm = rng.permutation(members)
        meta.append(perm[:n_meta])
        train.append(perm[n_meta:])
    return sorted_indices(train), sorted_indices(meta)


def nearest_coreset(features: np.ndarray, coreset: np.ndarray, block: int = 4096) -> np.ndarray:
    """Position in `coreset` of every sample's nearest coreset sample (Euclidean, ties: lower position).

    Brute force by blocks of rows: `|c|^2 - 2 x.c` (the `|x|^2` term is the same for every
    `c`), the product in the features' dtype (float32 stays float32), the rest in float64;
    memory `block x len(coreset)`. Features too large for float32 squares are first scaled by a
    power of two (`common.distance_ready`), which leaves every argmin unchanged.
    """
    features = distance_ready(features)
    dt = features.dtype if features.dtype in (np.float32, np.float64) else np.float64
    core = np.ascontiguousarray(features[coreset], dtype=dt)
    csq = np.einsum("ij,ij->i", core, core, dtype=np.float64)
    out = np.empty(features.shape[0], dtype=np.int64)
    for a in range(0, features.shape[0], block):
        prod = (np.asarray(features[a:a + block], dtype=dt) @ core.T).astype(np.float64)
        out[a:a + block] = np.argmin(csq[None, :] - 2.0 * prod, axis=1)
    return out


def broadcast_weights(features: np.ndarray, coreset: np.ndarray, coreset_weights: np.ndarray) -> np.ndarray:
    """Each sample's weight = that of its nearest coreset sample (Euclidean 1-NN); coreset keeps its own."""
    coreset_weights = np.asarray(coreset_weights, dtype=np.float64)
    weights = coreset_weights[nearest_coreset(np.asarray(features), np.asarray(coreset))]
    weights[coreset] = coreset_weights
    return weights


def _meta_weight_net(x_tr, y_tr, x_meta, y_meta, x_all, y_all, *, num_classes, seed, steps, lr, meta_lr,
                     hidden):
    """Train MW-Net against the meta part; return (V(loss) for x_all, meta-loss history)."""
    import torch
    import torch.nn.functional as F

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny problem: extra threads only add overhead (10x slower on a busy CPU)
    try:
        return _train_mw_net(torch, F, x_tr, y_tr, x_meta, y_meta, x_all, y_all, num_classes=num_classes, seed=seed,
                             steps=steps, lr=lr, meta_lr=meta_lr, hidden=hidden)
    finally:
        torch.set_num_threads(threads)


def _train_mw_net(torch, F, x_tr, y_tr, x_meta, y_meta, x_all, y_all, *, num_classes, seed, steps, lr, meta_lr,
                  hidden):
    gen = torch.Generator().manual_seed(int(seed))
    dt = torch.float32

    def uniform(shape, fan_in):  # nn.Linear's default init, from our generator
        bound = 1.0 / math.sqrt(fan_in)
        return ((torch.rand(shape, generator=gen, dtype=dt) * 2 - 1) * bound).requires_grad_()

    v_params = [uniform((1, hidden), 1), uniform((hidden,), 1), uniform((hidden, 1), hidden), uniform((1,), hidden)]

    def vnet(loss):  # (n,) -> (n,) weights in (0, 1)
        h = torch.relu(loss[:, None] @ v_params[0] + v_params[1])
        return torch.sigmoid(h @ v_params[2] + v_params[3])[:, 0]

    t = lambda a, d=dt: torch.as_tensor(np.ascontiguousarray(a), dtype=d)  # noqa: E731
    xtr, xme, xall = t(x_tr), t(x_meta), t(x_all)
    ytr, yme, yall = (t(y, torch.long) for y in (y_tr, y_meta, y_all))
    d = xtr.shape[1]
    w = torch.zeros((d, num_classes), dtype=dt, requires_grad=True)
    b = torch.zeros((num_classes,), dtype=dt, requires_grad=True)
    cls_opt = torch.optim.SGD([w, b], lr=lr, momentum=0.9, weight_decay=5e-4)
    v_opt = torch.optim.Adam(v_params, lr=meta_lr, weight_decay=1e-4)
    lr_min = min(1e-4, lr)
    history = []
    for step in range(int(steps)):
        cur_lr = lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * step / max(1, int(steps))))
        for group in cls_opt.param_groups:
            group["lr"] = cur_lr
        # (a) virtual step, differentiable in V's parameters
        cost = F.cross_entropy(xtr @ w + b, ytr, reduction="none")
        loss = (vnet(cost.detach()) * cost).mean()
        gw, gb = torch.autograd.grad(loss, (w, b), create_graph=True)
        w_hat, b_hat = w - cur_lr * gw, b - cur_lr * gb
        # (b) meta step on the held-out part
        meta_loss = F.cross_entropy(xme @ w_hat + b_hat, yme)
        v_opt.zero_grad()
        v_grads = torch.autograd.grad(meta_loss, v_params)
        for p, g in zip(v_params, v_grads):
            p.grad = g
        v_opt.step()
        history.append(float(meta_loss.detach()))
        # (c) real classifier step with the updated weights
        cost = F.cross_entropy(xtr @ w + b, ytr, reduction="none")
        with torch.no_grad():
            wts = vnet(cost.detach())
        cls_opt.zero_grad()
        (wts * cost).mean().backward()
        cls_opt.step()
    with torch.no_grad():
        final_cost = F.cross_entropy(xall @ w + b, yall, reduction="none")
        out = vnet(final_cost).double().numpy()
    return out, history


@register_reweighting("cw-erm", description="CW-ERM: Meta-Weight-Net on a 1 % class-wise Moderate coreset, "
                      "weights broadcast to every sample from its nearest coreset sample.")
def cw_erm(labels: np.ndarray, features: np.ndarray, *, seed: int = 0, coreset_fraction: float = 0.01,
           min_per_class: int = 5, meta_fraction: float = 0.2, steps: int = 200, lr: float = 1.0,
           meta_lr: float = 1e-3, hidden: int = 100) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """CW-ERM weights (see the module docstring). Returns `(weights, coreset, info)`."""
    if not (0.0 < float(coreset_fraction) <= 1.0):
        raise ValueError(f"cw-erm: coreset_fraction must be in (0, 1], got {coreset_fraction}")
    if not (0.0 < float(meta_fraction) < 1.0):
        raise ValueError(f"cw-erm: meta_fraction must be in (0, 1), got {meta_fraction}")
    if int(steps) < 1 or int(hidden) < 1 or int(min_per_class) < 1:
        raise ValueError("cw-erm: steps, hidden and min_per_class must be positive integers")
    if float(lr) <= 0 or float(meta_lr) <= 0:
        raise ValueError("cw-erm: lr and meta_lr must be positive")
    num_classes = int(labels.max()) + 1
    counts = coreset_counts(labels, float(coreset_fraction), int(min_per_class))
    coreset = moderate_per_class(labels, features, counts)
    train, meta = meta_split(labels, coreset, float(meta_fraction), seed)
    if meta.size == 0:
        raise ValueError("cw-erm: the coreset has no class with two samples, so there is no meta split; "
                         "raise coreset_fraction or min_per_class")
    fc = np.asarray(features[coreset], dtype=np.float64)
    mu, sd = fc.mean(axis=0), fc.std(axis=0)
    sd[sd < 1e-8] = 1.0
    scale = sd * math.sqrt(fc.shape[1])  # standardised, then / sqrt(d): |z|^2 is about 1 per sample
    z = lambda idx: (np.asarray(features[idx], dtype=np.float64) - mu) / scale  # noqa: E731
    core_w, history = _meta_weight_net(z(train), labels[train], z(meta), labels[meta], z(coreset), labels[coreset],
                                       num_classes=num_classes, seed=seed, steps=int(steps), lr=float(lr),
                                       meta_lr=float(meta_lr), hidden=int(hidden))
    weights = broadcast_weights(features, coreset, core_w)
    info = {
        "coreset_weights": core_w,
        "meta_indices": meta,
        "train_indices": train,
        "coreset_class_counts": counts.tolist(),
        "meta_loss_first": history[0],
        "meta_loss_last": history[-1],
    }
    return weights, coreset, info
