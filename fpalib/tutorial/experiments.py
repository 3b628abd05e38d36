"""Small experiments for the tutorial notebooks: train-or-load a run, a sample of real images
(the learning-rule ablation is :mod:`fpalib.ablation`).

A run lives in a run folder written by :class:`fpalib.train.Trainer`, so executing a notebook a
second time loads (or continues) what the first execution trained instead of starting over.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from fpalib.data import ImageFolder, seeded_subset
from fpalib.errors import FpaError
from fpalib.train.checkpoint import (
    checkpoint_config,
    generator_from_checkpoint,
    load_checkpoint,
    resolve_checkpoint,
    run_folder_of,
)
from fpalib.train.config import ExperimentConfig
from fpalib.train.run_log import METRICS_FILE, read_metrics
from fpalib.train.trainer import Trainer

@dataclass
class TrainedRun:
    """A generator (in eval mode) with the checkpoint file it was loaded from, its config, training
    step and metrics.jsonl records; trained_now: steps trained by this call; seconds: wall time of
    this call; summary: what :meth:`Trainer.train` returned (None when nothing was trained)."""

    source: Path
    config: ExperimentConfig
    step: int
    generator: nn.Module
    metrics: list[dict[str, Any]] = field(default_factory=list)
    trained_now: int = 0
    seconds: float = 0.0
    summary: dict[str, Any] | None = None

    @property
    def training_seconds(self) -> float | None:
        """Training wall time of the run so far, from its last metrics record (None if unknown)."""
        times = [record["elapsed_s"] for record in self.metrics if "elapsed_s" in record]
        return times[-1] if times else None


def metrics_file_for(checkpoint: str | Path) -> Path:
    """``<run>/checkpoints/<x>.pt`` -> ``<run>/metrics.jsonl``; a shipped ``<name>.pt`` ->
    ``<name>.metrics.jsonl`` beside it (see :mod:`fpalib.pretrained`)."""
    checkpoint, run_dir = Path(checkpoint), run_folder_of(checkpoint)
    return run_dir / METRICS_FILE if run_dir else checkpoint.with_name(f"{checkpoint.stem}.{METRICS_FILE}")


def first_checkpoint(candidates: Iterable[str | Path]) -> Path | None:
    """The first candidate that holds a checkpoint (see :func:`resolve_checkpoint`); None when none does."""
    for candidate in candidates:
        try:
            return resolve_checkpoint(candidate)
        except FpaError:
            continue
    return None


def load_run(checkpoint: str | Path, *, ema: bool = True, device: str | torch.device = "cpu") -> TrainedRun:
    """Load the generator of a checkpoint file (or run folder) with its config, step and metrics."""
    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path)
    generator = generator_from_checkpoint(state, ema=ema, device=device)
    return TrainedRun(
        source=path, config=checkpoint_config(state), step=int(state["step"]), generator=generator,
        metrics=read_metrics(metrics_file_for(path)),
    )


def train_or_load(
    cfg: ExperimentConfig,
    run_dir: str | Path,
    *,
    steps: int,
    candidates: Sequence[str | Path] = (),
    max_minutes: float | None = None,
    ema: bool = True,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> TrainedRun:
    """The first checkpoint among ``candidates``; otherwise train ``cfg`` in ``run_dir``.

    Training resumes a run already in ``run_dir`` and stops at ``steps`` (or after
    ``max_minutes`` of this call); a run that has reached ``steps`` is only loaded. ``cfg`` is
    not modified. Returns the generator (EMA weights when ``ema``) on the training device.
    """
    started = time.monotonic()
    found = first_checkpoint(candidates)
    if found is not None:
        run = load_run(found, ema=ema, device=device or "cpu")
        run.seconds = time.monotonic() - started
        return run
    cfg = copy.deepcopy(cfg)
    cfg.loop.out, cfg.loop.steps, cfg.loop.max_minutes = str(run_dir), steps, max_minutes
    trainer = Trainer(cfg, device=device, progress=progress)
    summary = trainer.train()
    run = load_run(run_dir, ema=ema, device=trainer.runtime.device)
    run.trained_now, run.summary = summary["step"] - summary["start_step"], summary
    run.seconds = time.monotonic() - started
    return run


def real_sample(folder: str | Path, image_size: int, count: int, seed: int = 0, channels: int = 3) -> Tensor:
    """``count`` distinct real images (count, C, H, W) in [-1, 1] from ``folder``, chosen with ``seed``."""
    dataset = ImageFolder(folder, image_size, channels)
    if not 1 <= count <= len(dataset):
        raise FpaError(f"count must be in 1..{len(dataset)} (the images in {folder}); got {count}")
    subset = seeded_subset(dataset, seed, count)
    return torch.stack([subset[index] for index in range(count)])
