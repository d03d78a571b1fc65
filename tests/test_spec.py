"""DataSpec: one validated, hashable, JSON round-trippable description of a data setting."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from coreset_core.spec import DataSpec


def test_round_trip_hash_and_defaults():
    spec = DataSpec("cifar10-lt", limit=500, score_seeds=[0, 1])
    assert spec.imbalance == 10.0 and spec.score_seeds == (0, 1)
    assert DataSpec.from_json(spec.to_json()) == spec and hash(DataSpec.from_dict(spec.to_dict())) == hash(spec)
    assert json.loads(spec.to_json())["score_seeds"] == [0, 1]
    assert DataSpec("cifar10").imbalance is None
    # the score does not change the prepared data; everything else does
    assert spec.replace(score="aum").prepare_key == spec.prepare_key
    assert spec.replace(score="aum").key != spec.key
    assert spec.replace(limit=501).prepare_key != spec.prepare_key
    with pytest.raises(ValueError, match="unknown data setting"):
        DataSpec.from_dict({**spec.to_dict(), "limt": 3})


def test_key_is_stable_across_processes():
    code = "from coreset_core.spec import DataSpec; print(DataSpec('cifar10-lt', limit=500).key)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == DataSpec("cifar10-lt", limit=500).key


@pytest.mark.parametrize("fields, message", [
    (dict(limit=0), "limit"), (dict(limit=-5), "limit"), (dict(test_limit=0), "test_limit"),
    (dict(resolution=0), "resolution"), (dict(resolution=-3), "resolution"), (dict(resolution=10_000), "outside"),
    (dict(dataset="imagefolder:"), "needs a path"), (dict(dataset="embeddings:  "), "needs a path"),
    (dict(dataset=""), "dataset"), (dict(dataset="cifar10", imbalance=5), "cifar10-lt"),
    (dict(dataset="cifar10-lt", imbalance=0.5), ">= 1"), (dict(score="nope"), "unknown score"),
    (dict(score_epochs=0), "score_epochs"), (dict(score_seeds=[]), "at least one"), (dict(data_seed=-1), "data_seed"),
])
def test_bad_settings_are_refused_with_the_fix(fields, message):
    with pytest.raises(ValueError, match=message):
        DataSpec(**fields)


def test_command_line_rebuilds_the_spec():
    from coreset_core.cli import build_parser
    from coreset_core.cli.common import spec_from_args

    spec = DataSpec("cifar10-lt", imbalance=50, limit=2000, resolution=96, score="aum", score_seeds=(0, 1))
    words = spec.command("select", "--prune-rate", "0.9").split()[1:]
    args = build_parser().parse_args(words)
    assert spec_from_args(args) == spec


def test_embeddings_files_use_their_own_features_and_scores():
    from coreset_core.features import FILE_BACKBONE

    spec = DataSpec("embeddings:/data/clip.npz", score="file")
    assert spec.backbone == FILE_BACKBONE and spec.score == "file"
    with pytest.raises(ValueError, match="carries its own features"):
        DataSpec("embeddings:/data/clip.npz", backbone="efficientnet_lite1")
    with pytest.raises(ValueError, match="embeddings:<path>"):
        DataSpec("cifar10", backbone=FILE_BACKBONE)
