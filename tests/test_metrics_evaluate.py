"""``fpa evaluate`` and evaluation during ``fpa train``: offline SWD, the one-line missing-weights error."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpalib.cli import main
from fpalib.errors import FpaError
from fpalib.metrics import inception
from fpalib.metrics.evaluate import format_results, make_evaluate_fn
from fpalib.train.checkpoint import checkpoint_path
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.run_log import read_metrics


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def no_fid_weights(tmp_path, monkeypatch):
    """An empty torch hub cache and no network: the situation of a machine without the weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)

    def no_network(url, destination):
        raise OSError("network is unreachable")

    monkeypatch.setattr(inception, "_download", no_network)


@pytest.fixture(scope="module")
def smoke_run(noise_images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "smoke"
    assert main(["train", "--preset", "smoke", "--data", str(noise_images), "--out", str(out), "--steps", "2"]) == 0
    return out


def test_fid_without_weights_prints_one_actionable_line(smoke_run, noise_images, capsys):
    assert main(["evaluate", str(smoke_run), "--data", str(noise_images), "--metrics", "fid"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert inception.WEIGHTS_FILE in lines[0] and "--fid-weights" in lines[0] and "checkpoints" in lines[0]


def test_swd_works_offline_and_is_appended_to_the_metrics_log(smoke_run, noise_images, capsys):
    assert main(["evaluate", str(smoke_run), "--data", str(noise_images), "--metrics", "swd"]) == 0
    assert "swd" in capsys.readouterr().out
    record = read_metrics(smoke_run / "metrics.jsonl")[-1]
    assert record["step"] == 2 and record["evaluated_by"] == "fpa evaluate" and record["swd"] > 0
    assert main(["evaluate", str(checkpoint_path(smoke_run)), "--data", str(noise_images), "--metrics", "swd",
                 "--no-log"]) == 0
    assert "swd" in capsys.readouterr().out
    assert read_metrics(smoke_run / "metrics.jsonl")[-1] == record


def test_a_weights_file_with_the_wrong_hash_is_refused(smoke_run, noise_images, tmp_path, capsys):
    weights = inception.save_random_inception_weights(tmp_path / "random.pth")
    assert main(["evaluate", str(smoke_run), "--data", str(noise_images), "--metrics", "kid",
                 "--fid-weights", str(weights)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "expected 6726825d" in err


def test_too_few_samples_for_fid_is_refused_with_the_reason(smoke_run, noise_images, capsys):
    assert main(["evaluate", str(smoke_run), "--data", str(noise_images), "--metrics", "fid",
                 "--num-samples", "500"]) == 2
    assert "at least 2048 generated samples" in capsys.readouterr().err


def test_unknown_metric_is_refused(smoke_run, capsys):
    assert main(["evaluate", str(smoke_run), "--metrics", "fid,is"]) == 2
    assert "'is' is not one of fid, kid" in capsys.readouterr().err


def test_training_evaluates_swd_and_keeps_the_best_checkpoint(noise_images, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--preset", "smoke", "--data", str(noise_images), "--out", str(out), "--steps", "2",
            "--loop.eval_every", "1", "--loop.eval_metric", "swd"]
    assert main(args) == 0
    evaluations = [record for record in read_metrics(out / "metrics.jsonl") if "swd" in record]
    assert [record["step"] for record in evaluations] == [1, 2]
    assert checkpoint_path(out, "best.pt").is_file()


def test_training_with_fid_stops_at_once_without_weights(noise_images, tmp_path, capsys):
    args = ["train", "--preset", "smoke", "--data", str(noise_images), "--out", str(tmp_path / "run"), "--steps", "2",
            "--loop.eval_every", "1"]
    assert main(args) == 2
    assert inception.WEIGHTS_FILE in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_chosen_metric_must_be_evaluated(noise_images):
    overrides = [f"data.path={noise_images}", "eval.metrics=swd", "loop.eval_metric=fid"]
    cfg = apply_overrides(get_preset("smoke"), overrides)
    with pytest.raises(FpaError, match="not among the evaluated metrics"):
        make_evaluate_fn(cfg)


def test_presets_evaluate_as_documented():
    emoji, paper = get_preset("emoji32-cpu"), get_preset("paper-celeba64")
    assert (emoji.loop.eval_metric, emoji.eval.resolved_metrics(emoji.loop.eval_metric)) == ("swd", ("swd", "pr"))
    assert emoji.loop.eval_every > 0
    assert (paper.loop.eval_every, paper.eval.num_samples, paper.eval.image_format) == (5_000, 50_000, "jpeg")
    assert paper.eval.resolved_metrics(paper.loop.eval_metric) == ("fid", "kid")


def test_results_print_on_one_line():
    line = format_results({"fid": 1.5, "kid": 0.01, "kid_std": 0.002, "swd_32": 3.0, "swd_16": 5.0, "swd": 4.0})
    assert line == "fid 1.500  kid 0.01000 +- 0.00200  swd 4.00 (32px 3.00, 16px 5.00)"
