"""fpalib.sampling: seeded samples and latent interpolation (the files it writes: test_commands.py)."""

import pytest
import torch

from fpalib.errors import FpaError
from fpalib.models import FastWeightPainter
from fpalib.sampling import fixed_samples, interpolate_latents
from fpalib.train.presets import get_preset


def test_fixed_samples_depend_on_the_seed_only():
    painter = FastWeightPainter(get_preset("smoke").painter)
    a = fixed_samples(painter, 5, seed=3, batch_size=2)
    assert a.shape == (5, 3, 16, 16) and a.abs().max() <= 1
    assert torch.allclose(a, fixed_samples(painter, 5, seed=3, batch_size=5), atol=1e-6)
    assert not torch.allclose(a, fixed_samples(painter, 5, seed=4))
    with pytest.raises(FpaError, match="at least 1"):
        fixed_samples(painter, 0)


def test_interpolate_latents_slerp_and_linear():
    start, end = torch.randn(64, generator=torch.Generator().manual_seed(0)), torch.randn(64)
    for method in ("slerp", "linear"):
        path = interpolate_latents(start, end, 5, method)
        assert path.shape == (5, 64)
        assert torch.allclose(path[0], start, atol=1e-5) and torch.allclose(path[-1], end, atol=1e-5)
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    middle = interpolate_latents(a, b, 3, "slerp")[1]
    assert torch.allclose(middle, torch.tensor([0.5**0.5, 0.5**0.5]))
    assert torch.allclose(interpolate_latents(a, b, 3, "linear")[1], torch.tensor([0.5, 0.5]))
    with pytest.raises(FpaError, match="unknown interpolation"):
        interpolate_latents(a, b, 3, "cubic")
