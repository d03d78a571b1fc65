"""What an id indexes, and taking the kept images out of archive-backed sources (issue 20 item 4).

Expected bytes, labels and features are read from the archives and embeddings files with numpy
directly, independently of the loaders and exporters.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from coreset_core.cli import main
from coreset_core.exports import export_selection, session_document
from coreset_core.outputs import MARKER
from coreset_core.session import Session
from coreset_core.spec import DataSpec


def _archive_dir() -> Path:
    """The folder of the offline CIFAR-10 archive: CORESET_DATA_DIR, else ../shared/data of the checkout or
    of the folder of worktrees it sits in."""
    here = Path(__file__).resolve().parents[1]
    candidates = [Path(os.environ["CORESET_DATA_DIR"])] if os.environ.get("CORESET_DATA_DIR") else []
    candidates += [here.parent / "shared" / "data", here.parent.parent / "shared" / "data"]
    folder = next((c for c in candidates if (c / "cifar10_jpeg.npz").is_file()), None)
    if folder is None:
        pytest.skip(f"the offline CIFAR-10 archive is in none of {', '.join(map(str, candidates))}")
    return folder


def _write_archive(folder: Path, n: int = 24) -> dict[str, np.ndarray]:
    """A tiny archive in the offline format (JPEG bytes, offsets, labels, is_test, classes), sorted by class."""
    rng = np.random.default_rng(5)
    labels = np.sort(np.arange(n) % 3)
    blobs = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=95)
        blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
    arrays = {"data": np.concatenate(blobs), "offsets": np.cumsum([0] + [b.size for b in blobs]),
              "labels": labels, "is_test": np.arange(n) % 4 == 3, "classes": np.array(["cat", "dog", "owl"])}
    np.savez(folder / "cifar10_jpeg.npz", **arrays)
    return arrays


def _doc(data_dir: Path, limit: int | None = None, prune_rate: float = 0.5) -> dict:
    session = Session(DataSpec("cifar10", limit=limit), data_dir=str(data_dir))
    return session_document(session, session.select("random", prune_rate, seed=1))


def test_archive_ids_are_archive_rows_and_copy_and_hf_take_the_images_out(tmp_path):
    arrays = _write_archive(tmp_path)
    doc = _doc(tmp_path)
    assert doc["id_space"] == "row of cifar10_jpeg.npz (the archive is sorted by class: not torchvision's index)"
    assert doc["source_file"]["kind"] == "archive" and doc["paths"] is None

    def blob(row: int) -> bytes:
        return arrays["data"][arrays["offsets"][row]:arrays["offsets"][row + 1]].tobytes()

    dest = export_selection(doc, "copy", tmp_path / "copy")
    files = sorted(p for p in dest.rglob("*.jpg"))
    assert sorted(int(p.stem) for p in files) == sorted(doc["ids"])
    for p in files:
        row = int(p.stem)
        assert p.read_bytes() == blob(row) and p.parent.name == str(arrays["classes"][arrays["labels"][row]])
        assert not arrays["is_test"][row]
    datasets = pytest.importorskip("datasets")
    back = datasets.load_from_disk(str(export_selection(doc, "hf", tmp_path / "hf")))
    assert sorted(back["id"]) == sorted(doc["ids"]) and back.features["label"].names == ["cat", "dog", "owl"]
    for row in back:
        assert row["label"] == arrays["labels"][row["id"]]
        expected = np.asarray(Image.open(io.BytesIO(blob(row["id"]))).convert("RGB"))
        assert np.array_equal(np.asarray(row["image"].convert("RGB")), expected)
    for fmt in ("paths", "symlinks"):
        with pytest.raises(ValueError, match="--format copy or hf"):
            export_selection(doc, fmt, tmp_path / fmt)


def test_archive_exports_check_the_archive_is_the_one_selected_on(tmp_path):
    _write_archive(tmp_path)
    doc = _doc(tmp_path)
    wrong = json.loads(json.dumps(doc))
    test_row = 3  # is_test: not a training image
    position = wrong["indices"][0]
    wrong["ids"][0] = wrong["samples"]["ids"][position] = test_row
    with pytest.raises(ValueError, match=f"row {test_row} of .* is not the training image"):
        export_selection(wrong, "copy", tmp_path / "a")
    wrong["ids"][0] = wrong["samples"]["ids"][position] = 10_000
    with pytest.raises(ValueError, match="id 10000 is not a row of"):
        export_selection(wrong, "copy", tmp_path / "b")
    archive = tmp_path / "cifar10_jpeg.npz"
    with np.load(archive) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["classes"] = np.array(["cat", "dog", "emu"])
    np.savez(archive, **arrays)
    with pytest.raises(ValueError, match="changed since the selection was made"):
        export_selection(doc, "hf", tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar10_jpeg.npz"]


def test_the_real_cifar10_archive_copy_export(tmp_path):
    data_dir = _archive_dir()
    doc = _doc(data_dir, limit=200, prune_rate=0.9)
    with np.load(data_dir / "cifar10_jpeg.npz") as z:
        data, offsets, labels, classes = z["data"], z["offsets"], z["labels"], z["classes"]
    dest = export_selection(doc, "copy", tmp_path / "copy")
    files = [p for p in dest.rglob("*") if p.is_file() and p.name != MARKER]
    assert len(files) == doc["num_selected"] == 20
    for p in files:
        row = int(p.stem)
        assert p.suffix == ".jpg" and p.read_bytes() == data[offsets[row]:offsets[row + 1]].tobytes()
        assert p.parent.name == str(classes[labels[row]])


def test_embeddings_without_paths_export_ids_labels_and_features(tmp_path, capsys):
    rng = np.random.default_rng(2)
    n = 60
    labels = np.arange(n) % 3
    features = (np.eye(3)[labels] * 3 + rng.normal(size=(n, 3))).astype(np.float32)
    ids = 9000 - np.arange(n)
    np.savez(tmp_path / "emb.npz", features=features, labels=labels, ids=ids, class_names=np.array(["a", "b", "c"]))
    sel = tmp_path / "sel.json"
    assert main(["select", "--dataset", f"embeddings:{tmp_path / 'emb.npz'}", "--method", "random", "--prune-rate",
                 "0.5", "--out", str(sel), "--cache-dir", str(tmp_path / "cache"), "--quiet"]) == 0
    assert f"ids: ids column of {tmp_path / 'emb.npz'}" in capsys.readouterr().out
    doc = json.loads(sel.read_text())
    assert doc["id_space"] == f"ids column of {tmp_path / 'emb.npz'}"
    datasets = pytest.importorskip("datasets")
    assert main(["export", str(sel), "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    back = datasets.load_from_disk(str(tmp_path / "hf"))
    assert set(back.column_names) == {"id", "label", "features"} and len(back) == doc["num_selected"]
    for row in back:
        r = 9000 - row["id"]  # the file's row of that id, from the test's own construction
        assert row["label"] == labels[r] and np.allclose(row["features"], features[r])


@pytest.mark.parametrize("name, words", [
    ("digits", "row of sklearn.datasets.load_digits()"),
    ("fashion-mnist", "index in torchvision.datasets.FashionMNIST(root, train=True)"),
])
def test_every_source_states_its_id_space(name, words):
    from coreset_core.datasets import load_dataset

    try:
        ds = load_dataset(name)
    except (FileNotFoundError, ValueError) as exc:
        pytest.skip(f"{name} is not available here: {exc}")
    assert ds.id_space.startswith(words)


def test_image_folder_and_long_tail_id_spaces(tmp_path):
    from coreset_core.datasets import load_dataset, make_long_tailed

    for c in ("x", "y"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    ds = load_dataset(f"imagefolder:{tmp_path / 'imgs'}")
    assert ds.id_space == f"sample index in torchvision.datasets.ImageFolder({str(tmp_path / 'imgs')!r})"
    assert make_long_tailed(ds, 2.0).id_space == ds.id_space
