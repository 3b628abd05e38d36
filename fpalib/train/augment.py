"""Differentiable augmentation of what the discriminator sees (DiffAugment, Zhao et al., 2020).

On a small data set (the 1636 emoji are one) the discriminator can memorise the real images,
and its gradients stop telling the generator anything useful. DiffAugment applies the same
random, differentiable transformations to real *and* generated images every time the
discriminator looks at them (its update, the gradient penalty, the generator's update), so the
generator, whose gradients flow through them, is not taught to paint augmented images. Not in
the paper (off in the ``paper-*`` presets). Policies, each sample drawing its own parameters:

- ``color``: brightness shift in [-0.5, 0.5), saturation factor in [0, 2), contrast factor in [0.5, 1.5);
- ``translation``: shift by up to 1/8 of the side in x and y, filling with 0 (mid grey);
- ``cutout``: a square of half the side around a random pixel set to 0 (clipped at the edges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from jsonargparse.typing import ClosedUnitInterval
from torch import Tensor
from torch.nn import functional as F

from fpalib.errors import Checked, FpaError


def color(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Random brightness, saturation and contrast per sample; (B, C, H, W) -> same."""
    batch = images.shape[0]
    draw = lambda: torch.rand(batch, 1, 1, 1, generator=generator).to(images)  # noqa: E731
    images = images + (draw() - 0.5)
    channel_mean = images.mean(dim=1, keepdim=True)
    images = (images - channel_mean) * (2 * draw()) + channel_mean
    image_mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - image_mean) * (draw() + 0.5) + image_mean


def translation(images: Tensor, generator: torch.Generator | None = None, ratio: float = 0.125) -> Tensor:
    """Shift each sample by up to ``ratio`` of its height and width, zero fill; (B, C, H, W) -> same."""
    batch, _, height, width = images.shape
    max_y, max_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    if max_y == 0 and max_x == 0:
        return images
    shift_y = torch.randint(-max_y, max_y + 1, (batch, 1), generator=generator).to(images.device)
    shift_x = torch.randint(-max_x, max_x + 1, (batch, 1), generator=generator).to(images.device)
    padded = F.pad(images, [max_x, max_x, max_y, max_y])  # zeros around
    rows = torch.arange(height, device=images.device) + max_y - shift_y  # (B, H) into the padded image
    cols = torch.arange(width, device=images.device) + max_x - shift_x  # (B, W)
    index = torch.arange(batch, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def cutout(images: Tensor, generator: torch.Generator | None = None, ratio: float = 0.5) -> Tensor:
    """Set a square of ``ratio`` times the side, centred at a random pixel, to 0; (B, C, H, W) -> same."""
    batch, _, height, width = images.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    centre_y = torch.randint(0, height, (batch, 1, 1), generator=generator).to(images.device)
    centre_x = torch.randint(0, width, (batch, 1, 1), generator=generator).to(images.device)
    ys = torch.arange(height, device=images.device)[None, :, None]
    xs = torch.arange(width, device=images.device)[None, None, :]
    offset_y, offset_x = ys - centre_y + size_y // 2, xs - centre_x + size_x // 2
    inside = (offset_y >= 0) & (offset_y < size_y) & (offset_x >= 0) & (offset_x < size_x)  # (B, H, W)
    return images * (~inside).unsqueeze(1).to(images.dtype)


POLICIES: dict[str, Callable[..., Tensor]] = {"color": color, "translation": translation, "cutout": cutout}


@dataclass
class AugmentConfig(Checked):
    """DiffAugment for the discriminator's inputs (off by default, as in the paper).

    Attributes:
        policy: comma-separated names from :data:`POLICIES`, applied in that order ("" = off).
        prob: probability that a batch is augmented (all of it, real and generated alike).
    """

    policy: str = ""
    prob: ClosedUnitInterval = 1.0

    @property
    def names(self) -> list[str]:
        return [name.strip() for name in self.policy.split(",") if name.strip()]

    def __post_init__(self) -> None:
        """Raise FpaError for an unknown policy (and what :class:`Checked` refuses)."""
        super().__post_init__()
        unknown = [name for name in self.names if name not in POLICIES]
        if unknown:
            raise FpaError(f"unknown augment policy {unknown[0]!r}; use a comma list of {', '.join(POLICIES)}")


def augment(images: Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> Tensor:
    """Apply ``cfg``'s policy with probability ``cfg.prob``; (B, C, H, W) -> same, differentiable."""
    if not cfg.names or cfg.prob == 0.0:
        return images
    if cfg.prob < 1.0 and torch.rand((), generator=generator).item() >= cfg.prob:
        return images
    for name in cfg.names:
        images = POLICIES[name](images, generator)
    return images
