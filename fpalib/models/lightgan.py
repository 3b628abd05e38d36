"""The LightGAN generator (Liu et al., ICLR 2021, "Towards faster and stabilized GAN training
for high-fidelity few-shot image synthesis"), the convolutional baseline of the FPA paper.

    z (B, d_latent) -> view (B, d_latent, 1, 1)
      -> 4x4 transposed conv -> norm -> GLU                          (B, ch(4), 4, 4)
      -> up-sampling blocks, each: upsample x2 -> 3x3 conv -> norm -> GLU   ... (B, ch(S), S, S)
         with skip-layer excitation (SLE): the map at resolution r gates the map at r * sle_ratio
      -> 3x3 conv -> tanh                                             (B, channels, S, S)

GLU halves the channels, so every conv producing ``n`` channels computes ``2n``.
Channel widths follow ``ch(r) = clamp(fmap_base // r, fmap_min, fmap_max)``.

SLE (Liu et al., Sec. 3.1): pool the low-resolution map to 4x4, a 4x4 conv to 1x1, SiLU, a
1x1 conv to the high-resolution map's channels, sigmoid; multiply the high-resolution map
channel-wise. Liu et al. pair 8->128, 16->256, 32->512 (sle_ratio 16) at 1024x1024; at the
64x64 of the FPA paper no such pair exists, so the default ratio here is 4 (8->32, 16->64),
and sources below ``sle_min_res`` are not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fpalib.errors import Checked, FpaError
from fpalib.models.latents import LatentSampler

NORMS = ("batch", "instance", "none")
UPSAMPLE_MODES = ("nearest", "bilinear")
MIN_SIZE, MAX_SIZE = 16, 256


@dataclass
class LightGANConfig(Checked):
    """Architecture of a :class:`LightGANGenerator`.

    Attributes:
        image_size: output height and width, a power of two in 16..256.
        channels: output channels, 1 (grey) or 3 (RGB).
        latent_dim: size of the latent z.
        fmap_base: channel schedule ch(r) = clamp(fmap_base // r, fmap_min, fmap_max).
        fmap_min: the narrowest map of the schedule.
        fmap_max: the widest map of the schedule.
        norm: normalisation after each conv, "batch" (Liu et al.), "instance" or "none".
        upsample: "nearest" or "bilinear".
        sle_ratio: resolution factor between an SLE source and its target (a power of two >= 2).
        sle_min_res: smallest source resolution used for SLE (>= 4).
    """

    image_size: int = 64
    channels: int = 3
    latent_dim: int = 256
    fmap_base: int = 2048
    fmap_min: int = 32
    fmap_max: int = 512
    norm: str = "batch"
    upsample: str = "nearest"
    sle_ratio: int = 4
    sle_min_res: int = 8

    def __post_init__(self) -> None:
        """Raise FpaError for the first bad field."""
        if not (MIN_SIZE <= self.image_size <= MAX_SIZE and _is_power_of_two(self.image_size)):
            raise FpaError(
                f"LightGAN image_size must be a power of two in {MIN_SIZE}..{MAX_SIZE}; "
                f"got {self.image_size}"
            )
        if self.channels not in (1, 3):
            raise FpaError(f"LightGAN channels must be 1 or 3; got {self.channels}")
        for name in ("latent_dim", "fmap_base", "fmap_min"):
            if getattr(self, name) < 1:
                raise FpaError(f"LightGAN {name} must be at least 1; got {getattr(self, name)}")
        if self.fmap_max < self.fmap_min:
            raise FpaError(
                f"LightGAN fmap_max ({self.fmap_max}) must be at least fmap_min ({self.fmap_min})"
            )
        if self.norm not in NORMS:
            raise FpaError(f"unknown LightGAN norm {self.norm!r}; choose one of {', '.join(NORMS)}")
        if self.upsample not in UPSAMPLE_MODES:
            raise FpaError(
                f"unknown LightGAN upsample {self.upsample!r}; "
                f"choose one of {', '.join(UPSAMPLE_MODES)}"
            )
        if self.sle_ratio < 2 or not _is_power_of_two(self.sle_ratio):
            raise FpaError(f"LightGAN sle_ratio must be a power of two >= 2; got {self.sle_ratio}")
        if self.sle_min_res < 4:
            raise FpaError(f"LightGAN sle_min_res must be at least 4; got {self.sle_min_res}")

    def width(self, resolution: int) -> int:
        """Channels of the feature map at ``resolution``."""
        return min(self.fmap_max, max(self.fmap_min, self.fmap_base // resolution))

    def resolutions(self) -> list[int]:
        """Feature-map resolutions from 4 up to image_size: [4, 8, ..., image_size]."""
        return [2**i for i in range(2, self.image_size.bit_length())]

    def sle_pairs(self) -> list[tuple[int, int]]:
        """(source, target) resolutions joined by skip-layer excitation."""
        return [
            (r, r * self.sle_ratio)
            for r in self.resolutions()
            if r >= self.sle_min_res and r * self.sle_ratio <= self.image_size
        ]


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class UpBlock(nn.Module):
    """(B, c_in, r, r) -> (B, c_out, 2r, 2r): upsample x2, 3x3 conv to 2*c_out, norm, GLU."""

    def __init__(self, c_in: int, c_out: int, norm: str, upsample: str) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Upsample(scale_factor=2, mode=upsample),
            nn.Conv2d(c_in, 2 * c_out, 3, padding=1, bias=norm == "none"),
            _norm(norm, 2 * c_out),
            nn.GLU(dim=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, c_in, r, r) -> (B, c_out, 2r, 2r)."""
        return self.layers(x)


class SkipLayerExcitation(nn.Module):
    """Gate a high-resolution map channel-wise with a low-resolution one.

    low (B, c_low, r, r) with r >= 4, high (B, c_high, R, R) -> high * gate, gate (B, c_high, 1, 1)
    in (0, 1) from: adaptive average pool to 4x4, 4x4 conv to 1x1, SiLU, 1x1 conv, sigmoid.
    """

    def __init__(self, c_low: int, c_high: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            nn.Conv2d(c_low, c_high, 4),
            nn.SiLU(),
            nn.Conv2d(c_high, c_high, 1),
            nn.Sigmoid(),
        )

    def forward(self, low: Tensor, high: Tensor) -> Tensor:
        """low (B, c_low, r, r), high (B, c_high, R, R) -> (B, c_high, R, R)."""
        return high * self.gate(low)


class LightGANGenerator(LatentSampler):
    """LightGAN generator: z (B, d_latent) -> images (B, channels, S, S) in [-1, 1]."""

    def __init__(self, cfg: LightGANConfig) -> None:
        super().__init__()
        self.config = cfg.validate()
        self.latent_dim = cfg.latent_dim
        resolutions = cfg.resolutions()
        self.initial = nn.Sequential(
            nn.ConvTranspose2d(cfg.latent_dim, 2 * cfg.width(4), 4, bias=cfg.norm == "none"),
            _norm(cfg.norm, 2 * cfg.width(4)),
            nn.GLU(dim=1),
        )
        self.up_blocks = nn.ModuleDict(
            {
                str(2 * r): UpBlock(cfg.width(r), cfg.width(2 * r), cfg.norm, cfg.upsample)
                for r in resolutions[:-1]
            }
        )
        self.sle_sources = {target: source for source, target in cfg.sle_pairs()}
        self.excitations = nn.ModuleDict(
            {
                str(target): SkipLayerExcitation(cfg.width(source), cfg.width(target))
                for source, target in cfg.sle_pairs()
            }
        )
        self.to_image = nn.Conv2d(cfg.width(cfg.image_size), cfg.channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        """z (B, d_latent) -> images (B, channels, S, S) in [-1, 1]."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise FpaError(
                f"LightGAN latents must be (batch, {self.latent_dim}); got {tuple(z.shape)}"
            )
        x = self.initial(z[:, :, None, None])  # (B, ch(4), 4, 4)
        features = {4: x}
        for name, block in self.up_blocks.items():
            resolution = int(name)
            x = block(x)
            if resolution in self.sle_sources:
                x = self.excitations[name](features[self.sle_sources[resolution]], x)
            features[resolution] = x
        return torch.tanh(self.to_image(x))
