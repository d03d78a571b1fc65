"""Run configs, sweep planning, resumable/parallel sweeps, and one real end-to-end run."""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from coreset_core.store import ResultsStore
from coreset_core.sweep import FULL, RunConfig, plan_sweep, run_sweep

TESTS_DIR = Path(__file__).resolve().parent


# -- a stand-in for run_one: a module-level function, so worker processes can unpickle it ---------
def fake_runner(config: RunConfig, *, cache_dir=None, data_dir=None) -> dict:
    """A cheap deterministic "run": accuracy from the config, optional sleep (FAKE_RUN_SLEEP)."""
    time.sleep(float(os.environ.get("FAKE_RUN_SLEEP", "0")))
    if config.method == "broken":
        raise RuntimeError("this method always fails")
    acc = 0.9 - 0.2 * config.prune_rate + 0.01 * config.seed
    return {"run_id": config.run_id, "config_json": config.canonical_json(), "dataset": config.dataset,
            "method": config.method, "prune_rate": config.prune_rate, "seed": config.seed, "mode": config.mode,
            "epochs": config.epochs, "params_json": json.dumps(config.param_dict, sort_keys=True),
            "accuracy": acc, "host": f"pid{os.getpid()}"}


def small_grid(**common) -> list[RunConfig]:
    return plan_sweep("cifar10-lt", ["random", "el2n"], [0.7, 0.8, 0.9, 0.95], [0, 1, 2], **common)


# -- configs and plans --------------------------------------------------------------------------
def test_run_id_is_a_stable_hash_of_the_config():
    a = RunConfig("cifar10-lt", "ccs", 0.9, 1, {"beta": 0.1}, limit=300)
    assert a.run_id == RunConfig("cifar10-lt", "ccs", 0.9, 1, {"beta": 0.1}, limit=300, device="cuda").run_id
    assert a.run_id == pickle.loads(pickle.dumps(a)).run_id
    # defaults are filled in, so spelling a default out is the same run; imbalance defaults to 10 for -lt
    assert RunConfig("cifar10-lt", "random", 0.9).run_id == RunConfig("cifar10-lt", "random", 0.9, imbalance=10).run_id
    default_beta = RunConfig("cifar10-lt", "ccs", 0.9).param_dict["beta"]
    assert RunConfig("cifar10-lt", "ccs", 0.9).run_id == RunConfig("cifar10-lt", "ccs", 0.9,
                                                                   params={"beta": default_beta}).run_id
    changed = [a.replace(seed=2), a.replace(prune_rate=0.95), a.replace(limit=None), a.replace(mode="finetune"),
               a.replace(params={"beta": 0.2}), a.replace(epochs=10), a.replace(imbalance=100)]
    assert len({c.run_id for c in changed} | {a.run_id}) == len(changed) + 1
    # the same id in a fresh interpreter (no hash randomisation involved)
    code = ("from coreset_core.sweep import RunConfig; "
            "print(RunConfig('cifar10-lt', 'ccs', 0.9, 1, {'beta': 0.1}, limit=300).run_id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == a.run_id


def test_run_config_validates_its_fields():
    with pytest.raises(ValueError, match="prune_rate"):
        RunConfig("cifar10", "random", 1.0)
    with pytest.raises(ValueError, match="full"):
        RunConfig("cifar10", FULL, 0.5)
    with pytest.raises(ValueError, match="reweights"):
        RunConfig("cifar10", "cw-erm", 0.9)
    with pytest.raises(ValueError, match="mode"):
        RunConfig("cifar10", "random", 0.5, mode="gpu")
    with pytest.raises(ValueError, match="no parameter"):
        RunConfig("cifar10", "random", 0.5, params={"bogus": 1})
    with pytest.raises(ValueError, match="JSON"):
        RunConfig("cifar10", "full", params={"x": object()})


def test_plan_sweep_builds_the_grid_plus_full_data_baselines():
    configs = small_grid(limit=300)
    assert len(configs) == 2 * 4 * 3 + 3
    full = [c for c in configs if c.method == FULL]
    assert [(c.prune_rate, c.seed) for c in full] == [(0.0, 0), (0.0, 1), (0.0, 2)]
    assert {(c.method, c.prune_rate, c.seed) for c in configs if c.method != FULL} == {
        (m, r, s) for m in ("random", "el2n") for r in (0.7, 0.8, 0.9, 0.95) for s in (0, 1, 2)}
    assert all(c.limit == 300 and c.imbalance == 10.0 for c in configs)
    assert len({c.run_id for c in configs}) == len(configs)
    # strings work too; cw-erm is planned once per seed at prune rate 0; no full when asked
    configs = plan_sweep("cifar10", "random,cw-erm", "0.9", "0,1", include_full=False)
    assert [(c.method, c.prune_rate, c.seed) for c in configs] == [
        ("random", 0.9, 0), ("cw-erm", 0.0, 0), ("random", 0.9, 1), ("cw-erm", 0.0, 1)]
    with pytest.raises(ValueError, match="unknown run setting"):
        plan_sweep("cifar10", ["random"], [0.9], [0], epoch=3)


# -- sweeps -------------------------------------------------------------------------------------
def test_rerunning_a_sweep_adds_no_duplicates(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    configs = small_grid()
    report = run_sweep(configs, store, progress=False, runner=fake_runner)
    assert report.ok and report.completed == len(configs) == len(store) == 27
    again = run_sweep(configs + configs[:5], store, progress=False, runner=fake_runner)
    assert again.skipped == 27 and again.completed == 0 and len(store) == 27


def test_parallel_workers_each_store_their_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_RUN_SLEEP", "0.05")
    store = ResultsStore(tmp_path / "r.sqlite")
    configs = small_grid()
    seen = []
    report = run_sweep(configs, store, workers=2, progress=False, runner=fake_runner,
                       on_progress=lambda done, total, res: seen.append((done, total, res["ok"])))
    assert report.ok and report.completed == 27 and len(store) == 27
    assert seen[-1] == (27, 27, True)
    frame = store.to_frame()
    assert os.getpid() not in {int(h[3:]) for h in frame["host"]}  # rows came from the worker processes
    assert store.integrity_check() == "ok"
    assert run_sweep(configs, store, workers=2, progress=False, runner=fake_runner).skipped == 27


def test_a_failing_run_is_reported_and_retried_next_time(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    configs = small_grid() + [RunConfig("cifar10-lt", "broken", 0.9)]
    report = run_sweep(configs, store, progress=False, runner=fake_runner)
    assert report.completed == 27 and len(report.failed) == 1 and "always fails" in report.failed[0][2]
    again = run_sweep(configs, store, progress=False, runner=fake_runner)
    assert again.skipped == 27 and len(again.failed) == 1 and len(store) == 27


_SWEEP_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from test_sweep import fake_runner, small_grid
    from coreset_core.store import ResultsStore
    from coreset_core.sweep import run_sweep
    if __name__ == "__main__":
        run_sweep(small_grid(), ResultsStore(sys.argv[1]), workers=2, progress=False, runner=fake_runner)
        print("finished")
""")


def test_a_killed_sweep_resumes_to_exactly_the_expected_rows(tmp_path):
    db = tmp_path / "r.sqlite"
    script = tmp_path / "sweep_script.py"
    script.write_text(_SWEEP_SCRIPT)
    env = {**os.environ, "FAKE_RUN_SLEEP": "0.3"}
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(TESTS_DIR)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    store = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # wait until a few rows are in
            if db.exists():
                store = store or ResultsStore(db)
                if len(store) >= 5:
                    break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("the sweep wrote no rows within 60 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-way
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    written = len(store)
    assert 5 <= written < 27, "the kill should land mid-sweep"
    assert store.integrity_check() == "ok"

    report = run_sweep(small_grid(), ResultsStore(db), progress=False, runner=fake_runner)
    assert report.ok and report.skipped == written and report.completed == 27 - written
    expected = {c.run_id for c in small_grid()}
    assert store.run_ids() == expected and len(store) == 27


# -- real training ------------------------------------------------------------------------------
def test_probe_reaches_the_expected_accuracy_on_separable_data():
    probe = pytest.importorskip("coreset_core.training.probe")
    rng = np.random.default_rng(0)
    c, d = 4, 16
    centers = 4.0 * np.eye(c, d)
    y_train, y_test = rng.integers(0, c, 400), rng.integers(0, c, 200)
    x_train = (centers[y_train] + 0.5 * rng.standard_normal((400, d))).astype(np.float32)
    x_test = (centers[y_test] + 0.5 * rng.standard_normal((200, d))).astype(np.float32)
    # classes 5.7 std apart: the Bayes error is ~0.2 %, a linear head must be (nearly) perfect
    res = probe.train_linear_probe(x_train, y_train, x_test, y_test, epochs=20, seed=0)
    assert res.metrics["accuracy"] >= 0.98 and res.metrics["balanced_accuracy"] >= 0.98
    few = np.concatenate([np.flatnonzero(y_train == k)[:25] for k in range(c)])  # a 25 % coreset
    # (the probe trains a fixed number of epochs: a tiny subset needs small batches to get enough steps)
    res = probe.train_linear_probe(x_train, y_train, x_test, y_test, indices=few, epochs=30, batch_size=10, seed=0)
    assert res.metrics["accuracy"] >= 0.95 and res.config["num_train"] == 100


def test_run_one_end_to_end_on_digits(tmp_path, session_cache_dir):
    pytest.importorskip("coreset_core.pipeline")
    from coreset_core.sweep import run_one

    settings = dict(limit=200, test_limit=100, resolution=64, epochs=15, score_epochs=2)
    configs = plan_sweep("digits", ["random", "el2n"], [0.5], [0], **settings) + \
        [RunConfig("digits", "cw-erm", 0.0, 0, **settings)]
    store = ResultsStore(tmp_path / "r.sqlite")
    report = run_sweep(configs, store, progress=False, cache_dir=session_cache_dir)
    assert report.ok, report.failed
    assert report.completed == 4 and len(store) == 4  # full, random, el2n, cw-erm
    frame = store.to_frame().set_index("method")
    assert frame.loc["full", "num_kept"] == 200 and frame.loc["random", "num_kept"] == 100
    assert frame.loc["full", "accuracy"] > 0.6  # ten digit classes on frozen ImageNet features
    for method, row in frame.iterrows():
        assert sum(json.loads(row["class_kept_json"])) == row["num_kept"]
        assert len(json.loads(row["per_class_accuracy_json"])) == 10
        assert row["train_seconds"] > 0 and row["selection_seconds"] >= 0 and row["lr"] > 0
        assert json.loads(row["config_json"])["method"] == method
    assert frame.loc["cw-erm", "num_kept"] == 200
    # the same config gives the same row content (a pure function of its config)
    row = run_one(configs[1], cache_dir=session_cache_dir)
    assert row["run_id"] == configs[1].run_id
    assert row["accuracy"] == pytest.approx(store.get(configs[1].run_id)["accuracy"])
    assert run_sweep(configs, store, progress=False, cache_dir=session_cache_dir).skipped == 4


# -- command line -------------------------------------------------------------------------------
def test_cli_sweep_dry_run_and_results_table(tmp_path, capsys):
    from coreset_core.cli import main

    db = tmp_path / "r.sqlite"
    assert main(["sweep", "--dataset", "cifar10-lt", "--methods", "random,el2n", "--prune-rates", "0.7,0.8,0.9,0.95",
                 "--seeds", "0,1,2", "--db", str(db), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "27 runs, 0 stored" in out and out.count("pending") == 27
    run_sweep(small_grid(), ResultsStore(db), progress=False, runner=fake_runner)
    assert main(["sweep", "--dataset", "cifar10-lt", "--methods", "random,el2n", "--seeds", "0,1,2", "--db", str(db),
                 "--dry-run"]) == 0
    assert "27 runs, 27 stored" in capsys.readouterr().out
    assert main(["results", "--db", str(db), "--export", str(tmp_path / "rows.csv")]) == 0
    out = capsys.readouterr().out
    assert "| method | 0% | 70% | 80% | 90% | 95% |" in out
    assert "| random | - | 77.0 ± 1.0 | 75.0 ± 1.0 | 73.0 ± 1.0 | 72.0 ± 1.0 |" in out
    assert "exported 27 rows" in out and (tmp_path / "rows.csv").is_file()
    assert main(["results", "--db", str(db), "--dataset", "nothing-here"]) == 1
    assert main(["train", "--dataset", "digits", "--method", "random", "--param", "oops", "--db", str(db)]) == 2
