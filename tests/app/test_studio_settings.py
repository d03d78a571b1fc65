"""The studio's shared settings: defaults, URL query round trip, bad values, the command line."""
from __future__ import annotations

import re
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
    ("prune", "ninety", "prune_pct"), ("prune", "nan", "prune_pct"), ("a", "no-such-method", "method_a"),
    ("global", "nucs", "global_method"), ("class", "1.5", "class_index"), ("k", "inf", "endpoint"),
    ("budgets", "weird", "budget_mode"), ("b", "[x](https://evil.example)", "method_b"),
])
def test_unreadable_view_values_fall_back_with_a_note(key, value, field):
    default = StudioSettings(spec=DataSpec("digits"), prune_pct=60, winsor_hi=5, endpoint=0.5)
    settings, notes = from_query({**to_query(default), key: value}, default)
    assert getattr(settings, field) == getattr(default, field)
    assert len(notes) == 1 and f"{key}={value!r}" in notes[0] and "ignored" in notes[0]
    assert settings == default


#: (key, value in the link, field, what the widget offers nearest to it): the sliders' ranges and steps
#: (pruning 0..95 by 5, winsorization 0..25 by 0.5, endpoint 0..1 by 0.01), class numbers from 0.
CLAMPED_VIEW = [("prune", "97", "prune_pct", 95), ("prune", "1e308", "prune_pct", 95), ("prune", "-5", "prune_pct", 0),
                ("prune", "72", "prune_pct", 70), ("winsor_hi", "30", "winsor_hi", 25.0),
                ("winsor_lo", "0.3", "winsor_lo", 0.5), ("class", "-1", "class_index", 0),
                ("k", "2", "endpoint", 1.0), ("k", "0.123", "endpoint", 0.12)]


@pytest.mark.parametrize("key, value, field, offered", CLAMPED_VIEW)
def test_view_values_the_widgets_do_not_offer_are_clamped_with_one_note(key, value, field, offered):
    default = StudioSettings(spec=DataSpec("digits"), prune_pct=60, winsor_hi=5, endpoint=0.5)
    settings, notes = from_query({**to_query(default), key: value}, default)
    assert getattr(settings, field) == offered
    assert settings == default.replace(**{field: offered})  # nothing else changed
    assert len(notes) == 1 and f"{key}={value!r}" in notes[0] and "not offered" in notes[0]


@pytest.mark.parametrize("key, value", [("dataset", "no-such-set"), ("limit", "0"), ("score", "xyz"),
                                        ("imbalance", "0.5"), ("backbone", "vit_huge"), ("score_epochs", "many")])
def test_bad_data_values_fall_back_with_a_note(key, value):
    default = StudioSettings(spec=DataSpec("cifar10-lt", imbalance=20, limit=1000))
    settings, notes = from_query({**to_query(default), key: value}, default)
    assert settings.spec == default.spec
    assert len(notes) == 1 and value in notes[0]


#: Data values clamped to the sidebar's offers: scoring epochs 1..50, resolutions (auto, 64..260 px), image
#: limits (300..20,000 or all: the largest offer not above the link's), at most 5 score seeds in 0..10,000.
CLAMPED_DATA = [("score_epochs", "100000", "score_epochs", 50), ("score_epochs", "-2", "score_epochs", 1),
                ("res", "5000", "resolution", 260), ("res", "100", "resolution", 96), ("res", "20", "resolution", 64),
                ("limit", "12345", "limit", 10000), ("limit", "10", "limit", 300),
                ("limit", "9" * 40, "limit", 20000), ("test_limit", "999999", "test_limit", 5000),
                ("data_seed", "1e30", "data_seed", 10000),
                ("score_seeds", "3,3,1,2,99999,4,5,6", "score_seeds", (3, 1, 2, 10000, 4))]


@pytest.mark.parametrize("key, value, field, offered", CLAMPED_DATA)
def test_data_values_the_sidebar_does_not_offer_are_clamped_with_one_note(key, value, field, offered):
    default = StudioSettings(spec=DataSpec("cifar10-lt", imbalance=20, limit=1000))
    settings, notes = from_query({**to_query(default), key: value}, default)
    assert getattr(settings.spec, field) == offered
    assert settings.spec == default.spec.replace(**{field: offered})
    assert len(notes) == 1 and f"{key}=" in notes[0] and "not offered" in notes[0]


def test_a_new_dataset_in_the_link_gets_its_own_defaults():
    default = StudioSettings(spec=DataSpec("cifar10-lt", imbalance=20, limit=5000, test_limit=2000))
    settings, notes = from_query({"dataset": "digits"}, default)
    assert notes == [] and settings.spec == DataSpec("digits")
    # one refused value does not discard the link's other values
    settings, notes = from_query({"dataset": "cifar10", "res": "big", "limit": "300", "score": "aum"}, default)
    assert len(notes) == 1 and "res='big'" in notes[0]
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


#: Crafted values for every key: markup (a foreign link, a tracking pixel, raw HTML), out of range, huge,
#: 5,000 characters long, unknown words.
MARKUP = "[Session expired: log in again](https://evil.example/login) ![px](https://evil.example/p.png) <img src=x>"
CRAFTED = [MARKUP, "1e308", "-1e308", "9" * 5000, "imagefolder:/" + "a" * 5000, "embeddings:/tmp/" + "b" * 300, "nan",
           "definitely-not-a-value", ""]


def _offered(settings: StudioSettings, default: StudioSettings) -> None:
    """Every field holds a value its widget offers (the sidebar shows the default's own value too)."""
    from coreset_studio import choices as C

    spec = settings.spec
    assert spec.resolution in (*C.RESOLUTIONS, default.spec.resolution)
    assert spec.limit in (*C.LIMITS, default.spec.limit)
    assert spec.test_limit in (*C.TEST_LIMITS, default.spec.test_limit)
    assert 1 <= spec.score_epochs <= 50 and 0 <= spec.data_seed <= 10_000
    assert 1 <= len(spec.score_seeds) <= 5 and all(0 <= x <= 10_000 for x in spec.score_seeds)
    assert spec.backbone in (*C.backbone_choices(), default.spec.backbone) and spec.score in C.score_choices()
    assert settings.prune_pct in range(0, 96, 5)
    assert all(2 * w == int(2 * w) and 0 <= w <= 25 for w in (settings.winsor_lo, settings.winsor_hi))
    assert settings.method_a in C.selection_methods() and settings.global_method in C.global_methods()
    assert settings.endpoint is None or 0 <= settings.endpoint <= 1


@pytest.mark.parametrize("value", CRAFTED, ids=["markup", "huge", "negative", "long-number", "long-path",
                                                "long-file-name", "nan", "unknown", "empty"])
def test_crafted_values_for_every_key_end_in_one_short_note(value):
    """Before: a 5,000-character path raised OSError (File name too long), huge numbers were taken as they
    were (score_epochs=1e308 -> hours of CPU without a note), and a note repeated the whole value."""
    from coreset_studio.text import literal

    default = StudioSettings(spec=DataSpec("cifar10-lt", imbalance=20, limit=1000), endpoint=0.5)
    keys = [*to_query(default), "score_seeds", "res", "k", "unknown_key"]
    for key in keys:
        settings, notes = from_query({key: value}, default)
        _offered(settings, default)
        mine = [n for n in notes if n.startswith(f"{key}=")]
        assert len(notes) == len(mine) <= 1, (key, notes)
        assert all(len(n) < 1200 for n in notes), (key, [len(n) for n in notes])
        for note in notes:  # as the sidebar shows it: no link, image or tag character left unescaped
            assert re.search(r"(?<!\\)[\[\]()<>!]", literal(note)) is None, literal(note)
    assert from_query({"unknown_key": value}, default) == (default, [])
