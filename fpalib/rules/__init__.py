"""Fast-weight learning rules: delta (paper Eq. 2 / 9), additive (Sec. 2.1, no rate), additive with a
sigmoid rate, and Oja (with or without the key re-normalisation of the authors' code,
"oja-softmax" / "oja").

All share one call signature (see :func:`delta_rule`)::

    W = rule(keys, values, beta, init=None, mode="parallel", first_step_beta_one=False)
    W, steps = rule(keys, values, beta, return_steps=True)   # steps.updates, steps.cumulative

keys (B, T, d_key), values (B, T, d_value), beta (B, T) or (B, T, 1) -> W (B, d_value, d_key).
The ``additive`` rule has no rate and takes ``beta=None`` (see :data:`RULES_WITHOUT_RATE`).
``mode="loop"`` is the sequential reference, ``mode="parallel"`` the fast form.
"""

from __future__ import annotations

from typing import Callable

from fpalib.errors import FpaError
from fpalib.rules.additive import additive_rate_rule, additive_rule
from fpalib.rules.common import MODES, RuleSteps
from fpalib.rules.delta import delta_rule
from fpalib.rules.oja import oja_rule, oja_softmax_rule

RULES: dict[str, Callable] = {
    "delta": delta_rule,
    "additive": additive_rule,
    "additive-rate": additive_rate_rule,
    "oja": oja_rule,
    "oja-softmax": oja_softmax_rule,
}

RULES_WITHOUT_RATE = ("additive",)
"""Rules that have no learning rate (they take ``beta=None``)."""

def get_rule(name: str) -> Callable:
    """Return the rule function called ``name`` (a key of :data:`RULES`)."""
    try:
        return RULES[name]
    except KeyError:
        raise FpaError(f"unknown learning rule {name!r}; choose one of {', '.join(RULES)}") from None


__all__ = [
    "MODES", "RULES", "RULES_WITHOUT_RATE", "RuleSteps", "additive_rate_rule", "additive_rule", "delta_rule",
    "get_rule", "oja_rule", "oja_softmax_rule",
]
