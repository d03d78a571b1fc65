"""Experiments: run configs, sweeps over them, the engines that run them and the results store.

- `run_config.RunConfig`: one run (a `DataSpec` + a selection request + the training protocol);
- `sweep`: `run_one`, `plan_sweep`, `run_sweep` (resumable, engine-agnostic);
- `engines/`: local processes and Ray;
- `store`: the SQLite results store and its row type.
"""
