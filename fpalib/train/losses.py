"""GAN losses of the LightGAN setting (Irie & Schmidhuber, 2023, Sec. 3.3, App. B).

The functions take :class:`~fpalib.models.discriminator.DiscriminatorOutput` tuples (``logits``
and ``logits_32`` of shape (B,)) and return scalars. The discriminator scores real images HIGH
(the standard hinge loss, Lim & Ye, 2017):

    L_D = mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))   (for each head)
    L_G = -mean(D(fake))                                        (for each head)

The authors' lightweight-gan code writes the mirror image (real scored LOW:
``relu(1 + D(real)) + relu(1 - D(fake))``, ``L_G = mean(D(fake))``): the same objective up to
the sign of D's output. :func:`mode_seeking_loss` (Mao et al., CVPR 2019) is an optional
generator term against mode collapse, not in the paper (weight 0 in the ``paper-*`` presets).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jsonargparse.typing import NonNegativeFloat, PositiveInt
from torch import Tensor

from fpalib.errors import Checked, FpaError
from fpalib.models.discriminator import DiscriminatorOutput


@dataclass
class LossConfig(Checked):
    """Weights and schedule of the discriminator's extra terms.

    Attributes:
        gp_every: apply the gradient penalty at steps where ``step % gp_every == 0``.
        gp_weight: multiplier of :func:`gradient_penalty` (10 in the paper's setting).
        aux_weight: multiplier of the discriminator's reconstruction loss on real images.
        mode_seeking_weight: multiplier of :func:`mode_seeking_loss` in the generator's loss
            (0, the paper's setting, leaves it out).
    """

    gp_every: PositiveInt = 4
    gp_weight: NonNegativeFloat = 10.0
    aux_weight: NonNegativeFloat = 1.0
    mode_seeking_weight: NonNegativeFloat = 0.0

    def applies_gradient_penalty(self, step: int) -> bool:
        """Whether the discriminator step with index ``step`` adds the gradient penalty."""
        return step % self.gp_every == 0


def discriminator_hinge_loss(real: DiscriminatorOutput, fake: DiscriminatorOutput) -> Tensor:
    """Hinge loss of the discriminator summed over both heads; a scalar.

    real, fake: outputs on a real and a generated batch (``logits``,
    ``logits_32`` of shape (B,), batch sizes may differ). Scores beyond the
    margin (real > 1, fake < -1) contribute nothing.
    """
    return (
        F.relu(1.0 - real.logits).mean()
        + F.relu(1.0 + fake.logits).mean()
        + F.relu(1.0 - real.logits_32).mean()
        + F.relu(1.0 + fake.logits_32).mean()
    )


def generator_loss(fake: DiscriminatorOutput) -> Tensor:
    """Generator loss ``-(mean(logits) + mean(logits_32))`` on a generated batch; a scalar."""
    return -(fake.logits.mean() + fake.logits_32.mean())


def gradient_penalty(images: Tensor, outputs: DiscriminatorOutput) -> Tensor:
    """``mean_b((||d(sum of both heads)/d images_b||_2 - 1)^2)``; a differentiable scalar.

    images: (B, C, H, W) with ``requires_grad=True``, the batch ``outputs``
    was computed from. As in the authors' lightweight-gan code, the gradient
    is that of the SUM of both heads' scores, ``logits.sum() + logits_32.sum()``,
    per image. The graph is kept (``create_graph=True``), so the penalty can be
    back-propagated into the discriminator's parameters.
    """
    if not images.requires_grad:
        raise FpaError(
            "gradient_penalty needs images that require grad; call images.requires_grad_() before the discriminator"
        )
    score = outputs.logits.sum() + outputs.logits_32.sum()
    gradients = None
    if score.requires_grad:
        (gradients,) = torch.autograd.grad(score, images, create_graph=True, allow_unused=True)
    if gradients is None:
        raise FpaError("gradient_penalty: the discriminator outputs do not depend on these images; pass the same batch")
    return ((gradients.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def mode_seeking_loss(latents: Tensor, images: Tensor, eps: float = 1e-5) -> Tensor:
    """Mode-seeking term of Mao et al. (2019): small when distinct latents give distinct images.

    latents (B, d_latent) and the images (B, C, H, W) generated from them, B >= 2. The first
    and second halves of the batch form B // 2 pairs; with d_I the mean absolute difference of
    the paired images and d_z that of the paired latents, the term is 1 / (d_I / d_z + eps).
    A generator that paints the same image for every latent gets 1 / eps.
    """
    half = images.shape[0] // 2
    if half == 0 or latents.shape[0] != images.shape[0]:
        raise FpaError(
            f"mode_seeking_loss needs at least 2 latents and one image per latent; got "
            f"{latents.shape[0]} latents and {images.shape[0]} images"
        )
    image_distance = (images[:half] - images[half : 2 * half]).abs().mean()
    latent_distance = (latents[:half] - latents[half : 2 * half]).abs().mean()
    return 1.0 / (image_distance / latent_distance + eps)
