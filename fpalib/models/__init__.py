"""Generators: the Fast Weight Painter and the LightGAN convolutional baseline.

    build_generator("fpa", PainterConfig(...))        -> FastWeightPainter
    build_generator("lightgan", LightGANConfig(...))  -> LightGANGenerator

Both map latents (B, latent_dim) to images (B, C, H, W) in [-1, 1] and expose ``.config``,
``.latent_dim`` and ``sample_latents(n)``.
"""

from __future__ import annotations

from torch import nn

from ..errors import FpaError
from .lightgan import LightGANConfig, LightGANGenerator
from .painter import FastWeightPainter, PainterConfig, PaintingSteps, count_parameters

GENERATORS = {
    "fpa": (PainterConfig, FastWeightPainter),
    "lightgan": (LightGANConfig, LightGANGenerator),
}


def build_generator(kind: str, cfg: PainterConfig | LightGANConfig) -> nn.Module:
    """Build the generator ``kind`` ("fpa" or "lightgan") from its config dataclass."""
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
    "FastWeightPainter",
    "LightGANConfig",
    "LightGANGenerator",
    "PainterConfig",
    "PaintingSteps",
    "build_generator",
    "count_parameters",
]
