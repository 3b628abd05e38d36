"""FPA/U-Net: a frozen, pre-trained Fast Weight Painter followed by a trainable U-Net.

Irie & Schmidhuber (2023, Sec. 3.2, App. C.1): the U-Net maps the painter's image W_T to a
refined image W' = UNet(W_T) of the same size, a one-step "denoising"; only the U-Net is
trained (in the GAN framework), the painter stays as pre-trained. End-to-end training from
scratch fails in the paper (the U-Net learns first and ignores the painter).

    z (B, d_latent) --painter (frozen, eval, no gradient)--> before (B, C, H, W)
                    --U-Net--> after (B, C, H, W)

Here "frozen" means: the painter's parameters have ``requires_grad=False``, it always runs in
eval mode and under ``torch.no_grad()`` (a stop-gradient), so nothing flows into it and an
optimiser built from the parameters that require gradients never sees it.

The weight average (EMA) of a training run covers only the U-Net: :func:`ema_part` is the
module to average, :func:`with_ema_part` rebuilds a generator around the averaged copy (for
an FPA/U-Net the same painter object with the averaged U-Net; any other generator is its
averaged copy itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from fpalib.errors import Checked, FpaError
from fpalib.models.latents import LatentSampler
from fpalib.models.painter import FastWeightPainter, PainterConfig
from fpalib.models.unet import UNet, UNetConfig


@dataclass
class FPAWithUNetConfig(Checked):
    """The two parts of an :class:`FPAWithUNet`; their image size and channels must agree."""

    painter: PainterConfig = field(default_factory=PainterConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)

    def __post_init__(self) -> None:
        """Raise FpaError unless the U-Net takes the painter's images."""
        if self.painter.shape != (self.unet.channels, self.unet.image_size, self.unet.image_size):
            raise FpaError(
                f"the painter paints {self.painter.shape} images (C, H, W) but the U-Net takes "
                f"{(self.unet.channels, self.unet.image_size, self.unet.image_size)}; set unet.image_size and "
                "unet.channels to the painter's"
            )


@dataclass
class RefineConfig:
    """How an FPA/U-Net training run starts from a pre-trained painter (the config section
    ``refine``); read only when the run starts, since the refined run's checkpoints hold the
    painter's weights. The optimisers always start afresh.

    Attributes:
        source: the painter's run folder or checkpoint (``fpa train --refine-from``).
        painter_ema: use the painter's EMA weights (else its raw weights).
        reset_discriminator: train a new discriminator instead of continuing the painter run's one.
    """

    source: str | None = None
    painter_ema: bool = True
    reset_discriminator: bool = False


class FPAWithUNet(LatentSampler):
    """A frozen painter followed by a U-Net: z (B, d_latent) -> refined images (B, C, H, W).

    Build it from a :class:`FPAWithUNetConfig` (fresh weights for both parts; load the painter's
    pre-trained weights afterwards) or around existing modules with :meth:`from_parts`.
    """

    def __init__(self, cfg: FPAWithUNetConfig) -> None:
        super().__init__()
        self.config = cfg.validate()
        self._attach(FastWeightPainter(cfg.painter), UNet(cfg.unet))

    @classmethod
    def from_parts(cls, painter: FastWeightPainter, unet: UNet) -> FPAWithUNet:
        """An FPAWithUNet holding these very modules (no copies); the painter gets frozen."""
        model = cls.__new__(cls)
        LatentSampler.__init__(model)
        model.config = FPAWithUNetConfig(painter.config, unet.config).validate()
        model._attach(painter, unet)
        return model

    def _attach(self, painter: FastWeightPainter, unet: UNet) -> None:
        self.painter = painter.eval().requires_grad_(False)
        self.unet = unet
        self.latent_dim = painter.latent_dim

    def train(self, mode: bool = True) -> FPAWithUNet:
        """Set the U-Net's mode; the painter always stays in eval mode."""
        super().train(mode)
        self.painter.eval()
        return self

    def paint(self, z: Tensor) -> Tensor:
        """The painter's images (B, C, H, W) for latents z (B, d_latent), without gradient."""
        with torch.no_grad():
            return self.painter(z)

    def forward(self, z: Tensor, return_before: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """z (B, d_latent) -> refined images (B, C, H, W) [, the painter's images before the U-Net]."""
        before = self.paint(z)
        after = self.unet(before)
        return (after, before) if return_before else after


def ema_part(generator: nn.Module) -> nn.Module:
    """The module whose weights a training run averages: an FPAWithUNet's U-Net, else ``generator``."""
    return generator.unet if isinstance(generator, FPAWithUNet) else generator


def with_ema_part(generator: nn.Module, averaged: nn.Module) -> nn.Module:
    """The averaged generator: ``generator`` with :func:`ema_part` replaced by ``averaged``.

    For an FPAWithUNet this is a new FPAWithUNet sharing the (frozen) painter module with
    ``generator`` and using the averaged U-Net; for any other generator, ``averaged`` itself.
    """
    if isinstance(generator, FPAWithUNet):
        return FPAWithUNet.from_parts(generator.painter, averaged).train(averaged.training)
    return averaged
