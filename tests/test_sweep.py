"""Run configs, sweep planning, the local engine (resumable, parallel, dies with its driver), real runs."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
from sweep_helpers import (TAG_VAR, as_from_a_terminal, broken_config, fake_runner, linux_only, small_grid,
                           stop_mid_sweep, wait_until_gone, write_digits_embeddings)

from coreset_core.spec import DataSpec
from coreset_core.experiments.store import FULL_DATA, ResultsStore
from coreset_core.experiments.run_config import RunConfig
from coreset_core.experiments.sweep import plan_sweep, run_one, run_sweep

TESTS_DIR = Path(__file__).resolve().parent
LT = DataSpec("cifar10-lt", limit=300)  # the data setting of `small_grid`


@pytest.fixture(scope="module")
def digits_spec(tmp_path_factory) -> DataSpec:
    path = write_digits_embeddings(tmp_path_factory.mktemp("digits") / "digits.npz")
    return DataSpec(f"embeddings:{path}", score_epochs=2)


# -- configs and plans --------------------------------------------------------------------------
def test_run_id_is_a_stable_hash_of_the_spec_and_run_fields():
    a = RunConfig(LT, "ccs", 0.9, 1, {"beta": 0.1})
    assert a.run_id == RunConfig(LT, "ccs", 0.9, 1, {"beta": 0.1}, device="cuda").run_id  # device is not in it
    assert a.run_id == pickle.loads(pickle.dumps(a)).run_id
    assert a.identity()["data"] == LT.to_dict()  # the data setting is the spec, described once
    # defaults are filled in: spelling a default out is the same run; imbalance defaults to 10 for -lt
    assert RunConfig(LT, "random", 0.9).run_id == RunConfig(LT.replace(imbalance=10), "random", 0.9).run_id
    default_beta = RunConfig(LT, "ccs", 0.9).param_dict["beta"]
    assert RunConfig(LT, "ccs", 0.9).run_id == RunConfig(LT, "ccs", 0.9, params={"beta": default_beta}).run_id
    changed = [a.replace(seed=2), a.replace(prune_rate=0.95), a.replace(limit=None), a.replace(mode="finetune"),
               a.replace(params={"beta": 0.2}), a.replace(epochs=10), a.replace(imbalance=100),
               a.replace(score="aum"), a.replace(score_seeds=(0, 1)), a.replace(lr=0.01), a.replace(batch_size=32),
               a.replace(train_budget="steps")]
    assert len({c.run_id for c in changed} | {a.run_id}) == len(changed) + 1
    assert a.replace(limit=None).spec.limit is None and a.replace(seed=2).spec == LT
    # the same id in a fresh interpreter (no hash randomisation involved)
    code = ("from coreset_core.spec import DataSpec; from coreset_core.experiments.run_config import RunConfig; "
            "print(RunConfig(DataSpec('cifar10-lt', limit=300), 'ccs', 0.9, 1, {'beta': 0.1}).run_id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == a.run_id


def test_run_config_validates_its_fields():
    for kwargs, match in [(dict(prune_rate=1.0), "prune_rate"), (dict(mode="gpu"), "mode"),
                          (dict(params={"bogus": 1}), "no parameter"), (dict(epochs=0), "epochs"),
                          (dict(seed=1.5), "seed"), (dict(lr=-1), "lr"), (dict(batch_size=0), "batch_size"),
                          (dict(device="tpu"), "device")]:
        with pytest.raises(ValueError, match=match):
            RunConfig(LT, "random", **{"prune_rate": 0.5, **kwargs})
    with pytest.raises(ValueError, match="full"):
        RunConfig(LT, FULL_DATA, 0.5)
    with pytest.raises(ValueError, match="reweights"):
        RunConfig(LT, "cw-erm", 0.9)
    with pytest.raises(ValueError, match="JSON"):
        RunConfig(LT, "nucs", 0.5, params={"ridge": object()})
    with pytest.raises(ValueError, match="DataSpec"):
        RunConfig("cifar10-lt", "random", 0.5)


def test_plan_sweep_builds_the_grid_plus_full_data_baselines():
    configs = small_grid()
    assert len(configs) == 2 * 4 * 3 + 3
    full = [c for c in configs if c.method == FULL_DATA]
    assert [(c.prune_rate, c.seed) for c in full] == [(0.0, 0), (0.0, 1), (0.0, 2)]
    assert {(c.method, c.prune_rate, c.seed) for c in configs if c.method != FULL_DATA} == {
        (m, r, s) for m in ("random", "el2n") for r in (0.7, 0.8, 0.9, 0.95) for s in (0, 1, 2)}
    assert all(c.spec == LT and c.spec.imbalance == 10.0 for c in configs)
    assert len({c.run_id for c in configs}) == len(configs)
    # a dataset name plus data fields is a shortcut for the DataSpec; strings work for the lists
    configs = plan_sweep("cifar10", "random,cw-erm", "0.9", "0,1", include_full=False, limit=50, epochs=3)
    assert [(c.method, c.prune_rate, c.seed) for c in configs] == [
        ("random", 0.9, 0), ("cw-erm", 0.0, 0), ("random", 0.9, 1), ("cw-erm", 0.0, 1)]
    assert configs[0].spec == DataSpec("cifar10", limit=50) and configs[0].epochs == 3
    with pytest.raises(ValueError, match="unknown run setting"):
        plan_sweep(LT, ["random"], [0.9], [0], epoch=3)
    with pytest.raises(ValueError, match="put them in the spec"):
        plan_sweep(LT, ["random"], [0.9], [0], limit=10)


# -- the local engine ---------------------------------------------------------------------------
def test_rerunning_a_sweep_adds_no_duplicates(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    configs = small_grid()
    report = run_sweep(configs, store, progress=False, runner=fake_runner)
    assert report.ok and report.completed == len(configs) == len(store) == 27
    again = run_sweep(configs + configs[:5], store, progress=False, runner=fake_runner)
    assert again.skipped == 27 and again.completed == 0 and len(store) == 27


def test_parallel_workers_run_the_configs_and_the_driver_stores_them(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_SLEEP", "0.05")
    store = ResultsStore(tmp_path / "r.sqlite")
    configs = small_grid()
    seen = []
    report = run_sweep(configs, store, workers=2, progress=False, runner=fake_runner,
                       on_progress=lambda done, total, res: seen.append((done, total, res["ok"])))
    assert report.ok and report.completed == 27 and len(store) == 27
    assert seen[-1] == (27, 27, True)
    hosts = {int(h[3:]) for h in store.to_frame()["host"]}
    assert os.getpid() not in hosts and len(hosts) == 2  # two worker processes ran the configs
    assert store.integrity_check() == "ok"
    assert run_sweep(configs, store, workers=2, progress=False, runner=fake_runner).skipped == 27


def test_a_failing_run_is_reported_with_its_command_and_retried_next_time(tmp_path, capsys):
    store = ResultsStore(tmp_path / "r.sqlite")
    broken = broken_config()
    report = run_sweep(small_grid() + [broken], store, progress=False, runner=fake_runner)
    assert report.completed == 27 and len(report.failed) == 1 and "always fails" in report.failed[0][2]
    err = capsys.readouterr().err
    assert "FAILED" in err and broken.command() in err
    assert broken.command().startswith("coreset train --dataset cifar10-lt --limit 300 --method nucs")
    again = run_sweep(small_grid() + [broken], store, progress=False, runner=fake_runner)
    assert again.skipped == 27 and len(again.failed) == 1 and len(store) == 27


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_stops_the_sweep_before_any_run(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    configs = small_grid(device="cuda")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        run_sweep(configs, store, workers=2, progress=False, runner=fake_runner)
    assert len(store) == 0


_SWEEP_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from sweep_helpers import fake_runner, small_grid
    from coreset_core.experiments.store import ResultsStore
    from coreset_core.experiments.sweep import run_sweep
    if __name__ == "__main__":
        run_sweep(small_grid(), ResultsStore(sys.argv[1]), workers=2, progress=False, runner=fake_runner)
        print("finished")
""")


@pytest.mark.skipif(linux_only() is not None, reason=str(linux_only()))
@pytest.mark.parametrize("how", ["SIGKILL of the driver", "Ctrl-C"])
def test_a_stopped_sweep_leaves_no_process_and_resumes_to_exactly_the_plan(tmp_path, how):
    db = tmp_path / "r.sqlite"
    script = tmp_path / "sweep_script.py"
    script.write_text(_SWEEP_SCRIPT)
    tag = uuid.uuid4().hex
    env = {**os.environ, "FAKE_RUN_SLEEP": "0.2", TAG_VAR: tag}
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(TESTS_DIR)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=as_from_a_terminal)
    store = stop_mid_sweep(proc, db, rows=5, timeout=60, how=how, exit_timeout=30)
    assert proc.returncode != 0 and b"finished" not in proc.stdout.read()
    left = wait_until_gone(tag, timeout=10)
    assert not left, f"processes left behind after {how}: {left}"
    written = len(store)
    assert 5 <= written < 27, "the stop should land mid-sweep"
    assert store.integrity_check() == "ok"

    report = run_sweep(small_grid(), ResultsStore(db), progress=False, runner=fake_runner)
    assert report.ok and report.skipped == written and report.completed == 27 - written
    assert store.run_ids() == {c.run_id for c in small_grid()} and len(store) == 27


# -- real runs ----------------------------------------------------------------------------------
def test_run_one_rows_on_real_digits_match_an_independent_pipeline(digits_spec, session_cache_dir):
    from coreset_core.methods import run_method
    from coreset_core.session import Session
    from coreset_core.training import train_linear_probe

    configs = plan_sweep(digits_spec, ["random", "el2n"], [0.5], [1], epochs=15) + \
        [RunConfig(digits_spec, "cw-erm", 0.0, 1, {"steps": 30}, epochs=15)]
    store = ResultsStore(session_cache_dir / "digits-rows.sqlite")
    report = run_sweep(configs, store, progress=False, cache_dir=session_cache_dir)
    assert report.ok, report.failed
    frame = store.to_frame().set_index("method")
    # independently: the digits split, the scores of a fresh session, each method called directly
    fresh = Session(digits_spec, cache_dir=session_cache_dir)
    labels, n = fresh.labels, fresh.labels.shape[0]
    assert n + fresh.test.labels.shape[0] == 1797 and n == 1438  # the file has no is_test: a 20 % test split
    assert frame.loc["full", "num_kept"] == n and frame.loc["random", "num_kept"] == 719  # half of 1438
    direct = run_method("el2n", prune_rate=0.5, labels=labels, scores=fresh.difficulty("el2n"), seed=1)
    assert json.loads(frame.loc["el2n", "class_kept_json"]) == np.bincount(labels[direct.indices], minlength=10).tolist()
    probe = train_linear_probe(fresh.train.features, labels, fresh.test.features, fresh.test.labels,
                               indices=direct.indices, epochs=15, seed=1, num_classes=10)
    assert frame.loc["el2n", "accuracy"] == probe.metrics["accuracy"]  # same inputs, same seed: bit for bit
    for method, row in frame.iterrows():
        per_class = json.loads(row["per_class_accuracy_json"])
        test_sizes = np.bincount(fresh.test.labels, minlength=10)
        assert row["accuracy"] == pytest.approx(np.dot(per_class, test_sizes) / test_sizes.sum())
        assert row["balanced_accuracy"] == pytest.approx(np.mean(per_class))
        assert json.loads(row["config_json"])["method"] == method and row["train_seconds"] > 0
    assert frame.loc["full", "accuracy"] > 0.8  # ten digit classes, linear on raw pixels
    assert frame.loc["cw-erm", "num_kept"] == n and json.loads(frame.loc["cw-erm", "selection_info_json"])[
        "coreset_size"] > 0
    # a pure function of its config: the same row content again, in a fresh session
    row = run_one(configs[1], cache_dir=session_cache_dir, session=Session(digits_spec, cache_dir=session_cache_dir))
    assert row.run_id == configs[1].run_id and row.accuracy == store.get_row(configs[1].run_id).accuracy


@pytest.mark.slow  # loads the backbone twice on the CPU (features for the labels, then fine-tuning)
def test_finetune_runs_through_the_same_trainer_interface(session_cache_dir):
    spec = DataSpec("digits", resolution=32, limit=64, test_limit=32, score_epochs=1)
    row = run_one(RunConfig(spec, "random", 0.5, 0, mode="finetune", epochs=1, batch_size=16),
                  cache_dir=session_cache_dir)
    assert row.num_kept == 32 and row.train_config_json["protocol"] == "finetune"
    assert row.train_config_json["num_train"] == 32 and row.batch_size == 16 and row.lr > 0
    assert sum(row.class_kept_json) == 32 and 0.0 <= row.accuracy <= 1.0
