"""Reading one configuration value (a JSON value or a command-line string) as its field's type.

Used by :mod:`fpalib.train.config` for ``from_dict`` and ``section.field=value`` overrides.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any

from fpalib.errors import FpaError

_TRUE, _FALSE, _NONE = ("true", "yes", "1", "on"), ("false", "no", "0", "off"), ("none", "null")


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert ``value`` (a JSON value or a command-line string) to the type ``annotation``.

    Supports int, float, bool ("true"/"false"), str, Optional[X] ("none"), tuple[X, ...] and
    tuple[X, Y] ("0.5,0.9" or a JSON list). Raises FpaError naming ``key``.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE):
            if len(options) < len(args):
                return None
            raise FpaError(f"config key {key!r} cannot be none")
        for option in options:
            try:
                return coerce(value, option, key)
            except FpaError:
                continue
        raise FpaError(f"config key {key!r}: cannot read {value!r} as {_type_name(annotation)}")
    if origin in (tuple, list):
        return _coerce_sequence(value, origin, args, key)
    if annotation is bool:
        return _coerce_bool(value, key)
    if annotation in (int, float):
        return _coerce_number(value, annotation, key)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise FpaError(f"config key {key!r}: expected a string; got {value!r}")
    if annotation is Any:
        return value
    raise FpaError(f"config key {key!r} has an unsupported type {_type_name(annotation)}")


def _coerce_sequence(value: Any, origin: type, args: tuple[Any, ...], key: str) -> Any:
    items = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise FpaError(f"config key {key!r}: expected a comma-separated list; got {value!r}")
    if origin is list or (len(args) == 2 and args[1] is Ellipsis):
        item_type = args[0] if args else Any
        coerced = [coerce(item, item_type, key) for item in items]
    else:
        if len(items) != len(args):
            raise FpaError(f"config key {key!r}: expected {len(args)} values; got {value!r}")
        coerced = [coerce(item, item_type, key) for item, item_type in zip(items, args, strict=True)]
    return tuple(coerced) if origin is tuple else coerced


def _coerce_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise FpaError(f"config key {key!r}: expected true or false; got {value!r}")


def _coerce_number(value: Any, kind: type, key: str) -> int | float:
    """``value`` as ``kind``; FpaError naming ``key`` unless it is a finite number (an int below 2**63)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FpaError(f"config key {key!r}: expected {kind.__name__}; got {value!r}")
    try:
        number: Any = (float if kind is float else _parse_int)(value.strip()) if isinstance(value, str) else kind(value)
    except ValueError:
        raise FpaError(f"config key {key!r}: expected {kind.__name__}; got {value!r}") from None
    except OverflowError:  # int(inf), int('1e400')
        number = math.inf
    if kind is int and not isinstance(value, str) and math.isfinite(number) and number != value:
        raise FpaError(f"config key {key!r}: expected an integer; got {value!r}")
    if not math.isfinite(number) or (kind is int and abs(number) >= 2**63):
        raise FpaError(f"config key {key!r}: expected a finite {kind.__name__}{' below 2**63' * (kind is int)}; "
                       f"got {value!r}")
    return number


def _parse_int(text: str) -> int:
    """'450000', '450_000' and '4.5e5' all give 450000; '0.5' raises ValueError."""
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise
        return int(number)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation))
