"""Fast-weight learning rules: delta, Hebbian (purely additive) and Oja (with or without the
key re-normalisation of the authors' code, "oja-softmax" / "oja").

All three share one call signature (see :func:`delta_rule`)::

    W = rule(keys, values, lr, init=None, mode="parallel", first_step_lr_one=False)
    W, steps = rule(keys, values, lr, return_steps=True)   # steps.updates, steps.cumulative

keys (B, T, d_key), values (B, T, d_value), lr (B, T) or (B, T, 1) -> W (B, d_value, d_key).
``mode="loop"`` is the sequential reference, ``mode="parallel"`` the fast form.
"""

from __future__ import annotations

from typing import Callable

from ..errors import FpaError
from .common import MODES, RuleSteps
from .delta import delta_rule
from .hebbian import hebbian_rule
from .oja import oja_rule, oja_softmax_rule

RULES: dict[str, Callable] = {
    "delta": delta_rule,
    "hebbian": hebbian_rule,
    "oja": oja_rule,
    "oja-softmax": oja_softmax_rule,
}


def get_rule(name: str) -> Callable:
    """Return the rule function called ``name`` ("delta", "hebbian", "oja" or "oja-softmax")."""
    try:
        return RULES[name]
    except KeyError:
        raise FpaError(f"unknown learning rule {name!r}; choose one of {', '.join(RULES)}") from None


__all__ = ["MODES", "RULES", "RuleSteps", "delta_rule", "get_rule", "hebbian_rule", "oja_rule", "oja_softmax_rule"]
