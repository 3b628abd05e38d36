"""Shipped inference checkpoints: export, model card, loading, and ``fpa demo`` from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fpalib.cli import main
from fpalib.commands.demo import SHIPPED
from fpalib.train.checkpoint import load_checkpoint, load_generator
from fpalib.train.config import config_keys
from tests.conftest import REPO_ROOT
from tools.export_pretrained import main as export_main
from tools.export_pretrained import render_card


def card_config_from_markdown(text: str) -> dict:
    """The configuration JSON block of a rendered model card."""
    return json.loads(text.split("Full configuration:", 1)[1].split("```json", 1)[1].split("```", 1)[0])


@pytest.fixture(scope="module")
def smoke_run(noise_images: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "fpa"
    args = ["train", "--preset", "smoke", "--data", str(noise_images), "--out", str(out), "--steps", "2"]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def exported(smoke_run: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pretrained")
    args = [str(smoke_run), "--name", "tiny", "--out", str(out), "--metric", "swd=0.5",
            "--command", "fpa train --preset smoke --steps 2"]
    assert export_main(args) == 0
    return out / "tiny.pt"


def test_export_keeps_the_ema_weights_in_half_precision(exported: Path, smoke_run: Path):
    shipped, run = load_checkpoint(exported), load_checkpoint(smoke_run)
    assert shipped["kind"] == "fpa-pretrained" and shipped["step"] == run["step"] == 2
    assert set(shipped) >= {"config", "generator", "card"} and "discriminator" not in shipped
    for name, value in run["ema"].items():
        assert shipped["generator"][name].dtype == (torch.float16 if value.is_floating_point() else value.dtype)
        torch.testing.assert_close(shipped["generator"][name].float(), value.float(), atol=1e-3, rtol=1e-3)


def test_a_shipped_file_paints_like_the_run_it_came_from(exported: Path, smoke_run: Path):
    painter, cfg = load_generator(exported)
    reference, _ = load_generator(smoke_run)
    z = torch.randn(3, painter.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(painter(z), reference(z), atol=2e-3, rtol=0)
    assert cfg.name == "smoke"


def test_the_model_card_records_the_config_metrics_and_command(exported: Path):
    text = exported.with_suffix(".md").read_text()
    assert card_config_from_markdown(text) == load_checkpoint(exported)["config"]
    assert exported.with_suffix(".metrics.jsonl").read_text().count("d_loss") == 2
    assert "swd = 0.5" in text and "fpa train --preset smoke --steps 2" in text and "training steps: 2" in text


def test_raw_weights_are_refused_for_a_shipped_file(exported: Path, tmp_path: Path, capsys):
    assert main(["generate", str(exported), "--raw", "--out", str(tmp_path / "g.png")]) == 2
    assert "holds only the EMA generator" in capsys.readouterr().err


def test_demo_paints_from_given_weights(exported: Path, tmp_path: Path, capsys):
    args = ["demo", "--weights", str(exported), "--refined", str(tmp_path / "none.pt"), "--figures", str(tmp_path)]
    assert main(args) == 0
    for name in ("demo_samples.png", "demo_painting_steps.png", "demo_painting.gif"):
        assert (tmp_path / name).stat().st_size > 0
    assert "skipped demo_before_after.png" in capsys.readouterr().out


def test_demo_writes_by_default_where_git_ignores_and_takes_a_display_mode(exported: Path, tmp_path: Path, monkeypatch):
    import subprocess

    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--weights", str(exported), "--refined", "none.pt", "--display", "paper"]) == 0
    assert sorted(p.name for p in (tmp_path / "figures" / "demo").iterdir()) == [
        "demo_painting.gif", "demo_painting_rows.png", "demo_painting_steps.png", "demo_samples.png"]
    ignored = subprocess.run(["git", "check-ignore", "-q", "figures/demo/demo_samples.png"], cwd=REPO_ROOT)
    assert ignored.returncode == 0, "make demo's output folder must be git-ignored (a clone stays clean)"


def test_demo_draws_before_and_after_from_a_shipped_refinement(exported: Path, noise_images: Path, tmp_path: Path):
    refined = tmp_path / "refined"
    assert main(["train", "--preset", "smoke", "--generator", "fpa-unet", "--refine-from", str(exported),
                 "--refine.reset_discriminator", "true", "--data", str(noise_images), "--out", str(refined),
                 "--steps", "1"]) == 0
    assert export_main([str(refined), "--name", "tiny-unet", "--out", str(tmp_path)]) == 0
    figures = tmp_path / "figures"
    assert main(["demo", "--weights", str(exported), "--refined", str(tmp_path / "tiny-unet.pt"),
                 "--figures", str(figures)]) == 0
    assert (figures / "demo_before_after.png").stat().st_size > 0


def test_demo_without_weights_says_how_to_get_them(tmp_path: Path, capsys):
    assert main(["demo", "--weights", str(tmp_path / "none.pt"), "--figures", str(tmp_path)]) == 2
    assert "fpa demo --train-minutes" in capsys.readouterr().err


SHIPPED_FILES = sorted((REPO_ROOT / "data" / "pretrained").glob("*.pt"))


def test_shipped_files_are_found_through_the_package_from_anywhere(tmp_path, monkeypatch):
    from fpalib.pretrained import shipped_dir
    from fpalib.train.checkpoint import resolve_checkpoint

    monkeypatch.chdir(tmp_path)
    assert shipped_dir() == REPO_ROOT / "data" / "pretrained"  # a checkout: data/ beside the package
    assert resolve_checkpoint(SHIPPED.stem) == REPO_ROOT / SHIPPED  # a bare name, from any folder
    assert resolve_checkpoint(SHIPPED.name) == REPO_ROOT / SHIPPED


def test_the_demo_painter_is_shipped():
    assert (REPO_ROOT / SHIPPED).is_file(), f"{SHIPPED} is missing"
    assert sum(p.stat().st_size for p in SHIPPED_FILES) < 40 * 2**20


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=[p.stem for p in SHIPPED_FILES])
def test_every_shipped_checkpoint_generates_finite_images_and_matches_its_card(path: Path):
    generator, cfg = load_generator(path)
    with torch.no_grad():
        images = generator(torch.randn(2, generator.latent_dim))
    assert images.shape == (2, cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
    assert torch.isfinite(images).all() and images.abs().max() <= 1
    card = path.with_suffix(".md").read_text()
    assert card_config_from_markdown(card) == json.loads(json.dumps(load_checkpoint(path)["config"]))


@pytest.mark.slow
def test_the_wheel_carries_the_shipped_files_as_package_data(tmp_path: Path):
    """A non-editable install must find the painters without the repository (setup.py build hook)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "fpalib", source / "fpalib", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("pretrained", "emoji-atlas"):
        shutil.copytree(REPO_ROOT / "data" / folder, source / "data" / folder)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("fpalib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in SHIPPED_FILES:
        assert f"fpalib/_pretrained/{path.name}" in names
        assert f"fpalib/_pretrained/{path.with_suffix('.md').name}" in names
    for path in sorted((REPO_ROOT / "data" / "pretrained" / "fewshot").glob("*.pt")):
        assert f"fpalib/_pretrained/fewshot/{path.name}" in names
    for name in ("emoji32.png", "metadata.csv", "ATTRIBUTION.md"):
        assert f"fpalib/_emoji_atlas/{name}" in names
    for name in ("index.html", "painter.js", "page.js"):  # the page of `fpa site` (package data)
        assert f"fpalib/site/{name}" in names


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=[p.stem for p in SHIPPED_FILES])
def test_a_shipped_card_is_its_rendered_card_and_stores_todays_config_keys(path: Path):
    state = load_checkpoint(path)
    assert path.with_suffix(".md").read_text() == render_card(state["card"])
    stored = {f"{section}.{key}" if isinstance(fields, dict) else section
              for section, fields in state["config"].items() for key in (fields if isinstance(fields, dict) else [0])}
    assert stored <= set(config_keys()) and state["card"]["config"] == state["config"]
