"""The `coreset` command line. Each subcommand lives in its own module with `add_parser`."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: Subcommand modules, in the order `coreset --help` lists them. Each defines
#: `add_parser(subparsers)` which registers its parser and sets `func=run(args) -> int`.
SUBCOMMAND_MODULES = [
    "data",       # datasets, backbones, features
    "selection",  # score, select, methods
    "experiments",  # train, sweep, results
    "export",     # export a selection's kept samples
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all subcommands)."""
    parser = argparse.ArgumentParser(prog="coreset", description="Coreset Studio: coreset selection for fine-tuning.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"cli.{name}"):
                continue  # subcommand group not written yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `coreset` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
