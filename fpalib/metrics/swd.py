"""Multi-scale sliced Wasserstein distance (SWD) on Laplacian-pyramid patches; no pretrained network.

Karras et al. (2018, "Progressive Growing of GANs", Sec. 5) compare local image statistics at
several scales: (1) each image becomes a Laplacian pyramid, band-pass levels from the full
resolution down to 16x16, where the low-pass rest is the last level; (2) per level,
``patches_per_image`` random 7x7 neighbourhoods become descriptors of 7*7*C values, normalised
per channel by their own set's mean and standard deviation ("per-set", as Karras et al.: blind
to global brightness and contrast) or by those of the first set ("reference"); (3) the
descriptors are projected on random unit directions, and the 1-D Wasserstein-1 distance of each
projection (the mean absolute difference of the sorted values) is averaged over directions.
Values are multiplied by 1e3 (Karras et al., Table 1), per level and averaged over levels.
Both sets need equally many images and use the same ``seed``-ed patch positions, so a set
against itself gives exactly 0.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from fpalib.errors import FpaError

MIN_RESOLUTION = 16
PATCH_SIZE = 7
NORMALISATIONS = ("per-set", "reference")
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])


def _blur(images: Tensor) -> Tensor:
    """5x5 binomial low-pass (N, C, H, W) -> same shape; borders mirrored."""
    channels = images.shape[1]
    kernel = torch.outer(_BINOMIAL, _BINOMIAL).to(images) / 256
    padded = F.pad(images, (2, 2, 2, 2), mode="reflect")
    return F.conv2d(padded, kernel.expand(channels, 1, 5, 5), groups=channels)


def pyramid_down(images: Tensor) -> Tensor:
    """Blur and keep every second pixel: (N, C, H, W) -> (N, C, H/2, W/2)."""
    return _blur(images)[:, :, ::2, ::2]


def pyramid_up(images: Tensor) -> Tensor:
    """Insert zeros between pixels and blur (gain 4): (N, C, H, W) -> (N, C, 2H, 2W)."""
    n, c, h, w = images.shape
    spread = images.new_zeros(n, c, 2 * h, 2 * w)
    spread[:, :, ::2, ::2] = images
    return _blur(spread) * 4


def laplacian_pyramid(images: Tensor, min_resolution: int = MIN_RESOLUTION) -> list[Tensor]:
    """Band-pass levels from the full resolution down, then the low-pass image at ``min_resolution``.

    images (N, C, H, W), H = W a power of two; returns levels (N, C, H/2^i, W/2^i). Summing
    ``pyramid_up`` of each coarser level back reconstructs the input exactly (see tests).
    """
    levels = []
    current = images.float()
    while current.shape[-1] > min_resolution:
        smaller = pyramid_down(current)
        levels.append(current - pyramid_up(smaller))
        current = smaller
    levels.append(current)
    return levels


def patch_positions(count: int, height: int, width: int, per_image: int, seed: int) -> tuple[Tensor, Tensor]:
    """Top-left corners (count, per_image) of random 7x7 patches, from a generator seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, height - PATCH_SIZE + 1, (count, per_image), generator=generator)
    cols = torch.randint(0, width - PATCH_SIZE + 1, (count, per_image), generator=generator)
    return rows, cols


def extract_patches(level: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """level (N, C, H, W), corners (N, P) -> patches (N * P, C, 7, 7)."""
    offsets = torch.arange(PATCH_SIZE)
    image_index = torch.arange(level.shape[0])[:, None, None, None]
    row_index = (rows[:, :, None] + offsets)[:, :, :, None]
    col_index = (cols[:, :, None] + offsets)[:, :, None, :]
    patches = level[image_index, :, row_index, col_index]  # (N, P, 7, 7, C)
    return patches.permute(0, 1, 4, 2, 3).reshape(-1, level.shape[1], PATCH_SIZE, PATCH_SIZE)


def _normalise(patches: Tensor, reference: Tensor) -> Tensor:
    """Per-channel standardisation of patches (M, C, 7, 7) by the statistics of ``reference``."""
    mean = reference.mean(dim=(0, 2, 3), keepdim=True)
    std = reference.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return ((patches - mean) / std).flatten(1)


def sliced_wasserstein(a: Tensor, b: Tensor, directions: Tensor, chunk: int = 128) -> float:
    """Mean over directions (D, k) of the 1-D W1 distance between projections of a (M, D) and b (M, D)."""
    if a.shape != b.shape:
        raise FpaError(f"SWD compares equally many descriptors; got {tuple(a.shape)} and {tuple(b.shape)}")
    total = 0.0
    for start in range(0, directions.shape[1], chunk):
        block = directions[:, start : start + chunk].T  # (k, D); rows of (k, M) sort fastest, and numpy's
        projected_a = np.sort((block @ a.T).numpy(), axis=1)  # sort is several times faster than torch's here
        projected_b = np.sort((block @ b.T).numpy(), axis=1)
        total += float(np.abs(projected_a - projected_b).mean(axis=1, dtype=np.float64).sum())
    return total / directions.shape[1]


def random_directions(dims: int, count: int, generator: torch.Generator) -> Tensor:
    """``count`` random unit vectors as columns (dims, count)."""
    directions = torch.randn(dims, count, generator=generator)
    return directions / directions.norm(dim=0, keepdim=True)


def sliced_wasserstein_distance(
    images_a: Tensor,
    images_b: Tensor,
    *,
    seed: int = 0,
    patches_per_image: int = 128,
    directions: int = 512,
    normalisation: str = "per-set",
    min_resolution: int = MIN_RESOLUTION,
) -> dict[str, float]:
    """Multi-scale SWD (x1e3) between two image sets (N, C, H, W) of equal N and size (any value range).

    Returns ``{"swd": mean over levels, "swd_<res>": per level}``, e.g. ``swd_32`` and ``swd_16``
    for 32x32 images. ``images_a`` is the reference of ``normalisation="reference"``.
    """
    if images_a.shape != images_b.shape:
        raise FpaError(
            f"SWD needs two image sets of one shape; got {tuple(images_a.shape)} and {tuple(images_b.shape)}"
        )
    n, c, h, w = images_a.shape
    if h != w or h & (h - 1) or h < PATCH_SIZE:
        raise FpaError(f"SWD needs square images with a power-of-two side of at least 8; got {h}x{w}")
    if normalisation not in NORMALISATIONS:
        raise FpaError(f"unknown SWD normalisation {normalisation!r}; choose one of {', '.join(NORMALISATIONS)}")
    generator = torch.Generator().manual_seed(seed)
    results: dict[str, float] = {}
    levels = zip(laplacian_pyramid(images_a, min_resolution), laplacian_pyramid(images_b, min_resolution), strict=True)
    for index, (level_a, level_b) in enumerate(levels):
        rows, cols = patch_positions(n, level_a.shape[2], level_a.shape[3], patches_per_image, seed + index)
        patches_a, patches_b = extract_patches(level_a, rows, cols), extract_patches(level_b, rows, cols)
        reference_b = patches_a if normalisation == "reference" else patches_b
        descriptors_a, descriptors_b = _normalise(patches_a, patches_a), _normalise(patches_b, reference_b)
        unit = random_directions(descriptors_a.shape[1], directions, generator)
        results[f"swd_{level_a.shape[-1]}"] = 1e3 * sliced_wasserstein(descriptors_a, descriptors_b, unit)
    results["swd"] = float(np.mean(list(results.values())))
    return results
