"""The studio's small sweeps: in the background, one at a time per process, cancellable.

Every page that launches training runs (the Accuracy page's sweep form, the Lesson's steps b and f)
goes through `start_sweep`, which hands the sweep to `jobs.shared_slot("sweep")`: a second
launch while one runs raises `JobBusy` (its message says which sweep runs and since when),
`slot.cancel()` stops the sweep after the run in flight, and every finished run is already
in the results store. No streamlit here: pages show `slot.status()`.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

from coreset_studio.jobs import JobSlot, shared_slot

#: Seeds of a studio sweep unless the user types others: three, so charts get error bars.
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)
#: Labels of the training budgets (`RunConfig.train_budget`) in the studio.
BUDGET_LABELS = {"epochs": "equal epochs", "steps": "equal optimiser steps"}
#: Environment variable that points every studio page at another results database.
RESULTS_DB_ENV = "CORESET_STUDIO_RESULTS_DB"


def results_db_path(session: Any) -> str:
    """The one rule for the studio's results database: `$CORESET_STUDIO_RESULTS_DB`, else
    `results.sqlite` in the session's cache folder (where `coreset train/sweep` write by default)."""
    return os.environ.get(RESULTS_DB_ENV) or os.path.join(session.cache_root, "results.sqlite")


def read_results(db_path: str | os.PathLike):
    """Every stored run of the database at `db_path` as a DataFrame, or None when there is no file yet."""
    from coreset_core.experiments.store import ResultsStore

    return ResultsStore(db_path).to_frame() if os.path.exists(db_path) else None


def sweep_slot() -> JobSlot:
    """The process's one sweep slot (shared by every page and browser session)."""
    return shared_slot("sweep")


def start_sweep(configs: Sequence[Any], db_path: str | os.PathLike, *, name: str = "sweep",
                slot: JobSlot | None = None, cache_dir: str | os.PathLike | None = None,
                data_dir: str | os.PathLike | None = None) -> JobSlot:
    """Run `configs` (`RunConfig`s) into the results store at `db_path` in the background.

    Raises `jobs.JobBusy` while another sweep of the slot runs and ValueError for an empty
    plan; returns the slot, whose `status()` reports `done/total` and the last run.
    """
    from coreset_core.experiments.store import ResultsStore
    from coreset_core.experiments.sweep import run_sweep

    configs = list(configs)
    if not configs:
        raise ValueError("nothing to run: choose at least one method, pruning rate and seed")
    store = ResultsStore(db_path)  # a bad path is refused here, before the job starts
    slot = slot or sweep_slot()

    def job(ctx) -> Any:
        ctx.progress(0, len(configs), f"{len(configs)} runs planned")

        def on_progress(done: int, total: int, result: dict) -> None:
            config, acc = result.get("config"), result.get("accuracy")
            what = config.describe() if config is not None else ""
            extra = ", ".join(f"{name} {100 * result[k]:.1f} %" for k, name in (
                ("worst_class_accuracy", "worst class"), ("tail_accuracy", "tail")) if isinstance(result.get(k), float))
            tail = (f" -> {100 * acc:.1f} %" + (f" ({extra})" if extra else "") if isinstance(acc, float)
                    else ("" if result.get("ok") else " failed"))
            ctx.progress(len(configs) - total + done, len(configs), what + tail)

        return run_sweep(configs, store, workers=1, progress=False, on_progress=on_progress,
                         cache_dir=cache_dir, data_dir=data_dir)

    slot.start(job, name=name, total=len(configs))
    return slot


__all__ = ["BUDGET_LABELS", "DEFAULT_SEEDS", "start_sweep", "sweep_slot"]
