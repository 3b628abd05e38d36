"""The learning rules, the painter, the discriminator and the LightGAN generator on every device.

Each test takes the ``device`` fixture (tests/conftest.py): it runs on the CPU and, marked
``cuda``, on a CUDA GPU, so ``pytest -m cuda`` (and ``benchmarks/gpu_check.py``) runs the
GPU half. Results on the device are compared with float64 loops on the CPU.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fpalib.models import build_generator
from fpalib.models.discriminator import Discriminator
from fpalib.rules import RULES, RULES_WITHOUT_RATE, get_rule
from fpalib.train.losses import discriminator_hinge_loss, generator_loss, gradient_penalty
from fpalib.train.presets import get_preset


def rule_inputs(device: str, dtype: torch.dtype, seed: int = 0) -> list[torch.Tensor]:
    """keys (3, 16, 8) after a softmax, values (3, 16, 12), rates (3, 16) in (0, 1), W_0 (3, 12, 8)."""
    gen = torch.Generator().manual_seed(seed)
    keys = torch.softmax(torch.randn(3, 16, 8, generator=gen, dtype=torch.float64), dim=-1)
    values = torch.randn(3, 16, 12, generator=gen, dtype=torch.float64)
    rates = torch.sigmoid(torch.randn(3, 16, generator=gen, dtype=torch.float64))
    init = 0.1 * torch.randn(3, 12, 8, generator=gen, dtype=torch.float64)
    return [t.to(device=device, dtype=dtype).requires_grad_() for t in (keys, values, rates, init)]


def outputs_and_grads(rule, inputs: list[torch.Tensor], mode: str) -> list[torch.Tensor]:
    """W_T and the gradients of a fixed linear function of it; ``inputs`` with ``None`` as the rate
    (the additive rule has none) are passed as they are and get no gradient."""
    weights = rule(*inputs, mode=mode)
    target = torch.linspace(-1, 1, weights.numel(), dtype=weights.dtype, device=weights.device).view_as(weights)
    grads = torch.autograd.grad((weights * target).sum(), [t for t in inputs if t is not None])
    return [weights.detach(), *grads]


@pytest.mark.parametrize("name", list(RULES))
def test_parallel_rule_in_float32_on_device_matches_float64_loop(device, name):
    rule = get_rule(name)

    def inputs(device, dtype):
        keys, values, rates, init = rule_inputs(device, dtype)
        return [keys, values, None if name in RULES_WITHOUT_RATE else rates, init]

    on_device = outputs_and_grads(rule, inputs(device, torch.float32), mode="parallel")
    reference = outputs_and_grads(rule, inputs("cpu", torch.float64), mode="loop")
    for got, want in zip(on_device, reference):
        assert got.device.type == torch.device(device).type
        assert (got.double().cpu() - want).norm() <= 1e-4 * want.norm()  # float32 rounding, relative


def smoke_models(device: str):
    torch.manual_seed(0)
    cfg = get_preset("smoke")
    painter = build_generator("fpa", cfg.painter).to(device)
    return cfg, painter, Discriminator(cfg.disc).to(device)


def test_painter_on_device_paints_like_the_loop_and_trains(device):
    cfg, painter, _ = smoke_models(device)
    loop_painter = build_generator("fpa", dataclasses.replace(cfg.painter, rule_mode="loop")).to(device)
    assert (painter.update_net.rule_mode, loop_painter.update_net.rule_mode) == ("parallel", "loop")
    loop_painter.load_state_dict(painter.state_dict())
    z = torch.randn(5, painter.latent_dim, generator=torch.Generator().manual_seed(1)).to(device)
    images, steps = painter(z, return_steps=True)
    assert images.shape == (5, 3, 16, 16) and images.device.type == torch.device(device).type
    assert torch.allclose(images, loop_painter(z), atol=1e-5)
    assert torch.allclose(images, torch.tanh(steps.cumulative[:, -1]), atol=1e-6)
    images.square().mean().backward()
    grads = [p.grad for p in painter.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum().item() for g in grads) > 0


def test_discriminator_update_with_gradient_penalty_on_device(device):
    _, painter, disc = smoke_models(device)
    real = (torch.rand(4, 3, 16, 16) * 2 - 1).to(device).requires_grad_()
    with torch.no_grad():
        fake = painter(torch.randn(4, painter.latent_dim, device=device))
    real_out, fake_out = disc(real, aux=True), disc(fake, aux=False)
    loss = discriminator_hinge_loss(real_out, fake_out) + real_out.aux_loss + 10 * gradient_penalty(real, real_out)
    loss.backward()
    assert real_out.logits.device.type == torch.device(device).type and torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in disc.parameters() if p.requires_grad)


def test_lightgan_generator_trains_on_device(device):
    cfg = get_preset("smoke")
    torch.manual_seed(0)
    generator = build_generator("lightgan", cfg.lightgan).to(device)
    disc = Discriminator(cfg.disc).to(device)
    images = generator(torch.randn(4, generator.latent_dim, device=device))
    generator_loss(disc(images, aux=False)).backward()
    assert images.shape == (4, 3, 16, 16) and images.device.type == torch.device(device).type
    assert all(torch.isfinite(p.grad).all() for p in generator.parameters() if p.grad is not None)


@pytest.mark.cuda
def test_painter_under_bfloat16_autocast_stays_close_to_float32():
    _, painter, disc = smoke_models("cuda")
    z = torch.randn(8, painter.latent_dim, device="cuda")
    with torch.no_grad():
        exact = painter(z)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            approx = painter(z)
            logits = disc(approx, aux=False).logits
    assert torch.isfinite(approx).all() and torch.isfinite(logits).all()
    assert (approx.float() - exact).abs().max() < 0.05
