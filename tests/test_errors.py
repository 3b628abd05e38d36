"""One `error:` line and exit status 2 for every class of failure in issue 19; stale temporary
files and the wording of data errors (SIGTERM: tests/test_trainer.py)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from test_data_safety import file_size_limit
from test_fewshot import write_class_folder

import fpalib.train.checkpoint as checkpoint_module
from fpalib import cli
from fpalib.train.checkpoint import load_checkpoint
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.trainer import Trainer
from tools.export_pretrained import main as export_main

pytestmark = pytest.mark.usefixtures("one_thread")


def smoke_config(images: Path, out: Path, *overrides: str):
    return apply_overrides(get_preset("smoke"), [f"data.path={images}", f"loop.out={out}", *overrides])


@pytest.fixture(scope="module")
def run(noise_images, tmp_path_factory) -> Path:
    """A smoke run folder with a step-0 checkpoint."""
    folder = tmp_path_factory.mktemp("errors") / "run"
    Trainer(smoke_config(noise_images, folder, "loop.max_minutes=0"), progress=False).train()
    return folder


def fpa(capsys, *argv: str) -> tuple[int, str]:
    """Run ``fpa argv``; (exit status, its error line). A failure must print one ``error:`` line and
    no traceback (a progress bar may precede it)."""
    status = cli.main([str(arg) for arg in argv])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if status == 2:
        assert len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err, err
    return status, errors[0] if errors else err


# ------------------------------------------------------------------ failures to write output
@pytest.mark.parametrize(("command", "where"), [  # (generate writes one PNG per sample into a folder)
    (command, where) for command in ("generate", "paint", "interpolate")
    for where in ("file/out.png", "/proc/fpa-test/out.png", "folder") if (command, where) != ("generate", "folder")
])
def test_unwritable_outputs_are_one_line(run, tmp_path, capsys, command, where):
    (tmp_path / "file").write_text("in the way")
    (tmp_path / "folder").mkdir()
    target = where if where.startswith("/") else tmp_path / where
    extra = ["--num", 2] if command == "generate" else []
    status, err = fpa(capsys, command, run, "--out", target, *extra)
    assert status == 2 and ("fpa-test" in err or str(tmp_path) in err), err


def test_an_output_file_without_an_extension_is_one_line(run, tmp_path, capsys):
    status, err = fpa(capsys, "paint", run, "--out", tmp_path / "steps")
    assert status == 2 and "--out" in err and "has no file extension" in err, err


def test_a_full_disk_during_export_is_one_line_and_says_the_previous_export_is_intact(run, tmp_path, capsys):
    assert export_main([str(run), "--name", "tiny", "--out", str(tmp_path)]) == 0
    size = (tmp_path / "tiny.pt").stat().st_size
    with file_size_limit(size // 2):
        status = export_main([str(run), "--name", "tiny", "--out", str(tmp_path), "--force"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("error: ") and "\n" not in err, err
    assert "previous export there is intact" in err, err


def test_a_failed_checkpoint_write_says_the_previous_checkpoint_is_intact(noise_images, tmp_path, capsys,
                                                                          monkeypatch):
    out = tmp_path / "run"
    assert fpa(capsys, "train", "--preset", "smoke", "--data", noise_images, "--out", out, "--steps", 1)[0] == 0

    def disk_full(path, write):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module, "write_atomically", disk_full)
    status, err = fpa(capsys, "train", "--preset", "smoke", "--data", noise_images, "--out", out, "--steps", 2)
    assert status == 2 and "No space left on device" in err and "previous checkpoint there is intact" in err, err
    assert load_checkpoint(out)["step"] == 1


def test_a_full_disk_for_the_evaluation_log_is_one_line_and_leaves_the_log_unchanged(run, noise_images, capsys):
    log = run / "metrics.jsonl"
    before = log.read_bytes()
    with file_size_limit(len(before) + 5):
        status, err = fpa(capsys, "evaluate", run, "--data", noise_images, "--metrics", "swd", "--num-samples", 8)
    assert status == 2 and "the log is unchanged" in err, err
    assert log.read_bytes() == before


# ------------------------------------------------------------------ requests the machine cannot satisfy
def test_an_impossible_sample_count_is_one_line_naming_the_option(run, tmp_path, capsys):
    status, err = fpa(capsys, "generate", run, "--num", 10**11, "--out", tmp_path / "x.png")
    assert status == 2 and "not enough memory" in err and "--num 100000000000" in err, err


def test_a_learning_rate_that_overflows_is_one_line_naming_the_option(noise_images, tmp_path, capsys):
    status, err = fpa(capsys, "train", "--preset", "smoke", "--data", noise_images, "--out", tmp_path / "r",
                      "--optim.lr", "1e300")
    assert status == 2 and "--optim.lr 1e300" in err, err


# ------------------------------------------------------------------ config values
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
def test_non_finite_or_overflowing_numbers_are_refused_on_the_command_line(tmp_path, capsys, value):
    for option in ("--optim.lr", "--painter.hidden"):
        status, err = fpa(capsys, "train", "--preset", "smoke", "--out", tmp_path, f"{option}={value}")
        assert status == 2 and f"config key '{option[2:]}'" in err, err


@pytest.mark.parametrize("text", ['{"optim": {"lr": NaN}}', '{"optim": {"lr": 1e999}}',
                                  '{"painter": {"hidden": 1e400}}', '{"painter": {"hidden": 100000000000000000000000}}'])
def test_non_finite_or_overflowing_numbers_are_refused_in_config_files(tmp_path, capsys, text):
    (tmp_path / "c.json").write_text(text)
    status, err = fpa(capsys, "train", "--preset", "smoke", "--out", tmp_path / "r", "--config", tmp_path / "c.json")
    reasons = ("finite", "integer", "int'>", "conform")
    assert status == 2 and "config key '" in err and any(reason in err for reason in reasons), err


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path, capsys):
    (tmp_path / "c.json").write_bytes('{"name": "caf\u00e9"}'.encode("latin-1"))
    status, err = fpa(capsys, "train", "--preset", "smoke", "--out", tmp_path / "r", "--config", tmp_path / "c.json")
    assert status == 2 and "is not UTF-8" in err, err


# ------------------------------------------------------------------ Ctrl-C while starting
def test_ctrl_c_while_the_commands_are_imported_ends_quietly(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["doctor"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


# ------------------------------------------------------------------ smaller points
def test_temporary_files_of_an_interrupted_checkpoint_write_are_removed_at_start(noise_images, tmp_path):
    stale = [tmp_path / "checkpoints" / ".latest.pt.k2j4x9.tmp", tmp_path / ".metrics.jsonl.a8b7c6.tmp"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a checkpoint")
    Trainer(smoke_config(noise_images, tmp_path, "loop.max_minutes=0"), progress=False).train()
    assert not any(path.exists() for path in stale)
    assert (tmp_path / "checkpoints" / "latest.pt").is_file()


def test_data_errors_name_the_real_option_and_say_a_path_is_a_file(noise_images, tmp_path, capsys):
    status, err = fpa(capsys, "train", "--preset", "smoke", "--data", noise_images, "--out", tmp_path / "r",
                      "--optim.batch_size", 100)
    assert status == 2 and "fewer than the batch size 100; lower --optim.batch_size" in err, err
    (tmp_path / "a.png").write_bytes(b"")
    status, err = fpa(capsys, "train", "--preset", "smoke", "--data", tmp_path / "a.png", "--out", tmp_path / "r")
    assert status == 2 and "is a file" in err, err
    assert not (tmp_path / "r").exists()  # a run that never started leaves no folder behind


def test_a_run_folder_that_is_a_file_is_one_line(noise_images, tmp_path, capsys):
    (tmp_path / "r").write_text("")
    status, err = fpa(capsys, "train", "--preset", "smoke", "--data", noise_images, "--out", tmp_path / "r")
    assert status == 2 and "is a file" in err, err


def test_fpa_fewshot_refuses_a_run_folder_in_use(tmp_path, capsys):
    from fpalib.train.run_folder import RunLock  # imported here: the other tests also run on older versions

    with RunLock(tmp_path / "fewshot"):
        status, err = fpa(capsys, "fewshot", "--data", tmp_path, "--out", tmp_path / "fewshot")
    assert status == 2 and "is in use by this process" in err, err


def test_fpa_fewshot_cannot_write_its_figure_is_one_line(tmp_path, capsys):
    classes = write_class_folder(tmp_path / "classes")
    status, err = fpa(capsys, "fewshot", "--data", classes, "--out", tmp_path / "fs", "--n-way", 3, "--k-shot", 2,
                      "--image-size", 8, "--layers", 1, "--heads", 2, "--hidden", 32, "--steps", 1,
                      "--eval-episodes", 4, "--figure", "/proc/fpa-test/figure.png")
    assert status == 2 and "/proc/fpa-test" in err, err
    assert (tmp_path / "fs" / "fewshot.pt").is_file()  # the trained run itself is kept
