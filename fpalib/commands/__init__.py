"""Sub-commands of ``fpa``; each module is registered in :data:`fpalib.cli.COMMANDS`.

A command module defines ``HELP: str`` (one line),
``add_arguments(parser: argparse.ArgumentParser) -> None`` and
``run(args: argparse.Namespace) -> int`` (the exit status).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

import docstring_parser


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of every command that samples from a trained generator."""
    parser.add_argument("run", metavar="RUN_OR_CKPT", help="run folder (uses checkpoints/latest.pt) or .pt file")
    parser.add_argument("--raw", action="store_true", help="use the raw generator instead of its EMA")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")


def _based_on(kind: object, base: type) -> bool:
    """Whether values of annotation ``kind`` (a type, a restricted number type, a Literal) are ``base``s."""
    if typing.get_origin(kind) is typing.Literal:
        return isinstance(typing.get_args(kind)[0], base)
    return isinstance(kind, type) and issubclass(kind, base) and not issubclass(kind, bool)


def add_field_options(parser: argparse.ArgumentParser, config: type, names: typing.Iterable[str],
                      options: dict[str, str] | None = None, defaults: dict[str, object] | None = None) -> None:
    """``--field-name`` (or ``options[field]``) for each dataclass field of ``names``, typed by its
    annotation (a tuple field takes a comma-separated list) and described by the dataclass's
    ``Attributes:`` docstring; ``dest`` is the field name. Not given, it is None, or with
    ``defaults`` the value there, else the field's default (shown in the help)."""
    fields = {field.name: field.default for field in dataclasses.fields(config)}
    described = {param.arg_name: " ".join(param.description.split())
                 for param in docstring_parser.parse(config.__doc__ or "").params}
    hints = typing.get_type_hints(config)
    for name in names:
        union = typing.get_origin(hints[name]) in (typing.Union, types.UnionType)
        kinds = typing.get_args(hints[name]) if union else (hints[name],)
        if typing.get_origin(hints[name]) is tuple:
            kind, metavar = (lambda text: tuple(item.strip() for item in text.split(",") if item.strip())), "LIST"
        else:
            kind = next(base for kind in kinds for base in (int, float, str) if _based_on(kind, base))
            metavar = {int: "N", float: "X", str: "TEXT"}[kind]
        option = (options or {}).get(name, "--" + name.replace("_", "-"))
        help_text = described[name].replace("``", "").replace("%", "%%")
        default = None if defaults is None else defaults.get(name, fields[name])
        parser.add_argument(option, dest=name, type=kind, metavar=metavar, default=default,
                            help=help_text if defaults is None else f"{help_text} (default: %(default)s)")
