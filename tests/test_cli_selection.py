"""`coreset score`, `coreset select`, `coreset methods`, run in-process on the digits dataset."""
from __future__ import annotations

import json

import numpy as np
import pytest

from coreset_core.cli import main

DATA = ["--dataset", "digits", "--resolution", "32", "--limit", "300", "--test-limit", "100"]


@pytest.fixture(scope="module")
def cache_dir(session_cache_dir):
    # the session's temporary cache (tests/conftest.py): the digits features are extracted once
    return session_cache_dir


def test_score_prints_path_and_class_table(cache_dir, capsys):
    assert main(["score", *DATA[:6], "--cache-dir", str(cache_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "scores of 300 training samples" in out and str(cache_dir) in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("class"))
    assert lines[header].split() == ["class", "N_c", "el2n", "aum(max-s)", "forgetting", "grand", "moderate"]
    rows = [line.split() for line in lines[header + 1:header + 11]]
    assert [r[0] for r in rows] == [str(i) for i in range(10)]  # the class names of digits are its numbers
    assert sum(int(r[1]) for r in rows) == 300


def test_select_json_reproduces_facade_select(cache_dir, tmp_path, capsys):
    import coreset_core
    from coreset_core.datasets import load_dataset
    from coreset_core.features import get_features
    from coreset_core.scores import compute_scores

    out_file = tmp_path / "coreset.json"
    argv = ["select", *DATA, "--cache-dir", str(cache_dir), "--quiet", "--method", "nucs", "--prune-rate", "0.8",
            "--winsor", "0.05", "0.05", "--score", "el2n", "--param", "ridge=0.5", "--seed", "2",
            "--out", str(out_file)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "chosen endpoint k =" in printed and "<- chosen" in printed and f"wrote {out_file}" in printed
    doc = json.loads(out_file.read_text())
    assert not list(tmp_path.glob("*.tmp"))

    # independent recomputation of the inputs, then the facade's own select()
    ds = load_dataset("digits")
    train = get_features(ds, "train", resolution=32, limit=300, cache_dir=cache_dir, progress=False)
    scores = compute_scores(train.features, train.labels, cache_key=train.key, cache_dir=cache_dir, progress=False)
    cfg = doc["config"]
    assert cfg["method"] == "nucs" and cfg["prune_rate"] == 0.8 and cfg["seed"] == 2 and cfg["score"] == "el2n"
    spec = cfg["data"]["spec"]
    assert spec["dataset"] == "digits" and spec["resolution"] == 32 and spec["limit"] == 300
    assert spec["backbone"] == "efficientnet_lite0" and cfg["data"]["resolution"] == 32
    params = {k: v for k, v in cfg["params"].items() if v is not None}
    expected = coreset_core.select(cfg["method"], prune_rate=cfg["prune_rate"], labels=train.labels,
                                   scores=scores.difficulty(cfg["score"]), features=train.features,
                                   seed=cfg["seed"], **params)
    assert doc["indices"] == expected.tolist()
    assert params["ridge"] == 0.5 and params["winsor"] == [0.05, 0.05]

    # class counts match the indices and the printed table
    labels = train.labels
    counts = np.bincount(labels[np.array(doc["indices"])], minlength=10)
    assert doc["class_counts"] == counts.tolist() and sum(doc["class_counts"]) == doc["num_selected"] == 60
    assert doc["class_sizes"] == np.bincount(labels, minlength=10).tolist()
    np.testing.assert_allclose(doc["class_fractions"], counts / np.bincount(labels, minlength=10))
    for c in range(10):
        assert any(line.split()[:3] == [str(c), str(doc["class_sizes"][c]), str(counts[c])]
                   for line in printed.splitlines() if line.strip())
    info = doc["info"]
    assert len(info["endpoints"]) == len(info["accuracies"]) == 21 and info["best_endpoint"] in info["endpoints"]

    # the JSON's config alone rebuilds the same coreset
    from coreset_core.session import selection_from_config

    assert selection_from_config(cfg, cache_dir=cache_dir).indices.tolist() == doc["indices"]


def test_select_global_method_and_errors(cache_dir, capsys):
    assert main(["select", *DATA, "--cache-dir", str(cache_dir), "--quiet", "--method", "el2n",
                 "--prune-rate", "0.5", "--score", "aum"]) == 0
    out = capsys.readouterr().out
    assert "keeps 150 of 300" in out and "chosen endpoint" not in out
    assert main(["select", *DATA, "--cache-dir", str(cache_dir), "--quiet", "--method", "el2n",
                 "--prune-rate", "0.5", "--param", "bogus=1"]) == 2
    assert "bogus" in capsys.readouterr().err
    assert main(["select", *DATA, "--cache-dir", str(cache_dir), "--quiet", "--method", "nope",
                 "--prune-rate", "0.5"]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_methods_lists_every_registered_method(capsys):
    from coreset_core.methods import method_specs

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for spec in method_specs():
        assert f"{spec.name}  [" in out and spec.description in out
    assert "winsor=(0.0, 0.0)" in out
    assert "cw-erm  [reweighting" in out  # the reweighting method is listed too


@pytest.mark.parametrize("extra, message", [
    (["--limit", "0"], "limit"), (["--limit", "-5"], "limit"), (["--resolution", "0"], "resolution"),
    (["--resolution", "10000"], "outside"), (["--dataset", "imagefolder:"], "needs a path"),
    (["--dataset", "digits", "--imbalance", "5"], "digits-lt"), (["--method", "nope"], "unknown method"),
    (["--prune-rate", "1.5"], "prune"),
])
def test_bad_select_options_fail_fast_with_the_fix(extra, message, tmp_path, capsys):
    argv = ["select", "--dataset", "digits", "--cache-dir", str(tmp_path), "--quiet", "--prune-rate", "0.5", *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.npz"))  # refused before any feature was extracted


def test_out_pointing_at_a_directory_is_refused_before_selecting(tmp_path, capsys):
    argv = ["select", "--dataset", "digits", "--cache-dir", str(tmp_path / "c"), "--quiet", "--prune-rate", "0.5",
            "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "is a directory" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_batch_size_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        main(["features", "--dataset", "digits", "--extract-batch-size", "0"])
    assert "whole number >= 1" in capsys.readouterr().err


def test_cuda_without_a_gpu_is_refused(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = ["select", "--dataset", "digits", "--cache-dir", str(tmp_path), "--quiet", "--prune-rate", "0.5",
            "--device", "cuda"]
    assert main(argv) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_select_output_is_byte_identical_between_runs_and_skips_the_test_split(cache_dir, tmp_path, capsys):
    outs = []
    for name in ("a.json", "b.json"):
        argv = ["select", *DATA, "--cache-dir", str(cache_dir), "--quiet", "--method", "nucs-uniform",
                "--prune-rate", "0.7", "--out", str(tmp_path / name)]
        assert main(argv) == 0
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    fresh = tmp_path / "fresh-cache"
    argv = ["select", *DATA, "--cache-dir", str(fresh), "--quiet", "--method", "el2n", "--prune-rate", "0.5"]
    assert main(argv) == 0
    written = [p.name for p in fresh.rglob("*") if p.is_file()]
    assert any("-train-" in name for name in written) and not any("-test-" in name for name in written)


def test_many_classes_print_the_extremes_only(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from make_embeddings import make_embeddings

    arrays = make_embeddings(3000, 100, 16, imbalance=10, seed=0)
    np.savez(tmp_path / "emb.npz", **arrays)
    out = tmp_path / "sel.json"
    assert main(["select", "--dataset", f"embeddings:{tmp_path / 'emb.npz'}", "--cache-dir", str(tmp_path),
                 "--quiet", "--method", "el2n-easy", "--prune-rate", "0.9", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    rows = [line.split() for line in printed.splitlines() if line.split()[:1] and line.split()[0] in doc["class_names"]]
    assert len(rows) == 40 and "40 of 100 classes shown" in printed
    fractions = np.array(doc["class_fractions"], dtype=float)
    assert doc["class_names"][int(np.argmax(fractions))] in {r[0] for r in rows}
