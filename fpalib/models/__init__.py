"""Generators: the Fast Weight Painter, the LightGAN convolutional baseline, FPA/U-Net and the
VAE's baseline decoder.

    build_generator("fpa", PainterConfig(...))        -> FastWeightPainter
    build_generator("lightgan", LightGANConfig(...))  -> LightGANGenerator
    build_generator("fpa-unet", FPAWithUNetConfig(...))   -> FPAWithUNet (frozen painter + U-Net)
    build_generator("conv", ConvDecoderConfig(...))   -> ConvDecoder (the VAE's baseline decoder)

All map latents (B, latent_dim) to images (B, C, H, W) in [-1, 1] and expose ``.config``,
``.latent_dim`` and ``sample_latents(n)``.
"""

from __future__ import annotations

from torch import nn

from fpalib.errors import FpaError
from fpalib.models.conv_decoder import ConvDecoder, ConvDecoderConfig
from fpalib.models.lightgan import LightGANConfig, LightGANGenerator
from fpalib.models.painter import FastWeightPainter, PainterConfig, PaintingSteps, count_parameters
from fpalib.models.refined import FPAWithUNet, FPAWithUNetConfig, ema_part, with_ema_part
from fpalib.models.unet import UNet, UNetConfig

GENERATORS = {
    "fpa": (PainterConfig, FastWeightPainter),
    "lightgan": (LightGANConfig, LightGANGenerator),
    "fpa-unet": (FPAWithUNetConfig, FPAWithUNet),
    "conv": (ConvDecoderConfig, ConvDecoder),
}


def build_generator(kind: str, cfg: PainterConfig | LightGANConfig | FPAWithUNetConfig) -> nn.Module:
    """Build the generator ``kind`` ("fpa", "lightgan", "fpa-unet" or "conv") from its config dataclass."""
    if kind not in GENERATORS:
        raise FpaError(f"unknown generator {kind!r}; choose one of {', '.join(GENERATORS)}")
    config_class, model_class = GENERATORS[kind]
    if not isinstance(cfg, config_class):
        raise FpaError(
            f"generator {kind!r} needs a {config_class.__name__}; got {type(cfg).__name__}"
        )
    return model_class(cfg)


__all__ = [
    "GENERATORS",
    "ConvDecoder",
    "ConvDecoderConfig",
    "FPAWithUNet",
    "FPAWithUNetConfig",
    "FastWeightPainter",
    "LightGANConfig",
    "LightGANGenerator",
    "PainterConfig",
    "PaintingSteps",
    "UNet",
    "UNetConfig",
    "build_generator",
    "count_parameters",
    "ema_part",
    "with_ema_part",
]
