"""The `fpa` command line: help, error reporting, unavailable commands, doctor and data wiring."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torchvision.ops

from fpalib import __version__, cli
from fpalib.commands import data as data_command
from fpalib.data.emoji import EmojiOptions
from tests.conftest import REPO_ROOT


def _write_command_module(folder: Path, name: str, body: str) -> str:
    (folder / f"{name}.py").write_text(body)
    return name


@pytest.fixture
def extra_commands(tmp_path, monkeypatch):
    """Register test-only command modules: one that fails at import, one interrupted by Ctrl-C."""
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = _write_command_module(tmp_path, "fpa_test_broken", "raise RuntimeError('operator x::y does not exist')\n")
    interrupted = _write_command_module(
        tmp_path,
        "fpa_test_interrupted",
        "HELP = 'always interrupted'\n"
        "def add_arguments(parser):\n    pass\n"
        "def run(args):\n    raise KeyboardInterrupt\n",
    )
    commands = dict(cli.COMMANDS, ghost="fpalib.commands.no_such_module", broken=broken, interrupted=interrupted)
    monkeypatch.setattr(cli, "COMMANDS", commands)


def test_python_m_fpalib_help_lists_every_command():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-m", "fpalib", "--help"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    for name in ["doctor", "data", "demo"]:
        assert name in result.stdout


def test_help_and_version_return_zero(capsys):
    assert cli.main(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert all(name in help_text for name in cli.COMMANDS)
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fpalib {__version__}"


def test_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_unknown_option_is_one_line_naming_the_closest_option(capsys):
    assert cli.main(["train", "--painter.hiden", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'painter.hiden'" in err and "did you mean: painter.hidden," in err and "fpa train --help" in err


def test_unknown_option_without_a_close_match_gets_no_guess(capsys):
    assert cli.main(["generate", "run", "--out", "x.png", "--zzzzzz"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown arguments for 'fpa generate': --zzzzzz;")


def test_fpa_error_becomes_one_line_on_stderr_with_status_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "no_npm_here"))
    assert cli.main(["data", "emoji", "--out", str(tmp_path / "emoji")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: npm was not found") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_a_command_that_cannot_be_imported_is_one_error_line(extra_commands, capsys):
    assert cli.main(["--help"]) == 0
    assert "unavailable" in capsys.readouterr().out
    for name, reason in [("ghost", "ModuleNotFoundError"), ("broken", "RuntimeError: operator x::y")]:
        assert cli.main([name, "--any", "args"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: the '{name}' command is unavailable") and reason in err
        assert err.count("\n") == 1


def test_a_broken_command_does_not_break_the_others(extra_commands, tmp_path, capsys):
    assert cli.main(["doctor", "--data", str(tmp_path)]) == 0


def test_ctrl_c_ends_quietly_with_status_130(extra_commands, capsys):
    assert cli.main(["interrupted"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_doctor_passes_here_and_counts_images(tiny_image_folder, capsys):
    assert cli.main(["doctor", "--data", str(tiny_image_folder)]) == 0
    out = capsys.readouterr().out
    assert "nms ok" in out and f"{tiny_image_folder}: 8 images" in out and "all good" in out
    for label in ["python", "torch", "numpy", "pytorch-fid", "device", "FID weights"]:
        assert label in out


def test_doctor_warns_but_passes_without_data_or_fid_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FPA_FID_WEIGHTS", str(tmp_path / "missing.pth"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    assert cli.main(["doctor", "--data", str(tmp_path / "no_data")]) == 0
    out = capsys.readouterr().out
    assert "WARN data" in out and "fpa data emoji" in out
    assert "WARN FID weights" in out and str(tmp_path / "missing.pth") in out


def test_doctor_finds_fid_weights_named_by_the_environment(tmp_path, monkeypatch, capsys):
    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"weights")
    monkeypatch.setenv("FPA_FID_WEIGHTS", str(weights))
    assert cli.main(["doctor", "--data", str(tmp_path)]) == 0
    assert f"FID weights  {weights}" in capsys.readouterr().out


def test_doctor_fails_with_the_fix_when_torchvision_ops_are_broken(tmp_path, monkeypatch, capsys):
    def missing_operator(*args, **kwargs):
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(torchvision.ops, "nms", missing_operator)
    assert cli.main(["doctor", "--data", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL torchvision" in out and "operator torchvision::nms does not exist" in out
    assert "pip install --force-reinstall torch torchvision" in out


def test_data_emoji_options_reach_prepare_emoji(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(data_command, "prepare_emoji", lambda out, options, force: calls.append((out, options, force)))
    argv = ["data", "emoji", "--out", str(tmp_path), "--version", "15.1.2", "--skin-tones", "--flags", "--force"]
    assert cli.main(argv) == 0
    assert calls == [(tmp_path, EmojiOptions(version="15.1.2", skin_tones=True, flags=True), True)]


def test_train_help_documents_every_config_field(capsys):
    from fpalib.train.config import config_keys

    assert cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"--{key} " in out for key in config_keys())
    assert "LSTM hidden size. (type: int, default: 1024)" in " ".join(out.split())
