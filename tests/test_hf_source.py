"""`hf:<folder>`: a Hugging Face dataset written with `save_to_disk` (Image + ClassLabel columns)
as a source: loading, select/train on it, and the `hf` export equal to `Dataset.select(ids)`."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")
from PIL import Image  # noqa: E402

from coreset_core.cli import main  # noqa: E402
from coreset_core.datasets import HFDatasetError, load_dataset  # noqa: E402
from coreset_core.session import Session  # noqa: E402
from coreset_core.spec import DataSpec  # noqa: E402

NAMES = ["cat", "dog", "fox"]


def _split(n: int, seed: int) -> "datasets.Dataset":
    """n 24x24 images whose colour depends on the class (a linear probe can learn them)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(NAMES), n)
    images = [Image.fromarray(np.clip(rng.normal(60 + 70 * y, 25, (24, 24, 3)), 0, 255).astype(np.uint8))
              for y in labels]
    features = datasets.Features({"picture": datasets.Image(), "animal": datasets.ClassLabel(names=NAMES),
                                  "caption": datasets.Value("string")})
    return datasets.Dataset.from_dict({"picture": images, "animal": labels.tolist(),
                                       "caption": [f"row {i} seed {seed}" for i in range(n)]}, features=features)


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf") / "animals"
    datasets.DatasetDict(train=_split(90, 0), test=_split(30, 1)).save_to_disk(str(folder))
    return folder


def test_columns_found_by_type_ids_are_rows_and_images_are_the_rows_images(hf_folder):
    ds = load_dataset(f"hf:{hf_folder}")
    source = datasets.load_from_disk(str(hf_folder))
    assert ds.class_names == NAMES and len(ds.train) == 90 and len(ds.test) == 30
    assert sorted(ds.train.ids.tolist()) == list(range(90))
    assert ds.id_space == f"row of split 'train' of Hugging Face dataset {str(hf_folder)!r}"
    for pos in (0, 17, 89):
        row = source["train"][int(ds.train.ids[pos])]
        assert ds.train.labels[pos] == row["animal"]
        assert np.array_equal(np.asarray(ds.train.image(pos)), np.asarray(row["picture"].convert("RGB")))
    assert np.array_equal(np.sort(ds.test.labels), np.sort(np.asarray(source["test"]["animal"])))


def test_no_test_split_carves_a_stratified_one_and_a_named_split_is_used(tmp_path):
    folder = tmp_path / "one"
    datasets.DatasetDict(train=_split(50, 0), holdout=_split(20, 2)).save_to_disk(str(folder))
    carved = load_dataset(f"hf:{folder}")
    assert len(carved.train) + len(carved.test) == 50
    assert not set(carved.train.ids.tolist()) & set(carved.test.ids.tolist())
    named = load_dataset(f"hf:{folder}?test_split=holdout")
    assert len(named.train) == 50 and len(named.test) == 20
    assert "holdout" in named.description


@pytest.mark.parametrize("name, message", [
    ("?split=valid", "has no split 'valid'; its splits are train, test"),
    ("?label=caption", "label column 'caption' has type"),
    ("?image=nope", "has no column 'nope'"),
    ("?colour=red", "unknown hf: option 'colour'"),
])
def test_bad_options_name_the_problem(hf_folder, name, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(f"hf:{hf_folder}{name}")


def test_two_image_columns_ask_for_a_name(tmp_path):
    split = _split(12, 0)
    features = datasets.Features({**split.features, "thumb": datasets.Image()})
    split = split.map(lambda row: {"thumb": row["picture"]}, features=features)
    folder = tmp_path / "two"
    split.save_to_disk(str(folder))
    with pytest.raises(HFDatasetError, match=r"found 2 \(picture, thumb\); name it with \?image=COLUMN"):
        load_dataset(f"hf:{folder}")
    assert load_dataset(f"hf:{folder}?image=thumb").config["image_column"] == "thumb"


def test_select_train_and_export_equal_dataset_select(hf_folder, tmp_path, session_cache_dir, capsys):
    data = ["--dataset", f"hf:{hf_folder}", "--resolution", "32", "--score-epochs", "2"]
    doc_path = tmp_path / "sel.json"
    assert main(["select", *data, "--method", "nucs", "--prune-rate", "0.6", "--out", str(doc_path), "--quiet"]) == 0
    doc = json.loads(doc_path.read_text())
    assert len(doc["ids"]) == 36 and len(set(doc["ids"])) == 36
    session = Session(DataSpec(f"hf:{hf_folder}", resolution=32, score_epochs=2), cache_dir=session_cache_dir)
    selection = session.select("nucs", 0.6)
    assert doc["ids"] == session.ids[selection.indices].tolist()
    probe = session.probe(selection.indices, epochs=30)  # tested on the source's own test split
    assert probe.metrics["num_samples"] == 30 and len(probe.metrics["per_class_accuracy"]) == 3
    assert probe.metrics["accuracy"] > 0.6  # the classes differ by colour; chance is 1/3
    out = tmp_path / "kept"
    assert main(["export", str(doc_path), "--format", "hf", "--out", str(out), "--quiet"]) == 0
    exported = datasets.load_from_disk(str(out))
    expected = datasets.load_from_disk(str(hf_folder))["train"].select(doc["ids"])
    assert exported.features == expected.features and len(exported) == len(expected) == 36
    for got, want in zip(exported, expected):  # row for row: image bytes, label, every other column
        assert got["animal"] == want["animal"] and got["caption"] == want["caption"]
        assert np.array_equal(np.asarray(got["picture"]), np.asarray(want["picture"]))


def test_export_refuses_a_source_that_changed_since_the_selection(tmp_path, capsys):
    folder = tmp_path / "animals"
    datasets.DatasetDict(train=_split(40, 0), test=_split(12, 1)).save_to_disk(str(folder))
    doc_path = tmp_path / "sel.json"
    assert main(["select", "--dataset", f"hf:{folder}", "--method", "random", "--prune-rate", "0.5",
                 "--resolution", "32", "--out", str(doc_path), "--quiet"]) == 0
    shutil.rmtree(folder)
    datasets.DatasetDict(train=_split(40, 5), test=_split(12, 1)).save_to_disk(str(folder))  # other rows now
    assert main(["export", str(doc_path), "--format", "hf", "--out", str(tmp_path / "kept"), "--quiet"]) == 2
    assert "is not the data the selection was made on" in capsys.readouterr().err
    assert not (tmp_path / "kept").exists()


def test_hf_options_on_the_command_line_fold_into_the_dataset_name(hf_folder):
    from coreset_core.datasets.hf import with_options

    assert with_options(f"hf:{hf_folder}", split="train", label="animal") == f"hf:{hf_folder}?label=animal"
    assert with_options(f"hf:{hf_folder}?image=picture", test_split="test") == \
        f"hf:{hf_folder}?test_split=test&image=picture"
    assert DataSpec(f"hf:{hf_folder}?label=animal&image=picture&split=train").dataset == \
        f"hf:{hf_folder}?image=picture&label=animal"
    with pytest.raises(ValueError, match="--hf-split apply to hf: datasets only"):
        with_options("cifar10", split="train")


def test_a_sweep_runs_on_an_hf_folder(hf_folder, tmp_path, session_cache_dir):
    from coreset_core.experiments.store import ResultsStore

    db = tmp_path / "r.sqlite"
    assert main(["sweep", "--dataset", f"hf:{hf_folder}", "--resolution", "32", "--score-epochs", "2",
                 "--methods", "random,el2n,nucs", "--prune-rates", "0.5", "--seeds", "0", "--epochs", "5",
                 "--db", str(db), "--cache-dir", str(session_cache_dir), "--quiet"]) == 0
    rows = ResultsStore(db).to_frame()
    assert sorted(rows["method"]) == ["el2n", "full", "nucs", "random"]
    assert set(rows["dataset"]) == {f"hf:{hf_folder}"} and set(rows["num_train"]) == {90}
    assert set(rows[rows["method"] != "full"]["num_kept"]) == {45}
