"""SWD: Laplacian pyramid, sliced Wasserstein against SciPy, zero for identical sets, growth with a shift."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance  # SciPy comes with pytorch-fid
from torch import Tensor

from fpalib.errors import FpaError
from fpalib.metrics.swd import (laplacian_pyramid, pyramid_up, random_directions, sliced_wasserstein,
                                sliced_wasserstein_distance)

SMALL = {"patches_per_image": 16, "directions": 64}


def sliced_wasserstein_reference(a: Tensor, b: Tensor, directions: Tensor) -> float:
    """sliced_wasserstein through SciPy's ``wasserstein_distance``, one direction at a time."""
    a64, b64, d64 = a.double().numpy(), b.double().numpy(), directions.double().numpy()
    return float(np.mean([wasserstein_distance(a64 @ d64[:, k], b64 @ d64[:, k]) for k in range(d64.shape[1])]))


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """64 smooth random 32x32 images in [-1, 1] (upsampled 8x8 noise plus fine noise)."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.nn.functional.interpolate(torch.rand(64, 3, 8, 8, generator=generator), size=32, mode="bilinear")
    return (coarse + 0.1 * torch.rand(64, 3, 32, 32, generator=generator)) * 2 - 1.1


def test_laplacian_pyramid_reconstructs_the_image():
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64).float()
    levels = laplacian_pyramid(x)
    assert [level.shape[-1] for level in levels] == [64, 32, 16]
    image = levels[-1]
    for band in reversed(levels[:-1]):
        image = band + pyramid_up(image)
    torch.testing.assert_close(image, x, rtol=0, atol=1e-5)


def test_sliced_wasserstein_matches_scipy():
    generator = torch.Generator().manual_seed(1)
    a, b = torch.randn(50, 6, generator=generator), torch.randn(50, 6, generator=generator) * 2 + 1
    directions = random_directions(6, 10, generator)
    assert sliced_wasserstein(a, b, directions, chunk=3) == pytest.approx(
        sliced_wasserstein_reference(a, b, directions), rel=1e-5)


def test_identical_sets_give_exactly_zero_and_results_are_deterministic(images):
    assert sliced_wasserstein_distance(images, images.clone(), **SMALL) == {"swd_32": 0.0, "swd_16": 0.0, "swd": 0.0}
    other = images.flip(0).roll(3, dims=-1)
    first = sliced_wasserstein_distance(images, other, seed=5, **SMALL)
    assert first == sliced_wasserstein_distance(images, other, seed=5, **SMALL)
    assert first != sliced_wasserstein_distance(images, other, seed=6, **SMALL)


def test_swd_grows_with_a_controlled_shift_towards_noise(images):
    noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(9)) * 2 - 1
    values = [sliced_wasserstein_distance(images, (1 - t) * images + t * noise, **SMALL)["swd"]
              for t in (0.0, 0.1, 0.3, 0.6)]
    assert values[0] == 0.0
    assert all(later > earlier for earlier, later in zip(values, values[1:]))


def test_reference_normalisation_sees_a_brightness_shift_that_per_set_ignores(images):
    brighter = images + 0.3
    per_set = sliced_wasserstein_distance(images, brighter, normalisation="per-set", **SMALL)
    reference = sliced_wasserstein_distance(images, brighter, normalisation="reference", **SMALL)
    assert per_set["swd"] < 1e-2  # Karras et al.'s per-set standardisation removes a global offset
    assert reference["swd_16"] > 100 and reference["swd_32"] < 1e-2  # band-pass levels have no offset


def test_swd_refuses_mismatched_sets(images):
    with pytest.raises(FpaError, match="one shape"):
        sliced_wasserstein_distance(images, images[:10])
