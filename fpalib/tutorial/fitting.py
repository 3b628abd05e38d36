"""Painting one given image with T delta-rule steps, and the best rank-T baseline (notebook 03).

An image of c channels is c matrices (d_value x d_key). T steps of any outer-product rule
give each channel a matrix of rank at most T, so no T-step painting can beat the best rank-T
approximation, which the truncated SVD gives (Eckart-Young theorem): per channel

    min_{rank(A) <= T} ||X - A||_F^2 = sum_{i > T} sigma_i(X)^2.

:func:`fit_painting` optimises the keys, values and learning rates of a T-step rule directly
(no painter network) by gradient descent through the rule's parallel form, so one can see how
close a learning rule gets to that bound. Keys are normalised as in the painter ("softmax",
paper Eq. 9) or to unit length ("l2"); learning rates are sigmoid(beta) in (0, 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from fpalib.errors import FpaError
from fpalib.rules import RuleSteps, get_rule

KEY_NORMS = ("softmax", "l2")


def relative_error(approximation: Tensor, target: Tensor) -> float:
    """||approximation - target||_F / ||target||_F over all channels (shapes must match)."""
    if approximation.shape != target.shape:
        raise FpaError(f"shapes differ: {tuple(approximation.shape)} vs {tuple(target.shape)}")
    return float((approximation - target).norm() / target.norm().clamp_min(1e-12))


def svd_rank_approximation(image: Tensor, rank: int) -> Tensor:
    """Best rank-``rank`` approximation of every channel: (C, H, W) -> (C, H, W) (truncated SVD)."""
    _check_image(image)
    if rank < 0:
        raise FpaError(f"rank must be at least 0; got {rank}")
    u, s, vh = torch.linalg.svd(image, full_matrices=False)  # (C, H, r), (C, r), (C, r, W)
    return (u[..., :rank] * s[:, None, :rank]) @ vh[:, :rank]


def eckart_young_error(image: Tensor, rank: int) -> float:
    """Relative Frobenius error of the best rank-``rank`` approximation, from the singular values.

    sqrt(sum over channels of sum_{i > rank} sigma_i^2) / ||image||_F; equals
    ``relative_error(svd_rank_approximation(image, rank), image)``.
    """
    _check_image(image)
    singular = torch.linalg.svdvals(image)  # (C, min(H, W))
    return float(singular[:, rank:].square().sum().sqrt() / image.norm().clamp_min(1e-12))


@dataclass
class PaintingFit:
    """The result of :func:`fit_painting` (all tensors detached).

    keys (C, T, d_key) normalised, values (C, T, d_value), beta (C, T) in (0, 1), image (C, H, W)
    = W_T; errors: relative error after each optimisation step (the last one is ``error``).
    """

    rule: str
    keys: Tensor
    values: Tensor
    beta: Tensor
    image: Tensor
    errors: list[float] = field(default_factory=list)

    @property
    def error(self) -> float:
        """Final relative Frobenius error ||W_T - X|| / ||X||."""
        return self.errors[-1]

    def steps(self) -> RuleSteps:
        """Every painting step, as (1, T, C, H, W) updates and cumulative images (for fpalib.viz)."""
        _, rule_steps = get_rule(self.rule)(self.keys, self.values, self.beta, return_steps=True)
        return RuleSteps(rule_steps.updates.transpose(0, 1)[None], rule_steps.cumulative.transpose(0, 1)[None])


def normalise_keys(raw_keys: Tensor, key_norm: str) -> Tensor:
    """(…, d_key) raw keys -> softmax over the key dimension ("softmax"), or unit L2 length ("l2")."""
    if key_norm == "softmax":
        return torch.softmax(raw_keys, dim=-1)
    return torch.nn.functional.normalize(raw_keys, dim=-1)


def fit_painting(
    target: Tensor,
    num_steps: int,
    *,
    iterations: int = 1000,
    learning_rate: float = 0.05,
    rule: str = "delta",
    key_norm: str = "softmax",
    seed: int = 0,
) -> PaintingFit:
    """Fit a ``num_steps``-step (T) painting of ``target`` (C, H, W) by Adam on keys, values and rates.

    Each channel is painted by its own sequence: keys (C, T, W), values (C, T, H), rates (C, T)
    (channels are the rule's batch). The loss is ||W_T - target||_F^2 through the rule's
    parallel form; no output tanh, so the error is comparable with the SVD bound. Float64 is
    kept if ``target`` is float64. ``seed`` fixes the random initialisation.
    """
    _check_image(target)
    if num_steps < 1 or iterations < 1 or learning_rate <= 0:
        raise FpaError(
            f"num_steps and iterations must be at least 1 and learning_rate positive; "
            f"got {num_steps}, {iterations}, {learning_rate}"
        )
    if key_norm not in KEY_NORMS:
        raise FpaError(f"unknown key_norm {key_norm!r}; choose one of {', '.join(KEY_NORMS)}")
    rule_fn = get_rule(rule)
    channels, height, width = target.shape
    generator = torch.Generator(device="cpu").manual_seed(seed)

    def initial(*shape: int, scale: float) -> Tensor:
        values = torch.randn(*shape, generator=generator, dtype=target.dtype) * scale
        return values.to(target.device).requires_grad_(True)

    raw_keys = initial(channels, num_steps, width, scale=1.0)
    values = initial(channels, num_steps, height, scale=0.1)
    raw_beta = initial(channels, num_steps, scale=0.0)  # sigmoid(0) = 0.5 at the start
    optimiser = torch.optim.Adam([raw_keys, values, raw_beta], lr=learning_rate)
    target_norm = target.norm().clamp_min(1e-12)
    errors = []
    for _ in range(iterations):
        optimiser.zero_grad()
        image = rule_fn(normalise_keys(raw_keys, key_norm), values, torch.sigmoid(raw_beta))
        loss = (image - target).square().sum()
        loss.backward()
        optimiser.step()
        errors.append(float(loss.detach().sqrt() / target_norm))
    with torch.no_grad():
        keys, beta = normalise_keys(raw_keys, key_norm), torch.sigmoid(raw_beta)
        image = rule_fn(keys, values, beta)
    errors.append(relative_error(image, target))
    return PaintingFit(rule, keys.detach(), values.detach(), beta.detach(), image.detach(), errors)


def _check_image(image: Tensor) -> None:
    if image.dim() != 3:
        raise FpaError(f"an image must be (channels, height, width); got {tuple(image.shape)}")
