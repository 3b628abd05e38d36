"""DiffAugment for the discriminator: each policy, the switch, and a GAN step that uses it."""

from __future__ import annotations

import pytest
import torch

from fpalib.errors import FpaError
from fpalib.train import apply_overrides, get_preset
from fpalib.train.augment import AugmentConfig, augment, color, cutout, translation
from fpalib.train.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def images(batch: int = 6, size: int = 16) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_off_by_default_and_with_probability_zero():
    x = images()
    assert augment(x, AugmentConfig()) is x
    assert augment(x, AugmentConfig("color,translation", prob=0.0)) is x
    assert get_preset("paper-celeba64").augment.names == []


def test_translation_moves_content_and_fills_with_zeros():
    x = images(batch=64)
    shifted = translation(x, torch.Generator().manual_seed(0))
    for i in range(len(x)):
        # find the shift that explains sample i: the content must match x shifted by (dy, dx)
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(torch.roll(x[i], (dy, dx), (1, 2))[:, 2:-2, 2:-2], shifted[i][:, 2:-2, 2:-2])
        ]
        assert len(matches) == 1, i
        dy, dx = matches[0]
        if dy > 0:
            assert torch.all(shifted[i][:, :dy] == 0)
        if dx < 0:
            assert torch.all(shifted[i][:, :, dx:] == 0)
    assert len({tuple(s.flatten()[:5].tolist()) for s in shifted}) > 1


def test_cutout_zeroes_one_square_of_half_the_side():
    x = images(batch=32) * 0.5 + 0.6  # no zeros of its own
    out = cutout(x, torch.Generator().manual_seed(0))
    zero = (out == 0).all(dim=1)  # (B, H, W)
    for mask in zero:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert 1 <= len(rows) <= 8 and 1 <= len(cols) <= 8
        assert mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()  # a rectangle
    assert torch.equal(out[~zero.unsqueeze(1).expand_as(out)], x[~zero.unsqueeze(1).expand_as(x)])
    assert (zero.flatten(1).sum(1) == 64).float().mean() > 0.2  # full 8x8 squares away from the edges


def test_color_changes_brightness_saturation_contrast_per_sample():
    x = images(batch=128)
    out = color(x, torch.Generator().manual_seed(0))
    shift = (out - x).mean(dim=(1, 2, 3))
    assert shift.std() > 0.1 and shift.abs().max() < 1.0
    grey = x.mean(dim=1, keepdim=True).expand_as(x)
    assert torch.allclose(color(grey, torch.Generator().manual_seed(0)).std(dim=1), torch.zeros(128, 16, 16), atol=1e-6)


def test_gradients_flow_through_every_policy():
    x = images().requires_grad_(True)
    augment(x, AugmentConfig("color,translation,cutout")).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()


def test_bad_settings_raise():
    with pytest.raises(FpaError, match="unknown augment policy 'blur'"):
        AugmentConfig("color,blur").validate()
    with pytest.raises(FpaError, match="prob"):
        AugmentConfig("color", prob=1.5).validate()
    with pytest.raises(FpaError, match="augment"):
        apply_overrides(get_preset("smoke"), ["augment.policy=flip"]).validate()


def test_training_steps_with_augmentation_run_and_resume(noise_images, tmp_path):
    cfg = apply_overrides(get_preset("smoke"), [f"data.path={noise_images}", f"loop.out={tmp_path / 'run'}",
                                                "loop.steps=2", "augment.policy=color,translation,cutout"])
    summary = Trainer(cfg.validate(), progress=False).train()
    assert summary["step"] == 2
    cfg = apply_overrides(cfg, ["loop.steps=3"])
    assert Trainer(cfg.validate(), progress=False).train()["step"] == 3
