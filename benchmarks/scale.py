"""Benchmark: the selection path and the studio's computations at scale (issue 12).

    python benchmarks/scale.py --quick                          # N 50K x C {10, 100}: minutes
    python benchmarks/scale.py --n 500000 --classes 1000        # one cell
    python benchmarks/scale.py --md docs/scale.md               # the full grid, table written there
    python benchmarks/scale.py --agreement --n 100000 --classes 10000   # eval_subsample vs exact

A cell is N training rows x C classes (d = 512, long-tailed with imbalance 100, seeded,
from `benchmarks/make_embeddings.py`; written once under --data-dir, never into the
repository). Every stage runs in its own subprocess, so its peak memory (`ru_maxrss` of
that process: loading the file included, reported as "peak GB") is its own:

* load: `Session.train` (read, validate, split the embeddings file);
* scoring: `Session.scores` (the linear head's EL2N/AUM/forgetting/GraNd + moderate), fresh cache;
* allocation: class difficulty (winsorized) + NUCS budgets;
* search: the exact NUCS ridge search (`krr_window_search`) with its ratio to two floors
  measured in the same process: one float64 `X^T X` over all rows, and the prediction
  products `2 N d C` flop per distinct endpoint at the measured float32 GEMM rate;
* select: `coreset select --method nucs` end to end (load + scoring + search), fresh cache;
* every selection method through `run_method` (score: the file's own column, so that no
  method waits for scoring); a method that refuses up front reports its message, one that
  runs past --method-timeout is stopped and reported as such;
* studio: the pure computation of a slider move: class difficulty at a new winsorization,
  budgets at a new rate, the kept-fraction quantile bands over classes.

`--agreement` measures the documented approximation of the search (`eval_subsample`, a
seeded stratified subsample of the evaluation set): its chosen endpoint against the exact
one over several subsample seeds, rates and sizes, plus the exact accuracy given up.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DIM, IMBALANCE, SEED = 512, 100.0, 0
GRID_N = (50_000, 200_000, 500_000)
GRID_C = (10, 100, 1_000, 10_000)
SLOW_METHODS = ("nucs-o",)  # run only when asked with --methods
STAGES = ("load", "scoring", "allocation", "search", "select", "methods", "studio", "pages")


# ----------------------------------------------------------------------------- data


def cell_file(data_dir: Path, n: int, c: int) -> Path:
    """The embeddings file of a cell, generated once (seeded) under `data_dir`."""
    from make_embeddings import make_embeddings

    path = data_dir / f"emb_n{n}_c{c}_d{DIM}_i{IMBALANCE:g}_s{SEED}.npz"
    if not path.is_file():
        data_dir.mkdir(parents=True, exist_ok=True)
        arrays = make_embeddings(n, c, DIM, imbalance=IMBALANCE, seed=SEED, scores=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    return path


def session(path: Path, score: str = "file", cache_dir: str | None = None):
    from coreset_core.session import Session
    from coreset_core.spec import DataSpec

    return Session(DataSpec(dataset=f"embeddings:{path}", score=score), cache_dir=cache_dir, progress=False)


# ----------------------------------------------------------------------------- floors


def gemm_rate(d: int, cols: int, seconds: float = 1.0) -> float:
    """float32 GEMM rate (flop/s) of the search's prediction shape: (rows x d) @ (d x cols), best of 3."""
    rng = np.random.default_rng(0)
    cols = int(min(cols, 1 << 15))
    rows = int(np.clip((1 << 24) // cols, 64, 16384))
    a = rng.standard_normal((rows, d), dtype=np.float32)
    b = rng.standard_normal((d, cols), dtype=np.float32)
    best = 0.0
    for _ in range(3):
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            a @ b
            reps += 1
        best = max(best, 2.0 * rows * d * cols * reps / (time.perf_counter() - t0))
    return best


def xtx_seconds(features: np.ndarray) -> float:
    """One float64 `[F, 1]^T [F, 1]` over all rows (blocks of 64 MB, BLAS dsyrk), seconds."""
    import scipy.linalg.blas

    n, d = features.shape
    g = np.zeros((d + 1, d + 1))
    step = max(256, (1 << 26) // (8 * (d + 1)))
    buf = np.empty((min(step, n), d + 1))
    t0 = time.perf_counter()
    for s in range(0, n, step):
        rows = buf[: min(step, n - s)]
        rows[:, :d] = features[s: s + step]
        rows[:, d] = 1.0
        g = scipy.linalg.blas.dsyrk(1.0, rows.T, beta=1.0, c=g, trans=0, lower=0, overwrite_c=1)
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- stages (child side)


def stage_load(path: Path, args) -> dict:
    s = session(path)
    t0 = time.perf_counter()
    tr = s.train
    return {"seconds": time.perf_counter() - t0, "note": f"{tr.features.shape[0]:,} x {tr.features.shape[1]}"}


def stage_scoring(path: Path, args) -> dict:
    """The linear head's scores on a fresh cache, with its floor: the head's GEMM work
    (`methods.cost.scoring_cost`) at the float32 GEMM rate of its step shape, measured here."""
    import tempfile

    from coreset_core.methods.cost import scoring_cost
    from coreset_core.scores.compute import head_threads

    with tempfile.TemporaryDirectory(prefix="scale-cache-") as tmp:
        s = session(path, "el2n", tmp)
        n, d = s.train.features.shape
        threads = head_threads(256, d, s.num_classes)
        t0 = time.perf_counter()
        sc = s.scores
        seconds = time.perf_counter() - t0
        acc = sc.info.get("train_accuracy", [[None]])[-1][-1]
    cfg = sc.config
    flop = scoring_cost(n, d, s.num_classes, cfg["steps"], cfg["effective_epochs"], len(cfg["seeds"])).flop
    rate = gemm_rate(d, s.num_classes)
    floor = flop / rate
    return {"seconds": seconds, "floor": floor, "ratio": seconds / floor, "threads": threads,
            "note": f"{cfg['effective_epochs']} epochs x {cfg['steps_per_epoch']} steps on {threads} thread(s); "
                    f"floor {flop:.1e} flop at {rate / 1e9:.0f} GFLOP/s = {floor:.1f} s -> {seconds / floor:.2f}x"
                    + (f"; head train acc {acc:.2f}" if acc is not None else "")}


def stage_allocation(path: Path, args) -> dict:
    s = session(path)
    s.difficulty()
    t0 = time.perf_counter()
    s.class_difficulty(winsor=(0.05, 0.05))
    s.budgets(args.rate, winsor=(0.05, 0.05))
    return {"seconds": time.perf_counter() - t0, "note": "winsor 0.05/0.05, nucs budgets"}


def stage_search(path: Path, args) -> dict:
    from coreset_core.windows import krr_window_search

    s = session(path)
    x, y, sc = s.train.features, s.labels, s.difficulty()
    budgets = s.budgets(args.rate)
    t0 = time.perf_counter()
    res = krr_window_search(x, y, sc, budgets)
    total = time.perf_counter() - t0
    n, d = x.shape
    c, e = budgets.shape[0], res.num_distinct
    xtx = xtx_seconds(x)
    rate = gemm_rate(d, e * c)
    pred_floor = e * 2.0 * n * d * c / rate
    t = res.timings
    return {"seconds": total, "distinct": e, "xtx_floor": xtx, "gemm_gflops": rate / 1e9, "pred_floor": pred_floor,
            "ratio": total / (xtx + pred_floor), "phases": {k: round(v, 2) for k, v in t.items()},
            "note": f"E={e}; floors: X^T X {xtx:.1f} s + GEMM {pred_floor:.1f} s ({rate / 1e9:.0f} GFLOP/s) "
                    f"-> {total / (xtx + pred_floor):.2f}x; gram {t.get('gram', 0):.1f} s, predict "
                    f"{t.get('predict', 0):.1f} s, best k {res.best_endpoint:.2f}"}


def stage_select(path: Path, args) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="scale-cache-") as tmp:
        cmd = [sys.executable, "-m", "coreset_core.cli", "select", "--dataset", f"embeddings:{path}", "--method",
               "nucs", "--prune-rate", str(args.rate), "--cache-dir", tmp]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    if proc.returncode:
        return {"seconds": total, "child_peak_gb": peak, "note": "failed: " + proc.stderr.strip()[-300:]}
    return {"seconds": total, "child_peak_gb": peak, "note": "coreset select --method nucs, fresh cache"}


def stage_method(path: Path, args) -> dict:
    from coreset_core.methods import run_method
    from coreset_core.session import HELD_OUT_PARAMS, MULTI_BACKBONE_METHODS

    s = session(path)
    inputs = {"labels": s.labels, "scores": s.difficulty(), "features": s.train.features}
    if args.method in MULTI_BACKBONE_METHODS:
        inputs["features"] = [s.train.features]
    if args.method == "nucs-o":
        inputs.update(zip(HELD_OUT_PARAMS, (s.test.features, s.test.labels)))
    t0 = time.perf_counter()
    try:
        sel = run_method(args.method, prune_rate=args.rate, seed=0, **inputs)
    except ValueError as exc:
        return {"seconds": time.perf_counter() - t0, "refused": str(exc), "note": f"refused: {exc}"}
    return {"seconds": time.perf_counter() - t0, "note": f"kept {sel.indices.size:,}"}


def stage_studio(path: Path, args) -> dict:
    """A slider move's computation: new winsorization (Difficulty) and new rate (Budgets)."""
    from coreset_core.analysis import class_kept_fractions  # noqa: F401  (the page's table helper)

    s = session(path)
    s.class_difficulty(winsor=(0.0, 0.0))
    s.budgets(args.rate)
    rates = np.round(np.arange(0.05, 1.0, 0.05), 2)
    t0 = time.perf_counter()
    s.class_difficulty(winsor=(0.1, 0.05))
    t1 = time.perf_counter()
    b = s.budgets(min(0.95, args.rate + 0.05), winsor=(0.1, 0.05))
    frac = np.stack([s.budgets(r, winsor=(0.1, 0.05)) / s.class_sizes for r in rates])
    np.quantile(frac, [0.0, 0.1, 0.5, 0.9, 1.0], axis=1)
    t2 = time.perf_counter()
    return {"seconds": t2 - t0, "note": f"difficulty {1e3 * (t1 - t0):.0f} ms + budgets/bands over {rates.size} rates "
                                        f"{1e3 * (t2 - t1):.0f} ms (kept {int(b.sum()):,})"}


#: Slider moves of the page benchmark: (page, widget key, values); a value repeated later is a move back
#: to a value seen before (its results are memoised).
PAGE_MOVES = (
    ("difficulty", "winsor_lo", (1.0, 2.5, 1.0)), ("difficulty", "winsor_hi", (5.0, 10.0)),
    ("budgets", "prune_pct", (50, 60, 90, 50)), ("budgets", "winsor_hi", (5.0, 0.0)),
    ("windows", "prune_pct", (50, 60, 50)), ("embedding", "prune_pct", (40, 85, 40)),
    ("compare", "prune_pct", (40, 85, 40)), ("gallery", "prune_pct", (40, 85, 40)),
    ("lesson", "lesson_d_k", (0.3, 0.7, 0.3)),
)
PAGE_FILES = {"data": "1_data", "difficulty": "2_difficulty", "budgets": "3_budgets", "windows": "4_windows",
              "embedding": "5_embedding", "compare": "7_compare", "lesson": "8_lesson", "gallery": "9_gallery"}


def argsort_floor(n: int) -> float:
    """Seconds of one float64 argsort of N values (best of 3): the floor of a per-sample selection."""
    x = np.random.default_rng(0).random(n)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        np.argsort(x, kind="stable")
        best = min(best, time.perf_counter() - t0)
    return best


def stage_pages(path: Path, args) -> dict:
    """Server compute of slider moves on every page (AppTest, the studio's own app.py), data prepared.

    The selection methods are the cheap ones (el2n-classwise / el2n): a NUCS selection at a new
    rate is a ridge search (the `search` stage), not a slider's redraw.
    """
    import tempfile

    from streamlit.testing.v1 import AppTest

    from coreset_studio.render_log import RENDER_LOG

    os.environ.update({"CORESET_STUDIO_DATASET": f"embeddings:{path}", "CORESET_STUDIO_SCORE": "file",
                       "CORESET_STUDIO_AUTO_UMAP": "0", "CORESET_STUDIO_LIMIT": "all",
                       "CORESET_CACHE_DIR": os.environ.get("CORESET_CACHE_DIR") or tempfile.mkdtemp()})
    at = AppTest.from_file(str(ROOT / "coreset_studio" / "app.py"), default_timeout=3600)
    at.query_params.update({"a": "el2n-classwise", "b": "el2n"})
    t0 = time.perf_counter()
    at.run()
    prepared = time.perf_counter() - t0
    first, moves, failed, current = {}, {}, {}, None
    for page, key, values in PAGE_MOVES:
        if page != current:
            at.switch_page(f"page_scripts/{PAGE_FILES[page]}.py").run()
            first[page], current = RENDER_LOG.last(page), page
            print(f"{page}: first visit {first[page]:.0f} ms", file=sys.stderr, flush=True)
        for v in values:
            at.slider(key=key).set_value(v).run()
            errors = [e.value for e in at.exception] + [e.value for e in at.error]
            if errors:
                failed.setdefault(page, str(errors[0])[:200])
            moves.setdefault(page, []).append(RENDER_LOG.last(page))
            print(f"{page}: {key}={v} {moves[page][-1]:.0f} ms", file=sys.stderr, flush=True)
    floor = argsort_floor(int(at.session_state["_studio_settings"].spec.limit or 0) or _rows(path))
    worst = max(max(ms) for ms in moves.values())
    per_page = {p: {"first_ms": round(first[p]), "median_ms": round(float(np.median(ms))), "max_ms": round(max(ms))}
                for p, ms in moves.items()}
    note = "; ".join(f"{p} {v['median_ms']}/{v['max_ms']} ms" for p, v in per_page.items())
    return {"seconds": worst / 1000, "pages": per_page, "argsort_floor_ms": 1000 * floor,
            "ratio": worst / 1000 / floor, "prepare_s": prepared,
            "note": f"max move {worst:.0f} ms = {worst / 1000 / floor:.1f}x argsort of N ({1000 * floor:.0f} ms); "
                    f"median/max per page: {note}" + "".join(f"; {p} showed an error: {e}" for p, e in failed.items())}


def _rows(path: Path) -> int:
    with np.load(path) as z:
        return int((~z["is_test"]).sum())


CHILD = {"load": stage_load, "scoring": stage_scoring, "allocation": stage_allocation, "search": stage_search,
         "select": stage_select, "method": stage_method, "studio": stage_studio, "pages": stage_pages}


def child_main(args) -> None:
    out = CHILD[args.child](Path(args.file), args)
    out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print("RESULT " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- driver


def scoring_memory_gb(n: int, c: int, d: int = DIM) -> float:
    """Estimated peak of scoring: the features (raw, standardised, torch copy) plus, unless the
    trainer streams its epoch-end logits (`EpochEnd.logit_blocks`), N x C float32 logits and three
    float64 N x C softmax temporaries (scores/el2n.py)."""
    from coreset_core.training.linear import EpochEnd

    streamed = hasattr(EpochEnd, "logit_blocks")
    return (3 * n * d * 4 + (0 if streamed else n * c * (4 + 3 * 8))) / 1e9


def run_child(stage: str, path: Path, args, method: str | None = None, timeout: float | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", stage, "--file", str(path), "--rate", str(args.rate)]
    if method:
        cmd += ["--method", method]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"seconds": time.perf_counter() - t0, "note": f"stopped after {timeout:.0f} s (--method-timeout)",
                "timeout": True}
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"seconds": time.perf_counter() - t0, "note": "crashed: " + (proc.stderr.strip()[-300:] or "no output")}


def run_cell(n: int, c: int, args, rows: list[dict]) -> None:
    t0 = time.perf_counter()
    path = cell_file(Path(args.data_dir), n, c)
    print(f"\n## N={n:,} C={c:,} d={DIM} ({path.name}, ready in {time.perf_counter() - t0:.0f} s, "
          f"load average {os.getloadavg()[0]:.1f})", flush=True)
    for stage in args.stages:
        if stage in ("scoring", "select") and scoring_memory_gb(n, c) > args.mem_limit:
            res = {"seconds": None, "note": f"skipped: today's scoring needs ~{scoring_memory_gb(n, c):.0f} GB "
                                            f"(N x C float64 softmax temporaries) > --mem-limit {args.mem_limit:g} GB"}
            report(rows, n, c, stage, res)
            continue
        if stage == "methods":
            for m in args.methods:
                report(rows, n, c, f"method {m}", run_child("method", path, args, m, args.method_timeout))
            continue
        report(rows, n, c, stage, run_child(stage, path, args))


def report(rows: list[dict], n: int, c: int, stage: str, res: dict) -> None:
    rows.append({"n": n, "c": c, "stage": stage, **res})
    secs = "-" if res.get("seconds") is None else f"{res['seconds']:.2f}"
    peak = res.get("child_peak_gb", res.get("peak_gb"))
    print(f"{n:>8,} {c:>6,} {stage:<26} {secs:>9} s {'-' if peak is None else f'{peak:.2f}':>6} GB  "
          f"{res.get('note', '')}", flush=True)


def markdown(rows: list[dict], header: str) -> str:
    lines = [header, "", "| N | C | stage | seconds | peak GB | notes |", "|---:|---:|---|---:|---:|---|"]
    for r in rows:
        secs = "-" if r.get("seconds") is None else f"{r['seconds']:.2f}"
        peak = r.get("child_peak_gb", r.get("peak_gb"))
        note = str(r.get("note", "")).replace("|", "/").replace("\n", " ")
        lines.append(f"| {r['n']:,} | {r['c']:,} | {r['stage']} | {secs} | "
                     f"{'-' if peak is None else f'{peak:.2f}'} | {note} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- eval_subsample agreement


def agreement(n: int, c: int, args) -> str:
    """Exact search vs `eval_subsample` over rates, subsample sizes and seeds: a markdown table."""
    from coreset_core.windows import krr_window_search

    s = session(cell_file(Path(args.data_dir), n, c))
    x, y, sc = s.train.features, s.labels, s.difficulty()
    lines = [f"eval_subsample vs exact: N={n:,}, C={c:,}, d={DIM}, score: the file's own column; "
             f"subsample seeds {args.seeds}", "",
             "| rate | exact k | exact s | subsample | s (mean) | same k | max loss in exact acc | "
             "max abs acc error |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rate in args.rates:
        budgets = s.budgets(rate)
        t0 = time.perf_counter()
        ex = krr_window_search(x, y, sc, budgets)
        t_ex = time.perf_counter() - t0
        for size in args.subsamples:
            same, loss, err, secs = 0, 0.0, 0.0, []
            for seed in args.seeds:
                t0 = time.perf_counter()
                sub = krr_window_search(x, y, sc, budgets, eval_subsample=size, seed=seed)
                secs.append(time.perf_counter() - t0)
                same += sub.best_endpoint == ex.best_endpoint
                k = int(np.flatnonzero(ex.endpoints == sub.best_endpoint)[0])
                loss = max(loss, float(ex.accuracies.max() - ex.accuracies[k]))
                err = max(err, float(np.abs(sub.accuracies - ex.accuracies).max()))
            line = (f"| {rate:g} | {ex.best_endpoint:.2f} | {t_ex:.1f} | {size:g} | {np.mean(secs):.1f} | "
                    f"{same}/{len(args.seeds)} | {100 * loss:.2f} pt | {100 * err:.2f} pt |")
            lines.append(line)
            print(line, flush=True)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- studio launch, extraction


#: JS: whether a drawn plotly chart is on the page.
_CHART_DRAWN = ("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                ".some(el => el.querySelector('.main-svg'))")
#: JS: the Data page's "Feature dimension" metric (a number once the train and test features are ready).
_FEATURE_METRIC = """() => Array.from(document.querySelectorAll('[data-testid="stMetric"]'))
    .map(el => el.innerText).find(t => t.startsWith('Feature dimension')) || ''"""


def bare_forward_seconds(images: int, resolution: int, backbone: str = "efficientnet_lite0",
                         batch_size: int = 64, sample: int = 512) -> float:
    """The backbone's forward pass alone (prepared tensors, torch's default threads) over `images`
    images, timed on `sample` of them and scaled: the floor of feature extraction."""
    import torch

    from coreset_core.backbones import load_backbone
    from coreset_core.features import embed

    model = load_backbone(backbone)
    model.model.eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch_size, 3, resolution, resolution).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        embed(model, x)  # warm-up
        t0 = time.perf_counter()
        for _ in range(max(1, sample // batch_size)):
            embed(model, x)
    return (time.perf_counter() - t0) / (max(1, sample // batch_size) * batch_size) * images


def launch(args) -> list[dict]:
    """`coreset-studio` on a fresh cache with the default setting, in headless Chromium: seconds from the
    launch to the first drawn chart (Data page), to the Budgets chart (train features and scores) and
    to every stage prepared (the Data page's feature dimension), with the bare forward of the same
    images as the floor of the last."""
    import shutil
    import signal
    import socket
    import tempfile
    import urllib.request

    from playwright.sync_api import sync_playwright

    from coreset_core.session import Session
    from coreset_studio.settings import defaults_from_env

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cache = tempfile.mkdtemp(prefix="scale-launch-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORESET_STUDIO_")}
    env.update(CORESET_CACHE_DIR=cache, CORESET_STUDIO_AUTO_UMAP="0")
    exe = shutil.which("coreset-studio")
    cmd = ([exe] if exe else [sys.executable, "-m", "coreset_studio.launcher"]) + [
        "--server.port", str(port), "--server.fileWatcherType", "none"]
    url, marks = f"http://127.0.0.1:{port}", {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit(f"coreset-studio exited with status {proc.returncode} before answering: "
                                     f"run `{' '.join(cmd)}` to see why")
                time.sleep(0.2)
        marks["server answers"] = time.perf_counter() - t0
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=os.environ.get("CORESET_CHROMIUM", "/usr/bin/chromium"),
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(url, timeout=600_000)
            page.wait_for_function(_CHART_DRAWN, timeout=600_000, polling=100)
            marks["first chart (Data page)"] = time.perf_counter() - t0
            page.goto(url + "/budgets", timeout=600_000)
            page.wait_for_function(_CHART_DRAWN, timeout=900_000, polling=200)
            marks["Budgets chart (train features + scores)"] = time.perf_counter() - t0
            while True:
                page.goto(url, timeout=600_000)
                page.wait_for_function(_CHART_DRAWN, timeout=600_000, polling=100)
                if any(ch.isdigit() for ch in page.evaluate(_FEATURE_METRIC)):
                    break
                time.sleep(1.0)
            marks["every page ready (all stages)"] = time.perf_counter() - t0
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(cache, ignore_errors=True)
    spec = defaults_from_env({})[0].spec
    sess = Session(spec)
    images = min(spec.limit or 10**9, len(sess.dataset.train)) + min(spec.test_limit or 10**9, len(sess.dataset.test))
    floor = bare_forward_seconds(images, sess.resolution, spec.backbone)
    rows = [{"what": k, "seconds": v} for k, v in marks.items()]
    rows[-1].update(floor=floor, ratio=marks["every page ready (all stages)"] / floor,
                    note=f"floor: bare forward of {images:,} images at {sess.resolution} px = {floor:.1f} s")
    return rows


def extraction(args) -> list[dict]:
    """The whole extraction path (`features.extract`: decode, resize, forward) against the bare forward of
    the same number of images at the same threads: throughput ratio (1.0 = decoding costs nothing)."""
    from coreset_core.backbones import load_backbone
    from coreset_core.datasets import load_dataset
    from coreset_core.features import extract

    dataset, images = load_dataset("cifar10"), args.extract_images
    res = dataset.default_resolution
    t0 = time.perf_counter()
    model = load_backbone("efficientnet_lite0")  # loaded once, outside both timings (as the floor's model)
    load = time.perf_counter() - t0
    extract(dataset.train, model, resolution=res, count=64, progress=False)  # warm-up, as the floor's
    rows = []
    for _ in range(2):  # interleaved
        floor = bare_forward_seconds(images, res)
        t0 = time.perf_counter()
        extract(dataset.train, model, resolution=res, count=images, progress=False)
        whole = time.perf_counter() - t0
        rows.append({"what": f"extraction of {images:,} CIFAR-10 images at {res} px", "seconds": whole,
                     "floor": floor, "ratio": floor / whole,
                     "note": f"bare forward {floor:.1f} s; throughput ratio {floor / whole:.2f} (target >= 0.95); "
                             f"backbone load {load:.1f} s, once per extraction, not in either"})
    return rows


def plain_table(rows: list[dict], header: str) -> str:
    """Rows of `launch` / `extraction` as markdown (printed as they come, written with --md)."""
    lines = [header, "", "| what | seconds | floor s | ratio | notes |", "|---|---:|---:|---:|---|"]
    for r in rows:
        floor = "-" if r.get("floor") is None else f"{r['floor']:.1f}"
        ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['what']} | {r['seconds']:.1f} | {floor} | {ratio} | {r.get('note', '')} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N 50K x C {10, 100}, fast methods only")
    ap.add_argument("--n", type=lambda v: [int(float(x)) for x in v.split(",")], help="N values, comma-separated")
    ap.add_argument("--classes", type=lambda v: [int(x) for x in v.split(",")], help="C values, comma-separated")
    ap.add_argument("--stages", type=lambda v: v.split(","), default=list(STAGES), help=",".join(STAGES))
    ap.add_argument("--methods", type=lambda v: v.split(","), help="methods timed (default: all but nucs-o)")
    ap.add_argument("--rate", type=float, default=0.9, help="pruning rate (default 0.9)")
    ap.add_argument("--data-dir", default="/tmp/coreset-scale", help="where the generated files go (not the repo)")
    ap.add_argument("--mem-limit", type=float, default=14.0, help="GB: skip stages estimated above this")
    ap.add_argument("--method-timeout", type=float, default=600.0, help="seconds before a method is stopped")
    ap.add_argument("--md", help="write the table (markdown) to this file")
    ap.add_argument("--agreement", action="store_true", help="eval_subsample vs exact search table")
    ap.add_argument("--launch", action="store_true",
                    help="coreset-studio on a fresh cache, default setting: launch to first chart / every page ready")
    ap.add_argument("--extraction", action="store_true", help="extraction path vs bare forward (CIFAR-10)")
    ap.add_argument("--extract-images", type=int, default=1024, help="images of the --extraction rows")
    ap.add_argument("--rates", type=lambda v: [float(x) for x in v.split(",")], default=[0.5, 0.7, 0.9])
    ap.add_argument("--subsamples", type=lambda v: [float(x) if "." in x else int(x) for x in v.split(",")],
                    default=[0.1, 0.25])
    ap.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[0, 1, 2, 3, 4])
    ap.add_argument("--child", choices=sorted(CHILD), help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    if args.child:
        child_main(args)
        return 0
    from coreset_core.methods import get_method, list_methods

    ns = args.n or ([50_000] if args.quick else list(GRID_N))
    cs = args.classes or ([10, 100] if args.quick else list(GRID_C))
    if args.methods is None:
        skip = set(SLOW_METHODS) | ({"d2", "kcenter"} if args.quick else set())
        args.methods = [m for m in list_methods() if m not in skip and get_method(m).alias_of is None]
    header = (f"# Scale benchmark ({os.cpu_count()} CPUs, numpy {np.__version__}, d={DIM}, imbalance "
              f"{IMBALANCE:g}, rate {args.rate:g}; load average {os.getloadavg()[0]:.1f} at start)")
    print(header, flush=True)
    if args.launch or args.extraction:
        rows = launch(args) if args.launch else extraction(args)
        text = plain_table(rows, header + f"; load average {os.getloadavg()[0]:.1f} at the end")
        print(text, flush=True)
    elif args.agreement:
        text = "".join(agreement(n, c, args) for n in ns for c in cs)
    else:
        rows: list[dict] = []
        for n in ns:
            for c in cs:
                if c * 2 > n:
                    continue
                run_cell(n, c, args, rows)
        text = markdown(rows, header)
    if args.md:
        Path(args.md).write_text(text)
        print(f"\nwritten to {args.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
