"""Per-step read-out of a fast weight memory: y_t = W_t q_t for every t (what a DeltaNet layer needs).

The rules in :mod:`fpalib.rules` return the final matrix W_T, which is all a painter needs. A
sequence model such as a DeltaNet (Schlag et al., 2021; Irie & Schmidhuber, 2023, Eq. 1-3) reads
its memory at every step instead, with a query q_t, right after the step's update:

    W_t = W_{t-1} + beta_t (v_t - W_{t-1} k_t) outer k_t      (delta)    or    + beta_t v_t outer k_t   (additive)
    y_t = W_t q_t

Arguments, for both rules (keys and queries already normalised, e.g. by a softmax):

    queries (B, T, d_key), keys (B, T, d_key), values (B, T, d_value),
    beta (B, T) or (B, T, 1) or None (= 1), init (B, d_value, d_key) or None (= zeros)
    -> outputs (B, T, d_value)  [, RuleSteps(updates, cumulative) each (B, T, d_value, d_key)]

``mode="loop"`` is the sequential reference (one matrix-vector product per step). ``mode="parallel"``
never forms W_t. Writing W_t = W_0 + sum_{s<=t} u_s outer k_s (u_s = b_s v_s for the Hebbian rule,
the rows U of the delta rule's triangular system, see ``fpalib/rules/README.md``),

    y_t = W_0 q_t + sum_{s<=t} (k_s . q_t) u_s,   i.e.   Y = Q W_0^T + tril(Q K^T) U

(tril keeping the diagonal): causal linear attention over the "delta values" U. For the delta rule
U comes from the same triangular solve and hand-written backward as :func:`fpalib.rules.delta_rule`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from fpalib.errors import FpaError
from fpalib.rules import common
from fpalib.rules.common import (
    RuleSteps,
    check_inputs,
    check_mode,
    first_step_at_full_rate,
    outer_updates,
    steps_from_updates,
)
from fpalib.rules.delta import _DeltaSolve


@common.checked_rule
def delta_outputs(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    beta: Tensor | None = None,
    init: Tensor | None = None,
    *,
    mode: str = "parallel",
    first_step_beta_one: bool = False,
    return_steps: bool = False,
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Outputs y_t = W_t q_t (B, T, d_value) of the delta rule at every step; see the module docstring."""
    beta = _prepare(queries, keys, values, beta, init, mode, first_step_beta_one)
    if mode == "loop":
        return _outputs_loop(queries, keys, values, beta, init, delta=True, return_steps=return_steps)
    _, deltas = _DeltaSolve.apply(keys, values, beta, init)  # deltas U: (B, T, d_value)
    return _outputs_from_deltas(queries, keys, deltas, init, return_steps)


@common.checked_rule
def additive_outputs(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    beta: Tensor | None = None,
    init: Tensor | None = None,
    *,
    mode: str = "parallel",
    first_step_beta_one: bool = False,
    return_steps: bool = False,
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Outputs of the purely additive rule (the paper's Sec. 2.1 rule when beta is None: causal linear attention,
    unnormalised) at every step."""
    beta = _prepare(queries, keys, values, beta, init, mode, first_step_beta_one)
    if mode == "loop":
        return _outputs_loop(queries, keys, values, beta, init, delta=False, return_steps=return_steps)
    return _outputs_from_deltas(queries, keys, beta.unsqueeze(-1) * values, init, return_steps)


READOUTS: dict[str, Callable] = {"delta": delta_outputs, "additive": additive_outputs}


def get_readout(name: str) -> Callable:
    """The per-step read-out of rule ``name`` ("delta" or "additive")."""
    try:
        return READOUTS[name]
    except KeyError:
        raise FpaError(
            f"no per-step read-out for learning rule {name!r}; choose one of {', '.join(READOUTS)}"
        ) from None


def _prepare(
    queries: Tensor, keys: Tensor, values: Tensor, beta: Tensor | None, init: Tensor | None,
    mode: str, first_step_beta_one: bool,
) -> Tensor:
    """Check all arguments; return the learning rates as (B, T)."""
    check_mode(mode)
    beta = check_inputs(keys, values, beta, init)
    if queries.shape != keys.shape:
        raise FpaError(f"queries {tuple(queries.shape)} must have the shape of keys {tuple(keys.shape)}")
    return first_step_at_full_rate(beta) if first_step_beta_one else beta


def _outputs_from_deltas(
    queries: Tensor, keys: Tensor, deltas: Tensor, init: Tensor | None, return_steps: bool
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Y = tril(Q K^T) U (+ Q W_0^T); deltas U (B, T, d_value) are the per-step update vectors."""
    scores = torch.tril(queries @ keys.mT)  # (B, T, T), s <= t
    outputs = scores @ deltas
    if init is not None:
        outputs = outputs + queries @ init.mT
    if not return_steps:
        return outputs
    return outputs, steps_from_updates(outer_updates(deltas, keys), init)


def _outputs_loop(
    queries: Tensor, keys: Tensor, values: Tensor, beta: Tensor, init: Tensor | None,
    *, delta: bool, return_steps: bool,
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Sequential reference: update W with step t, then read y_t = W_t q_t. beta (B, T)."""
    batch, steps, d_key = keys.shape
    weights = init if init is not None else keys.new_zeros(batch, values.shape[-1], d_key)
    outputs, updates = [], []
    for t in range(steps):
        key = keys[:, t]  # (B, d_key)
        target = values[:, t]
        if delta:
            target = target - torch.bmm(weights, key.unsqueeze(-1)).squeeze(-1)
        update = (beta[:, t, None] * target).unsqueeze(-1) * key.unsqueeze(-2)  # (B, d_value, d_key)
        weights = weights + update
        outputs.append(torch.bmm(weights, queries[:, t].unsqueeze(-1)).squeeze(-1))
        if return_steps:
            updates.append(update)
    stacked = torch.stack(outputs, dim=1)  # (B, T, d_value)
    if not return_steps:
        return stacked
    return stacked, steps_from_updates(torch.stack(updates, dim=1), init)
