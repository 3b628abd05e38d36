"""The ``fpa`` command line: one sub-command per module listed in :data:`COMMANDS`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. A module that cannot be imported (a missing optional
dependency, a broken torch install ...) does not break the other commands: it is
listed as unavailable and running it prints one error line. A
:class:`~fpalib.errors.FpaError` raised by a command is printed as
``error: <message>`` on stderr and the exit status is 2.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from fpalib import __version__
from fpalib.errors import FpaError

COMMANDS: dict[str, str] = {
    "doctor": "fpalib.commands.doctor",
    "data": "fpalib.commands.data",
    "demo": "fpalib.commands.demo",
    "train": "fpalib.commands.train",
    "generate": "fpalib.commands.generate",
    "paint": "fpalib.commands.paint",
    "interpolate": "fpalib.commands.interpolate",
    "export": "fpalib.commands.export",
    "fewshot": "fpalib.commands.fewshot",
    "evaluate": "fpalib.commands.evaluate",
    "before-after": "fpalib.commands.before_after",
}

USAGE_ERROR = 2


def _load_command(name: str, module_path: str) -> ModuleType | FpaError:
    """Import a command module, or return the FpaError that explains why it cannot be."""
    try:
        return importlib.import_module(module_path)
    except Exception as exc:  # any import-time failure makes just this command unavailable
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return FpaError(
            f"the '{name}' command is unavailable because {module_path} cannot be imported "
            f"({reason}); run `fpa doctor` to check the installation"
        )


def build_parser() -> argparse.ArgumentParser:
    """The ``fpa`` parser with one sub-parser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="fpa",
        description="Fast Weight Painters: train, sample and inspect image generators "
        "whose output is a sum of rank-one fast-weight updates.",
    )
    parser.add_argument("--version", action="version", version=f"fpalib {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_path in COMMANDS.items():
        loaded = _load_command(name, module_path)
        if isinstance(loaded, FpaError):
            sub = commands.add_parser(name, help=f"(unavailable: cannot import {module_path})")
            sub.set_defaults(import_error=loaded)
        else:
            sub = commands.add_parser(name, help=loaded.HELP, description=loaded.HELP)
            loaded.add_arguments(sub)
            options = [option for action in sub._actions for option in action.option_strings]
            sub.set_defaults(command_module=loaded, command_name=name, command_options=options)
    return parser


def unknown_arguments_error(args: argparse.Namespace, unparsed: Sequence[str]) -> FpaError:
    """One line naming the arguments ``fpa <command>`` does not know, with the closest options."""
    hints = []
    for token in unparsed:
        option = token.split("=", 1)[0]
        if option.startswith("--"):
            close = difflib.get_close_matches(option, args.command_options, n=1, cutoff=0.75)
            if close:
                hints.append(f"{option} -> {close[0]}?")
    hint = f" (did you mean: {'; '.join(hints)})" if hints else ""
    return FpaError(
        f"unknown arguments for 'fpa {args.command_name}': {' '.join(unparsed)}{hint}; "
        f"run `fpa {args.command_name} --help` for the options"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fpa`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    try:
        args, unparsed = parser.parse_known_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else USAGE_ERROR
    try:
        if hasattr(args, "import_error"):  # arguments of an unavailable command cannot be checked
            raise args.import_error
        if unparsed:
            raise unknown_arguments_error(args, unparsed)
        return args.command_module.run(args)
    except FpaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
