"""Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019) on pixels; no pretrained network.

Precision is the fraction of generated samples inside the manifold of the real ones, recall the
fraction of real samples inside the manifold of the generated ones; a set's manifold is the
union of balls around its samples, each with the radius of the distance to its k-th nearest
neighbour in the set (k = 3). A generator that paints few images has high precision and low
recall: this shows mode collapse, which SWD (a distance between patch statistics) shows weakly.
Kynkäänniemi et al. embed images with a pretrained VGG-16, which these machines lack:
:func:`pixel_features` uses the images average-pooled to ``pool`` x ``pool`` (so a one-pixel
shift moves a sample less), a cruder similarity; compare numbers computed the same way only.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from fpalib.errors import FpaError

NEIGHBOURS = 3
"""k of the k-th nearest neighbour radius (Kynkäänniemi et al., 2019, Sec. 3)."""
POOL = 8
"""Side of the average-pooled images used as features: 8x8 colour thumbnails (192 values)."""
EXACT = "donot_use_mm_for_euclid_dist"
"""cdist without the matrix-product shortcut, whose rounding would blur ties at distance 0."""


def pixel_features(images: Tensor, pool: int = POOL) -> Tensor:
    """Images (N, C, H, W), 8-bit values or floats in [0, 255] -> features (N, C * pool * pool) in [0, 1].

    Adaptive average pooling: exact pxp block means when H and W are multiples of ``pool``.
    """
    if images.dim() != 4 or min(images.shape[-2:]) < pool:
        raise FpaError(f"pixel_features needs images (N, C, H, W) of at least {pool}x{pool}; got shape "
                       f"{tuple(images.shape)}")
    pooled = F.adaptive_avg_pool2d(images.double() / 255.0, pool)
    return pooled.flatten(1)


def kth_neighbour_radii(features: Tensor, k: int = NEIGHBOURS, chunk: int = 1024) -> Tensor:
    """(N, D) -> (N,): distance from each sample to its k-th nearest other sample of the set.

    The radii of a set's manifold; :class:`~fpalib.metrics.Evaluator` computes the real set's once.
    """
    # the sample itself is its own nearest neighbour at distance 0: take the (k+1)-th smallest
    return torch.cat([rows.kthvalue(k + 1, dim=1).values for rows in _distances(features, features, chunk)])


def _inside(samples: Tensor, centres: Tensor, radii: Tensor, chunk: int) -> Tensor:
    """(M, D), (N, D), (N,) -> (M,) bool: whether each sample lies in some ball around a centre."""
    return torch.cat([(rows <= radii).any(dim=1) for rows in _distances(samples, centres, chunk)])


def _distances(samples: Tensor, centres: Tensor, chunk: int) -> Iterator[Tensor]:
    """Exact Euclidean distances (b, N) of ``chunk`` samples at a time to all centres (N, D)."""
    for start in range(0, len(samples), chunk):
        yield torch.cdist(samples[start : start + chunk], centres, compute_mode=EXACT)


def precision_recall(
    real: Tensor, fake: Tensor, k: int = NEIGHBOURS, chunk: int = 1024, real_radii: Tensor | None = None
) -> dict[str, float]:
    """Features of real (N, D) and generated (M, D) samples -> {"precision": p, "recall": r} in [0, 1].

    Both sets need more than k samples. ``chunk`` rows of distances are held at a time.
    ``real_radii``: :func:`kth_neighbour_radii` of ``real`` with the same k, when already known.
    """
    for name, features in (("real", real), ("generated", fake)):
        if features.dim() != 2 or len(features) <= k:
            raise FpaError(f"precision_recall needs more than k={k} {name} samples as (N, D) features; "
                           f"got shape {tuple(features.shape)}")
    if real.shape[1] != fake.shape[1]:
        raise FpaError(f"precision_recall: real and generated features differ in size "
                       f"({real.shape[1]} vs {fake.shape[1]})")
    if real_radii is None:
        real_radii = kth_neighbour_radii(real, k, chunk)
    elif real_radii.shape != (len(real),):
        raise FpaError(f"precision_recall: real_radii must be ({len(real)},); got {tuple(real_radii.shape)}")
    fake_radii = kth_neighbour_radii(fake, k, chunk)
    precision = _inside(fake, real, real_radii, chunk).double().mean().item()
    recall = _inside(real, fake, fake_radii, chunk).double().mean().item()
    return {"precision": precision, "recall": recall}

