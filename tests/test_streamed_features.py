"""Memory-mapped features are streamed in row blocks (issue 24): the results equal the in-memory ones
bit for bit, and the methods that cannot stream refuse with their memory estimate."""
from __future__ import annotations

import numpy as np
import pytest

from coreset_core.methods import cost, run_method
from coreset_core.row_blocks import format_bytes, is_mapped
from coreset_core.scores import compute_scores
from coreset_core.training.linear import fit_linear_head


def _data(tmp_path, n: int, d: int, c: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(c), rng.integers(0, c, n - c)])
    centers = rng.normal(0, 1, (c, d))
    x = (centers[y] + rng.normal(0, 1.2, (n, d))).astype(np.float32)
    x[:, 1] = 0.5  # a constant dimension: only centred
    np.save(tmp_path / f"f{seed}.npy", x)
    mm = np.load(tmp_path / f"f{seed}.npy", mmap_mode="r")
    assert is_mapped(mm)
    return x, mm, y


def test_the_linear_head_on_mapped_features_is_bit_identical_and_builds_no_copy(tmp_path):
    x, mm, y = _data(tmp_path, 700, 24, 6)
    runs = {}
    for name, feats in (("memory", x), ("mapped", mm)):
        ends = []
        head = fit_linear_head(feats, y, epochs=2, batch_size=64, epoch_callback=ends.append)
        runs[name] = (head, [e.logits for e in ends], [e.inputs.x is None for e in ends])
    (h0, l0, copy0), (h1, l1, copy1) = runs["memory"], runs["mapped"]
    assert copy0 == [False, False] and copy1 == [True, True]  # the mapped run never built the N x d tensor
    for a, b in ((h0.weight, h1.weight), (h0.bias, h1.bias), (h0.mean, h1.mean), (h0.std, h1.std)):
        assert np.array_equal(a, b)
    assert h0.history == h1.history and all(np.array_equal(a, b) for a, b in zip(l0, l1))


def test_scores_of_mapped_features_are_bit_identical(tmp_path):
    x, mm, y = _data(tmp_path, 600, 16, 5)
    a = compute_scores(x, y, epochs=2, min_steps=10, seeds=(0, 1), progress=False)
    b = compute_scores(mm, y, epochs=2, min_steps=10, seeds=(0, 1), progress=False)
    for name, values in a.scores.items():
        assert np.array_equal(values, b.scores[name]), name
    assert np.array_equal(a.train_accuracy, b.train_accuracy)


@pytest.mark.parametrize("rate, params", [(0.5, {}), (0.97, {}), (0.5, {"eval_subsample": 0.3})])
def test_nucs_on_mapped_features_equals_in_memory(tmp_path, rate, params):
    x, mm, y = _data(tmp_path, 900, 32, 6)
    scores = np.random.default_rng(1).random(900)
    a = run_method("nucs", prune_rate=rate, labels=y, scores=scores, features=x, **params)
    b = run_method("nucs", prune_rate=rate, labels=y, scores=scores, features=mm, **params)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.info["accuracies"], b.info["accuracies"])
    assert a.info["krr_form"] == ("dual" if rate == 0.97 else "primal")


@pytest.mark.parametrize("classes", [5, 130])  # below and above ram_apl.FEW_CLASSES: both nearest-mean paths
def test_ram_apl_on_mapped_features_equals_in_memory(tmp_path, classes):
    x, mm, y = _data(tmp_path, 2000, 12, classes)
    a = run_method("ram-apl", prune_rate=0.6, labels=y, features=x)
    b = run_method("ram-apl", prune_rate=0.6, labels=y, features=[mm, mm[:, :]])
    c = run_method("ram-apl", prune_rate=0.6, labels=y, features=[x, x])
    assert np.array_equal(a.indices, b.indices) and np.array_equal(b.indices, c.indices)


@pytest.mark.parametrize("method, params", [("kcenter", {}), ("kcenter-classwise", {}), ("d2", {"k": 4})])
def test_methods_that_cannot_stream_refuse_with_their_memory_estimate(tmp_path, monkeypatch, method, params):
    x, mm, y = _data(tmp_path, 400, 10, 4)
    scores = np.random.default_rng(2).random(400)
    n, d, largest = 400, 10, int(np.bincount(y).max())
    matrix = n * d * 4
    expected = {"kcenter": 2 * matrix + n * 124, "kcenter-classwise": 2 * matrix + largest * (124 + d * 4),
                "d2": matrix + largest * (d * 4 + 2 * 4 * 120)}[method]
    monkeypatch.setattr(cost, "available_memory", lambda: expected - 1)
    with pytest.raises(ValueError) as err:
        run_method(method, prune_rate=0.5, labels=y, scores=scores, features=mm, **params)
    message = str(err.value)
    assert f"about {format_bytes(expected)} of memory" in message and format_bytes(expected - 1) in message
    assert "memory-mapped" in message and "nucs" in message and "--limit" in message
    monkeypatch.setattr(cost, "available_memory", lambda: expected)  # just enough: it runs
    assert run_method(method, prune_rate=0.5, labels=y, scores=scores, features=mm, **params).indices.size == 200


def test_select_on_a_sharded_folder_writes_the_same_coreset_as_one_file(tmp_path):
    """`coreset select --out` on an `embeddings:<folder>` (memory-mapped, streamed) equals the same rows in one
    file (held in memory), id for id; the folder is no single source file, so none is recorded."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from coreset_core.cli import main

    x, _, y = _data(tmp_path, 900, 16, 5)
    folder = tmp_path / "clip"
    for k, (a, b) in enumerate([(0, 400), (400, 900)]):
        (folder / "img_emb").mkdir(parents=True, exist_ok=True)
        (folder / "metadata").mkdir(exist_ok=True)
        np.save(folder / "img_emb" / f"img_emb_{k}.npy", x[a:b])
        pq.write_table(pa.table({"label": y[a:b]}), folder / "metadata" / f"metadata_{k}.parquet")
    np.savez(tmp_path / "one.npz", features=x, labels=y)
    docs = []
    for name in (f"embeddings:{folder}", f"embeddings:{tmp_path / 'one.npz'}"):
        out = tmp_path / f"sel{len(docs)}.json"
        assert main(["select", "--dataset", name, "--score-epochs", "2", "--cache-dir", str(tmp_path / "cache"),
                     "--quiet", "--method", "nucs", "--prune-rate", "0.6", "--out", str(out)]) == 0
        docs.append(json.loads(out.read_text()))
    assert docs[0]["ids"] == docs[1]["ids"] and len(docs[0]["ids"]) == 288  # 40 % of the 720 training rows
    assert "source_file" not in docs[0] and docs[1]["source_file"]["kind"] == "embeddings"
