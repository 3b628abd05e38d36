"""Tests of fpalib.tutorial.fitting: the SVD rank-T baseline (Eckart-Young) and direct T-step painting fits."""

from __future__ import annotations

import pytest
import torch

from fpalib.errors import FpaError
from fpalib.rules import delta_rule
from fpalib.tutorial.fitting import eckart_young_error, fit_painting, relative_error, svd_rank_approximation


def low_rank_image(rank: int, channels: int = 3, height: int = 12, width: int = 10) -> torch.Tensor:
    left = torch.randn(channels, height, rank, dtype=torch.float64)
    right = torch.randn(channels, rank, width, dtype=torch.float64)
    return left @ right


def test_svd_approximation_has_the_rank_and_the_eckart_young_error():
    image = torch.randn(3, 12, 10, dtype=torch.float64)
    for rank in (0, 1, 4, 10):
        approximation = svd_rank_approximation(image, rank)
        assert approximation.shape == image.shape
        assert all(torch.linalg.matrix_rank(channel) == rank for channel in approximation)
        singular = torch.linalg.svdvals(image)
        tail = singular[:, rank:].square().sum().sqrt() / image.norm()
        assert relative_error(approximation, image) == pytest.approx(float(tail), rel=1e-9, abs=1e-12)
        assert eckart_young_error(image, rank) == pytest.approx(float(tail), rel=1e-9, abs=1e-12)
    assert eckart_young_error(image, 10) == pytest.approx(0.0, abs=1e-12)


def test_svd_approximation_beats_other_rank_t_matrices():
    image = torch.randn(1, 8, 8, dtype=torch.float64)
    best = relative_error(svd_rank_approximation(image, 3), image)
    for _ in range(20):
        other = torch.randn(1, 8, 3, dtype=torch.float64) @ torch.randn(1, 3, 8, dtype=torch.float64)
        scale = (other * image).sum() / other.square().sum()  # best multiple of it
        assert relative_error(scale * other, image) > best


def test_fit_lowers_the_error_and_reports_the_image_it_paints():
    target = torch.rand(3, 8, 8) * 2 - 1
    fit = fit_painting(target, num_steps=4, iterations=60, key_norm="softmax")
    assert fit.errors[-1] < 0.8 * fit.errors[0]
    assert fit.error == pytest.approx(relative_error(fit.image, target))
    torch.testing.assert_close(delta_rule(fit.keys, fit.values, fit.beta), fit.image)
    torch.testing.assert_close(fit.keys.sum(-1), torch.ones(3, 4))  # softmax keys
    assert ((fit.beta > 0) & (fit.beta < 1)).all()
    steps = fit.steps()
    assert steps.updates.shape == steps.cumulative.shape == (1, 4, 3, 8, 8)
    torch.testing.assert_close(steps.cumulative[0, -1], fit.image)


def test_fit_reaches_a_low_rank_target_when_t_covers_its_rank():
    target = low_rank_image(rank=2)
    fit = fit_painting(target, num_steps=3, iterations=200, key_norm="l2", learning_rate=0.1)
    assert fit.error < 0.02
    assert fit.error >= eckart_young_error(target, 3) - 1e-12


def test_fit_cannot_beat_the_rank_bound():
    target = torch.randn(2, 10, 10, dtype=torch.float64)
    fit = fit_painting(target, num_steps=2, iterations=150, key_norm="l2")
    assert fit.error >= eckart_young_error(target, 2) - 1e-9


def test_bad_arguments_raise_fpa_error():
    image = torch.randn(3, 8, 8)
    with pytest.raises(FpaError, match="channels, height, width"):
        svd_rank_approximation(image[0], 2)
    with pytest.raises(FpaError, match="rank"):
        svd_rank_approximation(image, -1)
    with pytest.raises(FpaError, match="key_norm"):
        fit_painting(image, 2, iterations=1, key_norm="max")
    with pytest.raises(FpaError, match="at least 1"):
        fit_painting(image, 0)
    with pytest.raises(FpaError, match="shapes differ"):
        relative_error(image, image[:1])
