"""Tests of the hinge losses, the generator loss and the gradient penalty."""

import pytest
import torch
from torch import nn

from fpalib.errors import FpaError
from fpalib.models.discriminator import Discriminator, DiscriminatorConfig, DiscriminatorOutput
from fpalib.train.losses import (
    LossConfig,
    discriminator_hinge_loss,
    generator_loss,
    gradient_penalty,
    mode_seeking_loss,
)


def scores(logits: list[float], logits_32: list[float]) -> DiscriminatorOutput:
    return DiscriminatorOutput(torch.tensor(logits), torch.tensor(logits_32), None)


def test_hinge_loss_matches_hand_computed_value() -> None:
    real = scores([2.0, 0.5, -1.0], [1.0, 0.0, 3.0])
    fake = scores([-3.0, 0.0, 0.5], [-1.0, -0.5, 2.0])
    # real: relu(1 - x) -> [0, .5, 2] and [0, 1, 0]; fake: relu(1 + x) -> [0, 1, 1.5] and [0, .5, 3]
    expected = 2.5 / 3 + 1.0 / 3 + 2.5 / 3 + 3.5 / 3
    assert discriminator_hinge_loss(real, fake).item() == pytest.approx(expected)


def test_hinge_loss_ignores_scores_beyond_the_margin() -> None:
    real_logits = torch.tensor([1.0, 5.0], requires_grad=True)
    fake_logits = torch.tensor([-1.0, -7.0], requires_grad=True)
    real = DiscriminatorOutput(real_logits, torch.tensor([3.0, 1.5]), None)
    fake = DiscriminatorOutput(fake_logits, torch.tensor([-2.0, -1.0]), None)
    loss = discriminator_hinge_loss(real, fake)
    assert loss.item() == 0.0
    loss.backward()
    assert real_logits.grad.abs().sum() == 0 and fake_logits.grad.abs().sum() == 0


def test_hinge_loss_is_lower_for_a_discriminator_that_scores_real_high() -> None:
    high, low = scores([0.8, 0.6], [0.7, 0.9]), scores([-0.8, -0.6], [-0.7, -0.9])
    assert discriminator_hinge_loss(real=high, fake=low) < discriminator_hinge_loss(real=low, fake=high)


def test_hinge_loss_accepts_batches_of_different_sizes() -> None:
    real = scores([0.0], [0.0])
    fake = scores([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    assert discriminator_hinge_loss(real, fake).item() == pytest.approx(4.0)


def test_generator_loss_is_minus_the_mean_score_of_both_heads() -> None:
    assert generator_loss(scores([1.0, 2.0, 3.0], [0.0, -1.0, 4.0])).item() == pytest.approx(-3.0)
    fooled, caught = scores([2.0], [2.0]), scores([-2.0], [-2.0])
    assert generator_loss(fooled) < generator_loss(caught)


def linear_critic(images: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """D(x) = <direction, x> per image: (B, C, H, W) -> (B,)."""
    return (images * direction).sum(dim=(1, 2, 3))


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared() -> None:
    torch.manual_seed(0)
    direction = torch.randn(2, 4, 4) * 0.7
    images = torch.randn(3, 2, 4, 4, requires_grad=True)
    outputs = DiscriminatorOutput(linear_critic(images, direction), torch.zeros(3), None)
    expected = (direction.norm() - 1) ** 2
    assert gradient_penalty(images, outputs).item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradient_penalty_uses_the_sum_of_both_heads() -> None:
    torch.manual_seed(1)
    first, second = torch.randn(1, 4, 4), torch.randn(1, 4, 4)
    images = torch.randn(2, 1, 4, 4, requires_grad=True)
    outputs = DiscriminatorOutput(linear_critic(images, first), linear_critic(images, second), None)
    expected = ((first + second).norm() - 1) ** 2
    assert gradient_penalty(images, outputs).item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradient_penalty_backpropagates_into_the_critic() -> None:
    torch.manual_seed(2)
    direction = nn.Parameter(torch.randn(1, 3, 3))
    images = torch.randn(4, 1, 3, 3, requires_grad=True)
    outputs = DiscriminatorOutput(linear_critic(images, direction), torch.zeros(4), None)
    gradient_penalty(images, outputs).backward()
    norm = direction.detach().norm()
    expected = 2 * (norm - 1) * direction.detach() / norm
    assert torch.allclose(direction.grad, expected, atol=1e-5)


def test_gradient_penalty_reaches_the_discriminator_parameters() -> None:
    torch.manual_seed(3)
    disc = Discriminator(DiscriminatorConfig(image_size=16, fmap_max=16, head_32_channels=8))
    images = torch.randn(2, 3, 16, 16, requires_grad=True)
    penalty = gradient_penalty(images, disc(images))
    assert penalty.dim() == 0 and torch.isfinite(penalty)
    penalty.backward()
    assert disc.body[0].main[1].weight.grad.abs().sum() > 0
    assert disc.head_32[0].weight.grad.abs().sum() > 0


def test_gradient_penalty_rejects_images_without_grad() -> None:
    images = torch.randn(2, 1, 4, 4)
    outputs = DiscriminatorOutput(images.sum(dim=(1, 2, 3)), torch.zeros(2), None)
    with pytest.raises(FpaError, match="requires_grad_"):
        gradient_penalty(images, outputs)


def test_gradient_penalty_rejects_outputs_of_other_images() -> None:
    images = torch.randn(2, 1, 4, 4, requires_grad=True)
    other = torch.randn(2, 1, 4, 4, requires_grad=True)
    outputs = DiscriminatorOutput(other.sum(dim=(1, 2, 3)), torch.zeros(2), None)
    with pytest.raises(FpaError, match="do not depend"):
        gradient_penalty(images, outputs)
    with pytest.raises(FpaError, match="do not depend"):
        gradient_penalty(images, DiscriminatorOutput(torch.zeros(2), torch.zeros(2), None))


def test_loss_config_defaults_and_schedule() -> None:
    config = LossConfig()
    config.validate()
    assert (config.gp_every, config.gp_weight, config.aux_weight) == (4, 10.0, 1.0)
    assert [config.applies_gradient_penalty(step) for step in range(9)] == [
        True, False, False, False, True, False, False, False, True,
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(gp_every=0), "gp_every"),
        (dict(gp_weight=-1.0), "gp_weight"),
        (dict(aux_weight="1"), "aux_weight"),
        (dict(mode_seeking_weight=-0.5), "mode_seeking_weight"),
    ],
)
def test_loss_config_validate_rejects_bad_values(overrides: dict, message: str) -> None:
    with pytest.raises(FpaError, match=message):
        LossConfig(**overrides).validate()


def test_mode_seeking_loss_matches_hand_computed_value() -> None:
    latents = torch.tensor([[0.0, 1.0], [2.0, -1.0], [1.0, 1.0], [0.0, 0.0], [9.0, 9.0]])
    images = torch.stack([torch.full((1, 2, 2), v) for v in (0.0, 1.0, 0.5, 0.0, 7.0)])
    # pairs (0, 2) and (1, 3); the fifth latent has no partner.
    # d_I = mean(|0 - .5| x4, |1 - 0| x4) = 0.75;  d_z = mean(1, 0, 2, 1) = 1
    assert mode_seeking_loss(latents, images, eps=0.0).item() == pytest.approx(1 / 0.75)


def test_mode_seeking_loss_punishes_collapse_and_its_gradient_spreads_the_images() -> None:
    latents = torch.randn(8, 4)
    collapsed = torch.zeros(8, 3, 4, 4)
    assert mode_seeking_loss(latents, collapsed).item() == pytest.approx(1e5)
    images = (0.1 * torch.randn(8, 3, 4, 4)).requires_grad_(True)
    loss = mode_seeking_loss(latents, images)
    loss.backward()
    with torch.no_grad():
        stepped = images - 1e-3 * images.grad / images.grad.abs().max()  # one small descent step
        assert (stepped[:4] - stepped[4:]).abs().mean() > (images[:4] - images[4:]).abs().mean()
        assert mode_seeking_loss(latents, stepped) < loss


def test_mode_seeking_loss_needs_pairs() -> None:
    with pytest.raises(FpaError, match="at least 2 latents"):
        mode_seeking_loss(torch.randn(1, 4), torch.randn(1, 3, 4, 4))
    with pytest.raises(FpaError, match="one image per latent"):
        mode_seeking_loss(torch.randn(4, 4), torch.randn(6, 3, 4, 4))
