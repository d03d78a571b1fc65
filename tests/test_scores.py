"""Difficulty scores: each checked against an independent computation written in the test."""
from __future__ import annotations

import numpy as np
import pytest

from coreset_core.scores import (SCORE_NAMES, ScoreSet, augmented_norms, compute_scores, el2n, forgetting_counts,
                                 grand_linear, margins, moderate_distance, to_difficulty)


def _blobs(n_per_class=40, c=4, d=6, seed=0, spread=1.5):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(c, d))
    y = np.repeat(np.arange(c), n_per_class)
    x = centers[y] + rng.normal(0, spread, size=(y.size, d))
    perm = rng.permutation(y.size)
    return x[perm].astype(np.float32), y[perm].astype(np.int64)


def test_el2n_matches_hand_computation():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [10.0, -10.0, 3.0]])
    labels = np.array([0, 2, 1])
    expected = []
    for z, y in zip(logits, labels):
        p = np.exp(z) / np.exp(z).sum()
        onehot = np.zeros(3)
        onehot[y] = 1
        expected.append(np.sqrt(np.sum((p - onehot) ** 2)))
    np.testing.assert_allclose(el2n(logits, labels), expected, rtol=1e-12)
    # uniform prediction over 3 classes: ||(1/3, 1/3, -2/3)|| = sqrt(6)/3
    assert el2n(logits, labels)[1] == pytest.approx(np.sqrt(6) / 3)
    # stable for huge logits
    assert np.all(np.isfinite(el2n(np.array([[1000.0, -1000.0]]), np.array([1]))))


def test_grand_equals_autograd_gradient_norm_of_linear_head():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    n, d, c = 7, 5, 3
    x = rng.normal(size=(n, d))
    y = rng.integers(0, c, size=n)
    w = torch.tensor(rng.normal(size=(c, d)), requires_grad=True)
    b = torch.tensor(rng.normal(size=c), requires_grad=True)
    expected = []
    for i in range(n):
        xi = torch.tensor(x[i])
        loss = torch.nn.functional.cross_entropy((w @ xi + b)[None], torch.tensor([int(y[i])]))
        gw, gb = torch.autograd.grad(loss, [w, b])
        expected.append(float(torch.sqrt((gw ** 2).sum() + (gb ** 2).sum())))
    logits = (torch.tensor(x) @ w.T + b).detach().numpy()
    np.testing.assert_allclose(grand_linear(logits, y, augmented_norms(x)), expected, rtol=1e-10)


def test_forgetting_counts_hand_sequence():
    # rows = checkpoints, columns = samples
    correct = np.array([
        [1, 1, 0, 0, 1],
        [0, 1, 1, 0, 1],
        [1, 0, 0, 0, 1],
        [0, 0, 1, 0, 0],
    ], dtype=bool)
    # sample 0: 1->0, 1->0 = 2; sample 1: one at the 2nd step; sample 2: 1->0 once; 3: never learned; 4: once
    np.testing.assert_array_equal(forgetting_counts(correct), [2, 1, 1, 0, 1])
    assert forgetting_counts(correct[:1]).tolist() == [0] * 5
    with pytest.raises(ValueError):
        forgetting_counts(correct[0])


def test_moderate_distance_matches_explicit_median_distance():
    x, y = _blobs(n_per_class=9, c=3, d=4, seed=2)
    got = moderate_distance(x, y)
    for i in range(y.size):
        members = x[y == y[i]]
        median = np.array([np.median(members[:, j]) for j in range(x.shape[1])])
        assert got[i] == pytest.approx(np.sqrt(np.sum((x[i].astype(np.float64) - median) ** 2)), rel=1e-9)


def test_aum_margin_and_difficulty_conversion():
    logits = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0], [1.0, 1.0, 4.0]])
    labels = np.array([0, 0, 2])
    np.testing.assert_allclose(margins(logits, labels), [1.0, -5.0, 3.0])
    d = to_difficulty("aum", margins(logits, labels))
    assert d.min() == 0.0 and np.all(d >= 0)
    np.testing.assert_allclose(d, [2.0, 8.0, 0.0])  # max(s) - s: the most negative margin is the hardest
    np.testing.assert_allclose(to_difficulty("el2n", [0.1, 0.2]), [0.1, 0.2])


def _reference_scores(x, y, *, epochs, seeds, lr, batch_size):
    """Independent aggregation from the per-epoch logits of the same linear-head runs."""
    from coreset_core.training.linear import fit_linear_head, standardization

    mean, std = standardization(x)
    xs = (x - mean) / std
    input_norm = np.sqrt(np.sum(xs.astype(np.float64) ** 2, axis=1) + 1)
    per_seed = {k: [] for k in ("el2n", "grand", "aum", "forgetting")}
    for seed in seeds:
        history = []
        fit_linear_head(x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                        epoch_callback=lambda e: history.append(e.logits.astype(np.float64)))
        assert len(history) == epochs
        e_list, m_list, correct = [], [], []
        for z in history:
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            onehot = np.eye(z.shape[1])[y]
            e_list.append(np.linalg.norm(p - onehot, axis=1))
            other = np.where(onehot > 0, -np.inf, z).max(1)
            m_list.append(z[np.arange(len(y)), y] - other)
            correct.append(z.argmax(1) == y)
        per_seed["el2n"].append(np.mean(e_list, axis=0))
        per_seed["grand"].append(np.mean(e_list, axis=0) * input_norm)
        per_seed["aum"].append(np.mean(m_list, axis=0))
        per_seed["forgetting"].append(sum((correct[t] & ~correct[t + 1]).astype(float)
                                          for t in range(epochs - 1)))
    return {k: np.mean(v, axis=0) for k, v in per_seed.items()}


def test_compute_scores_aggregates_epochs_and_seeds(tmp_path):
    x, y = _blobs(n_per_class=50, c=4, d=8, seed=3, spread=3.0)
    s = compute_scores(x, y, epochs=4, min_steps=0, seeds=(0, 1), lr=0.05, batch_size=32, progress=False)
    assert isinstance(s, ScoreSet) and set(s.scores) == set(SCORE_NAMES)
    ref = _reference_scores(x, y, epochs=4, seeds=(0, 1), lr=0.05, batch_size=32)
    for name in ("el2n", "grand", "aum", "forgetting"):
        np.testing.assert_allclose(s.scores[name], ref[name], rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(s.scores["moderate"], moderate_distance(x, y))
    assert s.scores["forgetting"].max() > 0  # noisy blobs: some samples are forgotten
    for name in SCORE_NAMES:
        d = s.difficulty(name)
        assert d.shape == y.shape and np.all(d >= 0) and np.all(np.isfinite(d))
    assert np.asarray(s.info["train_accuracy"]).shape == (2, 4)
    means = s.class_means(y)
    assert set(means) == set(SCORE_NAMES) and means["el2n"].shape == (4,)
    with pytest.raises(ValueError, match="unknown score"):
        s.difficulty("nope")


def test_compute_scores_cache(tmp_path):
    x, y = _blobs(n_per_class=30, c=3, d=5, seed=4)
    key = {"dataset": "blobs", "split": "train", "backbone": "none"}
    a = compute_scores(x, y, epochs=2, cache_key=key, cache_dir=tmp_path, progress=False)
    assert not a.info["from_cache"] and a.info["path"].startswith(str(tmp_path))
    b = compute_scores(x, y, epochs=2, cache_key=key, cache_dir=tmp_path, progress=False)
    assert b.info["from_cache"] and b.info["path"] == a.info["path"]
    for name in SCORE_NAMES:
        np.testing.assert_array_equal(a.scores[name], b.scores[name])
    c = compute_scores(x, y, epochs=3, cache_key=key, cache_dir=tmp_path, progress=False)
    assert not c.info["from_cache"] and c.info["path"] != a.info["path"]
    d = compute_scores(x, y, epochs=2, seeds=(1,), cache_key=key, cache_dir=tmp_path, progress=False)
    assert d.info["path"] not in (a.info["path"], c.info["path"])
    # without a key nothing is written
    before = sorted(p.name for p in (tmp_path / "scores").iterdir())
    e = compute_scores(x, y, epochs=2, progress=False)
    assert e.info["path"] is None and sorted(p.name for p in (tmp_path / "scores").iterdir()) == before
    np.testing.assert_array_equal(e.scores["el2n"], a.scores["el2n"])  # deterministic


def test_compute_scores_progress_and_validation():
    x, y = _blobs(n_per_class=10, c=3, d=4, seed=5)
    seen = []
    compute_scores(x, y, epochs=2, min_steps=0, seeds=(0, 1), progress=False, on_progress=seen.append)
    assert seen == [0.25, 0.5, 0.75, 1.0]
    with pytest.raises(ValueError, match="repeat"):
        compute_scores(x, y, seeds=(0, 0), progress=False)
    with pytest.raises(ValueError, match="epochs"):
        compute_scores(x, y, epochs=0, progress=False)
    with pytest.raises(ValueError, match="rows"):
        compute_scores(x[:-1], y, progress=False)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compute_scores(bad, y, progress=False)


def test_compute_scores_finetune_wiring(tmp_path, monkeypatch):
    """The fine-tuning score path, with `finetune` replaced by a stub that reports known logits."""
    import importlib
    import types

    import coreset_core.features as features_mod

    from coreset_core.scores import compute_scores_finetune

    # the module, not the same-named function the training package exports
    finetune_mod = importlib.import_module("coreset_core.training.finetune")

    rng = np.random.default_rng(7)
    n, c = 30, 3
    labels = rng.integers(0, c, n)
    labels[:3] = [0, 1, 2]
    frozen = rng.normal(size=(n, 5)).astype(np.float32)
    split = type("Split", (), {"labels": labels, "__len__": lambda self: n})()
    dataset = types.SimpleNamespace(identity="fake@1", num_classes=c, default_resolution=32, train=split)
    logits_by = {(s, e): rng.normal(size=(n, c)) for s in (0, 1) for e in (1, 2)}
    norms_by = {(s, e): rng.uniform(1, 3, size=n) for s in (0, 1) for e in (1, 2)}
    calls = []

    def fake_finetune(ds, indices, *, seed, epochs, epoch_callback, evaluate, **kwargs):
        calls.append((seed, indices, epochs, evaluate, kwargs["lr"], kwargs["batch_size"]))
        for e in range(1, epochs + 1):
            out = (logits_by[seed, e].astype(np.float32), norms_by[seed, e].astype(np.float32))
            epoch_callback(finetune_mod.FinetuneEpoch(e, 1.0, 0.1, 0.0, None, lambda out=out: out))

    monkeypatch.setattr(finetune_mod, "finetune", fake_finetune)
    monkeypatch.setattr(features_mod, "get_features",
                        lambda *a, **k: types.SimpleNamespace(features=frozen, labels=labels))
    s = compute_scores_finetune(dataset, epochs=2, min_steps=0, seeds=(0, 1), cache_dir=tmp_path, device="cpu",
                                progress=False)
    assert [(cl[0], cl[1], cl[2], cl[3]) for cl in calls] == [(0, None, 2, False), (1, None, 2, False)]
    el2n_ref = np.mean([el2n(logits_by[k], labels) for k in logits_by], axis=0)
    np.testing.assert_allclose(s.scores["el2n"], el2n_ref, rtol=1e-6)
    grand_ref = np.mean([el2n(logits_by[k], labels) * np.sqrt(norms_by[k].astype(np.float32).astype(np.float64) ** 2
                                                               + 1) for k in logits_by], axis=0)
    np.testing.assert_allclose(s.scores["grand"], grand_ref, rtol=1e-5)
    aum_ref = np.mean([margins(logits_by[k], labels) for k in logits_by], axis=0)
    np.testing.assert_allclose(s.scores["aum"], aum_ref, rtol=1e-5, atol=1e-6)
    forg = [forgetting_counts(np.stack([logits_by[sd, 1].argmax(1) == labels, logits_by[sd, 2].argmax(1) == labels]))
            for sd in (0, 1)]
    np.testing.assert_allclose(s.scores["forgetting"], np.mean(forg, axis=0))
    np.testing.assert_allclose(s.scores["moderate"], moderate_distance(frozen, labels))
    assert s.config["source"] == "finetune" and s.info["path"].startswith(str(tmp_path))
    again = compute_scores_finetune(dataset, epochs=2, min_steps=0, seeds=(0, 1), cache_dir=tmp_path, device="cpu",
                                    progress=False)
    assert again.info["from_cache"] and len(calls) == 2


def test_run_length_closed_form():
    from coreset_core.scores import run_length

    # 240 samples at batch 256: one step per epoch, so the floor of 200 steps gives 200 epochs
    assert run_length(240, 256, 3, 200) == {"epochs": 3, "min_steps": 200, "effective_epochs": 200,
                                            "steps_per_epoch": 1, "steps": 200}
    # 50,000 at batch 256: 196 steps per epoch, 3 epochs = 588 steps are above the floor
    assert run_length(50_000, 256, 3, 200)["effective_epochs"] == 3
    # 1,000 at batch 256: 4 steps per epoch, ceil(200 / 4) = 50 epochs; 201 steps need 51
    assert run_length(1_000, 256, 3, 200)["effective_epochs"] == 50
    assert run_length(1_000, 256, 3, 201)["effective_epochs"] == 51
    assert run_length(1_000, 256, 3, 0)["effective_epochs"] == 3
    with pytest.raises(ValueError, match="min_steps"):
        run_length(10, 256, 3, -1)
    with pytest.raises(ValueError, match="epochs"):
        run_length(10, 256, 0, 5)


def test_min_steps_extends_the_run_to_the_reference_length():
    x, y = _blobs(n_per_class=25, c=4, d=6, seed=8, spread=3.0)  # 100 samples, batch 32: 4 steps per epoch
    s = compute_scores(x, y, epochs=2, min_steps=20, seeds=(0, 1), lr=0.05, batch_size=32, progress=False)
    assert (s.config["epochs"], s.config["min_steps"], s.config["effective_epochs"], s.config["steps"]) == (2, 20, 5, 20)
    ref = _reference_scores(x, y, epochs=5, seeds=(0, 1), lr=0.05, batch_size=32)
    for name in ("el2n", "grand", "aum", "forgetting"):
        np.testing.assert_allclose(s.scores[name], ref[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert s.train_accuracy.shape == (2, 5)


def _digits_240():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), 24, replace=False) for c in range(10)])
    return x[idx].astype(np.float32), y[idx].astype(np.int64)


def test_small_real_set_gets_a_trained_head_and_old_default_is_flagged():
    """240 scikit-learn digits (one step per epoch at batch 256): the old 3-step run stays near chance."""
    from coreset_core.training.linear import fit_linear_head

    x, y = _digits_240()
    new = compute_scores(x, y, seeds=(0, 1), progress=False)
    assert new.config["epochs"] == 3 and new.config["steps"] >= 200
    # independent: the head trained for the same schedule, evaluated on the training set
    for row, seed in enumerate((0, 1)):
        head = fit_linear_head(x, y, epochs=new.config["effective_epochs"], seed=seed)
        assert new.train_accuracy[row, -1] == pytest.approx(float(np.mean(head.predict(x) == y)))
    assert new.final_train_accuracy >= 0.9
    assert new.warnings(y, 10) == []
    old = compute_scores(x, y, epochs=3, min_steps=0, seeds=(0, 1), progress=False)
    assert old.config["steps"] == 3 and old.final_train_accuracy < 0.3
    warned = old.warnings(y, 10)
    # seeds 0 and 1 reach 17.5 % and 17.9 % (mean 17.7 %, just above 1.5 x chance): the "low" warning
    assert len(warned) == 1 and "train accuracy is only 17.7%" in warned[0]


def test_train_accuracy_is_cached_with_the_scores(tmp_path):
    x, y = _blobs(n_per_class=30, c=3, d=5, seed=4)
    key = {"dataset": "blobs", "split": "train", "backbone": "none"}
    a = compute_scores(x, y, epochs=2, min_steps=10, cache_key=key, cache_dir=tmp_path, progress=False)
    b = compute_scores(x, y, epochs=2, min_steps=10, cache_key=key, cache_dir=tmp_path, progress=False)
    assert b.info["from_cache"] and a.train_accuracy.shape == (1, 10)
    np.testing.assert_array_equal(a.train_accuracy, b.train_accuracy)
    assert b.info["train_accuracy"] == a.train_accuracy.tolist() and b.config == a.config
    c = compute_scores(x, y, epochs=2, min_steps=12, cache_key=key, cache_dir=tmp_path, progress=False)
    assert not c.info["from_cache"] and c.info["path"] != a.info["path"]


def _score_set(accuracy, n, el2n=0.5):
    return ScoreSet({"el2n": np.full(n, el2n)}, {}, {}, None if accuracy is None else np.array([[0.0, accuracy]]))


def test_warnings_thresholds():
    y = np.repeat(np.arange(10), 10)  # balanced: chance = 0.1
    assert "near chance" in _score_set(0.15, 100).warnings(y, 10)[0]      # <= 1.5 x chance
    assert "only 16.0%" in _score_set(0.16, 100).warnings(y, 10)[0]       # above, but < (1 + 0.1) / 2
    assert len(_score_set(0.549, 100).warnings(y, 10)) == 1
    assert _score_set(0.55, 100).warnings(y, 10) == []
    assert _score_set(None, 100).warnings(y, 10) == []                     # no head: nothing to judge
    # imbalanced: chance is the largest class's share (60 of 100), the constant guess's accuracy
    yi = np.array([0] * 60 + [1] * 20 + [2] * 20)
    assert "near chance" in _score_set(0.70, 100).warnings(yi)[0]
    assert "near chance" in _score_set(0.79, 100).warnings(yi)[0]   # < (1 + 0.6) / 2 and <= 1.5 x 0.6
    assert _score_set(0.80, 100).warnings(yi) == []
    # a 90 % majority: 1.5 x chance is above 100 %, yet a head at 96 % is not warned about ((1 + 0.9) / 2 = 95 %)
    y9 = np.array([0] * 90 + [1] * 10)
    assert _score_set(0.96, 100).warnings(y9) == [] and len(_score_set(0.94, 100).warnings(y9)) == 1
    with pytest.raises(ValueError, match="one class id per scored sample"):
        _score_set(0.9, 100).warnings(y[:-1])


def test_memorising_head_thresholds():
    y = np.repeat(np.arange(10), 10)
    warned = _score_set(0.995, 100, el2n=0.05).warnings(y, 10)
    assert len(warned) == 1 and "memorised" in warned[0] and "99.5%" in warned[0]
    assert all(hint in warned[0] for hint in ("more training images", "moderate", "fewer steps"))
    assert _score_set(0.98, 100, el2n=0.05).warnings(y, 10) == []   # below 99 %: the head did not fit it all
    assert _score_set(1.0, 100, el2n=0.1).warnings(y, 10) == []     # median EL2N not below 0.1
    half = np.r_[np.full(50, 0.02), np.full(50, 0.5)]                  # median 0.26: the scores still spread
    assert ScoreSet({"el2n": half}, {}, {}, np.array([[1.0]])).warnings(y, 10) == []


def test_a_few_hundred_images_and_a_long_head_run_are_flagged_as_memorised():
    """240 real digits: the default 200 steps reach 97 % (no warning); 1,000 steps fit every image and push
    the median EL2N to about 0.07. Before the memorising rule only a LOW accuracy was warned about, so
    this run passed silently (the issue's folder of a few hundred images, 100 % and EL2N near 0)."""
    from coreset_core.training.linear import fit_linear_head

    x, y = _digits_240()
    long = compute_scores(x, y, min_steps=1000, progress=False)
    head = fit_linear_head(x, y, epochs=long.config["effective_epochs"], seed=0)
    assert float(np.mean(head.predict(x) == y)) == 1.0  # independent: the same head fits every image
    z = head.logits(x).astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert np.median(np.linalg.norm(np.eye(10)[y] - p, axis=1)) < 0.1  # EL2N by hand at the last checkpoint
    warned = long.warnings(y, 10)
    assert len(warned) == 1 and "memorised" in warned[0]


def test_warnings_small_classes():
    y = np.array([0] * 10 + [1] * 4 + [3] * 5)  # class 1 has 4, class 2 none (with num_classes=4)
    out = _score_set(1.0, y.size).warnings(y, 4, class_names=["a", "b", "c", "d"])
    assert len(out) == 1 and "2 class(es)" in out[0] and "b, c: 4, 0" in out[0]
    assert _score_set(1.0, y.size).warnings(y) != []  # class 1 still has 4 when C is inferred (3 classes)
    assert _score_set(1.0, 15).warnings(np.repeat([0, 1, 2], 5)) == []


def test_finetune_scores_respect_min_steps(tmp_path, monkeypatch):
    import importlib
    import types

    import coreset_core.features as features_mod
    from coreset_core.scores import compute_scores_finetune

    finetune_mod = importlib.import_module("coreset_core.training.finetune")
    n, c = 30, 3
    labels = np.arange(n) % c
    split = type("Split", (), {"labels": labels, "__len__": lambda self: n})()
    dataset = types.SimpleNamespace(identity="fake@2", num_classes=c, default_resolution=32, train=split)
    epochs_run = []

    def fake_finetune(ds, indices, *, seed, epochs, epoch_callback, **kwargs):
        epochs_run.append(epochs)
        rng = np.random.default_rng(seed)
        for e in range(1, epochs + 1):
            out = (rng.normal(size=(n, c)).astype(np.float32), np.ones(n, np.float32))
            epoch_callback(finetune_mod.FinetuneEpoch(e, 1.0, 0.1, 0.0, None, lambda out=out: out))

    monkeypatch.setattr(finetune_mod, "finetune", fake_finetune)
    monkeypatch.setattr(features_mod, "get_features",
                        lambda *a, **k: types.SimpleNamespace(features=np.ones((n, 2), np.float32), labels=labels))
    # 30 images at batch 8: 4 steps per epoch; 2 epochs = 8 steps < 18, so ceil(18 / 4) = 5 epochs
    s = compute_scores_finetune(dataset, epochs=2, min_steps=18, batch_size=8, cache_dir=tmp_path, device="cpu",
                                progress=False)
    assert epochs_run == [5] and s.config["effective_epochs"] == 5 and s.train_accuracy.shape == (1, 5)


def test_scores_accumulated_in_row_blocks_match_the_definitions():
    """Streaming the logits in blocks (large N x C) gives the per-sample definitions exactly."""
    from coreset_core.scores.compute import EpochAccumulator

    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(50, 7)).astype(np.float32), rng.integers(0, 7, 50)
    norms = rng.uniform(1, 2, 50)
    acc = EpochAccumulator(labels)
    acc.add_blocks([(0, logits[:13]), (13, logits[13:31]), (31, logits[31:])], norms)
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(7)[labels]
    el2n = np.linalg.norm(p - onehot, axis=1)
    np.testing.assert_allclose(acc.el2n, el2n, rtol=1e-6)
    np.testing.assert_allclose(acc.grand, el2n * norms, rtol=1e-6)
    other = np.where(onehot.astype(bool), -np.inf, z).max(axis=1)
    np.testing.assert_allclose(acc.margin, z[np.arange(50), labels] - other, rtol=1e-6)
    with pytest.raises(ValueError, match="covered"):
        EpochAccumulator(labels).add_blocks([(0, logits[:13])], norms)


def test_standardization_in_blocks_equals_numpy_whole_array_statistics():
    """The blockwise mean / std against numpy's whole-array float64 ones (over several blocks, a
    constant column whose std is replaced by 1, and a row count not a multiple of the block)."""
    from coreset_core.training.linear import _STAT_BLOCK_ROWS, standardization

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2 * _STAT_BLOCK_ROWS + 37, 6)) * [1, 10, 1e-3, 5, 0, 2] + 100).astype(np.float32)
    mean, std = standardization(x)
    ref_std = x.std(axis=0, dtype=np.float64)
    np.testing.assert_allclose(mean, x.mean(axis=0, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(std, np.where(ref_std < 1e-6, 1.0, ref_std), rtol=1e-5)
    assert std[4] == 1.0 and mean.dtype == std.dtype == np.float32
