"""The studio's background sweeps (coreset_studio.sweep_job) on real digits: one at a time, cancel, resume."""
from __future__ import annotations

import threading

import pytest
from sweep_helpers import write_digits_embeddings

from coreset_studio.jobs import JobBusy, JobSlot, shared_slot
from coreset_core.spec import DataSpec
from coreset_core.experiments.store import ResultsStore
from coreset_studio.sweep_job import DEFAULT_SEEDS, start_sweep, sweep_slot
from coreset_core.experiments.sweep import plan_sweep


@pytest.fixture(scope="module")
def digits_spec(tmp_path_factory) -> DataSpec:
    path = write_digits_embeddings(tmp_path_factory.mktemp("digits") / "digits.npz")
    return DataSpec(f"embeddings:{path}", score_epochs=2)


def test_a_studio_sweep_runs_every_seed_into_the_store(digits_spec, tmp_path, session_cache_dir):
    assert sweep_slot() is shared_slot("sweep") and DEFAULT_SEEDS == (0, 1, 2)
    configs = plan_sweep(digits_spec, ["random"], [0.5, 0.8], list(DEFAULT_SEEDS), epochs=3)
    assert len(configs) == 9  # (full + 2 rates) x 3 seeds
    slot = start_sweep(configs, tmp_path / "r.sqlite", slot=JobSlot("sweep"), cache_dir=session_cache_dir)
    status = slot.wait(120)
    assert status.state == "done", status.details
    assert status.done == status.total == 9 and status.result.completed == 9
    frame = ResultsStore(tmp_path / "r.sqlite").to_frame()
    assert sorted(frame.groupby(["method", "prune_rate"])["seed"].apply(sorted).tolist()) == [[0, 1, 2]] * 3
    # again: everything is stored, the job finishes at once with done == total
    again = start_sweep(configs, tmp_path / "r.sqlite", slot=slot, cache_dir=session_cache_dir).wait(60)
    assert again.state == "done" and again.result.skipped == 9 and again.done == 0 and again.total == 9


def test_a_second_sweep_is_refused_while_one_runs_and_cancel_stops_it(digits_spec, tmp_path, session_cache_dir):
    slot, release = JobSlot("sweep"), threading.Event()

    def blocker(ctx):
        ctx.progress(1, 5, "a long sweep")
        while not release.wait(0.02):
            ctx.check()

    slot.start(blocker, name="blocking sweep", total=5)
    configs = plan_sweep(digits_spec, ["random"], [0.5], [0], epochs=3)
    with pytest.raises(JobBusy, match="already running.*blocking sweep"):
        start_sweep(configs, tmp_path / "r.sqlite", slot=slot, cache_dir=session_cache_dir)
    assert slot.cancel() and slot.wait(10).state == "cancelled"
    release.set()
    # a real sweep cancelled right after its start stops after at most the run in flight
    many = plan_sweep(digits_spec, ["random", "el2n"], [0.5, 0.6, 0.7, 0.8], [0, 1, 2], epochs=5)
    start_sweep(many, tmp_path / "c.sqlite", slot=slot, cache_dir=session_cache_dir)
    slot.cancel()
    status = slot.wait(60)
    assert status.state == "cancelled" and len(ResultsStore(tmp_path / "c.sqlite")) <= 1 < len(many)
    with pytest.raises(ValueError, match="nothing to run"):
        start_sweep([], tmp_path / "r.sqlite", slot=slot)
