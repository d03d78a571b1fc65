"""`coreset select --out` then `coreset export`: the exported ids and files are the kept samples.

Runs the real CLI on an embeddings file (no backbone needed) whose `paths` name images the
test writes and whose `ids` are the test's own; the expected files are computed from those
columns, independently of the selection and export code.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from coreset_core.cli import main


@pytest.fixture()
def embeddings_with_files(tmp_path):
    """An embeddings file of 60 samples in 3 classes, ids 1000 + 7 * row, each with its own image file."""
    rng = np.random.default_rng(0)
    n, classes = 60, ["ant", "bee", "wasp"]
    labels = np.arange(n) % 3
    feats = (np.eye(3)[labels] * 4 + rng.normal(size=(n, 3))).astype(np.float32)
    files = []
    for i in range(n):
        folder = tmp_path / "imgs" / classes[labels[i]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(folder / f"s{i:03d}.png")
        files.append(str(folder / f"s{i:03d}.png"))
    ids = 1000 + 7 * np.arange(n)
    path = tmp_path / "emb.npz"
    np.savez(path, features=feats, labels=labels, class_names=np.array(classes), paths=np.array(files), ids=ids,
             is_test=np.arange(n) >= 45)
    by_id = {int(i): f for i, f in zip(ids, files)}
    return path, by_id, {int(i): classes[y] for i, y in zip(ids, labels)}


def _select(tmp_path, emb: Path, capsys) -> dict:
    out = tmp_path / "sel.json"
    rc = main(["select", "--dataset", f"embeddings:{emb}", "--method", "random", "--prune-rate", "0.6",
               "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    return json.loads(out.read_text())


def test_select_then_export_every_format(tmp_path, embeddings_with_files, capsys):
    emb, by_id, class_of = embeddings_with_files
    doc = _select(tmp_path, emb, capsys)
    sel = tmp_path / "sel.json"
    kept = doc["ids"]
    assert doc["num_samples"] == 45 and len(kept) == 18 and set(kept) <= set(by_id)
    assert doc["paths"] == [by_id[i] for i in kept]  # the file's own columns: id -> path

    assert main(["export", str(sel), "--format", "ids", "--out", str(tmp_path / "k.npy")]) == 0
    assert sorted(np.load(tmp_path / "k.npy").tolist()) == sorted(kept)
    assert main(["export", str(sel), "--format", "paths", "--out", str(tmp_path / "k.txt")]) == 0
    assert sorted((tmp_path / "k.txt").read_text().splitlines()) == sorted(by_id[i] for i in kept)

    assert main(["export", str(sel), "--format", "symlinks", "--out", str(tmp_path / "links"), "--quiet"]) == 0
    links = sorted(p for p in (tmp_path / "links").rglob("*") if p.is_symlink())
    assert sorted(os.readlink(p) for p in links) == sorted(by_id[i] for i in kept)
    assert all(p.parent.name == Path(os.readlink(p)).parent.name for p in links)

    assert main(["export", str(sel), "--format", "csv", "--out", str(tmp_path / "all.csv")]) == 0
    with open(tmp_path / "all.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 45
    assert {int(r["id"]) for r in rows if r["kept"] == "true"} == set(kept)
    assert all(r["class"] == class_of[int(r["id"])] and r["path"] == by_id[int(r["id"])] for r in rows)
    out = capsys.readouterr().out
    assert "wrote 18 kept of 45 training samples as symlinks" in out


def test_export_errors_are_reported(tmp_path, embeddings_with_files, capsys):
    emb, _, _ = embeddings_with_files
    _select(tmp_path, emb, capsys)
    sel = tmp_path / "sel.json"
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    assert main(["export", str(sel), "--format", "copy", "--out", str(tmp_path / "busy")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope.json"), "--format", "ids", "--out", str(tmp_path / "k.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", str(sel), "--format", "ids", "--out", str(tmp_path / "k.csv")]) == 2
    assert ".npy or .txt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", str(sel), "--format", "zip", "--out", str(tmp_path / "z")])
