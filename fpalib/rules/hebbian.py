"""The purely additive (Hebbian) rule of linear Transformers.

    W_t = W_{t-1} + b_t v_t outer k_t

Nothing reads W inside the recurrence, so the parallel form is a single product,
W_T = W_0 + (diag(b) V)^T K, and the cumulative matrices are a prefix sum of the updates.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .common import (
    RuleSteps,
    check_inputs,
    check_mode,
    checked_rule,
    first_step_at_full_rate,
    outer_updates,
    steps_from_updates,
)


@checked_rule
def hebbian_rule(
    keys: Tensor,
    values: Tensor,
    lr: Tensor | None = None,
    init: Tensor | None = None,
    *,
    mode: str = "parallel",
    first_step_lr_one: bool = False,
    return_steps: bool = False,
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Run T additive updates; arguments and shapes as in :func:`fpalib.rules.delta_rule`."""
    check_mode(mode)
    lr = check_inputs(keys, values, lr, init)
    if first_step_lr_one:
        lr = first_step_at_full_rate(lr)
    scaled_values = lr.unsqueeze(-1) * values  # (B, T, d_value)
    if mode == "loop":
        return _hebbian_loop(keys, scaled_values, init, return_steps)
    weights = scaled_values.mT @ keys  # (B, d_value, d_key)
    if init is not None:
        weights = weights + init
    if not return_steps:
        return weights
    return weights, steps_from_updates(outer_updates(scaled_values, keys), init)


def _hebbian_loop(
    keys: Tensor, scaled_values: Tensor, init: Tensor | None, return_steps: bool
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Sequential reference: one outer product per step. scaled_values (B, T, d_value)."""
    batch, steps, d_key = keys.shape
    weights = init if init is not None else keys.new_zeros(batch, scaled_values.shape[-1], d_key)
    updates = []
    for t in range(steps):
        update = torch.bmm(scaled_values[:, t].unsqueeze(-1), keys[:, t].unsqueeze(-2))
        weights = weights + update
        if return_steps:
            updates.append(update)
    if not return_steps:
        return weights
    return weights, steps_from_updates(torch.stack(updates, dim=1), init)
