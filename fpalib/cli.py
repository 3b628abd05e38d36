"""The ``fpa`` command line: one sub-command per module of :data:`COMMANDS`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
A module that cannot be imported (a missing optional dependency, a broken torch install) is
listed as unavailable and running it prints one error line; the other commands still work.
A :class:`~fpalib.errors.FpaError`, a failure of the operating system (``OSError``: a read-only
folder, a full disk) or a request the machine cannot satisfy (out of memory, overflow) prints
``error: <message>`` and exits with 2; Ctrl-C prints ``interrupted`` and exits with 130; a
warning prints ``warning: <message>``. No traceback in any of these cases.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import importlib
import os
import re
import sys
import warnings
from collections.abc import Sequence

from fpalib import __version__
from fpalib.errors import FpaError

COMMANDS: dict[str, str] = {
    name: f"fpalib.commands.{name.replace('-', '_')}"
    for name in ("doctor", "data", "demo", "train", "generate", "paint", "interpolate", "fewshot",
                 "evaluate", "before-after", "site")
}
USAGE_ERROR = 2
INTERRUPTED = 130
FILE_METAVARS = ("PNG", "GIF")
"""Options with these metavars name one output file (checked before the command runs)."""
OUTPUT_SUFFIXES = {"PNG": (".png", ".jpg", ".jpeg", ".pdf"), "GIF": (".gif",)}
"""The extensions each kind of output file may have."""

_OS_ERROR_HINTS = {
    errno.ENOSPC: "free some disk space",
    errno.EFBIG: "the file-size limit (ulimit -f) or the file system's limit was reached",
    errno.EDQUOT: "the disk quota is used up",
    errno.EACCES: "choose a folder you may write to",
    errno.EPERM: "choose a folder you may write to",
    errno.EROFS: "the file system is read-only; choose another folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file of that name is in the way",
    errno.EISDIR: "it is a folder; give a file path",
    errno.ENOENT: "check the path",
}
_MEMORY_MESSAGES = ("out of memory", "not enough memory", "can't allocate memory", "cannot allocate memory",
                    "negative dimension")


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
        try:
            module = importlib.import_module(module_path)
        except Exception as exc:  # any import-time failure makes just this command unavailable
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            error = FpaError(f"the '{name}' command is unavailable because {module_path} cannot be imported "
                             f"({reason}); run `fpa doctor` to check the installation")
            commands.add_parser(name, help=f"(unavailable: cannot import {module_path})").set_defaults(
                import_error=error)
            continue
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        options = [option for action in sub._actions for option in action.option_strings]
        files = {action.dest: (action.option_strings[-1], action.metavar) for action in sub._actions
                 if action.metavar in FILE_METAVARS}
        sub.set_defaults(command_module=module, command_name=name, command_prog=f"fpa {name}",
                         command_options=options, output_files=files)
    return parser


def script_parser(module: object, prog: str) -> argparse.ArgumentParser:
    """The parser of a maintainer script written like a command module (``HELP``, ``add_arguments``,
    ``run``), for :func:`main`'s ``parser``: the script's errors then read like ``fpa``'s."""
    parser = argparse.ArgumentParser(prog=prog, description=module.HELP)
    module.add_arguments(parser)
    options = [option for action in parser._actions for option in action.option_strings]
    parser.set_defaults(command_module=module, command_name=prog, command_prog=prog, command_options=options,
                        output_files={})
    return parser


def unknown_arguments_error(args: argparse.Namespace, unparsed: Sequence[str]) -> FpaError:
    """One line naming the arguments ``fpa <command>`` does not know, with the closest options."""
    hints = []
    for token in unparsed:
        option = token.split("=", 1)[0]
        close = difflib.get_close_matches(option, args.command_options, n=1, cutoff=0.75)
        if option.startswith("--") and close:
            hints.append(f"{option} -> {close[0]}?")
    hint = f" (did you mean: {'; '.join(hints)})" if hints else ""
    return FpaError(f"unknown arguments for '{args.command_prog}': {' '.join(unparsed)}{hint}; "
                    f"run `{args.command_prog} --help` for the options")


def check_output_files(args: argparse.Namespace) -> None:
    """FpaError, before any work, when an output-file option names a folder, a name without an
    extension, an extension the writer cannot produce, or a file in a folder that is a file."""
    for dest, (option, metavar) in args.output_files.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        suffix = os.path.splitext(str(value))[1].lower()
        if os.path.isdir(value):
            raise FpaError(f"{option} {value} is a folder; give a file name, e.g. {value}/figure.{metavar.lower()}")
        if not suffix:
            raise FpaError(f"{option} {value} has no file extension; give e.g. {value}.{metavar.lower()}")
        if suffix not in OUTPUT_SUFFIXES[metavar]:
            raise FpaError(f"{option} {value}: {suffix} is not an image format it can write; use one of "
                           f"{', '.join(OUTPUT_SUFFIXES[metavar])}")
        parent = os.path.dirname(str(value)) or "."
        if os.path.exists(parent) and not os.path.isdir(parent):
            raise FpaError(f"{option} {value}: {parent} is a file, not a folder")


def given_numbers(argv: Sequence[str]) -> list[str]:
    """The options of ``argv`` given a number, largest first, as ``--option VALUE``."""
    found = []
    for index, token in enumerate(argv):
        option, _, value = token.partition("=")
        if not value and index + 1 < len(argv):
            value = argv[index + 1]
        with contextlib.suppress(ValueError):
            if option.startswith("--"):
                found.append((abs(float(value)), f"{option} {value}"))
    return [text for _, text in sorted(found, reverse=True)]


def system_error(exc: BaseException, argv: Sequence[str]) -> FpaError | None:
    """The one-line FpaError for an OS failure or a request the machine cannot satisfy; None otherwise."""
    if isinstance(exc, OSError):
        what = f"{exc.filename}: " if exc.filename else ""
        hint = _OS_ERROR_HINTS.get(exc.errno, "check the path, its permissions and the free disk space")
        return FpaError(f"{what}{exc.strerror or exc}; {hint}")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    numbers = given_numbers(argv)
    lower = f"lower the largest number given ({', '.join(numbers[:3])})" if numbers else "ask for less"
    if isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and any(message in text.lower() for message in _MEMORY_MESSAGES)
    ):
        asked = re.search(r"allocate (\d+) bytes", text)
        detail = f"{int(asked.group(1)) / 2**30:.3g} GiB asked for" if asked else text[:160]
        return FpaError(f"not enough memory for this request ({detail}); {lower}")
    if isinstance(exc, OverflowError) or (isinstance(exc, RuntimeError) and "overflow" in text.lower()):
        return FpaError(f"a number is too large to compute with ({text[:160]}); {lower}")
    return None


def main(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run ``fpa`` (or the command of ``parser``, see :func:`script_parser`) with ``argv`` (default
    ``sys.argv[1:]``) and return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *rest, **kwargs: print(f"warning: {message}", file=sys.stderr)
        try:
            try:
                args, unparsed = (parser or build_parser()).parse_known_args(argv)
            except SystemExit as exc:  # --help, --version and usage errors
                return exc.code if isinstance(exc.code, int) else USAGE_ERROR
            if hasattr(args, "import_error"):  # arguments of an unavailable command cannot be checked
                raise args.import_error
            if unparsed and not hasattr(args, "config_args"):
                raise unknown_arguments_error(args, unparsed)
            if unparsed:  # a command with config_args (fpa train) reads them as --section.field VALUE
                args.config_args = unparsed
            check_output_files(args)
            return args.command_module.run(args)
        except FpaError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return USAGE_ERROR
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return INTERRUPTED
        except (OSError, MemoryError, OverflowError, RuntimeError) as exc:
            error = system_error(exc, argv)
            if error is None:
                raise
            print(f"error: {error}", file=sys.stderr)
            return USAGE_ERROR
