"""A small transposed-convolution decoder: the baseline peer of the painter as a VAE decoder
(the role the LightGAN generator plays in the GAN setting). Not in the paper.

    z (B, d_latent) --linear--> (B, 2w, H/4, W/4) --SiLU, ConvTranspose 4x4/2--> (B, w, H/2, W/2)
      --SiLU, ConvTranspose 4x4/2--> (B, C, H, W) --tanh--> images in [-1, 1]

``width`` (w) sets its size; the VAE presets choose it so that the decoder has about as many
parameters as the painter it is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jsonargparse.typing import PositiveInt
from torch import Tensor, nn

from fpalib.errors import Checked, FpaError
from fpalib.models.latents import LatentSampler


@dataclass
class ConvDecoderConfig(Checked):
    """Architecture of a :class:`ConvDecoder`.

    Attributes:
        image_size: side of the square images; a multiple of 4.
        channels: 1 (grey) or 3 (RGB).
        latent_dim: size of the latent z.
        width: channels after the first transposed convolution (twice as many before it).
    """

    image_size: int = 28
    channels: Literal[1, 3] = 1
    latent_dim: PositiveInt = 32
    width: PositiveInt = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_size < 8 or self.image_size % 4:
            raise FpaError(f"conv.image_size must be a multiple of 4 and at least 8; got {self.image_size}")


class ConvDecoder(LatentSampler):
    """z (B, latent_dim) -> images (B, C, H, W) in [-1, 1]; see the module docstring."""

    def __init__(self, cfg: ConvDecoderConfig) -> None:
        super().__init__()
        self.config = cfg.validate()
        self.latent_dim = cfg.latent_dim
        self.side = cfg.image_size // 4
        self.to_features = nn.Linear(cfg.latent_dim, 2 * cfg.width * self.side * self.side)
        self.upsample = nn.Sequential(
            nn.SiLU(), nn.ConvTranspose2d(2 * cfg.width, cfg.width, 4, stride=2, padding=1),
            nn.SiLU(), nn.ConvTranspose2d(cfg.width, cfg.channels, 4, stride=2, padding=1),
        )

    def forward(self, z: Tensor) -> Tensor:
        features = self.to_features(z).view(z.shape[0], -1, self.side, self.side)
        return self.upsample(features).tanh()
