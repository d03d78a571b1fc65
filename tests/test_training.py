"""Training: metrics, the linear-head trainer, the linear probe, and the fine-tuning path on the CPU."""
from __future__ import annotations

import numpy as np
import pytest

from coreset_core.training import (ProbeResult, classification_metrics, fit_linear_head, per_class_accuracy,
                                   train_linear_probe)
from coreset_core.training.linear import _sgd_step, cosine_lr


def _blobs(n_per_class=60, c=3, d=10, seed=0, spread=1.0, offset=5.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(c, d)) + offset
    y = np.repeat(np.arange(c), n_per_class)
    x = centers[y] + rng.normal(0, spread, size=(y.size, d))
    perm = rng.permutation(y.size)
    return x[perm].astype(np.float32), y[perm].astype(np.int64)


# ----------------------------------------------------------------------------- metrics


def test_metrics_match_sklearn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score

    rng = np.random.default_rng(0)
    t = rng.integers(0, 5, 200)
    p = np.where(rng.random(200) < 0.6, t, rng.integers(0, 5, 200))
    m = classification_metrics(t, p)
    assert m["accuracy"] == pytest.approx(accuracy_score(t, p))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(t, p))
    np.testing.assert_allclose(per_class_accuracy(t, p), recall_score(t, p, average=None))
    m = classification_metrics(t, p, num_classes=6)  # class 5 absent from the test labels
    assert m["per_class_accuracy"][5] is None and len(m["per_class_accuracy"]) == 6
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(t, p))
    with pytest.raises(ValueError, match="must match one to one"):
        classification_metrics(t, p[:-1])


# ----------------------------------------------------------------------------- linear head


def test_sgd_step_matches_torch_optim():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 6, generator=g, requires_grad=True)
    w_ref = w.detach().clone().requires_grad_(True)
    x, y = torch.randn(20, 6, generator=g), torch.randint(0, 4, (20,), generator=g)
    opt = torch.optim.SGD([w_ref], lr=0.1, momentum=0.9, weight_decay=5e-4)
    buffers = [None]
    for _ in range(4):
        grads = torch.autograd.grad(torch.nn.functional.cross_entropy(x @ w.T, y), [w])
        _sgd_step([w], grads, buffers, 0.1, 0.9, 5e-4)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(x @ w_ref.T, y).backward()
        opt.step()
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-7)


def test_cosine_schedule_endpoints():
    assert cosine_lr(0, 100, 0.1, 1e-4) == pytest.approx(0.1)
    assert cosine_lr(50, 100, 0.1, 1e-4) == pytest.approx((0.1 + 1e-4) / 2)
    assert cosine_lr(100, 100, 0.1, 1e-4) == pytest.approx(1e-4)


def test_linear_head_learns_standardises_and_calls_back():
    x, y = _blobs()
    ends = []
    head = fit_linear_head(x, y, epochs=5, lr=0.05, batch_size=32, seed=1, epoch_callback=ends.append)
    assert [e.epoch for e in ends] == [1, 2, 3, 4, 5]
    assert all(e.logits.shape == (y.size, 3) for e in ends)
    np.testing.assert_allclose(ends[-1].logits, head.logits(x), rtol=1e-4, atol=1e-4)
    assert np.mean(head.predict(x) == y) > 0.95
    np.testing.assert_allclose(head.mean, x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(head.std, x.std(axis=0), rtol=1e-4)
    assert head.history[-1]["lr"] < 0.05 * 0.1  # annealed
    assert head.history[0]["train_loss"] > head.history[-1]["train_loss"]
    # deterministic per seed, different across seeds
    again = fit_linear_head(x, y, epochs=5, lr=0.05, batch_size=32, seed=1)
    np.testing.assert_array_equal(again.weight, head.weight)
    other = fit_linear_head(x, y, epochs=5, lr=0.05, batch_size=32, seed=2)
    assert not np.array_equal(other.weight, head.weight)


def test_linear_head_sample_weights():
    x, y = _blobs(spread=4.0, seed=3)
    plain = fit_linear_head(x, y, epochs=3, seed=0)
    ones = fit_linear_head(x, y, epochs=3, seed=0, sample_weights=np.ones(y.size))
    np.testing.assert_allclose(ones.weight, plain.weight, rtol=1e-5, atol=1e-6)
    # weighting class 0 ten times more makes the head predict class 0 more often
    w = np.where(y == 0, 10.0, 1.0)
    heavy = fit_linear_head(x, y, epochs=10, lr=0.05, seed=0, sample_weights=w)
    light = fit_linear_head(x, y, epochs=10, lr=0.05, seed=0)
    assert np.sum(heavy.predict(x) == 0) > np.sum(light.predict(x) == 0)
    with pytest.raises(ValueError, match="non-negative"):
        fit_linear_head(x, y, epochs=1, sample_weights=-np.ones(y.size))
    with pytest.raises(ValueError, match="one weight per"):
        fit_linear_head(x, y, epochs=1, sample_weights=np.ones(3))


def test_linear_probe_on_subset():
    x, y = _blobs(n_per_class=80, c=4, seed=5, spread=1.0)
    xt, yt = _blobs(n_per_class=30, c=4, seed=5, spread=1.0)  # same centres, new draws
    idx = np.arange(0, y.size, 4)
    r = train_linear_probe(x, y, xt, yt, indices=idx, epochs=20, seed=0)
    assert isinstance(r, ProbeResult)
    assert r.metrics["accuracy"] > 0.85 and 0 <= r.metrics["balanced_accuracy"] <= 1
    assert len(r.metrics["per_class_accuracy"]) == 4 and r.train_seconds >= 0
    assert r.config["num_train"] == idx.size and r.config["epochs"] == 20
    # a coreset missing class 3 still yields a 4-class head (class 3 never right)
    no3 = np.flatnonzero(y != 3)
    r2 = train_linear_probe(x, y, xt, yt, indices=no3, epochs=30, batch_size=32)
    assert r2.head.num_classes == 4 and r2.metrics["per_class_accuracy"][3] == 0.0
    # weights: full-length (indexed by indices) and per-index give the same run
    w_full = np.linspace(0.5, 1.5, y.size)
    a = train_linear_probe(x, y, xt, yt, indices=idx, sample_weights=w_full, epochs=3)
    b = train_linear_probe(x, y, xt, yt, indices=idx, sample_weights=w_full[idx], epochs=3)
    np.testing.assert_array_equal(a.head.weight, b.head.weight)
    with pytest.raises(ValueError, match="duplicates"):
        train_linear_probe(x, y, xt, yt, indices=[0, 0, 1])
    with pytest.raises(ValueError, match="dims"):
        train_linear_probe(x, y, xt[:, :3], yt)


def test_one_trainer_interface():
    """The probe and fine-tuning accept the same core keywords: a caller never inspects signatures."""
    import inspect

    import dataclasses

    from coreset_core.training import TRAINER_ARGS, FinetuneOptions, finetune

    options = {f.name: f.default for f in dataclasses.fields(FinetuneOptions)}  # finetune's keyword options
    for fn, extra in ((train_linear_probe, {}), (finetune, options)):
        defaults = {**extra, **{n: p.default for n, p in inspect.signature(fn).parameters.items()}}
        assert set(TRAINER_ARGS) <= set(defaults), fn.__name__
        assert all(defaults[name] is None for name in ("indices", "sample_weights", "lr", "batch_size", "device",
                                                       "test_limit"))
    x, y = _blobs(n_per_class=40, c=3, seed=7)
    xt, yt = _blobs(n_per_class=20, c=3, seed=7)
    core = dict(indices=np.arange(0, y.size, 2), sample_weights=None, epochs=3, lr=None, batch_size=None, seed=1,
                device=None, progress=False, test_limit=25)
    r = train_linear_probe(x, y, xt, yt, **core)
    assert r.config["lr"] == 0.01 and r.config["batch_size"] == 256 and r.config["device"] == "cpu"
    # test_limit: metrics on the first 25 test rows, checked against the head's own predictions
    assert r.metrics["num_samples"] == 25
    assert r.metrics["accuracy"] == pytest.approx(np.mean(r.head.predict(xt[:25]) == yt[:25]))
    with pytest.raises(ValueError, match="test_limit"):
        train_linear_probe(x, y, xt, yt, epochs=1, test_limit=0)
    for bad in (dict(epochs=0), dict(batch_size=0), dict(lr=-1.0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            train_linear_probe(x, y, xt, yt, **bad)


def test_probe_label_errors_are_bounded():
    x, y = _blobs(n_per_class=10, c=3)
    bad = y.copy()
    bad[4] = 10 ** 9
    with pytest.raises(ValueError, match=r"test_labels\[4\] = 1000000000 is out of range for num_classes=3"):
        train_linear_probe(x, y, x, bad, epochs=1)
    with pytest.raises(ValueError, match=r"train_labels\[4\] = 1000000000 is not a class id"):
        train_linear_probe(x, bad, x, y, epochs=1)


# ----------------------------------------------------------------------------- fine-tuning (CPU)


def test_finetune_rejects_bad_arguments_before_any_work():
    pytest.importorskip("torch")
    from coreset_core.datasets import load_dataset
    from coreset_core.training import finetune

    ds = load_dataset("digits")
    for kwargs, match in [(dict(batch_size=0), "batch_size must be >= 1"), (dict(batch_size=-3), "batch_size"),
                          (dict(epochs=0), "epochs"), (dict(lr=0), "lr must be > 0"),
                          (dict(test_limit=0), "test_limit"),
                          (dict(indices=[0, 10 ** 6]), r"indices\[1\] = 1000000"),
                          (dict(sample_weights=np.ones(3)), "sample_weights")]:
        with pytest.raises(ValueError, match=match):
            finetune(ds, progress=False, **kwargs)


@pytest.mark.slow
def test_finetune_cpu_tiny(tmp_path, cifar10):
    torch = pytest.importorskip("torch")
    from coreset_core.training import finetune, load_checkpoint, load_finetuned

    ds = cifar10
    idx = np.arange(64)
    epochs_seen = []

    def on_epoch(ep):
        logits, norms = ep.train_outputs()
        epochs_seen.append((ep.epoch, logits.shape, norms.shape, ep.train_loss))

    weights = np.ones(64)
    weights[:8] = 2.0
    res = finetune(ds, idx, resolution=64, epochs=1, batch_size=32, device="cpu", checkpoint_dir=tmp_path,
                   progress=False, epoch_callback=on_epoch, test_limit=32, sample_weights=weights)
    assert np.isfinite(res.history[0]["train_loss"]) and res.history[0]["train_loss"] > 0
    assert epochs_seen == [(1, (64, 10), (64,), res.history[0]["train_loss"])]
    assert res.metrics["num_samples"] == 32 and 0 <= res.metrics["accuracy"] <= 1
    assert res.config["resolution"] == 64 and res.config["num_train"] == 64 and not res.config["amp"]
    assert res.checkpoint is not None and res.checkpoint.is_file()
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left no temp file
    ckpt = load_checkpoint(res.checkpoint)
    assert ckpt["epoch"] == 1 and ckpt["metrics"]["accuracy"] == res.metrics["accuracy"]
    model = load_finetuned(res.checkpoint)
    for a, b in zip(model.state_dict().values(), res.model.state_dict().values()):
        torch.testing.assert_close(a, b.cpu())


@pytest.mark.slow
def test_finetune_resumes_exactly(tmp_path, cifar10):
    torch = pytest.importorskip("torch")
    from coreset_core.training import finetune

    kwargs = dict(resolution=32, epochs=2, batch_size=16, device="cpu", progress=False, evaluate=False)
    idx = np.arange(32)
    straight = finetune(cifar10, idx, **kwargs)

    class Stop(Exception):
        pass

    def stop_after_first(ep):
        raise Stop

    with pytest.raises(Stop):  # dies after epoch 1, whose checkpoint is already on disk
        finetune(cifar10, idx, checkpoint_dir=tmp_path, epoch_callback=stop_after_first, **kwargs)
    resumed_epochs = []
    resumed = finetune(cifar10, idx, checkpoint_dir=tmp_path, epoch_callback=lambda ep: resumed_epochs.append(ep.epoch),
                       **kwargs)
    assert resumed_epochs == [2] and [h["epoch"] for h in resumed.history] == [1, 2]
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # another config does not resume from that checkpoint
    other_epochs = []
    finetune(cifar10, idx, checkpoint_dir=tmp_path, epoch_callback=lambda ep: other_epochs.append(ep.epoch),
             **{**kwargs, "epochs": 1})
    assert other_epochs == [1]
