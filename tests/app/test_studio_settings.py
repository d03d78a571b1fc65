"""The studio's shared settings: defaults, URL query round trip, bad values, the command line."""
from __future__ import annotations

import shlex

import pytest

from coreset_core.spec import DataSpec
from coreset_studio.settings import StudioSettings, defaults_from_env, from_query, to_query


@pytest.fixture
def changed() -> StudioSettings:
    """Every field away from its default."""
    spec = DataSpec("cifar10-lt", imbalance=50, data_seed=3, backbone="efficientnet_lite1", resolution=96,
                    limit=2000, test_limit=None, score="aum", score_epochs=5, score_seeds=(0, 1))
    return StudioSettings(spec=spec, prune_pct=90, winsor_lo=2.5, winsor_hi=10, global_method="ccs",
                          method_a="d2", method_b="moderate", class_index=4, budget_mode="uniform", endpoint=0.35)


def test_defaults_from_env():
    settings, notes = defaults_from_env({})
    assert notes == []
    assert (settings.spec.dataset, settings.spec.limit, settings.spec.test_limit) == ("cifar10", 5000, 2000)
    assert (settings.prune_pct, settings.winsor, settings.endpoint) == (70, (0.0, 0.0), None)
    settings, _ = defaults_from_env({"CORESET_STUDIO_DATASET": "cifar10-lt", "CORESET_STUDIO_LIMIT": "all",
                                     "CORESET_STUDIO_RESOLUTION": "96", "CORESET_STUDIO_SCORE": "aum"})
    spec = settings.spec
    assert (spec.imbalance, spec.limit, spec.test_limit, spec.resolution, spec.score) == (10.0, None, None, 96, "aum")
    assert defaults_from_env({"CORESET_STUDIO_DATASET": "digits"})[0].spec.limit is None
    settings, notes = defaults_from_env({"CORESET_STUDIO_LIMIT": "-3", "CORESET_STUDIO_SCORE": "nope"})
    assert len(notes) == 2 and "CORESET_STUDIO_LIMIT" in notes[0]
    assert settings.spec == DataSpec(limit=5000, test_limit=2000)


def test_query_round_trip(changed):
    query = to_query(changed)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in query.items())
    assert query["prune"] == "90" and query["winsor_hi"] == "10" and query["k"] == "0.35"
    back, notes = from_query(query, StudioSettings())
    assert notes == [] and back == changed
    # streamlit may hand over repeated keys as lists: the last value counts
    back, _ = from_query({**query, "prune": ["50", "90"]}, StudioSettings())
    assert back.prune_pct == 90
    # a link without a key keeps the default of that key
    base = StudioSettings(spec=DataSpec("digits"))
    back, notes = from_query({"prune": "85"}, base)
    assert notes == [] and back == base.replace(prune_pct=85)


@pytest.mark.parametrize("key, value, field", [
    ("prune", "97", "prune_pct"), ("prune", "ninety", "prune_pct"), ("winsor_hi", "30", "winsor_hi"),
    ("winsor_lo", "0.3", "winsor_lo"), ("a", "no-such-method", "method_a"), ("global", "nucs", "global_method"),
    ("class", "-1", "class_index"), ("k", "2", "endpoint"), ("budgets", "weird", "budget_mode"),
])
def test_bad_view_values_fall_back_with_a_note(key, value, field):
    default = StudioSettings(spec=DataSpec("digits"), prune_pct=60, winsor_hi=5, endpoint=0.5)
    settings, notes = from_query({**to_query(default), key: value}, default)
    assert getattr(settings, field) == getattr(default, field)
    assert len(notes) == 1 and f"{key}={value!r}" in notes[0]
    assert settings == default


@pytest.mark.parametrize("key, value", [("dataset", "no-such-set"), ("limit", "0"), ("res", "5000"),
                                        ("score", "xyz"), ("imbalance", "0.5"), ("score_epochs", "-2")])
def test_bad_data_values_fall_back_with_a_note(key, value):
    default = StudioSettings(spec=DataSpec("cifar10-lt", imbalance=20, limit=1000))
    settings, notes = from_query({**to_query(default), key: value}, default)
    assert settings.spec == default.spec
    assert len(notes) == 1 and value in notes[0]


def test_a_new_dataset_in_the_link_gets_its_own_defaults():
    default = StudioSettings(spec=DataSpec("cifar10-lt", imbalance=20, limit=5000, test_limit=2000))
    settings, notes = from_query({"dataset": "digits"}, default)
    assert notes == [] and settings.spec == DataSpec("digits")
    # one refused value does not discard the link's other values
    settings, notes = from_query({"dataset": "cifar10", "res": "5000", "limit": "300", "score": "aum"}, default)
    assert len(notes) == 1 and "res='5000'" in notes[0]
    assert settings.spec == DataSpec("cifar10", limit=300, test_limit=2000, score="aum")


def test_a_path_outside_the_allowed_folders_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("CORESET_STUDIO_ROOTS", raising=False)
    outside = tmp_path / "images"
    outside.mkdir()
    default = StudioSettings(spec=DataSpec("digits"))
    settings, notes = from_query({"dataset": f"imagefolder:{outside}"}, default)
    assert settings.spec == default.spec and "CORESET_STUDIO_ROOTS" in notes[0]
    monkeypatch.setenv("CORESET_STUDIO_ROOTS", str(tmp_path))
    settings, notes = from_query({"dataset": f"imagefolder:{outside}"}, default)
    assert notes == [] and settings.spec.dataset == f"imagefolder:{outside.resolve()}"


def test_settings_validate_and_convert():
    s = StudioSettings(prune_pct=90, winsor_lo=2.5, winsor_hi=10)
    assert s.prune_rate == 0.9 and s.winsor == (0.025, 0.1)
    for bad in ({"prune_pct": 92}, {"winsor_hi": 26}, {"method_a": "x"}, {"endpoint": -0.1}, {"class_index": 1.5}):
        with pytest.raises(ValueError):
            StudioSettings(**bad)
    assert s.replace(spec_changes={"dataset": "cifar10-lt"}).spec.imbalance == 10.0
    assert s.method_params("nucs") == {"winsor": (0.025, 0.1)} and s.method_params("el2n") == {}
    assert StudioSettings().method_params("nucs") == {}


def _parse_cli(line: str):
    """The real `coreset` argument parser applied to a command line."""
    import argparse

    from coreset_core.cli import build_parser

    argv = shlex.split(line)
    assert argv[0] == "coreset"
    parser = build_parser()
    assert isinstance(parser, argparse.ArgumentParser)
    return parser.parse_args(argv[1:])


def test_command_line_rebuilds_the_same_selection(changed):
    line = changed.command("nucs", params={"winsor": changed.winsor, "endpoints": [0.35]}, seed=2)
    args = _parse_cli(line)
    assert args.command == "select" and args.func.__name__ == "run_select"
    assert (args.dataset, args.imbalance, args.data_seed, args.backbone, args.resolution) == \
        ("cifar10-lt", 50.0, 3, "efficientnet_lite1", 96)
    assert (args.limit, args.test_limit, args.score, args.score_epochs) == (2000, None, "aum", 5)
    assert tuple(args.score_seeds) == (0, 1)
    assert (args.method, args.prune_rate, args.seed) == ("nucs", 0.9, 2)
    assert tuple(args.winsor) == (0.025, 0.1)
    assert [tuple(p) for p in args.param] == [(None, "endpoints", [0.35])]
