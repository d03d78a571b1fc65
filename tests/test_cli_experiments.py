"""`coreset train`, `coreset sweep`, `coreset results`, run in-process on real digits."""
from __future__ import annotations

import numpy as np
import pytest
from sweep_helpers import fake_runner, small_grid, write_digits_embeddings

from coreset_core.cli import main
from coreset_core.experiments.store import ResultsStore
from coreset_core.experiments.sweep import run_sweep


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> list[str]:
    path = write_digits_embeddings(tmp_path_factory.mktemp("digits") / "digits.npz")
    return ["--dataset", f"embeddings:{path}", "--score-epochs", "2"]


def _class_rows(out: str) -> list[list[str]]:
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:4] == ["class", "N_c", "kept", "test"])
    return [line.split() for line in lines[header + 1:header + 11]]


def test_train_prints_class_names_stores_the_row_and_accepts_quiet(digits, tmp_path, session_cache_dir, capsys):
    db = tmp_path / "r.sqlite"
    argv = ["train", *digits, "--method", "random", "--prune-rate", "0.8", "--seed", "3", "--epochs", "10",
            "--cache-dir", str(session_cache_dir), "--db", str(db), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = _class_rows(out)
    assert [r[0] for r in rows] == [f"digit-{i}" for i in range(10)]  # names, not numbers
    kept = [int(r[2]) for r in rows]
    sizes = [int(r[1]) for r in rows]
    assert sum(sizes) == 1438 and sum(kept) == 1438 - int(0.8 * 1438)  # 288 of 1438 kept
    assert f"kept {sum(kept)} of 1438 training samples" in out and "stored in" in out
    (row,) = ResultsStore(db).to_frame().itertuples()
    assert row.method == "random" and row.seed == 3 and row.epochs == 10 and row.num_kept == sum(kept)
    assert f"accuracy {100 * row.accuracy:.2f}%" in out
    assert main(argv) == 0  # the same run again: read back, not re-run
    out = capsys.readouterr().out
    assert "already stored" in out and [r[0] for r in _class_rows(out)][0] == "digit-0"
    assert len(ResultsStore(db)) == 1


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_refused_once_up_front(digits, tmp_path, capsys):
    for argv in (["train", *digits, "--method", "random", "--prune-rate", "0.5"],
                 ["sweep", *digits, "--methods", "random", "--prune-rates", "0.5", "--seeds", "0,1,2"]):
        assert main([*argv, "--device", "cuda", "--db", str(tmp_path / "r.sqlite"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("no CUDA GPU") == 1 and "--device cpu" in err and "Traceback" not in err
    assert len(ResultsStore(tmp_path / "r.sqlite")) == 0


def test_sweep_dry_run_per_method_params_and_results_table(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    grid = ["sweep", "--dataset", "cifar10-lt", "--limit", "300", "--methods", "random,el2n",
            "--prune-rates", "0.7,0.8,0.9,0.95", "--seeds", "0,1,2", "--db", str(db), "--dry-run"]
    assert main(grid) == 0
    out = capsys.readouterr().out
    assert "27 runs, 0 stored" in out and out.count("pending") == 27
    run_sweep(small_grid(), ResultsStore(db), progress=False, runner=fake_runner)  # the same 27 run ids
    assert main(grid) == 0
    assert "27 runs, 27 stored" in capsys.readouterr().out
    assert main(["results", "--db", str(db), "--export", str(tmp_path / "rows.csv")]) == 0
    out = capsys.readouterr().out
    assert "| method | 0% | 70% | 80% | 90% | 95% |" in out
    # fake accuracy 0.9 - 0.2 * rate + 0.01 * seed: at 70 %, mean over seeds 0..2 = 76 + 1 = 77, std 1
    assert "| random | - | 77.0 ± 1.0 | 75.0 ± 1.0 | 73.0 ± 1.0 | 72.0 ± 1.0 |" in out
    assert "exported 27 rows" in out and (tmp_path / "rows.csv").is_file()
    assert main(["results", "--db", str(db), "--dataset", "nothing-here"]) == 1
    capsys.readouterr()
    # the fake rows carry no limit: --run-limit filters on it (a filter, not the data option --limit)
    assert main(["results", "--db", str(db), "--run-limit", "none"]) == 0 and "| random |" in capsys.readouterr().out
    assert main(["results", "--db", str(db), "--run-limit", "300"]) == 1 and "no results" in capsys.readouterr().out
    assert main(["results", "--db", str(db), "--run-limit", "x"]) == 2 and "--run-limit" in capsys.readouterr().err
    assert main(["sweep", "--dataset", "cifar10", "--methods", "ccs,random", "--prune-rates", "0.9", "--seeds", "0",
                 "--param", "ccs.beta=0.2", "--no-full", "--db", str(db), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ccs(beta=0.2) prune=0.9" in out and "random prune=0.9" in out and "2 runs" in out


def test_bad_options_stop_with_a_message(tmp_path, capsys):
    db = ["--db", str(tmp_path / "r.sqlite")]
    cases = [(["sweep", "--address", "1.2.3.4:6379", *db], "add --engine ray"),
             (["sweep", "--engine", "ray", "--workers", "2", *db], "--workers is the local engine's"),
             (["sweep", "--methods", "random", "--param", "ccs.beta=0.1", *db], "not in --methods"),
             (["train", "--method", "random", "--limit", "0", *db], "limit")]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err
    for command in ("train", "sweep", "select"):  # one --param parser: argparse refuses a malformed one
        with pytest.raises(SystemExit) as info:
            main([command, "--method", "random", "--prune-rate", "0.5", "--param", "oops", *db])
        assert info.value.code == 2 and "[METHOD.]KEY=VALUE" in capsys.readouterr().err
    assert main(["train", "--method", "random", "--param", "ccs.beta=0.1", *db]) == 2  # a prefix names --method
    assert "not in --method (random)" in capsys.readouterr().err
    for command in ("train", "sweep"):  # a run config has no checkpoint: the option is not offered
        with pytest.raises(SystemExit):
            main([command, "--method", "random", "--checkpoint", "x.pt", *db])
        assert "unrecognized arguments: --checkpoint" in capsys.readouterr().err


def test_real_sweep_reports_a_failing_run_and_stores_the_rest(digits, tmp_path, session_cache_dir, capsys):
    db = tmp_path / "r.sqlite"
    argv = ["sweep", *digits, "--methods", "random,ccs", "--prune-rates", "0.5", "--seeds", "0", "--epochs", "5",
            "--param", "ccs.beta=5", "--cache-dir", str(session_cache_dir), "--db", str(db), "--quiet"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "3 runs planned, 0 already stored, 2 completed, 1 failed" in captured.out
    frame = ResultsStore(db).to_frame()  # the sweep's tables: accuracy, worst-class and tail accuracy
    worst = 100 * frame.loc[frame["method"] == "random", "worst_class_accuracy"].iloc[0]
    assert "test worst-class accuracy %" in captured.out and f"| random | - | {worst:.1f} |" in captured.out
    assert "test tail accuracy (rarest third of the classes) %" in captured.out
    assert "ccs(beta=5) prune=0.5" in captured.err and "beta" in captured.err
    assert "coreset train --dataset embeddings:" in captured.err and "--param beta=5" in captured.err
    frame = ResultsStore(db).to_frame()
    assert sorted(frame["method"]) == ["full", "random"] and np.all(frame["accuracy"] > 0.1)


def test_long_tail_metrics_printed_and_per_class_rows_round_trip(digits, tmp_path, session_cache_dir, capsys):
    import re

    import pandas as pd

    db = tmp_path / "r.sqlite"
    assert main(["train", *digits, "--method", "el2n", "--prune-rate", "0.9", "--seed", "1", "--epochs", "5",
                 "--cache-dir", str(session_cache_dir), "--db", str(db), "--quiet"]) == 0
    out = capsys.readouterr().out
    rows = _class_rows(out)  # class, N_c, kept, test n, test acc
    sizes, kept, tests = ([int(r[i]) for r in rows] for i in (1, 2, 3))
    acc = [float(r[4].rstrip("%")) for r in rows]
    worst, tail = (float(x) for x in re.search(r"worst-class ([\d.]+)%\s+tail ([\d.]+)%", out).groups())
    assert worst == pytest.approx(min(acc), abs=0.006)
    rarest = sorted(range(10), key=lambda c: (sizes[c], c))[:3]  # floor(10 / 3) classes, stable by size
    assert tail == pytest.approx(sum(acc[c] for c in rarest) / 3, abs=0.01)
    for suffix in ("csv", "parquet"):
        path = tmp_path / f"per_class.{suffix}"
        assert main(["results", "--db", str(db), "--per-class", "--export", str(path)]) == 0
        assert "exported 10 rows" in capsys.readouterr().out
        table = pd.read_csv(path) if suffix == "csv" else pd.read_parquet(path)
        assert table["class_name"].tolist() == [r[0] for r in rows]
        assert table["n_train"].tolist() == sizes and table["n_kept"].tolist() == kept
        assert table["n_test"].tolist() == tests
        assert (100 * table["accuracy"]).tolist() == pytest.approx(acc, abs=0.006)
        assert set(table["method"]) == {"el2n"} and set(table["seed"]) == {1} and set(table["prune_rate"]) == {0.9}
        assert {"dataset", "backbone", "mode", "epochs", "class"} <= set(table.columns)
    assert main(["results", "--db", str(db), "--metric", "worst_class_accuracy"]) == 0
    out = capsys.readouterr().out
    assert "worst-class accuracy %" in out and f"| el2n | - | {min(acc):.1f} |" in out
    assert main(["results", "--db", str(db), "--metric", "few_shot_accuracy", "--shots", "200,150"]) == 0
    few = [acc[c] for c in range(10) if sizes[c] < 150]
    assert f"| {sum(few) / len(few):.1f} |" in capsys.readouterr().out if few else True
    assert main(["results", "--db", str(db), "--per-class", "--export", str(tmp_path / "x.txt")]) == 2
    assert "use a .csv or .parquet file name" in capsys.readouterr().err
    assert main(["results", "--db", str(db), "--shots", "20,100"]) == 2
    assert "MANY >= FEW" in capsys.readouterr().err


def test_a_typo_in_the_sixth_method_stops_the_sweep_before_any_run(digits, tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    argv = ["sweep", *digits, "--methods", "random,el2n,moderate,ccs,d2,nucz", "--prune-rates", "0.5",
            "--seeds", "0", "--db", str(db), "--quiet"]
    assert main(argv) == 2
    assert "unknown method 'nucz'" in capsys.readouterr().err
    assert not db.exists() or len(ResultsStore(db)) == 0
    for bad, message in ((["--param", "d2.kk=3"], "no parameter"), (["--score", "loss"], "unknown score"),
                         (["--dataset", "cifar11"], "unknown dataset 'cifar11'")):
        fixed = [a.replace("nucz", "nucs") for a in argv]
        assert main(fixed + bad) == 2, bad
        assert message in capsys.readouterr().err
    assert not db.exists() or len(ResultsStore(db)) == 0


def test_train_force_runs_again_and_replaces_the_stored_row(digits, tmp_path, session_cache_dir, capsys):
    import sqlite3

    db = tmp_path / "r.sqlite"
    argv = ["train", *digits, "--method", "random", "--prune-rate", "0.5", "--epochs", "3",
            "--cache-dir", str(session_cache_dir), "--db", str(db), "--quiet"]
    assert main(argv) == 0
    (run_id,) = ResultsStore(db).run_ids()
    real = ResultsStore(db).get_row(run_id).accuracy
    with sqlite3.connect(db) as con:  # tamper with the stored row: only a real re-run restores it
        con.execute("UPDATE runs SET accuracy = -1.0, host = 'stale' WHERE run_id = ?", (run_id,))
    assert main(argv) == 0 and "already stored" in capsys.readouterr().out
    assert ResultsStore(db).get_row(run_id).accuracy == -1.0
    assert main([*argv, "--force"]) == 0
    out = capsys.readouterr().out
    row = ResultsStore(db).get_row(run_id)
    assert "already stored" not in out and row.accuracy == real and row.host != "stale" and len(ResultsStore(db)) == 1


def test_train_and_sweep_help_describe_them(capsys):
    for command, needles in (("train", ["Run one experiment", "--force", "replace the stored row"]),
                             ("sweep", ["random,el2n,moderate,ccs,d2,bws,nucs,nucs-o", "0.7,0.8,0.9,0.95",
                                        "0,1,2", "--backbones"])):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert all(n in text for n in needles), (command, [n for n in needles if n not in text])
