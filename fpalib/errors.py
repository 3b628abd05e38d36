"""The one exception type that carries a message meant for the user, and the base of the
configuration dataclasses that raise it.

Raise :class:`FpaError` for bad input; its message says what was wrong and what to do. The
``fpa`` command prints it as one line, ``error: <message>``, and exits with status 2.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from jsonargparse.typing import restricted_number_type


class FpaError(ValueError):
    """A user-facing error: one line that says what was wrong and how to fix it."""


HalfOpenUnitInterval = restricted_number_type("HalfOpenUnitInterval", float, [(">=", 0), ("<", 1)])
"""A float in [0, 1): Adam's betas, the EMA's decay."""


@dataclass
class Checked:
    """Base of the configuration dataclasses: their ``__post_init__`` raises FpaError for a bad
    field, so every constructed (or ``dataclasses.replace``-d) config is valid. A dataclass without
    fields itself, so that jsonargparse treats its subclasses as plain dataclasses.

    The ranges and choices are in the annotations, which jsonargparse checks when it parses the
    command line or a config file: a restricted number type of ``jsonargparse.typing``
    (``PositiveInt``, ``NonNegativeFloat``, ...) or a ``Literal``, also inside a tuple or Optional.
    ``__post_init__`` checks them again for configs built in Python; subclasses call it first and
    add the checks no annotation can say.
    """

    def __post_init__(self) -> None:
        """FpaError, with jsonargparse's reason, for the first field its annotation refuses; the
        parser's restricted numbers (int and float subclasses) become plain ones, which
        ``torch.load(weights_only=True)`` reads back from an optimiser's state."""
        for name, hint in typing.get_type_hints(type(self)).items():
            value = getattr(self, name)
            for item in value if isinstance(value, tuple) else (value,):
                reason = _refusal(hint, item)
                if reason:
                    raise FpaError(f"{type(self).__name__}.{name}: {reason}")
            setattr(self, name, _plain(value))

    def validate(self) -> Any:
        """Check again after fields were set in place, the nested configs first; return self."""
        for value in vars(self).values():
            if isinstance(value, Checked):
                value.validate()
        self.__post_init__()
        return self


def _plain(value: Any) -> Any:
    """``value`` with int and float subclasses (bool aside), also inside a tuple, as plain int and float."""
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and type(value) not in (int, float):
        return int(value) if isinstance(value, int) else float(value)
    return value


def _refusal(hint: Any, value: Any) -> str:
    """Why ``value`` (or an item of a tuple field) does not fit ``hint``; "" when it does or when
    the hint restricts nothing."""
    if value is None:
        return ""
    if typing.get_origin(hint) in (typing.Union, types.UnionType, tuple):
        kinds = [kind for kind in typing.get_args(hint) if kind not in (type(None), Ellipsis)]
    else:
        kinds = [hint]
    reasons = []
    for kind in kinds:
        if typing.get_origin(kind) is typing.Literal:
            if value in typing.get_args(kind):
                return ""
            reasons.append(f"{value!r} is not one of {', '.join(map(str, typing.get_args(kind)))}")
        elif getattr(kind, "__module__", "") == "jsonargparse.typing":
            base = int if issubclass(kind, int) else float
            if isinstance(value, bool) or not isinstance(value, (base, int)):
                reasons.append(f"{value!r} is not {'an integer' if base is int else 'a number'}")
                continue
            try:
                kind(value)
                return ""
            except ValueError as error:
                reasons.append(str(error))
        else:
            return ""
    return reasons[0] if reasons else ""
