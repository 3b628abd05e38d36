"""Oja's rule, in the form used by the authors' code for the ablation of Sec. 4.3.

The value (output) is scaled by the learning rate and the key (input) is corrected by
what the matrix already maps the value back to:

    k'_t = k_t - W_{t-1}^T v_t          (optionally re-normalised by a softmax)
    W_t  = W_{t-1} + beta_t v_t outer k'_t

Without the re-normalisation the rule is a delta rule on the transpose: with M = W^T,
M_t = M_{t-1} + beta_t (k_t - M_{t-1} v_t) outer v_t, i.e. keys and values swap roles. The
parallel form therefore reuses the parallel delta rule. With the softmax re-applied the
recurrence is no longer linear in W and only the loop exists: ``mode="parallel"`` then
runs the loop (there is nothing faster to run).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fpalib.rules.common import (
    RuleSteps,
    check_inputs,
    check_mode,
    checked_rule,
    first_step_at_full_rate,
    steps_from_updates,
)
from fpalib.rules.delta import delta_rule_loop, delta_rule_parallel


@checked_rule
def oja_rule(
    keys: Tensor,
    values: Tensor,
    beta: Tensor | None = None,
    init: Tensor | None = None,
    *,
    mode: str = "parallel",
    first_step_beta_one: bool = False,
    return_steps: bool = False,
    renormalize_keys: bool = False,
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Run T Oja updates; arguments and shapes as in :func:`fpalib.rules.delta_rule`.

    renormalize_keys: apply a softmax to each corrected key k'_t (loop only, see module doc).
    """
    check_mode(mode)
    beta = check_inputs(keys, values, beta, init)
    if first_step_beta_one:
        beta = first_step_at_full_rate(beta)
    if renormalize_keys:
        return _oja_loop_renormalized(keys, values, beta, init, return_steps)
    init_t = None if init is None else init.mT
    transposed_rule = delta_rule_loop if mode == "loop" else delta_rule_parallel
    result = transposed_rule(values, keys, beta, init_t, return_steps=return_steps)
    if not return_steps:
        return result.mT
    weights, steps = result
    return weights.mT, RuleSteps(steps.updates.mT, steps.cumulative.mT)


def _oja_loop_renormalized(
    keys: Tensor, values: Tensor, beta: Tensor, init: Tensor | None, return_steps: bool
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Oja's rule with a softmax over each corrected key; beta (B, T)."""
    batch, steps, d_key = keys.shape
    weights = init if init is not None else keys.new_zeros(batch, values.shape[-1], d_key)
    updates = []
    for t in range(steps):
        value = values[:, t]  # (B, d_value)
        back = torch.bmm(weights.mT, value.unsqueeze(-1)).squeeze(-1)  # (B, d_key)
        key = torch.softmax(keys[:, t] - back, dim=-1)
        update = (beta[:, t, None] * value).unsqueeze(-1) * key.unsqueeze(-2)
        weights = weights + update
        if return_steps:
            updates.append(update)
    if not return_steps:
        return weights
    return weights, steps_from_updates(torch.stack(updates, dim=1), init)


@checked_rule
def oja_softmax_rule(
    keys: Tensor,
    values: Tensor,
    beta: Tensor | None = None,
    init: Tensor | None = None,
    *,
    mode: str = "parallel",
    first_step_beta_one: bool = False,
    return_steps: bool = False,
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Oja's rule with the softmax re-applied to every corrected key, as in the authors' code.

    The rule ``"oja-softmax"`` of :data:`fpalib.rules.RULES`; the same as
    ``oja_rule(..., renormalize_keys=True)`` (always the loop, for either ``mode``).
    """
    return oja_rule(
        keys, values, beta, init, mode=mode, first_step_beta_one=first_step_beta_one,
        return_steps=return_steps, renormalize_keys=True,
    )
