"""KID: the unbiased polynomial-kernel MMD^2 estimator and its subsets."""

from __future__ import annotations

import numpy as np
import pytest

from fpalib.errors import FpaError
from fpalib.metrics.kid import kernel_inception_distance, mmd2_unbiased, polynomial_kernel


def mmd2_unbiased_reference(x: np.ndarray, y: np.ndarray) -> float:
    """mmd2_unbiased written as explicit sums over pairs (slow)."""
    d = x.shape[1]

    def kernel(a: np.ndarray, b: np.ndarray) -> float:
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    within_x = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    within_y = sum(kernel(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    across = sum(kernel(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return within_x + within_y - 2 * across


def test_vectorised_estimator_equals_the_double_loop():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 5)), rng.standard_normal((9, 5)) + 0.3
    assert mmd2_unbiased(x, y) == pytest.approx(mmd2_unbiased_reference(x, y), rel=1e-12)


def test_kernel_is_the_cubic_polynomial():
    x, y = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]])
    assert polynomial_kernel(x, y)[0, 0] == pytest.approx(((1 * 3 - 2 * 1) / 2 + 1) ** 3)


def population_mmd2_1d(mu: float) -> float:
    """MMD^2 of N(0, 1) and N(mu, 1) under k(x, y) = (x y + 1)^3 = sum_j c_j x^j y^j, c = (1, 3, 3, 1).

    MMD^2 = sum_j c_j (E x^j - E y^j)^2 with the Gaussian moments E y = mu, E y^2 = 1 + mu^2,
    E y^3 = mu^3 + 3 mu (and 0, 1, 0 for x).
    """
    return 3 * mu**2 + 3 * (mu**2) ** 2 + (mu**3 + 3 * mu) ** 2


@pytest.mark.parametrize("mu", [0.0, 0.5])
def test_estimator_is_unbiased_on_a_toy_case_with_known_answer(mu):
    rng = np.random.default_rng(1)
    m, trials = 10, 4000
    estimates, biased = [], []
    for _ in range(trials):
        x, y = rng.standard_normal((m, 1)), rng.standard_normal((m, 1)) + mu
        estimates.append(mmd2_unbiased(x, y))
        k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
        biased.append(k_xx.mean() + k_yy.mean() - 2 * k_xy.mean())
    mean, standard_error = np.mean(estimates), np.std(estimates) / np.sqrt(trials)
    assert abs(mean - population_mmd2_1d(mu)) < 4 * standard_error
    assert np.mean(biased) - population_mmd2_1d(mu) > 8 * standard_error  # the V-statistic is biased upwards


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((400, 16))
    same, shifted = rng.standard_normal((400, 16)), rng.standard_normal((400, 16)) + 0.5
    near_zero, spread = kernel_inception_distance(real, same, subsets=20, subset_size=100)
    far, _ = kernel_inception_distance(real, shifted, subsets=20, subset_size=100)
    assert abs(near_zero) < 3 * spread
    assert far > 10 * spread > 0
    assert kernel_inception_distance(real, shifted, subsets=5, subset_size=50, seed=3) == kernel_inception_distance(
        real, shifted, subsets=5, subset_size=50, seed=3)


def test_kid_needs_two_samples():
    with pytest.raises(FpaError, match="at least 2"):
        kernel_inception_distance(np.zeros((1, 3)), np.zeros((5, 3)))
