"""An image-to-image U-Net in the style of denoising-diffusion models, without a time input.

Irie & Schmidhuber (2023, Sec. 3.2 and App. C.1) append such a U-Net to a pre-trained Fast
Weight Painter: it maps the painter's image W_T (B, C, H, W) to a refined image W' of the same
shape, a one-step "denoising". Their setting: base width = image size, width multipliers
(1, 2, 4), about 8M parameters at 64x64 (:func:`paper_unet_config`: 8.6M here, with one
ResNet block per level and attention in the middle at 8x8).

Architecture (L = len(multipliers) levels, widths w_i = base_width * multipliers[i]):

    x (B, C, H, W) --3x3 conv--> (B, w_1, H, W)
    encoder level i (size S_i = H / 2^(i-1)):
        blocks_per_level ResNet blocks at width w_i [+ self-attention if S_i <= attention_max_size]
        -> kept as skip_i -> 3x3 conv with stride 2 to width w_{i+1} (w_L at the last level)
    middle (size H / 2^L): ResNet block [+ self-attention] + ResNet block at width w_L
    decoder level i = L .. 1: nearest 2x up-sampling + 3x3 conv to width w_i
        -> concatenate skip_i -> blocks_per_level ResNet blocks (the first maps 2 w_i -> w_i)
        [+ self-attention]
    -> group norm -> SiLU -> 3x3 conv to C channels -> optional tanh            (B, C, H, W)

A ResNet block is (group norm, SiLU, 3x3 conv) twice, plus a 1x1 conv on the shortcut when the
width changes. Self-attention is multi-head softmax attention over the S x S positions with a
pre-norm and a residual connection. H and W must be divisible by 2^L.

``residual=True`` (not in the paper) learns a correction instead: the output is
tanh(atanh(x) + U(x)) with U's last convolution initialised to zero, so the refined image
starts equal to the input image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fpalib.errors import Checked, FpaError

MIN_SIZE, MAX_SIZE = 8, 512
ATANH_LIMIT = 1.0 - 1e-3
"""Inputs are clamped to +-ATANH_LIMIT before atanh in residual mode (atanh(0.999) = 3.8)."""


@dataclass
class UNetConfig(Checked):
    """Architecture of a :class:`UNet`; the defaults are the paper's setting for 64x64 images.

    Attributes:
        image_size: side of the (square) images it maps, (B, channels, image_size, image_size).
        channels: channels of those images.
        base_width: channels of the first level; None means image_size (the paper's choice).
        multipliers: width of level i = base_width * multipliers[i]; one level per entry, each
            ending in a 2x down-sampling, so image_size must be divisible by 2**len(multipliers).
        blocks_per_level: ResNet blocks per level in the encoder and in the decoder.
        attention_max_size: self-attention in levels whose feature maps are at most this size, and
            in the middle (whatever its size) unless 0, which disables attention.
        heads: attention heads (each level's width must be divisible by it).
        groups: group-norm groups (every width must be divisible by it).
        dropout: dropout inside the ResNet blocks.
        out_tanh: apply tanh to the output (images in [-1, 1]).
        residual: output tanh(atanh(x) + U(x)), starting from the identity (needs out_tanh).
    """

    image_size: int = 64
    channels: int = 3
    base_width: int | None = None
    multipliers: tuple[int, ...] = (1, 2, 4)
    blocks_per_level: int = 1
    attention_max_size: int = 8
    heads: int = 4
    groups: int = 8
    dropout: float = 0.0
    out_tanh: bool = True
    residual: bool = False

    @property
    def width(self) -> int:
        """The base width actually used (``base_width`` or the image size)."""
        return self.image_size if self.base_width is None else self.base_width

    @property
    def widths(self) -> list[int]:
        """Channels of each level, ``[base * m for m in multipliers]``."""
        return [self.width * multiplier for multiplier in self.multipliers]

    def __post_init__(self) -> None:
        """Raise FpaError for the first bad field."""
        if not MIN_SIZE <= self.image_size <= MAX_SIZE:
            raise FpaError(f"U-Net image_size must be in {MIN_SIZE}..{MAX_SIZE}; got {self.image_size}")
        if self.channels not in (1, 3):
            raise FpaError(f"U-Net channels must be 1 or 3; got {self.channels}")
        if not self.multipliers or any(m < 1 for m in self.multipliers):
            raise FpaError(f"U-Net multipliers must be positive integers, e.g. 1,2,4; got {self.multipliers}")
        factor = 2 ** len(self.multipliers)
        if self.image_size % factor:
            raise FpaError(
                f"U-Net image_size {self.image_size} is not divisible by 2^{len(self.multipliers)} = {factor} "
                f"(one 2x down-sampling per multiplier); use fewer multipliers or an image size that is a "
                f"multiple of {factor}"
            )
        for name in ("width", "blocks_per_level", "heads", "groups"):
            if getattr(self, name) < 1:
                raise FpaError(f"U-Net {name} must be at least 1; got {getattr(self, name)}")
        if self.attention_max_size < 0:
            raise FpaError(f"U-Net attention_max_size must be 0 (off) or more; got {self.attention_max_size}")
        for width in self.widths:
            if width % self.groups or width % self.heads:
                raise FpaError(
                    f"U-Net widths {self.widths} must all be divisible by groups={self.groups} and "
                    f"heads={self.heads}; change unet.base_width, unet.groups or unet.heads"
                )
        if not 0.0 <= self.dropout < 1.0:
            raise FpaError(f"U-Net dropout must be in [0, 1); got {self.dropout}")
        if self.residual and not self.out_tanh:
            raise FpaError("U-Net residual=true works in the tanh domain; set unet.out_tanh true as well")


def paper_unet_config(image_size: int = 64, channels: int = 3) -> UNetConfig:
    """The paper's U-Net (App. C.1): base width = image size, multipliers (1, 2, 4)."""
    return UNetConfig(image_size=image_size, channels=channels, base_width=None, multipliers=(1, 2, 4))


class ResNetBlock(nn.Module):
    """(B, c_in, S, S) -> (B, c_out, S, S): two (group norm, SiLU, 3x3 conv) plus the shortcut."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.shortcut(x) + h


class SelfAttention(nn.Module):
    """(B, c, S, S) -> same: x + out(softmax attention over the S*S positions of norm(x))."""

    def __init__(self, channels: int, heads: int, groups: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        qkv = self.qkv(self.norm(x)).reshape(batch, 3, self.heads, channels // self.heads, height * width)
        query, key, value = qkv.transpose(-1, -2).unbind(1)  # each (B, heads, S*S, c/heads)
        attended = F.scaled_dot_product_attention(query, key, value)
        attended = attended.transpose(-1, -2).reshape(batch, channels, height, width)
        return x + self.out(attended)


class Level(nn.Module):
    """ResNet blocks (the first from ``in_channels``), then optional self-attention."""

    def __init__(self, in_channels: int, width: int, cfg: UNetConfig, attention: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            ResNetBlock(in_channels if i == 0 else width, width, cfg.groups, cfg.dropout)
            for i in range(cfg.blocks_per_level)
        )
        self.attention = SelfAttention(width, cfg.heads, cfg.groups) if attention else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return self.attention(x)


class UNet(nn.Module):
    """Image-to-image U-Net: (B, C, H, W) -> (B, C, H, W); see the module docstring."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.config = cfg.validate()
        widths, size = cfg.widths, cfg.image_size
        sizes = [size // 2**i for i in range(len(widths))]
        attend = [0 < cfg.attention_max_size and s <= cfg.attention_max_size for s in sizes]
        self.stem = nn.Conv2d(cfg.channels, widths[0], 3, padding=1)
        self.encoder = nn.ModuleList(Level(w, w, cfg, a) for w, a in zip(widths, attend, strict=True))
        self.downsample = nn.ModuleList(
            nn.Conv2d(w, widths[min(i + 1, len(widths) - 1)], 3, stride=2, padding=1) for i, w in enumerate(widths)
        )
        middle = widths[-1]
        self.middle = nn.Sequential(
            ResNetBlock(middle, middle, cfg.groups, cfg.dropout),
            SelfAttention(middle, cfg.heads, cfg.groups) if cfg.attention_max_size > 0 else nn.Identity(),
            ResNetBlock(middle, middle, cfg.groups, cfg.dropout),
        )
        self.upsample = nn.ModuleList(
            nn.Conv2d(widths[min(i + 1, len(widths) - 1)], w, 3, padding=1) for i, w in enumerate(widths)
        )
        self.decoder = nn.ModuleList(Level(2 * w, w, cfg, a) for w, a in zip(widths, attend, strict=True))
        self.head = nn.Sequential(
            nn.GroupNorm(cfg.groups, widths[0]), nn.SiLU(), nn.Conv2d(widths[0], cfg.channels, 3, padding=1)
        )
        if cfg.residual:
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C, H, W) -> refined images (B, C, H, W), in [-1, 1] when ``out_tanh``."""
        cfg = self.config
        if x.dim() != 4 or x.shape[1:] != (cfg.channels, cfg.image_size, cfg.image_size):
            raise FpaError(
                f"U-Net input must be (batch, {cfg.channels}, {cfg.image_size}, {cfg.image_size}); "
                f"got {tuple(x.shape)}"
            )
        h, skips = self.stem(x), []
        for level, down in zip(self.encoder, self.downsample, strict=True):
            h = level(h)
            skips.append(h)
            h = down(h)
        h = self.middle(h)
        for level, up, skip in reversed(list(zip(self.decoder, self.upsample, skips, strict=True))):
            h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
            h = level(torch.cat([h, skip], dim=1))
        out = self.head(h)
        if cfg.residual:
            out = out + torch.atanh(x.clamp(-ATANH_LIMIT, ATANH_LIMIT))
        return torch.tanh(out) if cfg.out_tanh else out
