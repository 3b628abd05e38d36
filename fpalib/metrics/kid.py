"""Kernel Inception Distance (Binkowski et al., 2018): unbiased MMD^2 with a cubic polynomial kernel.

    k(x, y) = (x . y / d + 1)^3
    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (n (n-1))
              - 2 sum_{i, j} k(x_i, y_j) / (m n)

The estimator is unbiased: its expectation is the population MMD^2, which is 0 when both sets
come from one distribution (so a single estimate can be slightly negative). KID averages it
over random subsets; the spread over subsets is reported as ``kid_std``. Computed on the same
Inception features as FID.
"""

from __future__ import annotations

import numpy as np

from fpalib.errors import FpaError


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x_i, y_j) for x (m, d), y (n, d) -> (m, n), float64."""
    d = x.shape[1]
    return (np.asarray(x, np.float64) @ np.asarray(y, np.float64).T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 estimate between samples x (m, d) and y (n, d), m, n >= 2."""
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise FpaError(f"KID needs at least 2 samples per set; got {m} and {n}")
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID between feature sets real (m, d) and fake (n, d): (mean, std) of MMD^2_u over subsets.

    Each subset draws min(subset_size, m, n) vectors without replacement from each set, with
    a numpy generator seeded by ``seed``.
    """
    size = min(subset_size, real.shape[0], fake.shape[0])
    if size < 2:
        raise FpaError(f"KID needs at least 2 feature vectors per set; got {real.shape[0]} real, {fake.shape[0]} fake")
    rng = np.random.default_rng(seed)
    estimates = [
        mmd2_unbiased(real[rng.choice(real.shape[0], size, replace=False)],
                      fake[rng.choice(fake.shape[0], size, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(estimates)), float(np.std(estimates))
