"""Tests of the LightGAN generator (fpalib.models.lightgan)."""

from __future__ import annotations

import pytest
import torch

from fpalib.errors import FpaError
from fpalib.models import LightGANConfig, LightGANGenerator, build_generator, count_parameters


def make_generator(seed: int = 0, **overrides) -> LightGANGenerator:
    torch.manual_seed(seed)
    fields = dict(latent_dim=16, fmap_base=256, fmap_min=8, fmap_max=32)
    fields.update(overrides)
    return LightGANGenerator(LightGANConfig(**fields))


@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shape_and_range(size, channels):
    generator = make_generator(image_size=size, channels=channels)
    images = generator(generator.sample_latents(2, generator=torch.Generator().manual_seed(1)))
    assert images.shape == (2, channels, size, size) and images.dtype == torch.float32
    assert images.abs().max() <= 1.0 and images.std() > 0


@pytest.mark.parametrize(
    "norm, upsample", [("batch", "nearest"), ("instance", "bilinear"), ("none", "nearest")]
)
def test_every_parameter_gets_a_gradient(norm, upsample):
    generator = make_generator(image_size=64, norm=norm, upsample=upsample)
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(2))
    target = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    (generator(z) * target).sum().backward()
    for name, parameter in generator.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0, name


def test_channel_schedule_and_sle_pairs():
    cfg = LightGANConfig(image_size=128)
    assert cfg.resolutions() == [4, 8, 16, 32, 64, 128]
    assert [cfg.width(r) for r in cfg.resolutions()] == [512, 256, 128, 64, 32, 32]
    assert cfg.sle_pairs() == [(8, 32), (16, 64), (32, 128)]
    assert LightGANConfig(image_size=256, sle_ratio=16).sle_pairs() == [(8, 128), (16, 256)]
    assert LightGANConfig(image_size=16).sle_pairs() == []


def test_skip_layer_excitation_gates_the_output():
    """Zeroing an SLE's last conv sets its gate to sigmoid(0) = 1/2 and changes the image."""
    generator = make_generator(image_size=32, norm="none").eval()
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(4))
    before = generator(z)
    excitation = generator.excitations["32"]
    low = torch.randn(2, generator.config.width(8), 8, 8)
    high = torch.randn(2, generator.config.width(32), 32, 32)
    gate = excitation(low, high) / high
    assert gate.min() > 0 and gate.max() < 1
    torch.testing.assert_close(gate, gate[..., :1, :1].expand_as(gate))  # one gate per channel
    last_conv = excitation.gate[3]
    last_conv.weight.data.zero_()
    last_conv.bias.data.zero_()
    torch.testing.assert_close(excitation(low, high), high / 2)
    assert (generator(z) - before).abs().max() > 1e-4


def test_default_size_is_a_few_million_parameters():
    count = count_parameters(LightGANGenerator(LightGANConfig()))
    assert 2_000_000 < count < 12_000_000


@pytest.mark.parametrize(
    "overrides, words",
    [
        (dict(image_size=48), "image_size"),
        (dict(image_size=8), "image_size"),
        (dict(image_size=512), "image_size"),
        (dict(channels=4), "channels"),
        (dict(latent_dim=0), "latent_dim"),
        (dict(fmap_min=64, fmap_max=32), "fmap_max"),
        (dict(norm="group"), "norm"),
        (dict(upsample="bicubic"), "upsample"),
        (dict(sle_ratio=3), "sle_ratio"),
        (dict(sle_min_res=2), "sle_min_res"),
    ],
)
def test_validate_errors(overrides, words):
    with pytest.raises(FpaError, match=words):
        LightGANConfig(**overrides).validate()


def test_build_generator_and_bad_latents():
    generator = build_generator(
        "lightgan", LightGANConfig(image_size=16, fmap_base=64, fmap_min=8, fmap_max=16)
    )
    assert isinstance(generator, LightGANGenerator) and generator.latent_dim == 256
    with pytest.raises(FpaError, match="LightGANConfig"):
        build_generator("lightgan", object())
    with pytest.raises(FpaError, match=r"\(batch, 256\)"):
        generator(torch.randn(2, 3, 4))
