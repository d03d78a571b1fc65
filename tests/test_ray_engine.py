"""The Ray engine in local mode on 2 CPUs: same rows as the local engine, shared-cache check,
sharded feature extraction, and a killed driver that leaves nothing behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pytest
from sweep_helpers import (TAG_VAR, as_from_a_terminal, linux_only, stop_mid_sweep, tagged_processes,
                           wait_until_gone, write_digits_embeddings)

from coreset_core.spec import DataSpec
from coreset_core.experiments.store import ResultsStore
from coreset_core.experiments.run_config import RunConfig
from coreset_core.experiments.sweep import plan_sweep, run_sweep

ray = pytest.importorskip("ray")

#: Columns that must agree between engines (timings, host and creation time naturally differ).
SAME = ["config_json", "dataset", "method", "params_json", "prune_rate", "seed", "epochs", "lr", "batch_size",
        "num_train", "num_kept", "class_sizes_json", "class_kept_json", "accuracy", "balanced_accuracy",
        "per_class_accuracy_json"]


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance (2 CPUs) for the whole module: Ray start-ups are slow."""
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def digits_spec(tmp_path_factory) -> DataSpec:
    path = write_digits_embeddings(tmp_path_factory.mktemp("digits") / "digits.npz")
    return DataSpec(f"embeddings:{path}", score_epochs=2)


def test_ray_and_local_engines_store_the_same_rows(ray_local, digits_spec, session_cache_dir, tmp_path):
    configs = plan_sweep(digits_spec, ["random", "el2n", "nucs"], [0.5, 0.8], [0, 1], epochs=10)
    broken = RunConfig(digits_spec, "ccs", 0.5, params={"beta": 5.0})  # the method refuses beta >= 1
    stores = {name: ResultsStore(tmp_path / f"{name}.sqlite") for name in ("local", "ray")}
    workers: dict[str, set] = {"local": set(), "ray": set()}
    reports = {name: run_sweep(configs + [broken], stores[name], engine=name, progress=False,
                               cache_dir=session_cache_dir,
                               on_progress=lambda d, t, r, name=name: workers[name].add(r["worker"].split(":")[-1]))
               for name in ("local", "ray")}
    for name, report in reports.items():
        assert report.completed == len(configs) == 14 and [f[0] for f in report.failed] == [broken.run_id], name
        assert "beta" in report.failed[0][2]
    assert workers["local"] == {str(os.getpid())} and str(os.getpid()) not in workers["ray"]  # ran in Ray workers
    frames = {name: store.to_frame().set_index("run_id").sort_index() for name, store in stores.items()}
    assert list(frames["ray"].index) == sorted(c.run_id for c in configs)
    assert frames["ray"][SAME].equals(frames["local"][SAME])
    # resumable: everything is stored, so a second Ray sweep submits nothing
    again = run_sweep(configs, stores["ray"], engine="ray", progress=False, cache_dir=session_cache_dir)
    assert again.skipped == len(configs) and again.completed == 0 and len(stores["ray"]) == len(configs)


def test_runs_declare_their_resources_and_cuda_needs_a_gpu_in_the_cluster(ray_local, digits_spec, tmp_path):
    from coreset_core.experiments.engines.ray import resources_of

    assert resources_of(RunConfig(digits_spec, "random", 0.5)) == {"num_cpus": 1, "num_gpus": 0}
    assert resources_of(RunConfig(digits_spec, "random", 0.5, mode="finetune", device="cuda")) == {
        "num_cpus": 1, "num_gpus": 1}
    if ray_local.cluster_resources().get("GPU", 0) >= 1:
        pytest.skip("this Ray instance has a GPU")
    store = ResultsStore(tmp_path / "r.sqlite")
    configs = plan_sweep(digits_spec, ["random"], [0.5], [0, 1], mode="finetune", device="cuda")
    with pytest.raises(ValueError, match="the Ray cluster has no GPU"):
        run_sweep(configs, store, engine="ray", progress=False)
    assert len(store) == 0


def test_a_node_that_cannot_see_the_cache_is_named_with_the_fix(ray_local, tmp_path):
    from coreset_core.experiments.engines.ray import _probe, check_shared_folders

    check_shared_folders(str(tmp_path))  # every (here: the one) node sees it: no error
    # what a worker on a node without the shared folder finds: no probe file from the driver
    why = ray_local.get(ray_local.remote(_probe).remote(str(tmp_path), "token-of-another-filesystem", None))
    assert why == f"cannot see the cache folder {tmp_path} (the driver's probe file is not there)"
    with pytest.raises(ValueError, match=r"Ray worker on node .* cannot see the data folder .*shared filesystem"):
        check_shared_folders(str(tmp_path), str(tmp_path / "not-mounted-here"))
    assert not list(tmp_path.glob(".coreset-ray-probe-*"))  # the driver cleans its probe file up


def test_sharded_ray_extraction_equals_unsharded_bit_for_bit_and_resumes(ray_local, tmp_path, capsys):
    from coreset_core.backbones import load_backbone
    from coreset_core.experiments.engines.ray_features import extract_features_ray
    from coreset_core.features import extract, extract_shard
    from coreset_core.session import Session

    spec = DataSpec("digits", resolution=32, limit=200)
    session = Session(spec, cache_dir=tmp_path)
    # an interrupted earlier extraction left its first shard (positions 0..63) in the cache
    first = extract_shard(session.dataset, "train", 0, 64, resolution=32, batch_size=32, cache_dir=tmp_path)
    fs, report = extract_features_ray(session, "train", batch_size=32, shard_size=64, progress=False)
    assert (report.shards, report.extracted, report.reused) == (4, 3, 1)  # 64 + 64 + 64 + 8 images
    # independently: one unsharded pass over the same 200 images in this process, on one thread like each
    # Ray task (torch's CPU kernels round a partial batch differently with another thread count: ~1e-5)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        whole = extract(session.dataset.train, load_backbone("efficientnet_lite0"), resolution=32, count=200,
                        batch_size=32, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert fs.features.dtype == np.float32 and np.array_equal(fs.features, whole)
    assert np.array_equal(first, whole[:64])
    assert np.array_equal(fs.labels, session.dataset.train.labels[:200])
    again, report = extract_features_ray(session, "train", batch_size=32, shard_size=64, progress=False)
    assert report.shards == 0 and again.from_cache and np.array_equal(again.features, whole)
    # the command line: the same split is read from the cache; a cluster address needs --engine ray
    from coreset_core.cli import main

    args = ["features", "--dataset", "digits", "--resolution", "32", "--limit", "200", "--extract-batch-size", "32",
            "--cache-dir", str(tmp_path), "--quiet"]
    assert main([*args, "--engine", "ray"]) == 0
    assert "digits train: 200 x 1280 features read from cache" in capsys.readouterr().out
    assert main([*args, "--address", "10.0.0.1:6379"]) == 2
    assert "--engine ray" in capsys.readouterr().err


@pytest.mark.skipif(linux_only() is not None, reason=str(linux_only()))
@pytest.mark.parametrize("how", ["SIGKILL of the driver", pytest.param("Ctrl-C", marks=pytest.mark.slow)])
def test_a_stopped_ray_sweep_leaves_no_process_and_resumes(ray_local, digits_spec, session_cache_dir, tmp_path,
                                                          how):
    db = tmp_path / "r.sqlite"
    grid = ["--methods", "random,el2n,moderate", "--prune-rates", "0.3,0.6,0.9", "--seeds", "0,1,2", "--epochs", "60"]
    data = ["--dataset", digits_spec.dataset, "--score-epochs", "2", "--cache-dir", str(session_cache_dir)]
    tag = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "coreset_core.cli", "sweep", "--engine", "ray", *data, *grid,
                             "--db", str(db), "--quiet"], env={**os.environ, TAG_VAR: tag},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=as_from_a_terminal)
    store = stop_mid_sweep(proc, db, rows=3, timeout=120, how=how, exit_timeout=60)
    assert proc.returncode != 0
    left = wait_until_gone(tag, timeout=60)  # the reaper acts within seconds; 60 s leaves room on a loaded machine
    assert not left, f"processes left behind after {how}: {left}"
    written = len(store)
    plan = plan_sweep(digits_spec, ["random", "el2n", "moderate"], [0.3, 0.6, 0.9], [0, 1, 2], epochs=60)
    assert len(plan) == 30 and 3 <= written < 30, "the stop should land mid-sweep"
    assert store.run_ids() <= {c.run_id for c in plan}  # the CLI planned exactly these runs
    # the re-run (on this module's Ray instance) completes the plan: no duplicate, nothing missing
    report = run_sweep(plan, store, engine="ray", progress=False, cache_dir=session_cache_dir)
    assert report.ok and report.skipped == written and report.completed == 30 - written
    assert store.run_ids() == {c.run_id for c in plan} and len(store) == 30 and store.integrity_check() == "ok"


_REAPED_DRIVER = textwrap.dedent("""
    import subprocess, sys, time
    from coreset_core.experiments.engines.reaper import start_reaper
    start_reaper()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # inherits the mark
    print(child.pid, flush=True)
    time.sleep(600)
""")


@pytest.mark.skipif(linux_only() is not None, reason=str(linux_only()))
def test_the_reaper_kills_what_a_sigkilled_driver_leaves(tmp_path):
    tag = uuid.uuid4().hex
    driver = subprocess.Popen([sys.executable, "-c", _REAPED_DRIVER], env={**os.environ, TAG_VAR: tag},
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(driver.stdout.readline())
    deadline = time.monotonic() + 10  # a just-started child's /proc entry can lag behind its pid
    while not {pid for pid, _ in tagged_processes(tag)} >= {driver.pid, child} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {pid for pid, _ in tagged_processes(tag)} >= {driver.pid, child}
    os.kill(driver.pid, signal.SIGKILL)  # the child is an orphan now; the reaper must take it down
    driver.wait(timeout=10)
    assert wait_until_gone(tag, timeout=10) == []
