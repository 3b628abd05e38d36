"""The diffusion-style U-Net: shapes, size checks, the paper's parameter count, attention
against a plain reference, residual start from the identity, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from fpalib.errors import FpaError
from fpalib.models import UNet, UNetConfig, count_parameters
from fpalib.models.unet import ResNetBlock, SelfAttention, paper_unet_config


pytestmark = pytest.mark.usefixtures("one_thread")


def small(image_size: int = 16, **changes) -> UNetConfig:
    settings = {"base_width": 8, "multipliers": (1, 2, 2), "heads": 2, "groups": 4, **changes}
    return UNetConfig(image_size=image_size, **settings)


@pytest.mark.parametrize("image_size", [16, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_has_the_input_shape_and_tanh_range(image_size, channels):
    unet = UNet(small(image_size, channels=channels, attention_max_size=4))
    images = unet(torch.randn(2, channels, image_size, image_size))
    assert images.shape == (2, channels, image_size, image_size)
    assert images.abs().max() <= 1.0
    assert images.std() > 0


def test_image_sizes_not_divisible_by_two_to_the_levels_are_refused():
    with pytest.raises(FpaError, match=r"image_size 20 is not divisible by 2\^3 = 8"):
        UNet(small(20))
    UNet(small(24))  # 24 = 3 * 8 works
    with pytest.raises(FpaError, match=r"must be \(batch, 3, 16, 16\)"):
        UNet(small(16))(torch.randn(1, 3, 32, 32))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"groups": 3}, "divisible by groups=3"),
        ({"multipliers": ()}, "multipliers must be positive"),
        ({"residual": True, "out_tanh": False}, "residual=true works in the tanh domain"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"blocks_per_level": 0}, "blocks_per_level must be at least 1"),
    ],
)
def test_bad_configs_give_clear_errors(changes, message):
    with pytest.raises(FpaError, match=message):
        small(**changes).validate()


def test_the_paper_setting_has_about_8m_parameters_and_base_width_equal_to_image_size():
    cfg = paper_unet_config(64)
    assert cfg.widths == [64, 128, 256]
    assert 7.5e6 < count_parameters(UNet(cfg)) < 9.5e6  # Irie & Schmidhuber (2023), App. C.1: about 8M


def test_attention_only_at_low_resolution_and_in_the_middle():
    def attention_sizes(cfg: UNetConfig) -> int:
        return sum(isinstance(m, SelfAttention) for m in UNet(cfg).modules())

    assert attention_sizes(small(32, attention_max_size=0)) == 0
    assert attention_sizes(small(32, attention_max_size=1)) == 1  # middle only
    assert attention_sizes(small(32, attention_max_size=8)) == 3  # 8x8 level in encoder and decoder + middle
    assert attention_sizes(small(32, attention_max_size=32)) == 7


def reference_attention(module: SelfAttention, x: torch.Tensor) -> torch.Tensor:
    """Plain softmax attention with explicit matrices, the definition SelfAttention implements."""
    batch, channels, height, width = x.shape
    heads, size = module.heads, channels // module.heads
    q, k, v = module.qkv(module.norm(x)).reshape(batch, 3, heads, size, height * width).unbind(1)
    weights = torch.softmax(torch.einsum("bhdi,bhdj->bhij", q, k) / math.sqrt(size), dim=-1)
    out = torch.einsum("bhij,bhdj->bhdi", weights, v).reshape(batch, channels, height, width)
    return x + module.out(out)


def test_self_attention_matches_the_plain_reference_in_values_and_gradients():
    module = SelfAttention(8, heads=2, groups=4).double()
    x = torch.randn(2, 8, 4, 4, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 8, 4, 4, dtype=torch.float64)
    fast, slow = module(x), reference_attention(module, x)
    assert torch.allclose(fast, slow, atol=1e-12)
    grads_fast = torch.autograd.grad((fast * upstream).sum(), [x, *module.parameters()])
    grads_slow = torch.autograd.grad((slow * upstream).sum(), [x, *module.parameters()])
    for a, b in zip(grads_fast, grads_slow, strict=True):
        assert torch.allclose(a, b, atol=1e-10)


def test_resnet_block_changes_width_through_a_shortcut():
    block = ResNetBlock(8, 16, groups=4)
    assert block(torch.randn(1, 8, 4, 4)).shape == (1, 16, 4, 4)
    assert isinstance(ResNetBlock(8, 8, groups=4).shortcut, torch.nn.Identity)


def test_residual_mode_starts_as_the_identity_and_then_learns():
    unet = UNet(small(16, residual=True))
    images = torch.rand(3, 3, 16, 16) * 1.8 - 0.9
    assert torch.allclose(unet(images), images, atol=1e-5)
    loss = unet(images).square().mean()
    loss.backward()
    head = unet.head[-1]
    assert head.weight.grad.abs().sum() > 0  # only the zero-initialised output conv moves first


def test_gradients_reach_every_parameter():
    unet = UNet(small(16, attention_max_size=8))
    unet(torch.randn(2, 3, 16, 16)).square().mean().backward()
    missing = [name for name, p in unet.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
