"""Benchmark: the same small sweep under every engine, in one run: wall time and per-run overhead.

    python benchmarks/sweep_engines.py [--seeds 0,1,2] [--epochs 30] [--workers 2] [--ray-cpus 2]

The sweep: full data + random, el2n, moderate, nucs at 50/70/90 % pruning, linear probe, on
scikit-learn's real 8x8 digits as an embeddings file (64 pixel features: no backbone, so the
runs are short and the engines' overhead shows). The difficulty scores are computed once
before timing. Engines: local in this process, local with N worker processes, Ray on a
local instance started here (its start-up is timed apart). Every engine writes a fresh
results database; the rows' metrics are compared across engines.

With `--repeat N` each engine runs N times and the fastest run is shown (a shared machine is
noisy). Columns: `wall s` (run_sweep, start to end, engine start-up included except Ray's),
`start-up s` (Ray's `ray.init`), `compute s` (sum of the runs' own `total_seconds`),
`overhead ms/run` = (wall x slots - compute) / runs (time a slot spent not running a run:
spawning, shipping configs and rows, scheduling, idling at the end), `wall ratio` = wall /
the in-process wall.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coreset_core.spec import DataSpec  # noqa: E402
from coreset_core.experiments.store import ResultsStore  # noqa: E402
from coreset_core.experiments import sweep as sweep_module  # noqa: E402
from coreset_core.experiments.sweep import plan_sweep, run_one, run_sweep  # noqa: E402

SAME = ["num_kept", "class_kept_json", "accuracy", "balanced_accuracy", "per_class_accuracy_json"]


def _digits(folder: Path) -> Path:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    path = folder / "digits.npz"
    np.savez(path, features=bunch.data.astype(np.float32), labels=bunch.target.astype(np.int64))
    return path


def _run(name: str, engine: str, workers: int, configs: list, folder: Path, cache: Path, attempt: int = 0) -> dict:
    sweep_module._SESSIONS.clear()  # no engine starts with the data already in this process's memory
    store = ResultsStore(folder / f"{name.replace(' ', '-').replace(',', '')}-{attempt}.sqlite")
    startup = 0.0
    if engine == "ray":
        import ray

        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
        startup = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        report = run_sweep(configs, store, engine=engine, workers=1 if engine == "ray" else workers,
                           progress=False, cache_dir=cache)
        wall = time.perf_counter() - t0
    finally:
        if engine == "ray":
            ray.shutdown()
    if not report.ok:
        raise SystemExit(f"{name}: {report.failed}")
    frame = store.to_frame().set_index("run_id").sort_index()
    return {"name": name, "runs": len(frame), "slots": workers, "wall": wall, "startup": startup,
            "compute": float(frame["total_seconds"].sum()), "frame": frame}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=30, help="linear-probe epochs per run (default 30)")
    ap.add_argument("--workers", type=int, default=2, help="local worker processes and Ray CPUs (default 2)")
    ap.add_argument("--repeat", type=int, default=1, help="run each engine N times, keep the fastest (default 1)")
    ap.add_argument("--no-ray", action="store_true", help="leave the Ray engine out")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sweep-engines-") as tmp:
        folder = Path(tmp)
        spec = DataSpec(f"embeddings:{_digits(folder)}", score_epochs=3)
        configs = plan_sweep(spec, ["random", "el2n", "moderate", "nucs"], [0.5, 0.7, 0.9], args.seeds,
                             epochs=args.epochs)
        cache = folder / "cache"
        run_one(configs[0], cache_dir=cache)  # scores computed once, before any timing
        engines = [("local, in-process", "local", 1), (f"local, {args.workers} workers", "local", args.workers)]
        if not args.no_ray:
            engines.append((f"ray, {args.workers} CPUs", "ray", args.workers))
        results = [min((_run(name, engine, workers, configs, folder, cache, i) for i in range(args.repeat)),
                       key=lambda r: r["wall"]) for name, engine, workers in engines]

    base = results[0]
    same = all(r["frame"][SAME].equals(base["frame"][SAME]) for r in results[1:])
    print(f"{len(configs)} runs (digits embeddings, {args.epochs} probe epochs); rows identical across engines: "
          f"{'yes' if same else 'NO'}\n")
    print("| engine | runs | slots | wall s | start-up s | compute s | overhead ms/run | wall ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        overhead = 1000 * (r["wall"] * r["slots"] - r["compute"]) / r["runs"]
        print(f"| {r['name']} | {r['runs']} | {r['slots']} | {r['wall']:.1f} | {r['startup']:.1f} | "
              f"{r['compute']:.1f} | {overhead:.0f} | {r['wall'] / base['wall']:.2f} |")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
