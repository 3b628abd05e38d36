"""fpalib.tutorial.experiments: train-or-load and real samples."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fpalib.errors import FpaError
from fpalib.tutorial.experiments import (
    first_checkpoint,
    metrics_file_for,
    real_sample,
    train_or_load,
)
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from tools.export_pretrained import export_pretrained

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def smoke_cfg(noise_images: Path):
    return apply_overrides(get_preset("smoke"), [f"data.path={noise_images}"])


def test_train_or_load_trains_once_then_loads_and_resumes_to_more_steps(smoke_cfg, tmp_path: Path):
    run_dir = tmp_path / "run"
    first = train_or_load(smoke_cfg, run_dir, steps=2, progress=False)
    assert (first.step, first.trained_now) == (2, 2)
    assert first.source == run_dir / "checkpoints" / "latest.pt"
    assert any("d_loss" in record for record in first.metrics)
    again = train_or_load(smoke_cfg, run_dir, steps=2, progress=False)
    assert (again.step, again.trained_now) == (2, 0)
    for a, b in zip(first.generator.parameters(), again.generator.parameters(), strict=True):
        assert torch.equal(a, b)
    more = train_or_load(smoke_cfg, run_dir, steps=3, progress=False)
    assert (more.step, more.trained_now) == (3, 1)
    assert smoke_cfg.loop.steps == 4 and smoke_cfg.loop.out is None  # the config passed in is unchanged


def test_train_or_load_prefers_the_first_existing_candidate(smoke_cfg, tmp_path: Path):
    trained = train_or_load(smoke_cfg, tmp_path / "trained", steps=1, progress=False)
    shipped = export_pretrained(tmp_path / "trained", tmp_path / "shipped", "tiny", command="test")
    run = train_or_load(
        smoke_cfg, tmp_path / "never", steps=5, candidates=[tmp_path / "missing.pt", shipped, tmp_path / "trained"],
        progress=False,
    )
    assert run.source == shipped and run.step == 1 and run.trained_now == 0
    assert not (tmp_path / "never").exists()
    assert run.metrics == trained.metrics  # the shipped copy of metrics.jsonl
    z = torch.randn(2, smoke_cfg.painter.latent_dim)
    assert torch.allclose(run.generator(z), trained.generator(z), atol=1e-2)  # float16 weights


def test_first_checkpoint_and_metrics_file(tmp_path: Path):
    assert first_checkpoint([tmp_path / "nothing", tmp_path]) is None
    latest = tmp_path / "run" / "checkpoints" / "latest.pt"
    latest.parent.mkdir(parents=True)
    latest.write_bytes(b"")
    assert first_checkpoint([tmp_path / "nothing", tmp_path / "run"]) == latest
    assert metrics_file_for(latest) == tmp_path / "run" / "metrics.jsonl"
    assert metrics_file_for(tmp_path / "fpa.pt") == tmp_path / "fpa.metrics.jsonl"
def test_real_sample_draws_distinct_images_reproducibly(noise_images: Path):
    a = real_sample(noise_images, 16, 6, seed=1)
    assert a.shape == (6, 3, 16, 16) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, real_sample(noise_images, 16, 6, seed=1))
    assert not torch.equal(a, real_sample(noise_images, 16, 6, seed=2))
    assert len({tuple(image.flatten().tolist()) for image in a}) == 6
    with pytest.raises(FpaError, match="count must be in 1..24"):
        real_sample(noise_images, 16, 25)


def test_score_checkpoint_prints_what_fpa_evaluate_prints(smoke_cfg, tmp_path: Path, capsys):
    from fpalib import cli
    from fpalib.metrics.evaluate import format_results, score_checkpoint

    run = train_or_load(smoke_cfg, tmp_path / "run", steps=1, progress=False)
    data = smoke_cfg.data.path
    scores = score_checkpoint(run.source, data, num_samples=16, seed=3, metrics=("swd", "pr"))
    assert set(scores) >= {"swd", "precision", "recall"} and 0 <= scores["recall"] <= 1
    assert cli.main(["evaluate", str(run.source), "--data", data, "--metrics", "swd,pr", "--num-samples", "16",
                     "--seed", "3", "--no-log"]) == 0
    assert capsys.readouterr().out.strip() == f"step 1: {format_results(scores)}"
    assert score_checkpoint(run.source, data, num_samples=16, seed=4, metrics=("swd",))["swd"] != scores["swd"]  # the seed is used
