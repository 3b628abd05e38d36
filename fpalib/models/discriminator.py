"""The LightGAN discriminator (Liu et al., 2021) as used to train Fast Weight Painters.

Irie & Schmidhuber (2023, Sec. 3.3 and App. B.3) keep the discriminator and
training setup of the unofficial lightweight-gan implementation and replace
only its generator. This module is an original re-implementation of that
discriminator from its description.

Architecture for an image of size S (B = batch, C = image channels; the width
of a feature map of resolution r is ``min(fmap_max, 2 ** (fmap_inverse_coef - log2 r))``,
e.g. 512 at 8x8, 256 at 16x16, 128 at 32x32 with the defaults):

- body: log2(S) - 3 residual :class:`DownBlock` s from (B, C, S, S) down to an
  (B, width(8), 8, 8) map; the first block reads the image directly. With
  ``body_attention_size`` r, a residual self-attention runs on the block input of size r.
- ``logits`` head on the 8x8 map, (B,): with ``disc_output_size=1`` (default)
  blur -> 3x3 conv stride 2 -> LeakyReLU -> 4x4 conv gives one logit per
  image; with ``disc_output_size=5`` a 1x1 conv -> LeakyReLU -> 4x4 conv gives
  5x5 patch logits, which are averaged to one logit per image.
- ``logits_32`` head, (B,): the input resized to 32x32 -> 3x3 conv -> [LeakyReLU] ->
  [self-attention] -> DownBlock to 16x16 -> [self-attention] -> average pool to 4x4 -> 4x4 conv.
- auxiliary decoder (only with ``aux=True``, meant for real images): from the
  8x8 map, up-sample x2 -> 3x3 conv -> GLU, repeated until the decoder's
  resolution R (``reconstruction_size``; default min(S, 64)). The loss is the MSE between
  the reconstruction and the input resized to R x R.
- quadrant decoder (only for S >= 128): a second decoder of the same kind
  reads a random 8x8 quadrant of the 16x16 map and reconstructs the matching
  S/2 x S/2 quadrant of the input, resized to R x R; its MSE is added.

Options and their defaults. The defaults are fpalib's earlier discriminator (which the shipped
painters were trained with); the ``paper-*`` presets set what the authors' runs used
(:func:`authors_discriminator_config`; parameter count 12,326,632 at 64x64):

==========================  =====================  ======================================
option                      default                the authors' runs
==========================  =====================  ======================================
``blur``                    True                   False (their ``antialias`` flag is off)
``attention_kind``          "linear" (4 x 16)      "hybrid" (8 heads of 64, global + 3x3)
``body_attention_size``     0 (none)               32
``head_activation``         True                   False (no LeakyReLU before attention)
``reconstruction_size``     0 = min(S, 64)         128
``resize_mode``             "area"                 "nearest" (F.interpolate's default)
``init_slope``              0.1                    0.0 (Kaiming gain sqrt(2))
==========================  =====================  ======================================

Other choices, with respect to the authors' code:
- no normalisation layers in the body or the decoders (as there), so images never interact
  within a batch (unless the optional minibatch standard deviation channel is switched on);
- the quadrant decoder is used from 128x128 on (the original: from 512x512);
- one logit per image by default (``disc_output_size=1``, as in the authors' runs); 5x5 patch
  logits are available and averaged before the loss;
- scores are the negated scores of the authors' code (real images score high here);
- the reconstruction target is detached from the input images.

Under DDP, build the wrapper with ``find_unused_parameters=True``: the
decoders take part only in calls with ``aux=True``.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fpalib.errors import Checked, FpaError
from fpalib.models.attention import HybridSelfAttention
from fpalib.models.blocks import (
    LEAKY_SLOPE,
    RESIZE_MODES,
    DownBlock,
    LinearSelfAttention,
    ReconstructionDecoder,
    maybe_blur,
    resize_images,
)

FEATURE_SIZE = 8
"""Resolution of the body's last feature map, read by the logits head and the decoder."""

DECODER_MAX_SIZE = 64
"""Largest resolution a reconstruction decoder produces."""

QUADRANT_DECODER_MIN_SIZE = 128
"""Image size from which the quadrant decoder on the 16x16 map is added."""

ATTENTION_KINDS = ("linear", "hybrid")

HEAD_32_SIZE = 32
"""Resolution the ``logits_32`` head resizes its input to."""


@dataclass
class DiscriminatorConfig(Checked):
    """Configuration of :class:`Discriminator`.

    Attributes:
        image_size: side of the square input images, a power of two in [16, 256].
        channels: image channels, 1 (grey) or 3 (RGB).
        fmap_max: the widest feature map.
        fmap_inverse_coef: the width of a map of resolution r is
            ``min(fmap_max, 2 ** (fmap_inverse_coef - log2 r))``.
        disc_output_size: 1 (one logit per image) or 5 (5x5 patch logits, averaged).
        attention: self-attention in the 32x32 head (present in the authors' code).
        head_32_channels: width of the 32x32 head (its second stage has half of it).
        blur: blur before every down-sampling (False: the authors' runs).
        attention_kind: "linear" (global linear attention, 4 heads of 16) or "hybrid" (the
            authors': global linear + 3x3 local attention, 8 heads of 64; :mod:`.attention`).
        body_attention_size: 0 (none) or the resolution (a power of two from 16 to image_size)
            of the body's feature map that gets a residual self-attention (the authors: 32).
        head_activation: LeakyReLU after the 32x32 head's first conv (the authors' has none).
        reconstruction_size: side of the decoder's reconstructions; 0 (default) means
            min(image_size, 64), the authors' decoder always gives 128.
        resize_mode: how inputs are resized for the 32x32 head and the reconstruction target,
            "area" (area shrink, bilinear enlarge) or "nearest" (the authors' code).
        init_slope: the negative slope a of the Kaiming-normal init of every conv (0.1; the
            authors' code uses a = 0).
        minibatch_std_group: 0 (default, the paper and LightGAN) or a group size G: the logits
            head also reads one extra channel, the standard deviation of the 8x8 features over
            groups of G images of the batch (Karras et al., 2018), so that a generator painting
            the same image for every latent is easy to tell apart. Images then interact within
            a batch (in groups of G; a batch not divisible by G uses its largest divisor <= G).
    """

    image_size: int = 64
    channels: int = 3
    fmap_max: int = 512
    fmap_inverse_coef: int = 12
    disc_output_size: int = 1
    attention: bool = True
    head_32_channels: int = 64
    minibatch_std_group: int = 0
    blur: bool = True
    attention_kind: str = "linear"
    body_attention_size: int = 0
    head_activation: bool = True
    reconstruction_size: int = 0
    resize_mode: str = "area"
    init_slope: float = 0.1

    def __post_init__(self) -> None:
        """Raise :class:`FpaError` (one line) for any value the model cannot be built with."""
        size = self.image_size
        if not _is_int(size) or size < 16 or size > 256 or size & (size - 1):
            raise FpaError(
                f"discriminator image_size must be a power of two from 16 to 256, got {size!r}; "
                "resize the data to 16, 32, 64, 128 or 256"
            )
        if self.channels not in (1, 3) or not _is_int(self.channels):
            raise FpaError(f"discriminator channels must be 1 (grey) or 3 (RGB), got {self.channels!r}")
        if not _is_int(self.fmap_max) or self.fmap_max < 1:
            raise FpaError(f"discriminator fmap_max must be a positive integer, got {self.fmap_max!r}")
        narrowest = 2 ** (self.fmap_inverse_coef - math.log2(size // 2)) if _is_int(self.fmap_inverse_coef) else 0
        if narrowest < 1:
            raise FpaError(
                f"discriminator fmap_inverse_coef={self.fmap_inverse_coef!r} leaves no channels at "
                f"{size // 2}x{size // 2}; use an integer >= {int(math.log2(size // 2))}"
            )
        if self.disc_output_size not in (1, 5) or not _is_int(self.disc_output_size):
            raise FpaError(f"discriminator disc_output_size must be 1 or 5, got {self.disc_output_size!r}")
        if not _is_int(self.minibatch_std_group) or self.minibatch_std_group < 0:
            raise FpaError(
                "discriminator minibatch_std_group must be 0 (off) or a group size >= 1, "
                f"got {self.minibatch_std_group!r}"
            )
        if not isinstance(self.attention, bool):
            raise FpaError(f"discriminator attention must be True or False, got {self.attention!r}")
        for name in ("blur", "head_activation"):
            if not isinstance(getattr(self, name), bool):
                raise FpaError(f"discriminator {name} must be True or False, got {getattr(self, name)!r}")
        for name, choices in (("attention_kind", ATTENTION_KINDS), ("resize_mode", RESIZE_MODES)):
            if getattr(self, name) not in choices:
                raise FpaError(f"discriminator {name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        body_sizes = [size // 2**i for i in range(int(math.log2(size // FEATURE_SIZE)))]  # S, ..., 16
        if self.body_attention_size != 0 and self.body_attention_size not in body_sizes:
            raise FpaError(
                f"discriminator body_attention_size must be 0 (none) or one of {body_sizes} for "
                f"{size}x{size} images, got {self.body_attention_size!r}"
            )
        if self.reconstruction_size != 0 and (
            not _is_int(self.reconstruction_size) or self.reconstruction_size < 16
            or self.reconstruction_size > 256 or self.reconstruction_size & (self.reconstruction_size - 1)
        ):
            raise FpaError(
                "discriminator reconstruction_size must be 0 (min(image_size, 64)) or a power of two "
                f"from 16 to 256, got {self.reconstruction_size!r}"
            )
        if isinstance(self.init_slope, bool) or not isinstance(self.init_slope, (int, float)) or self.init_slope < 0:
            raise FpaError(f"discriminator init_slope must be a number >= 0, got {self.init_slope!r}")
        if not _is_int(self.head_32_channels) or self.head_32_channels < 2 or self.head_32_channels % 2:
            raise FpaError(
                f"discriminator head_32_channels must be an even integer >= 2, got {self.head_32_channels!r}"
            )

    def width(self, resolution: int) -> int:
        """Channels of the body's feature map at ``resolution`` (a power of two)."""
        return int(min(self.fmap_max, 2 ** (self.fmap_inverse_coef - int(math.log2(resolution)))))

    @property
    def decoder_size(self) -> int:
        """Resolution of the reconstructions: ``reconstruction_size``, or min(image_size, 64)."""
        return self.reconstruction_size or min(self.image_size, DECODER_MAX_SIZE)

    def attention_block(self, channels: int) -> nn.Module:
        """A residual self-attention of ``attention_kind`` on ``channels`` channels."""
        return HybridSelfAttention(channels) if self.attention_kind == "hybrid" else LinearSelfAttention(channels)

    @property
    def has_quadrant_decoder(self) -> bool:
        """Whether the second decoder (on a quadrant of the 16x16 map) is used."""
        return self.image_size >= QUADRANT_DECODER_MIN_SIZE


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class DiscriminatorOutput(NamedTuple):
    """What :meth:`Discriminator.forward` returns.

    logits: (B,) score of the full-resolution head (high = real).
    logits_32: (B,) score of the head on the image resized to 32x32.
    aux_loss: scalar reconstruction MSE with ``aux=True``, else None.
    """

    logits: Tensor
    logits_32: Tensor
    aux_loss: Tensor | None


class MinibatchStd(nn.Module):
    """Append the batch's spread as a channel: (B, C, H, W) -> (B, C + 1, H, W).

    The batch is cut into groups of ``group`` images (its largest divisor <= group); each
    image gets the mean over C, H, W of the per-position standard deviation of its group.
    """

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, features: Tensor) -> Tensor:
        batch, channels, height, width = features.shape
        group = max(g for g in range(1, min(self.group, batch) + 1) if batch % g == 0)
        grouped = features.float().view(group, batch // group, channels, height, width)  # image i in group i % (B/G)
        spread = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / G,)
        spread = spread.repeat(group).to(features.dtype).view(batch, 1, 1, 1).expand(batch, 1, height, width)
        return torch.cat([features, spread], dim=1)


class Discriminator(nn.Module):
    """LightGAN discriminator with two score heads and an auxiliary reconstruction loss.

    ``forward(images (B, C, S, S), aux=False) -> DiscriminatorOutput``; see the
    module docstring for the architecture. Images are expected in [-1, 1].
    """

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        config = config if config is not None else DiscriminatorConfig()
        config.validate()
        self.config = config

        num_blocks = int(math.log2(config.image_size // FEATURE_SIZE))
        output_sizes = [config.image_size // 2**i for i in range(1, num_blocks + 1)]  # ..., 16, 8
        widths = [config.channels] + [config.width(size) for size in output_sizes]
        self.body = nn.ModuleList(
            DownBlock(c_in, c_out, config.blur) for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        input_sizes = [config.image_size] + output_sizes[:-1]
        self.body_attention = nn.ModuleList(
            config.attention_block(c_in) if size == config.body_attention_size else nn.Identity()
            for c_in, size in zip(widths[:-1], input_sizes)
        )

        last = widths[-1]
        self.minibatch_std = MinibatchStd(config.minibatch_std_group) if config.minibatch_std_group else None
        read = last + int(self.minibatch_std is not None)
        if config.disc_output_size == 1:
            self.to_logits = nn.Sequential(
                maybe_blur(config.blur),
                nn.Conv2d(read, last, 3, stride=2, padding=1),
                nn.LeakyReLU(LEAKY_SLOPE),
                nn.Conv2d(last, 1, 4),
            )
        else:
            self.to_logits = nn.Sequential(
                nn.Conv2d(read, last, 1),
                nn.LeakyReLU(LEAKY_SLOPE),
                nn.Conv2d(last, 1, 4),
            )

        head = config.head_32_channels
        attention_in = config.attention_block(head) if config.attention else nn.Identity()
        attention_out = config.attention_block(head // 2) if config.attention else nn.Identity()
        self.head_32 = nn.Sequential(
            nn.Conv2d(config.channels, head, 3, padding=1),
            nn.LeakyReLU(LEAKY_SLOPE) if config.head_activation else nn.Identity(),
            attention_in,
            DownBlock(head, head // 2, config.blur),
            attention_out,
            nn.AdaptiveAvgPool2d(4),
            nn.Conv2d(head // 2, 1, 4),
        )

        num_upsamples = int(math.log2(config.decoder_size // FEATURE_SIZE))
        self.decoder = ReconstructionDecoder(last, config.channels, num_upsamples)
        self.quadrant_decoder = (
            ReconstructionDecoder(config.width(2 * FEATURE_SIZE), config.channels, num_upsamples)
            if config.has_quadrant_decoder
            else None
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming-normal (fan-in, slope ``init_slope``) convolution weights, as in the authors' code."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=self.config.init_slope, mode="fan_in", nonlinearity="leaky_relu")

    def forward(self, images: Tensor, aux: bool = False) -> DiscriminatorOutput:
        """Score images (B, C, S, S) in [-1, 1].

        Returns logits (B,), logits_32 (B,) and, with ``aux=True``, the scalar
        reconstruction loss of these images (use it on real images only).
        """
        self._check_images(images)
        features = images
        maps_by_size: dict[int, Tensor] = {}
        for attention, block in zip(self.body_attention, self.body):
            features = block(attention(features))
            maps_by_size[features.shape[-1]] = features

        scored = self.minibatch_std(features) if self.minibatch_std is not None else features
        logits = self.to_logits(scored).flatten(1).mean(dim=1)
        logits_32 = self.head_32(resize_images(images, HEAD_32_SIZE, self.config.resize_mode)).flatten(1).mean(dim=1)
        aux_loss = self._reconstruction_loss(images, maps_by_size) if aux else None
        return DiscriminatorOutput(logits, logits_32, aux_loss)

    def _check_images(self, images: Tensor) -> None:
        size, channels = self.config.image_size, self.config.channels
        if not isinstance(images, Tensor) or images.dim() != 4 or tuple(images.shape[1:]) != (channels, size, size):
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise FpaError(
                f"the discriminator expects images of shape (batch, {channels}, {size}, {size}), got {shape}; "
                "resize the images or build the discriminator for this size and channel count"
            )

    def _reconstruction_loss(self, images: Tensor, maps_by_size: dict[int, Tensor]) -> Tensor:
        """MSE of the decoder(s) against the down-scaled (detached) input; a scalar."""
        target_images = images.detach()
        reconstruction = self.decoder(maps_by_size[FEATURE_SIZE])
        loss = F.mse_loss(reconstruction, resize_images(target_images, reconstruction.shape[-1], self.config.resize_mode))
        if self.quadrant_decoder is not None:
            row, col = divmod(int(torch.randint(4, (1,)).item()), 2)
            quadrant_features = _quadrant(maps_by_size[2 * FEATURE_SIZE], row, col)
            quadrant_image = _quadrant(target_images, row, col)
            quadrant_reconstruction = self.quadrant_decoder(quadrant_features)
            loss = loss + F.mse_loss(
                quadrant_reconstruction, resize_images(quadrant_image, quadrant_reconstruction.shape[-1], self.config.resize_mode)
            )
        return loss


def _quadrant(maps: Tensor, row: int, col: int) -> Tensor:
    """Quadrant (row, col) in {0, 1}^2 of square maps: (B, C, H, H) -> (B, C, H/2, H/2)."""
    half = maps.shape[-1] // 2
    return maps[..., row * half : (row + 1) * half, col * half : (col + 1) * half]


def authors_discriminator_config(image_size: int = 64, channels: int = 3) -> DiscriminatorConfig:
    """The discriminator of the authors' runs (their README's command, lightweight-gan defaults
    of their code: ``attn_res_layers=[32]``, ``disc_output_size=1``, ``antialias=False``)."""
    return DiscriminatorConfig(
        image_size=image_size, channels=channels, blur=False, attention_kind="hybrid",
        body_attention_size=32 if image_size >= 32 else 0, head_activation=False,
        reconstruction_size=128, resize_mode="nearest", init_slope=0.0,
    )
