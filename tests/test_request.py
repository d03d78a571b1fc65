"""`SelectionRequest`: one description of a selection, from the Session to the command line and the sweep."""
from __future__ import annotations

import json
import shlex

import numpy as np
import pytest

from coreset_core.cli import build_parser
from coreset_core.cli.common import spec_from_args
from coreset_core.experiments.run_config import RunConfig
from coreset_core.experiments.store import ResultsStore
from coreset_core.experiments.sweep import plan_sweep, run_sweep
from coreset_core.methods import reweight, run_method
from coreset_core.request import RAM_APL_BACKBONES, SelectionRequest
from coreset_core.session import Session, request_from_config, selection_from_config
from coreset_core.spec import DataSpec

SPEC = DataSpec("digits", resolution=32, limit=300, test_limit=100)
TWO_BACKBONES = ("efficientnet_lite0", "efficientnet_lite1")


@pytest.fixture(scope="module")
def session(session_cache_dir):
    return Session(SPEC, cache_dir=session_cache_dir)


def test_a_request_is_frozen_hashable_and_round_trips_through_its_dict():
    a = SelectionRequest("nucs", 0.9, "aum", 2, {"winsor": [0.05, 0.05], "ridge": 0.5})
    b = SelectionRequest("nucs", 0.9, "aum", 2, {"ridge": 0.5, "winsor": (0.05, 0.05)})
    assert a == b and hash(a) == hash(b)  # parameter order and sequence type do not matter
    assert SelectionRequest.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    assert a.param_dict == {"ridge": 0.5, "winsor": [0.05, 0.05]}
    ram = SelectionRequest("ram-apl", 0.5, backbones="efficientnet_lite0, efficientnet_lite1")
    assert ram.backbones == TWO_BACKBONES and SelectionRequest.from_dict(ram.to_dict()) == ram


@pytest.mark.parametrize("args, match", [
    (("nucz", 0.5), "unknown method 'nucz'"),
    (("nucs", 0.5, None, 0, {"ridgе": 1}), "no parameter"),
    (("nucs", 1.0), "prune_rate"),
    (("nucs", 0.5, None, -1), "seed"),
    (("nucs", 0.5, "loss"), "unknown score"),
    (("nucs", 0.5, None, 0, {}, ["efficientnet_lite0"]), "backbones apply to ram-apl"),
    (("cw-erm", 0.5), "reweights every sample"),
    (("nucs", 0.5, None, 0, {"ridge": object()}), "JSON"),
])
def test_a_bad_request_is_refused_with_the_fix(args, match):
    with pytest.raises(ValueError, match=match):
        SelectionRequest(*args)
    with pytest.raises(ValueError, match="unknown selection request key"):
        SelectionRequest.from_dict({"method": "nucs", "prune": 0.5})


@pytest.mark.parametrize("request_", [
    SelectionRequest("nucs", 0.7, None, 3, {"winsor": [0.05, 0.1], "endpoints": [0.2, 1.0]}),
    SelectionRequest("ram-apl", 0.5, None, 0, {}, TWO_BACKBONES),
    SelectionRequest("el2n", 0.25, "forgetting"),
])
def test_the_command_line_parses_back_to_the_same_request(request_):
    """Independent check: the `coreset` parser reads the printed line back into the same request and spec."""
    argv = shlex.split(request_.command(SPEC))
    assert argv[:2] == ["coreset", "select"]
    args = build_parser().parse_args(argv[1:])
    params = {p.key: p.value for p in args.param}
    if args.winsor is not None:
        params["winsor"] = list(args.winsor)
    parsed = SelectionRequest(args.method, args.prune_rate, args.score, args.seed, params, args.backbones)
    assert parsed == SelectionRequest(request_.method, request_.prune_rate, request_.score or SPEC.score,
                                      request_.seed, request_.params, request_.backbones)
    assert spec_from_args(args) == SPEC.replace(score=request_.score or SPEC.score)


def test_select_takes_a_request_records_it_and_rebuilds_from_it(session):
    request = SelectionRequest("nucs", 0.8, seed=1, params={"winsor": [0.05, 0.05]})
    selection = session.select(request)
    assert session.select("nucs", 0.8, seed=1, winsor=(0.05, 0.05)) is selection  # one memo entry
    assert session.select("nucs", 0.8, seed=1, winsor=(0.05, 0.05), ridge=1.0) is selection  # a default is no change
    recorded = selection.config["request"]
    assert recorded == {"method": "nucs", "prune_rate": 0.8, "score": SPEC.score, "seed": 1,
                        "params": {"winsor": [0.05, 0.05]}, "backbones": None}
    config = json.loads(json.dumps(selection.config))  # as a coreset JSON stores it
    again = selection_from_config(config, cache_dir=session.cache_dir)
    np.testing.assert_array_equal(again.indices, selection.indices)
    legacy = {k: v for k, v in config.items() if k != "request"}  # a document written before the request key
    assert request_from_config(legacy).method == "nucs" and request_from_config(legacy).seed == 1
    np.testing.assert_array_equal(selection_from_config(legacy, cache_dir=session.cache_dir).indices,
                                  selection.indices)


@pytest.mark.slow  # extracts a second backbone's features
def test_ram_apl_uses_exactly_the_chosen_backbones(session):
    selection = session.select(SelectionRequest("ram-apl", 0.5, backbones=TWO_BACKBONES))
    feats = [session.features_of("train", b).features for b in TWO_BACKBONES]
    by_hand = run_method("ram-apl", prune_rate=0.5, labels=session.labels, features=feats)  # independent route
    np.testing.assert_array_equal(selection.indices, by_hand.indices)
    assert selection.config["feature_backbones"] == list(TWO_BACKBONES)
    assert session.select("ram-apl", 0.5).config["request"]["backbones"] == list(RAM_APL_BACKBONES)


def test_reweight_is_memoised_and_is_the_registry_method(session):
    rw = session.reweight("cw-erm", seed=3, steps=20)
    assert session.reweight(SelectionRequest("cw-erm", seed=3, params={"steps": 20})) is rw
    direct = reweight("cw-erm", labels=session.labels, features=session.train.features, seed=3, steps=20)
    np.testing.assert_array_equal(rw.weights, direct.weights)
    with pytest.raises(ValueError, match="Session.reweight"):
        session.select("cw-erm")


def test_the_window_search_is_the_nucs_selection_and_refuses_too_much_work(session, monkeypatch):
    search = session.window_search(0.7, winsor=(0.05, 0.05))
    assert search is session.select("nucs", 0.7, winsor=(0.05, 0.05))
    assert search.info["endpoints"][int(np.argmax(search.info["accuracies"]))] <= search.info["best_endpoint"]
    monkeypatch.setenv("CORESET_MAX_FLOP", "1")
    with pytest.raises(ValueError, match="eval_subsample"):
        session.window_search(0.6)


@pytest.mark.slow  # extracts a second backbone's features, then trains
def test_a_sweep_runs_ram_apl_with_chosen_backbones_and_the_row_names_them(session, session_cache_dir, tmp_path):
    (config,) = plan_sweep(SPEC, ["ram-apl"], [0.5], [0], include_full=False, backbones=list(TWO_BACKBONES),
                           epochs=2)
    assert config.backbones == TWO_BACKBONES and config.request.backbones == TWO_BACKBONES
    assert "--backbones efficientnet_lite0,efficientnet_lite1" in config.command()
    assert config.run_id != RunConfig(SPEC, "ram-apl", 0.5, 0, epochs=2).run_id
    store = ResultsStore(tmp_path / "r.sqlite")
    assert run_sweep([config], store, progress=False, cache_dir=session_cache_dir).ok
    row = store.get_row(config.run_id)
    assert json.loads(store.get(config.run_id)["config_json"])["backbones"] == list(TWO_BACKBONES)
    assert row.selection_info_json["selection_config"]["feature_backbones"] == list(TWO_BACKBONES)
    by_hand = run_method("ram-apl", prune_rate=0.5, labels=session.labels,
                         features=[session.features_of("train", b).features for b in TWO_BACKBONES])
    assert row.class_kept_json == np.bincount(session.labels[by_hand.indices], minlength=10).tolist()
    with pytest.raises(ValueError, match="not in the sweep"):
        plan_sweep(SPEC, ["nucs"], [0.5], [0], backbones=list(TWO_BACKBONES))

