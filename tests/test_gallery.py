"""Galleries: kept + dropped is the class, ids map through session.ids, order by difficulty, predictions."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from coreset_studio.views.gallery import caption, class_gallery, images
from coreset_core.session import Session
from coreset_core.spec import DataSpec

SPEC = DataSpec("digits", resolution=32, limit=300, test_limit=100)


@pytest.fixture(scope="module")
def session(session_cache_dir):
    return Session(SPEC, cache_dir=session_cache_dir)


@pytest.mark.parametrize("method, rate", [("el2n", 0.5), ("nucs", 0.8), ("random", 0.3)])
def test_kept_and_dropped_partition_the_class(session, method, rate):
    cls = 3
    g = class_gallery(session, cls, method, rate)
    labels, ids = session.labels, session.ids
    members = np.flatnonzero(labels == cls)
    assert g.size == members.size == session.class_sizes[cls]
    selection = session.select(method, rate).indices
    kept_positions = selection[labels[selection] == cls]
    assert sorted(g.kept["position"]) == sorted(kept_positions.tolist())
    assert sorted(g.kept["id"]) == sorted(ids[kept_positions].tolist())
    assert sorted(g.dropped["position"]) == sorted(set(members.tolist()) - set(kept_positions.tolist()))
    assert np.array_equal(g.dropped["id"].to_numpy(), ids[g.dropped["position"].to_numpy()])
    d = session.difficulty()
    for part in (g.kept, g.dropped):  # easiest first, scores are the session's difficulty
        assert np.all(np.diff(part["score"].to_numpy()) >= 0)
        np.testing.assert_array_equal(part["score"], d[part["position"].to_numpy()])
        assert set(part["label"]) <= {cls}
    assert g.kept["file"].isna().all()  # digits come from scikit-learn: no files


def test_predictions_are_the_probe_heads_argmax(session):
    sel = session.select("el2n", 0.5)
    probe = session.probe(sel.indices, epochs=5)
    g = class_gallery(session, 5, "el2n", 0.5, probe=probe)
    head = probe.head
    rows = np.concatenate([g.kept["position"], g.dropped["position"]])
    x = (session.train.features[rows].astype(np.float64) - head.mean) / head.std
    expected = np.argmax(x @ head.weight.T.astype(np.float64) + head.bias, axis=1)
    np.testing.assert_array_equal(np.concatenate([g.kept["prediction"], g.dropped["prediction"]]), expected)
    np.testing.assert_array_equal(np.concatenate([g.kept["correct"], g.dropped["correct"]]), expected == 5)
    assert "pred" in caption(g.kept.iloc[0])
    assert list(np.concatenate([g.kept["predicted_class"], g.dropped["predicted_class"]])) == \
        [session.class_names[int(p)] for p in expected]


def test_image_folder_rows_carry_file_names(tmp_path, session_cache_dir):
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / name / f"{name}_{i}.png")
    folder = Session(DataSpec(f"imagefolder:{tmp_path}", resolution=32), cache_dir=session_cache_dir)
    g = class_gallery(folder, 1, "random", 0.5)
    table = np.concatenate([g.kept["path"], g.dropped["path"]])
    assert g.size == folder.class_sizes[1]
    positions = np.concatenate([g.kept["position"], g.dropped["position"]])
    assert np.array_equal(table, folder.paths[positions])
    assert all(str(p).startswith(str(tmp_path / folder.class_names[1])) for p in table)
    assert list(np.concatenate([g.kept["file"], g.dropped["file"]])) == [p.rsplit("/", 1)[-1] for p in table]
    thumbs = images(folder, g.kept["position"][:2], size=16)
    assert [t.size for t in thumbs] == [(16, 16)] * len(thumbs)
    # predictions are named by class ("pred 1" before: the class index)
    probe = folder.probe(np.arange(folder.labels.size), epochs=3)
    row = class_gallery(folder, 1, "random", 0.5, probe=probe).kept.iloc[0]
    predicted = folder.class_names[int(probe.head.predict(folder.train.features[[row["position"]]])[0])]
    assert f"{row['file']} · {row['score']:.3f} · pred {predicted}" in caption(row)


def test_gallery_refuses_a_bad_class(session):
    with pytest.raises(ValueError, match="class id"):
        class_gallery(session, 10, "random", 0.5)
