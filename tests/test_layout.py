"""The layout's rules, checked on the source: the library never loads the studio, and functions stay small."""
from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import coreset_core

ROOT = Path(__file__).resolve().parents[1]
#: The developers' limits (docs/DEVELOPING.md): lines per function and parameters per signature.
MAX_LINES, MAX_PARAMS = 60, 15


def test_every_library_module_imports_without_streamlit_or_the_studio():
    names = sorted(m.name for m in pkgutil.walk_packages(coreset_core.__path__, "coreset_core.")
                   if not m.name.endswith(".__main__"))  # `python -m` entry points run the CLI when imported
    assert len(names) > 40 and "coreset_core.experiments.sweep" in names and "coreset_core.cli.selection" in names
    script = ("import importlib, json, sys\n"
              f"for name in {names!r}:\n"
              "    importlib.import_module(name)\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'coreset_studio'))))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _functions(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x is not None)]
            if params and params[0].arg in ("self", "cls"):
                params = params[1:]
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1, len(params)


def test_no_function_is_over_60_lines_or_15_parameters():
    offenders = [f"{path.relative_to(ROOT)}:{line} {name}: {length} lines, {params} parameters"
                 for package in ("coreset_core", "coreset_studio") for path in sorted((ROOT / package).rglob("*.py"))
                 for name, line, length, params in _functions(path) if length > MAX_LINES or params > MAX_PARAMS]
    assert not offenders, "\n".join(offenders)


def test_every_name_of_the_library_facade_resolves():
    missing = [name for name in coreset_core.__all__ if name != "__version__" and not hasattr(coreset_core, name)]
    assert not missing and {"SelectionRequest", "reweight", "FinetuneOptions"} <= set(coreset_core.__all__)
