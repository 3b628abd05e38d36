"""Shared plumbing of the learning rules: input checks, learning-rate handling, step records.

Every rule in :mod:`fpalib.rules` takes the same arguments

    keys    (B, T, d_key)    already normalised by the caller (softmax, or not at all)
    values  (B, T, d_value)
    lr      (B, T) or (B, T, 1), already squashed by the caller (sigmoid, or not); None means 1
    init    (B, d_value, d_key) initial fast weight matrix W_0; None means zeros

and returns the final matrix W_T of shape (B, d_value, d_key), plus, on request, a
:class:`RuleSteps` record of every step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import FpaError

MODES = ("parallel", "loop")


class RuleSteps(NamedTuple):
    """Every step of a learning-rule sequence, for visualisation.

    updates:    (B, T, d_value, d_key), the rank-one update added at step t
    cumulative: (B, T, d_value, d_key), the matrix W_t after step t (W_0 + updates up to t)
    """

    updates: Tensor
    cumulative: Tensor


def check_inputs(keys: Tensor, values: Tensor, lr: Tensor | None, init: Tensor | None) -> Tensor:
    """Validate shapes and return the learning rates as a (B, T) tensor.

    Raises FpaError naming the offending argument when shapes do not fit together.
    """
    if keys.dim() != 3 or values.dim() != 3:
        raise FpaError(
            f"keys and values must be (batch, steps, dim) tensors; got keys {tuple(keys.shape)} "
            f"and values {tuple(values.shape)}"
        )
    batch, steps, d_key = keys.shape
    if values.shape[:2] != (batch, steps):
        raise FpaError(
            f"keys {tuple(keys.shape)} and values {tuple(values.shape)} must agree in batch and steps"
        )
    if lr is None:
        lr = keys.new_ones(batch, steps)
    elif lr.dim() == 3 and lr.shape[-1] == 1:
        lr = lr.squeeze(-1)
    if lr.shape != (batch, steps):
        raise FpaError(
            f"learning rates must be (batch, steps) or (batch, steps, 1) = ({batch}, {steps}); "
            f"got {tuple(lr.shape)}"
        )
    if init is not None and init.shape != (batch, values.shape[-1], d_key):
        raise FpaError(
            f"init must be (batch, d_value, d_key) = ({batch}, {values.shape[-1]}, {d_key}); "
            f"got {tuple(init.shape)}"
        )
    return lr


def check_mode(mode: str) -> None:
    """Raise FpaError unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise FpaError(f"unknown rule mode {mode!r}; choose one of {', '.join(MODES)}")


def first_step_at_full_rate(lr: Tensor) -> Tensor:
    """Return ``lr`` (B, T) with the first step's rate replaced by 1.

    The authors' code skips the learning rate at step 1 (W_1 = v_1 outer k_1 when W_0 = 0);
    the paper's equation applies it at every step. Gradients still flow to lr[:, 1:].
    """
    return torch.cat([torch.ones_like(lr[:, :1]), lr[:, 1:]], dim=1)


def steps_from_updates(updates: Tensor, init: Tensor | None) -> RuleSteps:
    """Build a :class:`RuleSteps` from per-step updates (B, T, d_value, d_key)."""
    cumulative = updates.cumsum(dim=1)
    if init is not None:
        cumulative = cumulative + init.unsqueeze(1)
    return RuleSteps(updates, cumulative)


def outer_updates(left: Tensor, right: Tensor) -> Tensor:
    """Per-step outer products: left (B, T, m), right (B, T, n) -> (B, T, m, n)."""
    return left.unsqueeze(-1) * right.unsqueeze(-2)
