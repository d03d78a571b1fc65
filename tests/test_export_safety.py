"""What comes out: never over anything, never half, with the user's umask, checked before the work (issue 20).

The selection documents come from the real `coreset select` on embeddings files written here
with numpy; the bad documents are real ones edited by hand (json), and every refusal is
checked to leave the disk exactly as it was.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from coreset_core.cli import main
from coreset_core.exports import EXPORT_FORMATS, class_folders, export_selection, read_selection
from coreset_core.outputs import MARKER

N, CLASSES = 48, ["ant", "bee", "wasp"]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root` (root itself included) with its kind, content, mode and mtime."""
    out = {}
    for p in [root, *sorted(root.rglob("*"))] if root.exists() else []:
        st = p.lstat()
        if p.is_symlink():
            content = ("link", os.readlink(p))
        elif p.is_dir():
            content = ("dir",)
        else:
            content = ("file", p.read_bytes())
        out[str(p.relative_to(root.parent))] = (content, stat.S_IMODE(st.st_mode), st.st_mtime_ns)
    return out


def _write_embeddings(folder: Path, ids, names=None) -> Path:
    rng = np.random.default_rng(0)
    labels = np.arange(N) % 3
    files = []
    for i in range(N):
        sub = folder / "imgs" / CLASSES[labels[i]] / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        name = names[i] if names is not None else f"s{i:03d}.png"
        Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(sub / name)
        files.append(str(sub / name))
    path = folder / "emb.npz"
    np.savez(path, features=(np.eye(3)[labels] * 4 + rng.normal(size=(N, 3))).astype(np.float32), labels=labels,
             class_names=np.array(CLASSES), paths=np.array(files), ids=np.asarray(ids), is_test=np.arange(N) >= 39)
    return path


def _select(tmp_path: Path, emb: Path, out: Path, *extra: str) -> int:
    return main(["select", "--dataset", f"embeddings:{emb}", "--method", "random", "--prune-rate", "0.5",
                 "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet", *extra])


@pytest.fixture()
def selection(tmp_path, capsys):
    emb = _write_embeddings(tmp_path, 1000 + 7 * np.arange(N))
    out = tmp_path / "sel.json"
    assert _select(tmp_path, emb, out) == 0, capsys.readouterr().err
    return out


def _dest(tmp_path: Path, fmt: str) -> Path:
    return tmp_path / "out" / {"ids": "kept.npy", "paths": "kept.txt", "csv": "all.csv"}.get(fmt, fmt)


def test_every_format_twice_into_the_same_destination_leaves_the_first_untouched(tmp_path, selection, capsys):
    for fmt in EXPORT_FORMATS:
        dest = _dest(tmp_path, fmt)
        assert main(["export", str(selection), "--format", fmt, "--out", str(dest), "--quiet"]) == 0
        first = snapshot(dest)
        assert first
        rc = main(["export", str(selection), "--format", fmt, "--out", str(dest), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and str(dest) in err and "--force" in err, (fmt, err)
        assert snapshot(dest) == first, fmt
        assert sorted(p.name for p in dest.parent.iterdir() if p.name.startswith(".")) == []  # no temp left
    # --force replaces a file, and a folder only when an export wrote it
    assert main(["export", str(selection), "--format", "csv", "--out", str(_dest(tmp_path, "csv")), "--force"]) == 0
    assert main(["export", str(selection), "--format", "copy", "--out", str(_dest(tmp_path, "copy")), "--force",
                 "--quiet"]) == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    before = snapshot(mine)
    assert main(["export", str(selection), "--format", "copy", "--out", str(mine), "--force", "--quiet"]) == 2
    assert "not a previous export" in capsys.readouterr().err and snapshot(mine) == before


def test_the_selection_document_itself_is_never_an_export_destination(tmp_path, selection, capsys):
    before = snapshot(selection)
    assert main(["export", str(selection), "--format", "csv", "--out", str(selection), "--force"]) == 2
    assert "the selection document itself" in capsys.readouterr().err and snapshot(selection) == before


def test_select_out_refuses_an_existing_file_before_the_selection_runs(tmp_path, selection, capsys):
    emb = tmp_path / "emb.npz"
    before = snapshot(selection)
    capsys.readouterr()
    assert _select(tmp_path, emb, selection) == 2
    captured = capsys.readouterr()
    assert "already exists" in captured.err and "keeps" not in captured.out and snapshot(selection) == before
    assert _select(tmp_path, emb, selection, "--force", "--seed", "1") == 0
    assert json.loads(selection.read_text())["config"]["seed"] == 1


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_select_out_to_an_unwritable_place_fails_before_the_selection_runs(tmp_path, capsys, where):
    emb = _write_embeddings(tmp_path, np.arange(N))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = blocker / "sel.json" if where == "under_a_file" else Path("/proc/coreset-test/sel.json")
    before = snapshot(tmp_path)
    assert _select(tmp_path, emb, out) == 2
    captured = capsys.readouterr()
    assert "cannot write" in captured.err and str(out) in captured.err
    assert "keeps" not in captured.out  # the selection never ran: nothing was computed, nothing cached
    assert snapshot(tmp_path) == before


def test_every_export_checks_writability_and_its_promises_first(tmp_path, selection, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for fmt in EXPORT_FORMATS:
        before = snapshot(tmp_path)
        assert main(["export", str(selection), "--format", fmt, "--out", str(blocker / f"x.{fmt}.txt")]) == 2
        assert "cannot write" in capsys.readouterr().err
        assert snapshot(tmp_path) == before
    doc = json.loads(selection.read_text())
    os.remove(doc["paths"][0])  # a kept file vanished: `paths` refuses like `copy` does
    for fmt in ("paths", "symlinks", "copy", "hf"):
        before = snapshot(tmp_path)
        assert main(["export", str(selection), "--format", fmt, "--out", str(_dest(tmp_path, fmt))]) == 2
        assert "1 of the" in capsys.readouterr().err and snapshot(tmp_path) == before


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_files_and_folders_get_the_umask_modes(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        emb = _write_embeddings(tmp_path, np.arange(N))
        sel = tmp_path / "sel.json"
        assert _select(tmp_path, emb, sel) == 0
        assert _mode(sel) == 0o644
        for fmt in EXPORT_FORMATS:
            dest = _dest(tmp_path, fmt)
            assert main(["export", str(sel), "--format", fmt, "--out", str(dest), "--quiet"]) == 0
            entries = [dest, *dest.rglob("*")]
            for p in entries:
                if not p.is_symlink():
                    assert _mode(p) == (0o755 if p.is_dir() else 0o644), (fmt, p, oct(_mode(p)))
        os.umask(0o027)
        assert main(["export", str(sel), "--format", "csv", "--out", str(tmp_path / "group.csv")]) == 0
        assert _mode(tmp_path / "group.csv") == 0o640
    finally:
        os.umask(old)


def test_file_names_cannot_collide_by_construction(tmp_path, capsys):
    """String ids with `_` and file names with an id-like prefix: every kept file keeps its own bytes."""
    ids = [f"a_{i}" if i % 2 else "a" + "_" * (i % 4) + str(i) for i in range(N)]
    names = ["1_b.png" if i % 2 == 0 else "b.png" for i in range(N)]  # naive `<id>_<name>` would collide
    emb = _write_embeddings(tmp_path, np.array(ids), names)
    sel = tmp_path / "sel.json"
    assert _select(tmp_path, emb, sel) == 0
    doc = json.loads(sel.read_text())
    for fmt in ("copy", "symlinks"):
        dest = export_selection(doc, fmt, tmp_path / fmt)
        entries = [p for p in dest.rglob("*") if p.is_file() and p.name != MARKER]
        assert len(entries) == doc["num_selected"]
        got = sorted(p.read_bytes() for p in entries)
        assert got == sorted(Path(p).read_bytes() for p in doc["paths"])
    clashing = ["x_2", "x", "x", "X", "a/b", "a_b", MARKER]
    assert len({f.casefold() for f in class_folders(clashing)} | {MARKER}) == len(clashing) + 1


# -- hand-edited documents: refused with the field named, nothing written ------------------------------------------

EDITS = {
    "indices as text": (lambda d: d.update(indices=[str(i) for i in d["indices"]]), "'indices' item 0"),
    "a sample kept twice": (lambda d: d.update(indices=d["indices"] + d["indices"][:1],
                                               ids=d["ids"] + d["ids"][:1],
                                               paths=d["paths"] + d["paths"][:1]), "twice"),
    "a sample listed twice": (lambda d: d["samples"]["ids"].__setitem__(1, d["samples"]["ids"][0]),
                              "'samples.ids' lists the sample"),
    "label outside class_names": (lambda d: d["samples"]["labels"].__setitem__(4, 3), "'samples.labels' item 4"),
    "a class name dropped": (lambda d: d["class_names"].pop(), "'samples.labels' item"),
    "labels missing": (lambda d: d["samples"].pop("labels"), "'samples.labels' is missing"),
    "ids of another selection": (lambda d: d["ids"].reverse(), "field 'ids' item 0"),
    "counts edited": (lambda d: d["class_counts"].__setitem__(0, 999), "'class_counts'"),
    "samples not an object": (lambda d: d.update(samples=[1, 2]), "'samples' must be an object"),
    "prune rate as text": (lambda d: d["config"].update(prune_rate="0.5"), "'config.prune_rate'"),
    "paths of other files": (lambda d: d["paths"].reverse(), "'paths' does not match"),
    "scores as text": (lambda d: d["samples"].update(scores=["hard"] * len(d["samples"]["ids"])),
                       "'samples.scores' item 0"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_hand_edited_documents_are_refused_with_the_field_named(tmp_path, selection, capsys, edit):
    change, words = EDITS[edit]
    doc = json.loads(selection.read_text())
    change(doc)
    selection.write_text(json.dumps(doc))
    for fmt in EXPORT_FORMATS:
        before = snapshot(tmp_path)
        assert main(["export", str(selection), "--format", fmt, "--out", str(_dest(tmp_path, fmt))]) == 2
        err = capsys.readouterr().err
        assert words in err and str(selection) in err and "re-run" in err, (fmt, err)
        assert snapshot(tmp_path) == before


def test_truncated_document(tmp_path, selection, capsys):
    selection.write_bytes(selection.read_bytes()[:-40])
    assert main(["export", str(selection), "--format", "csv", "--out", str(tmp_path / "all.csv")]) == 2
    assert "not a JSON selection document" in capsys.readouterr().err and not (tmp_path / "all.csv").exists()


def test_reselect_from_a_whole_document_checks_it(tmp_path, selection):
    from coreset_core import selection_from_config

    doc = json.loads(selection.read_text())
    again = selection_from_config(doc, cache_dir=str(tmp_path / "cache"))
    assert sorted(doc["indices"]) == sorted(again.indices.tolist())
    del doc["config"]["method"]
    with pytest.raises(ValueError, match="'config.method' is missing"):
        selection_from_config(doc)
    with pytest.raises(ValueError, match="'samples.labels' item 0"):
        selection_from_config(dict(read_selection(selection), samples={**doc["samples"], "labels": [-1] * N}))
