"""`SweepPlan.command` and `RunConfig.command`: the rendered command lines, read back by the real CLI
parser, plan exactly the same runs (planning only: no data loads, nothing trains)."""
from __future__ import annotations

import itertools
import shlex

import pytest

from coreset_core.cli import build_parser
from coreset_core.cli.experiments import run_sweep_cmd, run_train, sweep_plan_of, train_config_of
from coreset_core.experiments.run_config import RunConfig
from coreset_core.experiments.sweep import SweepPlan
from coreset_core.spec import DataSpec

LT = DataSpec("cifar10-lt", imbalance=50, limit=300, test_limit=100, score="aum", score_seeds=(0, 1))
PLANS = {
    "everything set": SweepPlan(LT, ["random", "nucs", "ccs"], "0.5, 0.75", [0, 2], include_full=False,
                                method_params={"nucs": {"winsor": (0.1, 0.05)}, "ccs": {"beta": 0.1, "strata": 20}},
                                run_fields={"mode": "finetune", "epochs": 7, "lr": 0.01, "batch_size": 64,
                                            "device": "cuda", "train_budget": "steps"}),
    "backbones and reweighting": SweepPlan(DataSpec("cifar10"), ["ram-apl", "cw-erm"], [0.9], (1,),
                                           method_params={"cw-erm": {"steps": 10}},
                                           backbones=["efficientnet_lite0", "efficientnet_lite1"]),
    "defaults": SweepPlan(DataSpec(), "random", 0.9),
    "baseline only": SweepPlan(DataSpec("cifar100"), [], [], "0,1"),
}


def _read_back(command: str):
    words = shlex.split(command)
    assert words[0] == "coreset"
    return build_parser().parse_args(words[1:])


@pytest.mark.parametrize("db", [None, "/tmp/a folder/results it's.sqlite"])
@pytest.mark.parametrize("name", list(PLANS))
def test_the_rendered_sweep_command_plans_the_same_runs(name, db):
    plan = PLANS[name]
    command = plan.command(db)
    args = _read_back(command)
    assert args.func is run_sweep_cmd and args.db == db
    again = sweep_plan_of(args)
    assert [c.run_id for c in again.configs()] == [c.run_id for c in plan.configs()]
    assert again.configs() == plan.configs()  # the fields run_id leaves out (device) too
    assert again.command(db) == command


def test_the_plan_is_the_grid_its_fields_describe():
    """Checked against the grid written out by hand, not against `plan_sweep`'s own loop."""
    configs = PLANS["everything set"].configs()
    assert sorted((c.method, c.prune_rate, c.seed) for c in configs) == sorted(
        itertools.product(["random", "nucs", "ccs"], [0.5, 0.75], [0, 2]))  # include_full=False: no baseline
    assert all(c.spec == LT and (c.mode, c.epochs, c.lr, c.batch_size, c.device, c.train_budget)
               == ("finetune", 7, 0.01, 64, "cuda", "steps") for c in configs)
    nucs = [c for c in configs if c.method == "nucs"]
    assert all(c.param_dict["winsor"] == [0.1, 0.05] for c in nucs)
    assert all(c.call_params() == {"beta": 0.1, "strata": 20} for c in configs if c.method == "ccs")
    mixed = PLANS["backbones and reweighting"].configs()
    assert [(c.method, c.prune_rate, c.seed) for c in mixed] == [("full", 0.0, 1), ("ram-apl", 0.9, 1),
                                                                 ("cw-erm", 0.0, 1)]
    assert mixed[1].backbones == ("efficientnet_lite0", "efficientnet_lite1") and mixed[2].call_params() == {
        "steps": 10}
    assert [(c.method, c.seed) for c in PLANS["baseline only"].configs()] == [("full", 0), ("full", 1)]


def test_a_bad_form_value_is_refused_with_its_name():
    with pytest.raises(ValueError, match="^pruning rates must be a comma-separated list of float values, got "
                                         "'0.5, half'$"):
        SweepPlan(LT, ["random"], "0.5, half")
    with pytest.raises(ValueError, match="seeds must be"):
        SweepPlan(LT, ["random"], [0.5], "0, one")
    with pytest.raises(ValueError, match=r"unknown run field\(s\) \['epoch'\]"):
        SweepPlan(LT, ["random"], [0.5], run_fields={"epoch": 3})


@pytest.mark.parametrize("config", [
    RunConfig(LT, "nucs", 0.7, 2, {"winsor": (0.1, 0.05)}, mode="finetune", epochs=7, lr=0.01, batch_size=64,
              train_budget="steps"),
    RunConfig(DataSpec("cifar10"), "ram-apl", 0.9, 0, backbones=["efficientnet_lite0", "efficientnet_lite1"]),
    RunConfig(DataSpec(), "full"),
])
def test_a_runs_train_command_reads_back_to_the_same_run(config):
    args = _read_back(config.command())
    assert args.func is run_train
    again = train_config_of(args)
    assert again == config and again.run_id == config.run_id
