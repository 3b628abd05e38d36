"""Nothing lost: the six ways a run could lose or corrupt data (issue 19), each simulated.

Full disks are simulated with a file-size limit (``RLIMIT_FSIZE``): Python ignores SIGXFSZ, so
a write past the limit fails with EFBIG like a write to a full disk fails with ENOSPC.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_fewshot import small_episodes, tiny_model, write_class_folder

from fpalib.errors import FpaError
from fpalib.fewshot import FewShotTask, FewShotTrainConfig, train_fewshot
from fpalib.train.checkpoint import load_checkpoint, load_generator
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.run_log import MetricsLog, read_metrics
from fpalib.train.step import GanStep
from fpalib.train.trainer import Trainer
from tools.export_pretrained import export_pretrained

pytestmark = pytest.mark.usefixtures("one_thread")
REPO_ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def file_size_limit(nbytes: int):
    """Writes beyond ``nbytes`` of any file fail (EFBIG) while inside, as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def write_log(path: Path, steps: int) -> list[dict]:
    records = [{"step": step, "d_loss": 1.0 / step, "g_loss": 0.5} for step in range(1, steps + 1)]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return records


def smoke_config(images: Path, out: Path, *overrides: str):
    return apply_overrides(get_preset("smoke"), [f"data.path={images}", f"loop.out={out}", *overrides])


# 1 --------------------------------------------------------------------------- a failed append
def test_an_append_on_a_full_disk_leaves_no_half_record_and_the_run_resumes(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = write_log(path, 3)
    log = MetricsLog(path, keep_until=3, write=True)
    with file_size_limit(path.stat().st_size + 10), pytest.raises(OSError):
        log.append({"step": 4, "d_loss": 0.123456789, "g_loss": 0.987654321})
    assert path.read_text().endswith("\n")
    assert read_metrics(path) == records
    assert MetricsLog(path, keep_until=3, write=True).records == records  # a resume reads it


@pytest.fixture
def damaged_log(tmp_path) -> tuple[Path, list[dict]]:
    """A metrics.jsonl of 3 records whose last line was cut off by a crash; (path, the records)."""
    path = tmp_path / "metrics.jsonl"
    records = write_log(path, 3)
    with path.open("a") as file:
        file.write('{"step": 4, "d_lo')
    return path, records


def test_a_damaged_last_line_from_a_crash_is_dropped_on_resume_with_a_warning(damaged_log):
    path, records = damaged_log
    with pytest.warns(UserWarning, match="damaged"):
        log = MetricsLog(path, keep_until=4, write=True)
    assert log.records == records and read_metrics(path) == records
    log.append({"step": 4, "fid": 3.0})
    assert read_metrics(path) == [*records, {"step": 4, "fid": 3.0}]


def test_fpa_evaluate_drops_a_damaged_last_line_instead_of_appending_onto_it(damaged_log):
    from fpalib.train.run_folder import append_line  # imported here: the other tests also run on older versions

    path, records = damaged_log
    with pytest.warns(UserWarning, match="dropped a damaged last line"):
        append_line(path, json.dumps({"step": 3, "swd": 1.5}))
    assert read_metrics(path) == [*records, {"step": 3, "swd": 1.5}]


# 2 --------------------------------------------------------------------------- the resume rewrite
def test_the_resume_rewrite_is_atomic_a_failed_write_keeps_every_record(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = write_log(path, 50)
    with file_size_limit(path.stat().st_size // 2), pytest.raises((OSError, FpaError)):
        MetricsLog(path, keep_until=40, write=True)
    assert read_metrics(path) == records
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]  # no temporary file left
    assert [r["step"] for r in MetricsLog(path, keep_until=40, write=True).records] == list(range(1, 41))


# 3 --------------------------------------------------------------------------- export in place
def test_a_failed_export_keeps_the_previous_export_readable(noise_images, tmp_path):
    Trainer(smoke_config(noise_images, tmp_path / "run", "loop.max_minutes=0"), progress=False).train()
    out = tmp_path / "pretrained"
    first = export_pretrained(tmp_path / "run", out, "tiny", command="fpa train", hardware="test")
    before = first.read_bytes()
    with file_size_limit(len(before) // 2), pytest.raises((OSError, FpaError), match="intact"):
        export_pretrained(tmp_path / "run", out, "tiny", command="fpa train --again", hardware="test", force=True)
    assert first.read_bytes() == before
    load_generator(first)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


# 4 --------------------------------------------------------------------------- two writers
def test_a_second_trainer_on_a_run_folder_in_use_is_refused_until_the_first_ends(noise_images, tmp_path):
    first = Trainer(smoke_config(noise_images, tmp_path, "loop.steps=1"), progress=False)
    with pytest.raises(FpaError, match=r"run folder .* is in use by this process: an earlier Trainer"):
        Trainer(smoke_config(noise_images, tmp_path, "loop.steps=2"), progress=False)
    first.train()
    second = Trainer(smoke_config(noise_images, tmp_path, "loop.steps=2"), progress=False).train()
    assert (second["start_step"], second["step"]) == (1, 2)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]


@pytest.mark.slow  # a second Python process imports torch: about 10-30 s
def test_a_second_fpa_train_process_is_refused_naming_the_first(noise_images, tmp_path):
    first = Trainer(smoke_config(noise_images, tmp_path, "loop.steps=1"), progress=False)
    other = subprocess.run([sys.executable, "-m", "fpalib", "train", "--preset", "smoke", "--data", str(noise_images),
                            "--out", str(tmp_path), "--steps", "2"], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert other.returncode == 2, other.stderr
    assert re.search(rf"error: run folder .* is in use by another process \(pid {os.getpid()}: ", other.stderr)
    del first  # releases the lock
    assert Trainer(smoke_config(noise_images, tmp_path, "loop.steps=1"), progress=False).train()["step"] == 1


# 5 --------------------------------------------------------------------------- fewshot over a GAN run
def test_fewshot_refuses_a_gan_run_folder_and_leaves_its_log_alone(noise_images, tmp_path):
    run = tmp_path / "run"
    Trainer(smoke_config(noise_images, run, "loop.steps=1"), progress=False).train()
    log = (run / "metrics.jsonl").read_bytes()
    task = FewShotTask(write_class_folder(tmp_path / "classes"), small_episodes())
    cfg = FewShotTrainConfig(steps=2, batch_size=4, eval_every=2, eval_episodes=4, log_every=1)
    with pytest.raises(FpaError, match="holds a GAN training run"):
        train_fewshot(tiny_model(), task, cfg, run, progress=False)
    assert (run / "metrics.jsonl").read_bytes() == log
    train_fewshot(tiny_model(), task, cfg, tmp_path / "fewshot", progress=False)
    with pytest.raises(FpaError, match="holds a few-shot run"):  # and the other way round
        Trainer(smoke_config(noise_images, tmp_path / "fewshot", "loop.steps=1"), progress=False)


# 6 --------------------------------------------------------------------------- NaN weights, finite losses
def test_non_finite_weights_are_never_saved_over_the_last_good_checkpoint(noise_images, tmp_path, monkeypatch):
    real_update, calls = GanStep.update_generator, {"count": 0}

    def poison_the_weights_at_the_second_step(self):
        loss = real_update(self)  # finite: computed before the update
        calls["count"] += 1
        if calls["count"] == 2:
            with torch.no_grad():
                next(self.generator.parameters()).fill_(float("nan"))
        return loss

    monkeypatch.setattr(GanStep, "update_generator", poison_the_weights_at_the_second_step)
    trainer = Trainer(smoke_config(noise_images, tmp_path, "loop.steps=4", "loop.checkpoint_every=2"), progress=False)
    with pytest.raises(FpaError, match=r"at step 2: non-finite weights in the generator.*still holds step 0"):
        trainer.train()
    state = load_checkpoint(tmp_path)
    assert state["step"] == 0
    for part in ("generator", "discriminator", "ema"):
        assert all(torch.isfinite(value).all() for value in state[part].values() if value.is_floating_point())