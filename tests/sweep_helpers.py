"""Shared by the sweep and Ray engine tests: a small real data set, a cheap runner, a process census."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

#: Environment variable that marks every process a test's driver starts (children inherit it).
TAG_VAR = "CORESET_TEST_PROCESS_TAG"


def write_digits_embeddings(path: Path) -> Path:
    """scikit-learn's real 8x8 digits as an `embeddings:` file (64 pixel features, no backbone needed)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    np.savez(path, features=bunch.data.astype(np.float32), labels=bunch.target.astype(np.int64),
             class_names=np.array([f"digit-{i}" for i in range(10)]))
    return path


def small_grid(**fields) -> list:
    """27 configs: random and el2n x 4 pruning rates x 3 seeds, plus full data per seed (cifar10-lt, limit 300)."""
    from coreset_core.spec import DataSpec
    from coreset_core.experiments.sweep import plan_sweep

    return plan_sweep(DataSpec("cifar10-lt", limit=300), ["random", "el2n"], [0.7, 0.8, 0.9, 0.95], [0, 1, 2],
                      **fields)


def broken_config():
    """A registered method with a parameter value that `fake_runner` fails on (as a bad value fails a real run)."""
    from coreset_core.experiments.run_config import RunConfig
    from coreset_core.spec import DataSpec

    return RunConfig(DataSpec("cifar10-lt", limit=300), "nucs", 0.9, 0, {"ridge": -1})


def fake_runner(config, *, cache_dir=None, data_dir=None) -> dict:
    """A cheap deterministic "run": accuracy from the config, optional sleep (FAKE_RUN_SLEEP)."""
    time.sleep(float(os.environ.get("FAKE_RUN_SLEEP", "0")))
    if config.param_dict.get("ridge") == -1:  # `broken_config()`
        raise RuntimeError("this run always fails")
    acc = 0.9 - 0.2 * config.prune_rate + 0.01 * config.seed
    return {"run_id": config.run_id, "config_json": config.canonical_json(), "dataset": config.spec.dataset,
            "method": config.method, "prune_rate": config.prune_rate, "seed": config.seed, "mode": config.mode,
            "epochs": config.epochs, "params_json": json.dumps(config.param_dict, sort_keys=True),
            "accuracy": acc, "host": f"pid{os.getpid()}"}


def tagged_processes(tag: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose environment carries `TAG_VAR=tag` (Linux /proc),
    found as the Ray watchdog finds its driver's processes (`coreset_core.processes`)."""
    from coreset_core.processes import processes_with_env

    return [(pid, line) for pid in processes_with_env(TAG_VAR, tag) if (line := _command_line(pid)) is not None]


def _command_line(pid: int) -> str | None:
    """The first 120 characters of a process's command line (for failure messages); None once it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return None


def as_from_a_terminal() -> None:
    """`preexec_fn` of a child that a test interrupts as a terminal's Ctrl-C would: SIGINT back to its
    default, so that the child installs its own handler even when this test run was started as a
    background job (which ignores SIGINT, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_mid_sweep(proc: subprocess.Popen, db: Path, *, rows: int, timeout: float, how: str,
                   exit_timeout: float) -> Any:
    """Wait until the sweep `proc` has stored `rows` rows in `db`, then stop it and wait for it to exit.

    `how` "Ctrl-C" sends SIGINT to its whole process group, as a terminal does; anything else
    SIGKILLs the driver alone, whose workers must notice on their own. Returns the results store.
    """
    import pytest

    from coreset_core.experiments.store import ResultsStore

    store = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if db.exists():
                store = store or ResultsStore(db)
                if len(store) >= rows:
                    break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail(f"the sweep stored fewer than {rows} rows within {timeout:g} s")
    finally:
        if how == "Ctrl-C":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=exit_timeout)
    return store


def wait_until_gone(tag: str, timeout: float) -> list[tuple[int, str]]:
    """Poll until no tagged process is left (returns [] then), or return the survivors after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        left = tagged_processes(tag)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def linux_only() -> str | None:
    return None if sys.platform.startswith("linux") else "the process census reads Linux /proc"
