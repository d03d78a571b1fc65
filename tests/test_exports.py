"""Selection documents and exports, each format checked against an independent computation.

The image folder is written by the test, loaded through the real `imagefolder:` source, a
real registered method selects from it, and every export is compared with what the test
knows about its own files (torchvision's ImageFolder enumeration, file bytes, pixels).
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from coreset_core.datasets import load_dataset
from coreset_core.exports import EXPORT_FORMATS, FORMAT, export_selection, read_selection, selection_document
from coreset_core.methods import Selection, run_method
from coreset_core.outputs import MARKER

CLASSES = ["cat", "dog", "owl"]


def write_folder(root: Path, per_class: int = 8) -> dict[str, np.ndarray]:
    """`root/<class>/...png` with a unique colour per file; returns {path: pixels}. Two `cat` files share a name."""
    pixels = {}
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        for k in range(per_class):
            sub = root / name / ("a" if k % 2 else "b") if name == "cat" else root / name
            sub.mkdir(parents=True, exist_ok=True)
            fname = f"img{k // 2}.png" if name == "cat" else f"{name}_{k:02d}.png"
            arr = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
            Image.fromarray(arr).save(sub / fname)
            pixels[str(sub / fname)] = arr
    return pixels


@pytest.fixture()
def folder_selection(tmp_path):
    """(root, pixels, split, selection, doc) for a random 50 % selection of a test-written folder."""
    root = tmp_path / "photos"
    pixels = write_folder(root)
    ds = load_dataset(f"imagefolder:{root}")
    split = ds.train
    sel = run_method("random", prune_rate=0.5, labels=split.labels, seed=3)
    sel.config["data"] = {"spec": {"dataset": ds.name}}
    scores = np.linspace(0.0, 1.0, len(split))
    doc = selection_document(sel, labels=split.labels, class_names=ds.class_names, ids=split.ids,
                             paths=split.paths, scores=scores)
    return root, pixels, split, sel, doc, scores


def _imagefolder_files(root: Path) -> list[str]:
    """torchvision's own enumeration of an image folder (the reference for ids)."""
    from torchvision.datasets import ImageFolder

    return [os.path.abspath(p) for p, _ in ImageFolder(str(root)).samples]


def test_document_holds_original_ids_paths_and_class_counts(folder_selection):
    root, pixels, split, sel, doc, scores = folder_selection
    assert doc["format"] == FORMAT and doc["num_samples"] == len(split) and doc["num_selected"] == sel.indices.size
    reference = _imagefolder_files(root)
    # every kept id names, in torchvision's enumeration, the very file the document lists for it
    assert [reference[i] for i in doc["ids"]] == doc["paths"]
    assert sorted(doc["paths"]) == sorted(os.path.abspath(split.paths[i]) for i in sel.indices)
    expected_counts = [sum(1 for i in sel.indices if split.labels[i] == c) for c in range(3)]
    assert doc["class_counts"] == expected_counts and doc["class_names"] == CLASSES
    assert doc["class_sizes"] == [int((split.labels == c).sum()) for c in range(3)]
    assert doc["class_fractions"] == [k / s for k, s in zip(expected_counts, doc["class_sizes"])]
    assert doc["samples"]["scores"] == scores.tolist()
    assert doc["config"]["method"] == "random" and doc["config"]["data"]["spec"]["dataset"].startswith("imagefolder:")
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc  # plain JSON


def test_document_input_checks(folder_selection):
    _, _, split, sel, _, _ = folder_selection
    common = dict(labels=split.labels, class_names=CLASSES)
    with pytest.raises(ValueError, match="one entry per training sample"):
        selection_document(sel, ids=split.ids[:-1], **common)
    with pytest.raises(ValueError, match="own original id"):
        selection_document(sel, ids=np.zeros(len(split), dtype=int), **common)
    with pytest.raises(ValueError, match="repeat"):
        selection_document(Selection(np.array([0, 0]), {}), ids=split.ids, **common)
    with pytest.raises(ValueError, match="positions"):
        selection_document(Selection(np.array([len(split)]), {}), ids=split.ids, **common)


def test_ids_npy_and_txt(folder_selection, tmp_path):
    _, _, split, sel, doc, _ = folder_selection
    expected = sorted(int(split.ids[i]) for i in sel.indices)
    got = np.load(export_selection(doc, "ids", tmp_path / "kept.npy"))
    assert got.dtype == np.int64 and sorted(got.tolist()) == expected
    lines = (export_selection(doc, "ids", tmp_path / "kept.txt")).read_text().split()
    assert sorted(int(s) for s in lines) == expected
    with pytest.raises(ValueError, match=r"\.npy or \.txt"):
        export_selection(doc, "ids", tmp_path / "kept.json")


def test_string_ids_round_trip(tmp_path):
    labels = np.array([0, 1, 0, 1])
    ids = np.array(["a-1", "b-2", "c-3", "d-4"])
    doc = selection_document(Selection(np.array([3, 0]), {"method": "x"}), labels=labels, class_names=["p", "q"],
                             ids=ids)
    assert doc["ids"] == ["d-4", "a-1"] and doc["paths"] is None
    assert np.load(export_selection(doc, "ids", tmp_path / "k.npy")).tolist() == ["d-4", "a-1"]


def test_paths_file(folder_selection, tmp_path):
    _, _, split, sel, doc, _ = folder_selection
    lines = export_selection(doc, "paths", tmp_path / "kept.txt").read_text().splitlines()
    assert sorted(lines) == sorted(os.path.abspath(split.paths[i]) for i in sel.indices)


def _tree(dest: Path) -> list[Path]:
    """The exported entries (the export's own marker file left out)."""
    return sorted(p for p in dest.rglob("*") if (not p.is_dir() or p.is_symlink()) and p.name != MARKER)


def test_symlinks_reproduce_exactly_the_kept_files(folder_selection, tmp_path):
    root, pixels, split, sel, doc, _ = folder_selection
    dest = export_selection(doc, "symlinks", tmp_path / "coreset")
    entries = _tree(dest)
    assert all(p.is_symlink() for p in entries) and len(entries) == sel.indices.size
    targets = [os.readlink(p) for p in entries]
    # independent: torchvision's ImageFolder file of every kept id
    reference = _imagefolder_files(root)
    assert sorted(targets) == sorted(reference[int(split.ids[i])] for i in sel.indices)
    for link, target in zip(entries, targets):
        assert link.parent.name == Path(target).relative_to(root).parts[0]  # <class>/<file>
        assert link.parent.parent == dest
        assert link.name == f"{reference.index(target)}_{Path(target).name}"  # <id>_<name>: unique by construction


def test_every_file_name_carries_its_id_so_names_never_collide(tmp_path):
    root = tmp_path / "photos"
    write_folder(root)
    ds = load_dataset(f"imagefolder:{root}")
    split = ds.train
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(split.paths):
        by_name.setdefault(Path(p).name, []).append(i)
    name, pair = next((k, v) for k, v in sorted(by_name.items()) if len(v) == 2)  # cat/a/imgK.png, cat/b/imgK.png
    single = next(v[0] for k, v in sorted(by_name.items()) if len(v) == 1)
    doc = selection_document(Selection(np.array(pair + [single]), {}), labels=split.labels,
                             class_names=ds.class_names, ids=split.ids, paths=split.paths)
    dest = export_selection(doc, "copy", tmp_path / "out")
    expected = [f"{split.ids[i]}_{name}" for i in pair] + [f"{split.ids[single]}_{Path(split.paths[single]).name}"]
    assert sorted(p.name for p in _tree(dest)) == sorted(expected)


def test_copy_holds_the_same_bytes(folder_selection, tmp_path):
    _, pixels, split, sel, doc, _ = folder_selection
    dest = export_selection(doc, "copy", tmp_path / "copied")
    entries = _tree(dest)
    assert not any(p.is_symlink() for p in entries)
    copied = sorted(p.read_bytes() for p in entries)
    assert copied == sorted(Path(split.paths[i]).read_bytes() for i in sel.indices)


def test_folder_exports_refuse_a_non_empty_destination_and_leave_nothing_on_failure(folder_selection, tmp_path):
    _, _, split, sel, doc, _ = folder_selection
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    for fmt in ("symlinks", "copy", "hf"):
        with pytest.raises(ValueError, match="not an empty folder"):
            export_selection(doc, fmt, busy)
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(_tree(export_selection(doc, "symlinks", empty))) == sel.indices.size
    # a kept file that vanished: an error, no destination and no temporary folder left behind
    os.remove(doc["paths"][0])
    with pytest.raises(FileNotFoundError, match="do not exist"):
        export_selection(doc, "copy", tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "empty", "photos"]


def test_hf_dataset_of_the_kept_rows(folder_selection, tmp_path):
    datasets = pytest.importorskip("datasets")
    _, pixels, split, sel, doc, _ = folder_selection
    back = datasets.load_from_disk(str(export_selection(doc, "hf", tmp_path / "hf")))
    expected = {int(split.ids[i]): (int(split.labels[i]), os.path.abspath(split.paths[i])) for i in sel.indices}
    assert len(back) == len(expected) and sorted(back["id"]) == sorted(expected)
    assert back.features["label"].names == CLASSES
    for row in back:
        label, path = expected[row["id"]]
        assert row["label"] == label and row["path"] == path
        np.testing.assert_array_equal(np.asarray(row["image"].convert("RGB")), _pixels_of(pixels, path))


def _pixels_of(pixels: dict[str, np.ndarray], path: str) -> np.ndarray:
    return next(v for k, v in pixels.items() if os.path.abspath(k) == path)


def test_hf_source_select(tmp_path):
    datasets = pytest.importorskip("datasets")
    source = datasets.Dataset.from_dict({"row": list(range(10)), "label": [i % 2 for i in range(10)]})
    labels = np.array(source["label"])
    source.save_to_disk(str(tmp_path / "src"))
    doc = selection_document(Selection(np.array([7, 2, 5]), {"data": {"spec": {"dataset": f"hf:{tmp_path / 'src'}"}}}),
                             labels=labels, class_names=["even", "odd"], ids=np.arange(10))
    assert datasets.load_from_disk(str(export_selection(doc, "hf", tmp_path / "a")))["row"] == [7, 2, 5]  # re-read
    back = datasets.load_from_disk(str(export_selection(doc, "hf", tmp_path / "b", hf_source=source)))
    assert back["row"] == [7, 2, 5]
    with pytest.raises(ValueError, match="row numbers"):
        export_selection(doc, "hf", tmp_path / "c", hf_source=source.select(range(5)))


def test_csv_lists_every_sample_with_its_kept_flag(folder_selection, tmp_path):
    root, _, split, sel, doc, scores = folder_selection
    with open(export_selection(doc, "csv", tmp_path / "all.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "path", "class", "score", "kept"] and len(rows) == len(split)
    kept_ids = {int(split.ids[i]) for i in sel.indices}
    for pos, row in enumerate(rows):
        assert int(row["id"]) == int(split.ids[pos])
        assert row["kept"] == ("true" if int(row["id"]) in kept_ids else "false")
        assert row["path"] == os.path.abspath(split.paths[pos]) and float(row["score"]) == scores[pos]
        assert row["class"] == CLASSES[split.labels[pos]] == Path(row["path"]).relative_to(root).parts[0]
    assert sum(r["kept"] == "true" for r in rows) == sel.indices.size


def test_torch_subset_over_imagefolder_yields_exactly_the_kept_images(folder_selection):
    """The documented line: `Subset(torchvision.datasets.ImageFolder(root), doc["ids"])`."""
    from torch.utils.data import Subset
    from torchvision.datasets import ImageFolder

    root, pixels, split, sel, doc, _ = folder_selection
    tv = ImageFolder(str(root))
    kept = Subset(tv, doc["ids"])
    assert len(kept) == sel.indices.size
    for (img, label), position in zip(kept, doc["indices"]):
        assert label == split.labels[position]
        np.testing.assert_array_equal(np.asarray(img), np.asarray(split.image(position)))
        np.testing.assert_array_equal(np.asarray(img), _pixels_of(pixels, os.path.abspath(split.paths[position])))


def test_sources_without_files_say_so(tmp_path):
    ds = load_dataset("digits")
    split = ds.train
    assert split.paths is None
    sel = run_method("random", prune_rate=0.9, labels=split.labels, seed=0)
    sel.config["data"] = {"spec": {"dataset": "digits"}}
    doc = selection_document(sel, labels=split.labels, class_names=ds.class_names, ids=split.ids)
    for fmt in ("paths", "symlinks", "copy", "hf"):
        with pytest.raises(ValueError, match="digits has no file paths"):
            export_selection(doc, fmt, tmp_path / f"out-{fmt}")
    assert sorted(np.load(export_selection(doc, "ids", tmp_path / "k.npy")).tolist()) == \
        sorted(int(split.ids[i]) for i in sel.indices)
    with open(export_selection(doc, "csv", tmp_path / "k.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["path"] for r in rows} == {""} and {r["score"] for r in rows} == {""}
    with pytest.raises(ValueError, match="unknown export format"):
        export_selection(doc, "zip", tmp_path / "x")
    assert set(EXPORT_FORMATS) == {"ids", "paths", "symlinks", "copy", "hf", "csv"}


def test_read_selection_checks_the_document(folder_selection, tmp_path):
    _, _, _, _, doc, _ = folder_selection
    good = tmp_path / "sel.json"
    good.write_text(json.dumps(doc))
    assert read_selection(good) == doc
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "coreset-studio/selection-v1", "indices": [1]}))
    with pytest.raises(ValueError, match="re-run"):
        read_selection(old)
    broken = dict(doc, ids=list(reversed(doc["ids"])))
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="field 'ids' item 0"):
        read_selection(tmp_path / "broken.json")
    (tmp_path / "junk.json").write_text("not json")
    with pytest.raises(ValueError, match="not a JSON"):
        read_selection(tmp_path / "junk.json")
    with pytest.raises(FileNotFoundError):
        read_selection(tmp_path / "missing.json")
