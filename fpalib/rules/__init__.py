"""Fast-weight learning rules: delta (paper Eq. 2 / 9), additive (Sec. 2.1, no rate), additive with a
sigmoid rate, and Oja (with or without the key re-normalisation of the authors' code,
"oja-softmax" / "oja").

All share one call signature (see :func:`delta_rule`)::

    W = rule(keys, values, beta, init=None, mode="parallel", first_step_beta_one=False)
    W, steps = rule(keys, values, beta, return_steps=True)   # steps.updates, steps.cumulative

keys (B, T, d_key), values (B, T, d_value), beta (B, T) or (B, T, 1) -> W (B, d_value, d_key).
The ``additive`` rule has no rate and takes ``beta=None`` (see :data:`RULES_WITHOUT_RATE`).
``mode="loop"`` is the sequential reference, ``mode="parallel"`` the fast form.
The old name ``hebbian`` is a deprecated alias of ``additive-rate`` (:data:`DEPRECATED_RULES`).
"""

from __future__ import annotations

import warnings
from typing import Callable

from fpalib.errors import FpaError
from fpalib.rules.additive import additive_rate_rule, additive_rule, hebbian_rule
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

DEPRECATED_RULES = {"hebbian": "additive-rate"}
"""Old rule names -> current names (old configs and checkpoints keep loading)."""


def canonical_rule_name(name: str) -> str:
    """``name`` with a deprecated alias replaced by the current name (with a DeprecationWarning)."""
    if name in DEPRECATED_RULES:
        new = DEPRECATED_RULES[name]
        warnings.warn(f"the learning rule {name!r} is now called {new!r}", DeprecationWarning, stacklevel=3)
        return new
    return name


def get_rule(name: str) -> Callable:
    """Return the rule function called ``name`` (a key of :data:`RULES`, or ``hebbian``)."""
    try:
        return RULES[canonical_rule_name(name)]
    except KeyError:
        raise FpaError(f"unknown learning rule {name!r}; choose one of {', '.join(RULES)}") from None


__all__ = [
    "DEPRECATED_RULES", "MODES", "RULES", "RULES_WITHOUT_RATE", "RuleSteps", "additive_rate_rule", "additive_rule",
    "canonical_rule_name", "delta_rule", "get_rule", "hebbian_rule", "oja_rule", "oja_softmax_rule",
]
