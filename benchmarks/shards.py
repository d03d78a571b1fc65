"""Benchmark: a sharded embeddings folder (`embeddings:<folder>`) at scale (issue 24).

    python benchmarks/shards.py --rows 2000000 --root /work/tmp/shards          # write, then load
    python benchmarks/shards.py --rows 100000 --root /tmp/s --select            # + nucs end to end

Writes a clip-retrieval style folder (`img_emb/img_emb_<k>.npy` + `metadata/metadata_<k>.parquet`,
d = 512, C classes with a long tail, seeded) with numpy and pyarrow, one shard in memory at a
time, never into the repository. Every stage runs in its own subprocess with an empty cache
folder, so its peak memory (VmHWM, "peak GB": resident pages, file-backed ones included) is its own:

* floor: read every shard byte and write as many bytes to a new file, sequentially (the I/O
  the load cannot avoid), `--repeat` times interleaved with the load;
* load: `load_dataset` + `Session.train` (discover, validate the metadata, digest the shards,
  gather each split's rows into one memory-mapped file);
* select (`--select`): `Session.select("nucs", rate)` end to end: scoring, the exact ridge
  search, the selection.

The table gives min and median seconds, the ratio of the load to the floor, and peak GB; the
machine's load average is printed with it (the development machine is shared).
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
    "select": """
import sys
from coreset_core.session import Session
from coreset_core.spec import DataSpec
s = Session(DataSpec("embeddings:" + sys.argv[1]))
sel = s.select("nucs", float(sys.argv[3]))
print("kept", sel.indices.size)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--shards", type=int, default=20)
    p.add_argument("--root", type=Path, required=True, help="where the folder is written (not the repository)")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--select", action="store_true", help="also run nucs end to end")
    p.add_argument("--rate", type=float, default=0.9)
    a = p.parse_args()
    a.root.mkdir(parents=True, exist_ok=True)
    folder = write_folder(a.root, a.rows, a.dim, a.classes, a.shards)
    stages = ["floor", "load"] + (["select"] if a.select else [])
    times: dict[str, list[tuple[float, float]]] = {s: [] for s in stages}
    for _ in range(a.repeat):  # interleaved: floor, load, (select), floor, load, ...
        for stage in stages:
            times[stage].append(run_stage(stage, folder, a.rate))
            print(f"  {stage}: {times[stage][-1][0]:.1f} s, {times[stage][-1][1]:.2f} GB", flush=True)
    floor = min(t for t, _ in times["floor"])
    print(f"\n{a.rows:,} x {a.dim} x {a.classes} classes in {a.shards} shards; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    print("| stage | min s | median s | / floor | peak GB |\n|---|---:|---:|---:|---:|")
    for stage, runs in times.items():
        secs = [t for t, _ in runs]
        print(f"| {stage} | {min(secs):.1f} | {statistics.median(secs):.1f} | {min(secs) / floor:.2f} | "
              f"{max(m for _, m in runs):.2f} |")
    print(json.dumps({s: runs for s, runs in times.items()}))


if __name__ == "__main__":
    main()
