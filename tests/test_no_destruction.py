"""No command destroys what it did not write (issue 29): the five data-loss cases, each simulated."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from test_data_safety import file_size_limit, smoke_config

from fpalib.cli import main
from fpalib.data.emoji_atlas import unpack_atlas
from fpalib.errors import FpaError
from fpalib.train.checkpoint import load_checkpoint
from fpalib.train.trainer import Trainer
from fpalib.viz import save_grid
from tools.export_pretrained import export_pretrained
from tools.export_pretrained import main as export_main

pytestmark = pytest.mark.usefixtures("one_thread")
REPO_ROOT = Path(__file__).resolve().parents[1]


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(noise_images, tmp_path_factory):
    """A two-step smoke run (checkpoints, metrics, samples)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    Trainer(smoke_config(noise_images, run, "loop.steps=2"), progress=False).train()
    return run


# 1 --------------------------------------------------------------------------- the atlas unpacker
def test_unpacking_the_atlas_into_a_users_folder_is_refused_and_the_folder_kept(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    (mine / "picture.png").write_bytes(b"not really a png")
    before = folder_snapshot(mine)
    assert main(["data", "emoji", "--from-atlas", "--out", str(mine)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert folder_snapshot(mine) == before
    with pytest.raises(FpaError, match="nothing was changed"):
        unpack_atlas(tmp_path)                                     # the parent of a folder with files
    assert folder_snapshot(mine) == before


def test_the_atlas_set_it_wrote_is_kept_or_completed(tmp_path):
    out = unpack_atlas(tmp_path / "emoji")
    count = len(list(out.rglob("*.png")))
    next(out.rglob("*.png")).unlink()                              # an incomplete set of its own is redone
    assert len(list(unpack_atlas(out).rglob("*.png"))) == count


# 2, 3 ---------------------------------------------------------------------- exports
def test_an_export_never_replaces_an_existing_file_without_force(trained, tmp_path, capsys):
    out = tmp_path / "shipped"
    first = export_pretrained(trained, out, "painter", command="x")
    before = folder_snapshot(out)
    assert export_main([str(trained), "--name", "painter", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert folder_snapshot(out) == before
    assert export_main([str(trained), "--name", "painter", "--out", str(out), "--force"]) == 0
    assert load_checkpoint(first)["kind"] == "fpa-pretrained"


def test_the_default_export_folder_is_not_the_shipped_one(trained, tmp_path, monkeypatch):
    shipped = folder_snapshot(REPO_ROOT / "data" / "pretrained")
    monkeypatch.chdir(tmp_path)
    assert export_main([str(trained), "--name", "fpa-delta-emoji32"]) == 0
    assert (tmp_path / "exports" / "fpa-delta-emoji32.pt").is_file()
    assert folder_snapshot(REPO_ROOT / "data" / "pretrained") == shipped


def test_an_export_into_a_runs_checkpoints_is_refused_and_resuming_from_an_export_is_one_line(
        trained, tmp_path, noise_images, capsys):
    run = tmp_path / "run2"
    shutil.copytree(trained, run)
    before = folder_snapshot(run)
    assert export_main([str(trained), "--name", "latest", "--out", str(run / "checkpoints"), "--force"]) == 2
    assert "training checkpoints" in capsys.readouterr().err
    assert folder_snapshot(run) == before
    export_pretrained(trained, tmp_path / "x", "latest", command="x")  # put there by hand:
    shutil.copyfile(tmp_path / "x" / "latest.pt", run / "checkpoints" / "latest.pt")
    with pytest.raises(FpaError, match="inference export"):
        Trainer(smoke_config(noise_images, run, "loop.steps=4"), progress=False)


def test_exporting_an_export_is_one_line(trained, tmp_path):
    exported = export_pretrained(trained, tmp_path, "once", command="x")
    with pytest.raises(FpaError, match="already an inference export"):
        export_pretrained(exported, tmp_path, "twice", command="x")


# 4 --------------------------------------------------------------------------- fresh starts
@pytest.mark.parametrize("kept", ["metrics.jsonl", "samples", "checkpoints/best.pt"])
def test_a_run_folder_without_latest_pt_is_not_restarted_in_place(trained, tmp_path, noise_images, kept):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    for path in [run / "checkpoints" / "latest.pt", run / "metrics.jsonl", run / "samples",
                 run / "checkpoints" / "best.pt"]:
        if path.name != Path(kept).name:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    if kept == "checkpoints/best.pt":
        shutil.copyfile(trained / "checkpoints" / "latest.pt", run / "checkpoints" / "best.pt")
    before = folder_snapshot(run)
    with pytest.raises(FpaError, match="--new"):
        Trainer(smoke_config(noise_images, run, "loop.steps=4"), progress=False)
    assert folder_snapshot(run) == before
    Trainer(smoke_config(noise_images, run, "loop.steps=1"), new=True, progress=False).train()
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("run-old-")]
    assert len(moved) == 1 and folder_snapshot(moved[0]) == before


# 5 --------------------------------------------------------------------------- image outputs
def test_an_image_written_on_a_full_disk_keeps_the_earlier_one_and_names_the_file(tmp_path):
    path = tmp_path / "grid.png"
    save_grid(torch.rand(4, 3, 16, 16) * 2 - 1, path)
    before = path.read_bytes()
    with file_size_limit(len(before) // 3), pytest.raises(FpaError, match=r"grid\.png"):
        save_grid(torch.rand(64, 3, 32, 32) * 2 - 1, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


def test_generate_into_a_folder_on_a_full_disk_leaves_no_empty_file(trained, tmp_path, capsys):
    out = tmp_path / "pngs"
    with file_size_limit(40):                                    # less than any PNG
        status = main(["generate", str(trained), "--out", str(out), "--num", "4"])
    assert status == 2 and "cannot write the image" in capsys.readouterr().err
    assert all(p.stat().st_size > 0 for p in out.glob("*.png"))


# other failures: one line, a non-zero exit, nothing touched ----------------------------------
def fpa_line(capsys, *args) -> tuple[int, str]:
    """``fpa args``, or tools/export_pretrained.py for "export"; (exit status, stderr)."""
    args = [str(arg) for arg in args]
    status = export_main(args[1:]) if args[0] == "export" else main(args)
    err = capsys.readouterr().err.strip()
    return status, err


def test_a_device_this_torch_lacks_is_one_line(trained, tmp_path, capsys):
    for device in ("mps", "xla"):
        status, err = fpa_line(capsys, "generate", trained, "--out", tmp_path / "g.png", "--device", device)
        assert status == 2 and err.count("\n") == 0 and ("--device cpu" in err or "not supported" in err), err
    assert not (tmp_path / "g.png").exists()


@pytest.fixture(scope="module")
def nan_run(trained, tmp_path_factory):
    """A copy of the trained run whose latest.pt has NaN weights."""
    run = tmp_path_factory.mktemp("nan") / "run"
    shutil.copytree(trained, run)
    state = load_checkpoint(run)
    for part in ("generator", "ema"):
        for value in state[part].values():
            if value.is_floating_point():
                value.fill_(float("nan"))
    torch.save(state, run / "checkpoints" / "latest.pt")
    return run


@pytest.mark.parametrize("command", [["generate", "--out", "g.png"], ["paint", "--out", "p.png"],
                                     ["evaluate", "--metrics", "swd", "--num-samples", "8"],
                                     ["export", "--name", "nan", "--out", "exports"]])
def test_nan_weights_are_refused_by_every_command_that_reads_them(nan_run, tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    log = (nan_run / "metrics.jsonl").read_bytes()
    status, err = fpa_line(capsys, command[0], nan_run, *command[1:])
    assert status == 2 and "non-finite weights" in err and err.count("\n") == 0, err
    assert not any(tmp_path.iterdir()) and (nan_run / "metrics.jsonl").read_bytes() == log


def test_resuming_from_nan_weights_points_to_best_or_new(nan_run, noise_images):
    with pytest.raises(FpaError, match="non-finite weights.*best.pt.*--new"):
        Trainer(smoke_config(noise_images, nan_run, "loop.steps=4"), progress=False)


@pytest.mark.parametrize("args", [["paint", "--out", "x.pt"], ["interpolate", "--out", "config.json"],
                                  ["paint", "--out", "ok.png", "--gif", "metrics.jsonl"]])
def test_an_output_extension_no_writer_can_produce_is_refused_before_any_work(trained, tmp_path, capsys,
                                                                             monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    status, err = fpa_line(capsys, args[0], trained, *args[1:])
    assert status == 2 and "is not an image format" in err, err
    assert not any(tmp_path.iterdir())


def test_a_config_folder_and_a_nan_float_get_the_right_words(tmp_path, capsys, noise_images):
    status, err = fpa_line(capsys, "train", "--preset", "smoke", "--config", tmp_path, "--out", tmp_path / "r")
    assert status == 2 and "is a folder" in err, err
    status, err = fpa_line(capsys, "train", "--preset", "smoke", "--data", noise_images, "--out", tmp_path / "r",
                           "--optim.lr", "nan")
    assert status == 2 and "nan does not conform to restriction v>0" in err and "integer" not in err, err
    (tmp_path / "nan.json").write_text('{"optim": {"lr": NaN}}')
    status, err = fpa_line(capsys, "train", "--preset", "smoke", "--config", tmp_path / "nan.json",
                           "--out", tmp_path / "r")
    assert status == 2 and "nan does not conform to restriction v>0" in err and "integer" not in err, err


def test_a_run_folder_without_config_json_resumes_with_its_checkpoints_config(trained, tmp_path, noise_images):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "config.json").unlink()
    assert main(["train", "--out", str(run), "--data", str(noise_images), "--steps", "3"]) == 0
    assert load_checkpoint(run)["step"] == 3


def test_the_painter_refuses_numpy_latents_in_one_line():
    from fpalib.models import FastWeightPainter
    from fpalib.train.presets import get_preset

    painter = FastWeightPainter(get_preset("smoke").painter)
    with pytest.raises(FpaError, match="torch.Tensor"):
        painter(torch.randn(2, 8).numpy())


def test_a_metrics_log_that_is_a_folder_is_named_as_such(trained, tmp_path, noise_images, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").mkdir()
    status, err = fpa_line(capsys, "train", "--out", run, "--data", noise_images, "--steps", 3)
    assert status == 2 and "metrics.jsonl" in err and ".tmp" not in err, err


def test_a_full_disk_error_names_the_file_it_could_not_write(tmp_path, capsys):
    from fpalib.train.run_folder import append_line, write_atomically

    log = tmp_path / "metrics.jsonl"
    append_line(log, "{}")
    with file_size_limit(log.stat().st_size + 2), pytest.raises(OSError) as caught:
        append_line(log, '{"step": 1, "loss": 1.0}')
    assert caught.value.filename == str(log) and log.read_text() == "{}\n"
    with file_size_limit(10), pytest.raises(OSError) as caught:
        write_atomically(tmp_path / "config.json", "x" * 100)
    assert caught.value.filename == str(tmp_path / "config.json")
