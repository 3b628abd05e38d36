"""The train / generate / paint / interpolate commands through ``fpalib.cli.main``."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fpalib.cli import main
from fpalib.train.checkpoint import load_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def images(noise_images: Path) -> Path:
    return noise_images


def train_args(images: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--preset", "smoke", "--data", str(images), "--out", str(out), *extra]


@pytest.fixture(scope="module")
def fpa_run(images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "fpa"
    assert main(train_args(images, out, "--steps", "2")) == 0
    return out


@pytest.fixture(scope="module")
def lightgan_run(images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "lightgan"
    assert main(train_args(images, out, "--steps", "1", "--generator", "lightgan")) == 0
    return out


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_train_applies_dotted_overrides_and_resumes_from_the_run_folder_config(images, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(images, out, "--steps", "1", "--painter.hidden", "12", "--optim.betas", "0.1,0.2")) == 0
    stored = json.loads((out / "config.json").read_text())
    assert (stored["painter"]["hidden"], stored["optim"]["betas"]) == (12, [0.1, 0.2])
    assert main(["train", "--out", str(out), "--steps", "2"]) == 0  # no preset: the run's own config
    assert load_checkpoint(out)["step"] == 2
    assert "finished at step 2 of 2" in capsys.readouterr().out


def test_train_reads_a_json_config_file(images, tmp_path):
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"painter": {"rule": "additive-rate"}, "loop": {"steps": 1}}))
    assert main(train_args(images, tmp_path / "run", "--config", str(config))) == 0
    assert load_checkpoint(tmp_path / "run")["config"]["painter"]["rule"] == "additive-rate"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["train", "--preset", "nope"], "error: unknown preset 'nope'; choose one of paper-celeba64"),
        (["train", "--preset", "smoke", "--data", "/no/such/folder"], "error: image folder '/no/such/folder' does not"),
        (["train", "--preset", "smoke", "--data.image_size", "32"], "error: image_size mismatch: data.image_size=32"),
        (["train", "--preset", "smoke", "--painter.hidden", "many"], "error: config key 'painter.hidden': Expected a <class 'int'>"),
        (["generate", "/no/such/run", "--out", "x.png"], "error: checkpoint /no/such/run does not exist"),
    ],
)
def test_bad_input_gives_one_error_line_and_status_2(arguments, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(arguments) == 2
    assert error_line(capsys).startswith(message)


def test_a_folder_without_checkpoint_or_a_foreign_file_is_refused(tmp_path, capsys):
    assert main(["generate", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert "no checkpoint in run folder" in error_line(capsys)
    foreign = tmp_path / "weights.pt"
    torch.save({"weights": torch.ones(2)}, foreign)
    assert main(["paint", str(foreign), "--out", str(tmp_path / "x.png")]) == 2
    assert "not an fpalib checkpoint" in error_line(capsys)


def test_generate_writes_a_reproducible_grid_or_a_folder(fpa_run, tmp_path):
    for name in ("a.png", "b.png"):
        arguments = ["--num", "6", "--nrow", "3", "--seed", "4", "--out", str(tmp_path / name)]
        assert main(["generate", str(fpa_run), *arguments]) == 0
    grid = Image.open(tmp_path / "a.png")
    assert grid.size == (3 * 18 + 2, 2 * 18 + 2)  # 16-pixel images with 2-pixel padding
    assert np.array_equal(np.asarray(grid), np.asarray(Image.open(tmp_path / "b.png")))
    assert main(["generate", str(fpa_run / "checkpoints" / "latest.pt"), "--num", "5", "--raw",
                 "--batch-size", "2", "--out", str(tmp_path / "many")]) == 0
    files = sorted(p.name for p in (tmp_path / "many").iterdir())
    assert files == [f"{i:06d}.png" for i in range(5)]
    assert Image.open(tmp_path / "many" / files[0]).size == (16, 16)


def test_paint_writes_the_steps_figure_and_gif(fpa_run, tmp_path):
    out, gif = tmp_path / "steps.png", tmp_path / "steps.gif"
    assert main(["paint", str(fpa_run), "--seed", "1", "--index", "2", "--out", str(out), "--gif", str(gif)]) == 0
    assert Image.open(out).size[0] > 100
    assert Image.open(gif).n_frames == 4  # the smoke painter paints in 4 steps


def test_paint_shows_the_generated_sample_by_default_and_the_paper_display_on_request(fpa_run, tmp_path, capsys):
    grid, gif, paper = tmp_path / "grid.png", tmp_path / "out.gif", tmp_path / "paper.gif"
    generate = ["generate", str(fpa_run), "--num", "3", "--grid", "--nrow", "3", "--seed", "1", "--out", str(grid)]
    assert main(generate) == 0
    assert main(["paint", str(fpa_run), "--seed", "1", "--index", "2", "--out", str(tmp_path / "a.png"),
                 "--gif", str(gif)]) == 0
    assert main(["paint", str(fpa_run), "--seed", "1", "--index", "2", "--out", str(tmp_path / "b.png"),
                 "--gif", str(paper), "--display", "paper"]) == 0
    sample = np.asarray(Image.open(grid).convert("RGB"))[2:18, 2 + 2 * 18 : 18 + 2 * 18].astype(int)
    last_frames = []
    for path in (gif, paper):
        with Image.open(path) as frames:
            frames.seek(frames.n_frames - 1)
            last_frames.append(np.asarray(frames.convert("RGB"))[::4, -64::4].astype(int))  # scale 4
    assert np.abs(last_frames[0] - sample).mean() < 3  # the GIF's palette may round colours
    assert not np.array_equal(last_frames[0], last_frames[1])
    capsys.readouterr()
    assert main(["paint", str(fpa_run), "--out", str(tmp_path / "c.png"), "--display", "vivid"]) == 2
    assert error_line(capsys) == "error: unknown display mode 'vivid'; choose one of output, paper"


def test_paint_refuses_a_lightgan_run(lightgan_run, tmp_path, capsys):
    assert main(["paint", str(lightgan_run), "--out", str(tmp_path / "x.png")]) == 2
    assert error_line(capsys) == "error: paint needs an FPA checkpoint, this run trains lightgan"


def test_interpolate_writes_a_row_and_a_gif(lightgan_run, tmp_path):
    out, gif = tmp_path / "walk.png", tmp_path / "walk.gif"
    assert main(["interpolate", str(lightgan_run), "--frames", "5", "--out", str(out), "--gif", str(gif)]) == 0
    assert Image.open(out).size == (5 * 18 + 2, 18 + 2)
    assert Image.open(gif).n_frames == 8  # there (5) and back (3)


def test_python_dash_m_fpalib_reports_errors_on_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fpalib", "paint", str(tmp_path / "missing"), "--out", "x.png"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert result.returncode == 2
    missing = tmp_path / "missing"
    assert result.stderr.strip() == f"error: checkpoint {missing} does not exist; give a run folder or a .pt file"


def test_train_shortcuts_are_taken_as_typed_and_config_arguments_win(tmp_path):
    from fpalib.cli import build_parser
    from fpalib.commands.train import build_config

    args, unparsed = build_parser().parse_known_args(
        ["train", "--preset", "smoke", "--out", str(tmp_path / "null"), "--data", "#emoji", "--steps", "7",
         "--loop.steps", "9"])
    args.config_args = unparsed
    cfg = build_config(args)
    assert (cfg.loop.out, cfg.data.path, cfg.loop.steps) == (str(tmp_path / "null"), "#emoji", 9)
