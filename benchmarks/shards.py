"""Benchmark: a sharded embeddings folder (`embeddings:<folder>`) at scale (issue 24).

    python benchmarks/shards.py --rows 2000000 --root /work/tmp/shards          # write, then load
    python benchmarks/shards.py --rows 400000 --classes 100 --root /tmp/s --select   # + nucs end to end

Writes a clip-retrieval style folder (`img_emb/img_emb_<k>.npy` + `metadata/metadata_<k>.parquet`,
d = 512, C classes with a long tail, seeded) with numpy and pyarrow, one shard in memory at a
time, never into the repository (in a subprocess: this driver stays small, see below). Every
stage runs in its own process with an empty cache folder, so its peak memory is its own:

* floor: read every shard byte and write as many bytes to a new file, sequentially (the I/O
  the load cannot avoid), `--repeat` times interleaved with the load;
* load: `load_dataset` + `Session.train` (discover, validate the metadata, digest the shards,
  gather each split's rows into one memory-mapped file); peak = the process's VmHWM;
* select (`--select`): `coreset select --method nucs` end to end (scoring, the exact ridge
  search on the whole training set, the selection; `CORESET_MAX_FLOP` raised so the cost
  model lets it run), on the folder and on a second folder of `--second-rows` rows (default
  N / 4): the features are streamed in row blocks (`coreset_core.row_blocks`), so the two
  peaks should match although the feature matrices differ 4x. Peak = the child's
  `ru_maxrss` from `wait4` (resident pages, file-backed ones included; it starts from this
  driver's own peak, which is why the driver never imports numpy).

The table gives min and median seconds, the ratio to the floor, the peak GB and the size of the
training features (N x d float32) for comparison; the machine's load average is printed with it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_folder(root: Path, rows: int, dim: int, classes: int, shards: int, seed: int = 0) -> Path:
    """The sharded folder (written once; an existing complete one is reused)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = root / f"shards_{rows}x{dim}x{classes}"
    done = folder / "complete"
    if done.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    rng = np.random.default_rng(seed)
    weights = 100.0 ** (-np.arange(classes) / max(classes - 1, 1))  # imbalance 100
    centers = rng.normal(0, 1, (classes, dim)).astype(np.float32)
    cuts = np.linspace(0, rows, shards + 1).astype(int)
    for k, (a, b) in enumerate(zip(cuts, cuts[1:])):
        labels = rng.choice(classes, size=b - a, p=weights / weights.sum())
        if k == 0:
            labels[:classes] = np.arange(classes)  # every class present
        feats = centers[labels] + rng.normal(0, 1.5, (b - a, dim)).astype(np.float32)
        np.save(folder / "img_emb" / f"img_emb_{k}.npy", feats)
        pq.write_table(pa.table({"label": labels}), folder / "metadata" / f"metadata_{k}.parquet")
        print(f"  shard {k + 1}/{shards} written", flush=True)
    done.write_text("ok")
    return folder


_STAGES = {
    "floor": """
import os, sys
from pathlib import Path
folder, out = Path(sys.argv[1]), Path(sys.argv[2]) / "copy.bin"
with open(out, "wb") as dst:
    for f in sorted((folder / "img_emb").glob("*.npy")):
        with open(f, "rb") as src:
            for chunk in iter(lambda: src.read(1 << 24), b""):
                dst.write(chunk)
""",
    "load": """
import sys
from coreset_core.session import Session
from coreset_core.spec import DataSpec
s = Session(DataSpec("embeddings:" + sys.argv[1]))
print("train", s.train.features.shape)
""",
}

#: Peak memory is the process's VmHWM (its own address space's high-water mark: unlike
#: ru_maxrss it does not start from the parent's size at fork).
_MEASURE = """
import sys, time
t0 = time.perf_counter()
exec(compile(sys.argv.pop(1), "stage", "exec"))
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM"))
print("RESULT", time.perf_counter() - t0, hwm / 2**20)
"""


def run_stage(stage: str, folder: Path, rate: float) -> tuple[float, float]:
    """(seconds, peak GB) of one stage in a fresh process with an empty cache."""
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        env = {**os.environ, "CORESET_CACHE_DIR": scratch, "PYTHONPATH": str(REPO)}
        out = subprocess.run([sys.executable, "-c", _MEASURE, _STAGES[stage], str(folder), scratch, str(rate)],
                             env=env, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"stage {stage} failed:\n{out.stderr[-3000:]}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    _, seconds, peak = line.split()
    return float(seconds), float(peak)


def select_command(folder: Path, rate: float, cache: str) -> list[str]:
    """`coreset select --method nucs` on the folder (as `python -m coreset_core.cli`, the same entry point)."""
    return [sys.executable, "-m", "coreset_core.cli", "select", "--dataset", f"embeddings:{folder}", "--method", "nucs",
            "--prune-rate", str(rate), "--cache-dir", cache, "--out", str(Path(cache) / "selection.json")]


def run_select(folder: Path, rate: float) -> tuple[float, float]:
    """(seconds, peak GB) of `coreset select --method nucs` in its own process with an empty cache;
    the peak is its `ru_maxrss` (from `wait4`: this child's alone, not the other stages')."""
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        env = {**os.environ, "PYTHONPATH": str(REPO), "CORESET_MAX_FLOP": "1e18"}
        log = Path(scratch) / "log.txt"
        with open(log, "w") as fh:
            start = time.perf_counter()
            proc = subprocess.Popen(select_command(folder, rate, scratch), env=env, stdout=fh, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            raise RuntimeError(f"coreset select failed:\n{log.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss * 1024 / 1e9


def folder_in_child(args: argparse.Namespace, rows: int) -> Path:
    """`write_folder` in a subprocess, so that this driver's peak (which every child's `ru_maxrss`
    starts from) stays that of a bare interpreter."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from shards import write_folder; from pathlib import Path; "
            "print(write_folder(Path(sys.argv[2]), *map(int, sys.argv[3:])))")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(args.root), str(rows),
                          str(args.dim), str(args.classes), str(args.shards)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"writing the folder failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def _table(a: argparse.Namespace, times: dict[str, list[tuple[float, float]]], rows: dict[str, int]) -> None:
    floor = min(t for t, _ in times["floor"])
    print(f"\n{a.rows:,} x {a.dim} x {a.classes} classes in {a.shards} shards; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    print("| stage | min s | median s | / floor | peak GB | features GB |\n|---|---:|---:|---:|---:|---:|")
    for stage, runs in times.items():
        secs = [t for t, _ in runs]
        print(f"| {stage} | {min(secs):.1f} | {statistics.median(secs):.1f} | {min(secs) / floor:.2f} | "
              f"{max(m for _, m in runs):.2f} | {rows[stage] * a.dim * 4 / 1e9:.2f} |")
    selects = [s for s in times if s.startswith("select")]
    if len(selects) == 2:
        big, small = (max(m for _, m in times[s]) for s in selects)
        print(f"select peak at N = {a.rows:,} / at N = {a.second_rows:,}: {big / small:.2f} "
              f"(the features grow {a.rows / a.second_rows:.1f}x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--second-rows", type=int, default=None, help="rows of the second select run (default N / 4)")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--shards", type=int, default=20)
    p.add_argument("--root", type=Path, required=True, help="where the folder is written (not the repository)")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--select", action="store_true", help="also run `coreset select --method nucs` at N and N / 4")
    p.add_argument("--rate", type=float, default=0.9)
    a = p.parse_args()
    a.second_rows = a.second_rows or a.rows // 4
    a.root.mkdir(parents=True, exist_ok=True)
    folder = folder_in_child(a, a.rows)
    runs = {"floor": lambda: run_stage("floor", folder, a.rate), "load": lambda: run_stage("load", folder, a.rate)}
    rows = {"floor": a.rows, "load": a.rows}
    if a.select:
        second = folder_in_child(a, a.second_rows)
        runs[f"select N={a.rows:,}"] = lambda: run_select(folder, a.rate)
        runs[f"select N={a.second_rows:,}"] = lambda: run_select(second, a.rate)
        rows.update({f"select N={a.rows:,}": a.rows, f"select N={a.second_rows:,}": a.second_rows})
    times: dict[str, list[tuple[float, float]]] = {s: [] for s in runs}
    for _ in range(a.repeat):  # interleaved: floor, load, (selects), floor, load, ...
        for stage, run in runs.items():
            times[stage].append(run())
            print(f"  {stage}: {times[stage][-1][0]:.1f} s, {times[stage][-1][1]:.2f} GB", flush=True)
    _table(a, times, rows)
    print(json.dumps(times))


if __name__ == "__main__":
    main()
