"""The purely additive rules: the paper's (Sec. 2.1) and its variant with a learning rate.

    additive       W_t = W_{t-1} + v_t outer k_t              (paper Sec. 2.1; no rate)
    additive-rate  W_t = W_{t-1} + beta_t v_t outer k_t       (beta_t = sigma(.), as in Eq. 2 / 9)

``additive`` is the rule of linear Transformers and of the authors' additive baseline
(``lstm_sum``); ``additive-rate`` gives the additive rule the same sigmoid learning rate as the
delta rule, so that the two differ in the learning rule only.

Nothing reads W inside the recurrence, so the parallel form is a single product,
W_T = W_0 + (diag(beta) V)^T K, and the cumulative matrices are a prefix sum of the updates.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fpalib.errors import FpaError
from fpalib.rules.common import (
    RuleSteps,
    check_inputs,
    check_mode,
    checked_rule,
    first_step_at_full_rate,
    outer_updates,
    steps_from_updates,
)


@checked_rule
def additive_rule(
    keys: Tensor, values: Tensor, beta: Tensor | None = None, init: Tensor | None = None, **options: Any
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Sec. 2.1: T updates W_t = W_{t-1} + v_t outer k_t; shapes as in :func:`fpalib.rules.delta_rule`.

    The rule has no learning rate: ``beta`` must be None (FpaError otherwise). ``options`` are
    those of every rule (``mode``, ``return_steps``; ``first_step_beta_one`` changes nothing).
    """
    if beta is not None:
        raise FpaError(
            "the purely additive rule (paper Sec. 2.1) has no learning rate; pass beta=None, "
            "or use 'additive-rate' for the additive rule with a rate"
        )
    options.pop("first_step_beta_one", None)
    return additive_rate_rule(keys, values, None, init, **options)


@checked_rule
def additive_rate_rule(
    keys: Tensor,
    values: Tensor,
    beta: Tensor | None = None,
    init: Tensor | None = None,
    *,
    mode: str = "parallel",
    first_step_beta_one: bool = False,
    return_steps: bool = False,
) -> Tensor | tuple[Tensor, RuleSteps]:
    """T updates W_t = W_{t-1} + beta_t v_t outer k_t; arguments and shapes as in
    :func:`fpalib.rules.delta_rule` (beta holds beta_t, already squashed; None means 1)."""
    check_mode(mode)
    beta = check_inputs(keys, values, beta, init)
    if first_step_beta_one:
        beta = first_step_at_full_rate(beta)
    scaled_values = beta.unsqueeze(-1) * values  # beta_t v_t, (B, T, d_value)
    if mode == "loop":
        return _additive_loop(keys, scaled_values, init, return_steps)
    weights = scaled_values.mT @ keys  # sum_t beta_t v_t outer k_t, (B, d_value, d_key)
    if init is not None:
        weights = weights + init
    if not return_steps:
        return weights
    return weights, steps_from_updates(outer_updates(scaled_values, keys), init)


def _additive_loop(
    keys: Tensor, scaled_values: Tensor, init: Tensor | None, return_steps: bool
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Sequential reference: one outer product per step. scaled_values (B, T, d_value)."""
    batch, steps, d_key = keys.shape
    weights = init if init is not None else keys.new_zeros(batch, scaled_values.shape[-1], d_key)
    updates = []
    for t in range(steps):
        update = torch.bmm(scaled_values[:, t].unsqueeze(-1), keys[:, t].unsqueeze(-2))  # Sec. 2.1: W_t = W_{t-1} + v_t outer k_t
        weights = weights + update
        if return_steps:
            updates.append(update)
    if not return_steps:
        return weights
    return weights, steps_from_updates(torch.stack(updates, dim=1), init)
