"""The Frechet distance between two Gaussians fitted to Inception features (FID).

    FID = |mu_1 - mu_2|^2 + tr(Sigma_1 + Sigma_2 - 2 (Sigma_1 Sigma_2)^{1/2})

(Heusel et al., 2017). :func:`frechet_distance` is pytorch-fid's ``calculate_frechet_distance``
(the implementation the paper used, Irie & Schmidhuber, 2023, App. B.4);
:func:`frechet_distance_reference` is an independent float64 computation through symmetric
eigen-decompositions, used by the tests: with S = Sigma_1^{1/2}, the matrix
Sigma_1 Sigma_2 is similar to S Sigma_2 S (symmetric, positive semi-definite), so
tr (Sigma_1 Sigma_2)^{1/2} = sum of the square roots of the eigenvalues of S Sigma_2 S.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from pytorch_fid.fid_score import calculate_frechet_distance

from fpalib.errors import FpaError


@dataclass
class GaussianStats:
    """Mean (d,) and covariance (d, d) of n feature vectors, float64 (pytorch-fid's ``mu``/``sigma``)."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int

    @classmethod
    def of(cls, features: np.ndarray) -> GaussianStats:
        """Statistics of features (n, d), computed as pytorch-fid does (mean, ``np.cov``)."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] < 2:
            raise FpaError(f"need at least 2 feature vectors (n, d) for a covariance; got shape {features.shape}")
        return cls(features.mean(axis=0), np.cov(features, rowvar=False), features.shape[0])


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """FID between two sets of statistics, computed by pytorch-fid."""
    if a.mu.shape != b.mu.shape:
        raise FpaError(
            f"the statistics have different feature sizes ({a.mu.shape[0]} and {b.mu.shape[0]}); "
            "compute both with the same --dims"
        )
    with warnings.catch_warnings():  # pytorch-fid passes SciPy's deprecated sqrtm(disp=False)
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(calculate_frechet_distance(a.mu, a.sigma, b.mu, b.sigma))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (negative eigenvalues clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance_reference(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """The same distance through eigen-decompositions in float64 (see the module docstring)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)
