"""The one exception type that carries a message meant for the user, and the base of the
configuration dataclasses that raise it.

Raise :class:`FpaError` for bad input; its message says what was wrong and what to do. The
``fpa`` command prints it as one line, ``error: <message>``, and exits with status 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class FpaError(ValueError):
    """A user-facing error: one line that says what was wrong and how to fix it."""


@dataclass
class Checked:
    """Base of the configuration dataclasses: their ``__post_init__`` raises FpaError for a bad
    field, so every constructed (or ``dataclasses.replace``-d) config is valid. A dataclass without
    fields itself, so that jsonargparse treats its subclasses as plain dataclasses."""

    def __post_init__(self) -> None:
        """Check the fields (nothing here; the dataclasses override it)."""

    def validate(self) -> Any:
        """Check again after fields were set in place, the nested configs first; return self."""
        for value in vars(self).values():
            if isinstance(value, Checked):
                value.validate()
        self.__post_init__()
        return self


def check_minimums(section: str, config: Any, minimums: dict[str, float]) -> None:
    """Raise FpaError for the first field of ``config`` below its minimum (None passes)."""
    for name, minimum in minimums.items():
        value = getattr(config, name)
        if value is not None and value < minimum:
            raise FpaError(f"{section}.{name} must be at least {minimum}; got {value}")
