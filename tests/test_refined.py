"""FPA/U-Net: a frozen pre-trained painter and a trained U-Net (Irie & Schmidhuber, 2023, Sec. 3.2).

A smoke painter is trained for 2 steps once per module; the refinement runs start from it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from fpalib.cli import main
from fpalib.errors import FpaError
from fpalib.models import FPAWithUNet, FPAWithUNetConfig, PainterConfig, UNet, UNetConfig, build_generator
from fpalib.train.checkpoint import checkpoint_path, load_checkpoint, load_generator
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.refine import load_refinement_start, refinement_config
from fpalib.train.trainer import Trainer

SMOKE_UNET = ["unet.base_width=8", "unet.multipliers=1,2", "unet.attention_max_size=4"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def smoke_base(noise_images: Path):
    return apply_overrides(get_preset("smoke"), [f"data.path={noise_images}"])


@pytest.fixture(scope="module")
def painter_run(smoke_base, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("painter") / "run"
    Trainer(apply_overrides(smoke_base, [f"loop.out={out}", "loop.steps=2"]), progress=False).train()
    return out


@pytest.fixture
def refine_config(smoke_base):
    def make(painter: Path, out: Path, *overrides: str):
        cfg = refinement_config(smoke_base, painter)
        return apply_overrides(cfg, [f"loop.out={out}", *SMOKE_UNET, *overrides]).validate()

    return make


def small_model(**unet_changes) -> FPAWithUNet:
    painter = get_preset("smoke").painter
    unet = UNetConfig(image_size=16, base_width=8, multipliers=(1, 2), attention_max_size=4, **unet_changes)
    return build_generator("fpa-unet", FPAWithUNetConfig(painter, unet))


def test_gradients_reach_only_the_unet_and_the_painter_stays_in_eval_mode():
    model = small_model().train()
    assert model.training and model.unet.training and not model.painter.training
    after, before = model(torch.randn(4, model.latent_dim), return_before=True)
    assert not before.requires_grad and torch.equal(after, model.unet(before))
    after.square().mean().backward()
    assert all(p.grad is None and not p.requires_grad for p in model.painter.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.unet.parameters())


def test_the_two_parts_must_paint_and_take_the_same_images():
    with pytest.raises(FpaError, match="set unet.image_size and unet.channels to the painter's"):
        FPAWithUNetConfig(PainterConfig(image_size=16), UNetConfig(image_size=32)).validate()


def test_frozen_painter_is_bit_identical_after_unet_training_and_d_is_continued(painter_run, tmp_path, refine_config):
    painter_state = load_checkpoint(painter_run)
    painter, _ = load_generator(painter_run)  # the EMA painter is the one refined
    trainer = Trainer(refine_config(painter_run, tmp_path / "refined", "loop.steps=2"), progress=False)
    for name, value in trainer.discriminator.state_dict().items():
        assert torch.equal(value, painter_state["discriminator"][name])
    unet_before = {k: v.clone() for k, v in trainer.generator.unet.state_dict().items()}
    trained = {id(p) for group in trainer.optimizer_g.param_groups for p in group["params"]}
    assert trained == {id(p) for p in trainer.generator.unet.parameters()}
    assert isinstance(trainer.ema.model, UNet)  # the average covers the U-Net only ...
    assert trainer.ema_generator.painter is trainer.generator.painter  # ... and shares the painter

    assert trainer.train()["step"] == 2
    for name, value in trainer.generator.painter.state_dict().items():
        assert torch.equal(value, painter.state_dict()[name]), name
    changed = [k for k, v in trainer.generator.unet.state_dict().items() if not torch.equal(v, unet_before[k])]
    assert changed


def test_a_reset_discriminator_is_new(painter_run, tmp_path, refine_config):
    painter_state = load_checkpoint(painter_run)
    cfg = refine_config(painter_run, tmp_path / "refined", "refine.reset_discriminator=true", "loop.seed=5")
    trainer = Trainer(cfg, progress=False)
    name, value = next(iter(trainer.discriminator.state_dict().items()))
    assert not torch.equal(value, painter_state["discriminator"][name])


def test_checkpoint_round_trip_needs_no_painter_file_and_resumes(painter_run, tmp_path, refine_config):
    painter_copy = tmp_path / "painter.pt"
    shutil.copyfile(checkpoint_path(painter_run), painter_copy)
    out = tmp_path / "refined"
    trainer = Trainer(refine_config(painter_copy, out, "loop.steps=1"), progress=False)
    trainer.train()
    painter_copy.unlink()

    raw, cfg = load_generator(out, ema=False, require="fpa-unet")
    averaged, _ = load_generator(out)
    assert isinstance(raw, FPAWithUNet) and cfg.generator == "fpa-unet" and not raw.training
    latents = torch.randn(3, raw.latent_dim)
    with torch.no_grad():
        assert torch.equal(raw(latents), trainer.generator.eval()(latents))
        assert torch.equal(averaged(latents), trainer.ema_generator(latents))
    state = load_checkpoint(out)
    assert {k.split(".")[0] for k in state["generator"]} == {"painter", "unet"}
    assert state["ema"].keys() == state["generator"].keys()

    resumed = Trainer(apply_overrides(cfg, ["loop.steps=2"]), progress=False)
    assert resumed.resumed and resumed.train()["step"] == 2


def test_start_errors_are_clear(painter_run, tmp_path, refine_config):
    cfg = apply_overrides(get_preset("smoke"), ["generator=fpa-unet", "unet.image_size=16", *SMOKE_UNET])
    model = build_generator(cfg.generator, cfg.generator_config)
    with pytest.raises(FpaError, match="pass --refine-from"):
        load_refinement_start(model, None, cfg)
    other = apply_overrides(cfg, [f"refine.source={painter_run}", "painter.hidden=12"])
    with pytest.raises(FpaError, match="does not hold a painter with this run's painter section"):
        load_refinement_start(build_generator(other.generator, other.generator_config), None, other)
    disc = apply_overrides(refine_config(painter_run, tmp_path / "x"), ["disc.fmap_max=8"])
    with pytest.raises(FpaError, match="--refine.reset_discriminator true"):
        Trainer(disc, progress=False)


def test_cli_refines_and_draws_before_after_pairs(painter_run, noise_images, tmp_path, capsys):
    out = tmp_path / "cli"
    base = ["train", "--preset", "smoke", "--data", str(noise_images), "--out", str(out)]
    assert main([*base, "--steps", "2", "--refine-from", str(painter_run), "--unet.base_width", "8"]) == 0
    figure = tmp_path / "figures" / "before_after.png"
    assert main(["before-after", str(out), "--out", str(figure), "--num", "5", "--per-row", "3"]) == 0
    assert figure.stat().st_size > 0
    grid = tmp_path / "before.png"
    assert main(["generate", str(out), "--num", "4", "--out", str(grid), "--before-unet"]) == 0
    steps, pair = tmp_path / "steps.png", tmp_path / "pair.png"
    assert main(["paint", str(out), "--out", str(steps), "--unet-out", str(pair)]) == 0
    assert grid.is_file() and steps.is_file() and pair.is_file()
    capsys.readouterr()
    assert main(["before-after", str(painter_run), "--out", str(tmp_path / "no.png")]) == 2
    assert "but a 'fpa-unet' one is needed" in capsys.readouterr().err
    assert main([*base, "--refine-from", str(out), "--new"]) == 2
    assert "--refine-from needs a trained painter" in capsys.readouterr().err
