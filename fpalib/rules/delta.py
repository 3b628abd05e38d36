"""The delta learning rule (paper Eq. 2 / Eq. 9), sequential reference and parallel form.

For each batch element, with keys k_t (d_key), values v_t (d_value) and rates beta_t:

    W_t = W_{t-1} + beta_t (v_t - W_{t-1} k_t) outer k_t,        t = 1..T

Sequential reference (:func:`delta_rule_loop`): one matrix-vector product and one outer
product per step, the way the authors' code paints.

Parallel form (:func:`delta_rule_parallel`): write W_t = W_0 + sum_{s<=t} u_s outer k_s. The
"delta" rows u_t satisfy the unit lower-triangular system

    (I + tril(diag(b) K K^T, -1)) U = diag(b) (V - K W_0^T)              U: (T, d_value)

so W_T = W_0 + U^T K: two batched matrix products and one triangular solve. Its backward
pass (written by hand in :class:`_DeltaSolve`) is a few more products and one more
(transposed) solve; the autograd graph keeps K, V, b, W_0, U and K K^T instead of T copies
of W. The derivation is in ``fpalib/rules/README.md``.
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
    outer_updates,
    steps_from_updates,
)


@checked_rule
def delta_rule(
    keys: Tensor,
    values: Tensor,
    beta: Tensor | None = None,
    init: Tensor | None = None,
    *,
    mode: str = "parallel",
    first_step_beta_one: bool = False,
    return_steps: bool = False,
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Run T delta-rule updates.

    Args:
        keys: (B, T, d_key), normalised by the caller.
        values: (B, T, d_value).
        beta: (B, T) or (B, T, 1) learning rates (already squashed), or None for 1.
        init: (B, d_value, d_key) initial matrix W_0, or None for zeros.
        mode: "parallel" (triangular solve, fast) or "loop" (sequential reference).
        first_step_beta_one: use rate 1 at step 1, as the authors' code does.
        return_steps: also return every step's update and cumulative matrix.

    Returns:
        W_T (B, d_value, d_key), and with ``return_steps`` a :class:`RuleSteps`.
    """
    check_mode(mode)
    beta = check_inputs(keys, values, beta, init)
    if first_step_beta_one:
        beta = first_step_at_full_rate(beta)
    if mode == "loop":
        return delta_rule_loop(keys, values, beta, init, return_steps=return_steps)
    return delta_rule_parallel(keys, values, beta, init, return_steps=return_steps)


def delta_rule_loop(
    keys: Tensor, values: Tensor, beta: Tensor, init: Tensor | None, *, return_steps: bool = False
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Sequential reference: one ``torch.bmm`` step per t. Shapes as in :func:`delta_rule`, beta (B, T)."""
    batch, steps, d_key = keys.shape
    weights = init if init is not None else keys.new_zeros(batch, values.shape[-1], d_key)
    updates = []
    for t in range(steps):
        key = keys[:, t]  # (B, d_key)
        retrieved = torch.bmm(weights, key.unsqueeze(-1)).squeeze(-1)  # (B, d_value)
        delta = beta[:, t, None] * (values[:, t] - retrieved)  # (B, d_value)
        update = delta.unsqueeze(-1) * key.unsqueeze(-2)  # (B, d_value, d_key)
        weights = weights + update
        if return_steps:
            updates.append(update)
    if not return_steps:
        return weights
    return weights, steps_from_updates(torch.stack(updates, dim=1), init)


def delta_rule_parallel(
    keys: Tensor, values: Tensor, beta: Tensor, init: Tensor | None, *, return_steps: bool = False
) -> Tensor | tuple[Tensor, RuleSteps]:
    """Parallel form with a hand-written backward. Shapes as in :func:`delta_rule`, beta (B, T)."""
    weights, deltas = _DeltaSolve.apply(keys, values, beta, init)
    if not return_steps:
        return weights
    return weights, steps_from_updates(outer_updates(deltas, keys), init)


def delta_rule_parallel_autograd(
    keys: Tensor, values: Tensor, beta: Tensor, init: Tensor | None
) -> Tensor:
    """The same parallel form, differentiated by autograd through ``solve_triangular``.

    Kept as a second reference for the tests and as the baseline in ``benchmarks/bench_rules.py``
    that shows what the hand-written backward of :class:`_DeltaSolve` gains.
    """
    targets = values if init is None else values - keys @ init.mT
    system = torch.tril(beta.unsqueeze(-1) * (keys @ keys.mT), diagonal=-1)
    system = system + torch.eye(keys.shape[1], dtype=keys.dtype, device=keys.device)
    deltas = torch.linalg.solve_triangular(
        system, beta.unsqueeze(-1) * targets, upper=False, unitriangular=True
    )
    weights = deltas.mT @ keys
    return weights if init is None else weights + init


def _solve_unit_lower(system: Tensor, rhs: Tensor, *, transpose: bool = False) -> Tensor:
    """Solve (I + L) X = rhs, or (I + L)^T X = rhs, for L strictly lower triangular.

    system (B, T, T) holds L below its diagonal (the diagonal is ignored); rhs (B, T, n).
    """
    if transpose:  # X = (I + L)^{-T} rhs  <=>  X^T (I + L) = rhs^T; LAPACK is faster this way round
        return torch.linalg.solve_triangular(system, rhs.mT, upper=False, left=False, unitriangular=True).mT
    return torch.linalg.solve_triangular(system, rhs, upper=False, unitriangular=True)


class _DeltaSolve(torch.autograd.Function):
    """(K, V, b, W_0) -> (W_T, U): the parallel delta rule with an explicit backward.

    Forward, per batch element (shapes without the batch dimension):
        G = K K^T (T, T);  L = tril(diag(b) G, -1);  R = diag(b) (V - K W_0^T) (T, d_value)
        U = (I + L)^{-1} R;  W_T = W_0 + U^T K (d_value, d_key)
    U is returned as well so that step visualisations can be built from it with autograd.
    Runs in float32 under CUDA autocast (the solve has no half-precision kernel).
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, keys: Tensor, values: Tensor, beta: Tensor, init: Tensor | None):
        gram = keys @ keys.mT  # (B, T, T)
        system = torch.tril(beta.unsqueeze(-1) * gram, diagonal=-1)
        targets = values if init is None else values - keys @ init.mT  # (B, T, d_value)
        deltas = _solve_unit_lower(system, beta.unsqueeze(-1) * targets)  # (B, T, d_value)
        weights = deltas.mT @ keys  # (B, d_value, d_key)
        if init is not None:
            weights = weights + init
        ctx.save_for_backward(keys, values, beta, init, deltas, gram)
        return weights, deltas

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad_weights: Tensor | None, grad_deltas: Tensor | None):
        keys, values, beta, init, deltas, gram = ctx.saved_tensors
        rate = beta.unsqueeze(-1)  # (B, T, 1)
        grad_u = keys.new_zeros(deltas.shape) if grad_deltas is None else grad_deltas
        if grad_weights is not None:
            grad_u = grad_u + keys @ grad_weights.mT  # dW_T/dU: (B, T, d_value)
        # U = (I + L)^{-1} R  =>  dR = (I + L)^{-T} dU,  dL = -tril(dR U^T, -1)
        system = torch.tril(rate * gram, diagonal=-1)
        grad_rhs = _solve_unit_lower(system, grad_u, transpose=True)  # (B, T, d_value)
        grad_system = -torch.tril(grad_rhs @ deltas.mT, diagonal=-1)  # (B, T, T)
        targets = values if init is None else values - keys @ init.mT
        grad_lr = (grad_system * gram).sum(-1) + (grad_rhs * targets).sum(-1)  # (B, T)
        grad_gram = rate * grad_system  # dL/dG, strictly lower
        scaled_grad_rhs = rate * grad_rhs  # dL/d(targets)
        grad_keys = (grad_gram + grad_gram.mT) @ keys
        if grad_weights is not None:
            grad_keys = grad_keys + deltas @ grad_weights
        grad_init = None
        if init is not None:
            grad_keys = grad_keys - scaled_grad_rhs @ init
            grad_init = -scaled_grad_rhs.mT @ keys
            if grad_weights is not None:
                grad_init = grad_init + grad_weights
        return grad_keys, scaled_grad_rhs, grad_lr, grad_init
