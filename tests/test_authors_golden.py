"""fpalib against golden fixtures from the authors' modules (IDSIA/fpainter c2cdd85; see
tests/fixtures/README.md): painter v1 and v2, the additive baseline ``lstm_sum``, the
discriminator of the authors' runs at 32x32 and 64x64, and the losses on its outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fpalib.models import FastWeightPainter, PainterConfig
from fpalib.models.authors_weights import discriminator_state_from_authors, painter_state_from_authors
from fpalib.models.discriminator import Discriminator, authors_discriminator_config
from fpalib.models.painter import count_parameters
from fpalib.train.losses import discriminator_hinge_loss, generator_loss, gradient_penalty

FIXTURES = Path(__file__).parent / "fixtures"
F64 = torch.float64
TOL = dict(rtol=1e-9, atol=1e-11)

SMALL = dict(image_size=16, num_steps=8, latent_dim=16, hidden=32, layers=1)
PAINTERS = {
    "authors_painter_v2": PainterConfig(**SMALL, input_dim=4, input_proj_dim=8, update_bias=True),
    "authors_painter_v1": PainterConfig(**SMALL, input_version="v1", update_bias=True, latent_init_kaiming=True),
    "authors_lstm_sum": PainterConfig(**SMALL, variant="authors-additive"),
}


def load(name: str) -> dict:
    return torch.load(FIXTURES / f"{name}.pt", weights_only=True)


@pytest.mark.parametrize("name", list(PAINTERS))
@pytest.mark.parametrize("mode", ["parallel", "loop"])
def test_painter_reproduces_the_authors_module(name, mode):
    fixture = load(name)
    cfg = PAINTERS[name]
    cfg.rule_mode = mode
    painter = FastWeightPainter(cfg).double()
    mapped = painter_state_from_authors(fixture["state"])
    painter.load_state_dict({k: v.to(F64) for k, v in mapped.items()}, strict=True)
    assert count_parameters(painter) == sum(v.numel() for v in fixture["state"].values())
    z = fixture["z"].clone().requires_grad_()
    images = painter(z)
    torch.testing.assert_close(images, fixture["images"], **TOL)
    params = dict(painter.named_parameters())
    grads = torch.autograd.grad((images * fixture["probe"]).sum(), [z, *params.values()])
    torch.testing.assert_close(grads[0], fixture["grad_z"], **TOL)
    ours = dict(zip(params, grads[1:]))
    theirs = painter_state_from_authors(fixture["grad_params"])
    assert set(theirs) == set(ours)
    for key, grad in theirs.items():
        torch.testing.assert_close(ours[key], grad, **TOL, msg=key)


def test_the_authors_additive_variant_fixes_its_fields():
    cfg = PainterConfig(**SMALL, variant="authors-additive").validate()
    assert (cfg.input_version, cfg.rule, cfg.key_norm, cfg.update_bias, cfg.init) == (
        "v1", "additive", "none", True, "pytorch")
    painter = FastWeightPainter(cfg)
    assert painter.update_net.projection.out_features == 3 * (16 + 16)  # keys and values, no rate rows


def authors_disc(size: int) -> tuple[Discriminator, dict]:
    fixture = load(f"authors_disc{size}")
    cfg = authors_discriminator_config(size)
    cfg.fmap_max = 64  # the fixture's width; everything else as in the authors' runs
    disc = Discriminator(cfg).double()
    mapped = discriminator_state_from_authors(fixture["state"])
    disc.load_state_dict({k: v.to(F64) for k, v in mapped.items()}, strict=True)
    return disc, fixture


@pytest.mark.parametrize("size", [32, 64])
def test_discriminator_reproduces_the_authors_module_and_losses(size):
    disc, fixture = authors_disc(size)
    with torch.no_grad():
        fake_out = disc(fixture["fake"].to(F64))
        real_out = disc(fixture["real"].to(F64), aux=True)
    torch.testing.assert_close(real_out.logits, -fixture["real_logits"].flatten(), **TOL)
    torch.testing.assert_close(real_out.logits_32, -fixture["real_logits_32"].flatten(), **TOL)
    torch.testing.assert_close(fake_out.logits, -fixture["fake_logits"].flatten(), **TOL)
    torch.testing.assert_close(fake_out.logits_32, -fixture["fake_logits_32"].flatten(), **TOL)
    torch.testing.assert_close(real_out.aux_loss, fixture["aux_loss"], **TOL)
    torch.testing.assert_close(discriminator_hinge_loss(real_out, fake_out), fixture["hinge"], **TOL)
    torch.testing.assert_close(generator_loss(fake_out), fixture["gen_loss"], **TOL)


@pytest.mark.slow
@pytest.mark.parametrize("size", [32, 64])
def test_discriminator_gradient_penalty_and_gradients_match_the_authors(size):
    """The double backward in float64 takes about a minute on a busy 2-core CPU."""
    disc, fixture = authors_disc(size)
    real = fixture["real"].to(F64).requires_grad_()
    fake_out = disc(fixture["fake"].to(F64))
    real_out = disc(real, aux=True)
    hinge = discriminator_hinge_loss(real_out, fake_out)
    gp = 10.0 * gradient_penalty(real, real_out)
    torch.testing.assert_close(gp, fixture["gp"], **TOL)
    disc_loss = hinge + real_out.aux_loss + gp
    torch.testing.assert_close(disc_loss, fixture["disc_loss"], **TOL)
    expected = discriminator_state_from_authors(fixture["grad_params"])
    params = dict(disc.named_parameters())
    grads = torch.autograd.grad(disc_loss, [params[k] for k in expected], retain_graph=True)
    for (key, want), got in zip(expected.items(), grads):
        torch.testing.assert_close(got, want, **TOL, msg=key)
    (grad_real,) = torch.autograd.grad(hinge + gp, real)  # the reconstruction target is detached here
    torch.testing.assert_close(grad_real, fixture["grad_real"], **TOL)


@pytest.mark.parametrize(("size", "expected"), [(64, 12_326_632), (32, 11_114_764)])
def test_the_authors_discriminator_has_their_parameter_count(size, expected):
    assert count_parameters(Discriminator(authors_discriminator_config(size))) == expected


def test_paper_presets_use_the_authors_discriminator_and_update_bias():
    from fpalib.train.presets import PRESETS, get_preset

    for name in [n for n in PRESETS if n.startswith("paper-")]:
        cfg = get_preset(name)
        assert cfg.disc == authors_discriminator_config(64), name
        assert cfg.painter.update_bias, name
    assert count_parameters(Discriminator(get_preset("paper-celeba64").disc)) == 12_326_632
