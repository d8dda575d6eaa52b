"""``lensfind`` command line: parsing only; each command calls one library function.

Handlers are named as ``"module:function"`` and imported only when their command runs, so
``lensfind --help`` stays fast (no TensorFlow import).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from lensfind.validation import ConfigError


def _experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="experiment TOML file (see experiments/)")
    p.add_argument("--small", action="store_true",
                   help="apply the file's [small] table: a CPU-sized version of the experiment")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.epochs=2 (repeatable)")


def _simulate_args(p: argparse.ArgumentParser) -> None:
    _experiment_args(p)
    p.add_argument("--out", help="HDF5 file to write (default data/generated/<name>.h5)")
    p.add_argument("--fits-dir", help="also export FITS cutouts and a CSV index to this folder")


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo-output", help="folder for the demo's files")


# name -> (help, add_arguments, "module:function")
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {
    "simulate": ("simulate a labelled HDF5 training set", _simulate_args,
                 "lensfind.data.build:simulate_command"),
    "demo": ("run the embedded demo end to end", _demo_args, "lensfind.demo:demo_command"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lensfind", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, func_name = COMMANDS[args.command][2].split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(handler(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"lensfind {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
