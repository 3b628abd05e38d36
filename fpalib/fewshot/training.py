"""Training and evaluating the few-shot DeltaNet on episodes (:mod:`fpalib.fewshot.episodes`).

Training (:func:`train_fewshot`): Adam on the cross-entropy of the query label, a tqdm bar, a JSONL
metrics log and an atomic checkpoint in the run folder (resumed when the run is unfinished), and a
wall-clock budget (``max_minutes``). Held-out accuracy is measured on a fixed, seeded set of episodes.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from fpalib.errors import FpaError
from fpalib.fewshot.episodes import (
    EpisodeConfig,
    EpisodeSampler,
    hide_support_labels,
    load_labelled_images,
    split_classes,
)
from fpalib.models.deltanet import FewShotDeltaNet, FewShotModelConfig
from fpalib.train.checkpoint import torch_save_atomically
from fpalib.train.run_folder import RunLock, refuse_other_run_kind
from fpalib.train.run_log import METRICS_FILE, MetricsLog
from fpalib.train.runtime import eval_mode, resolve_device

CHECKPOINT_FILE = "fewshot.pt"
CHECKPOINT_KIND = "fpa-fewshot"


@dataclass
class FewShotTrainConfig:
    """Optimisation of :func:`train_fewshot`.

    Attributes:
        steps: optimiser steps.
        batch_size: episodes per step.
        lr: Adam's learning rate.
        hide_prob: see :func:`hide_support_labels` (0: train on the query alone).
        grad_clip: the gradient norm is clipped to this.
        max_minutes: wall-clock budget of training (None: none).
        eval_every: steps between two measurements of the held-out accuracy.
        eval_episodes: held-out episodes (a fixed set) of each measurement.
        log_every: steps between two records of the training loss.
        seed: seed of the initialisation and the training episodes.
    """

    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    hide_prob: float = 0.3
    grad_clip: float = 1.0
    max_minutes: float | None = None
    eval_every: int = 250
    eval_episodes: int = 500
    log_every: int = 25
    seed: int = 0

    def validate(self) -> None:
        """Raise FpaError naming the first bad field."""
        for name in ("steps", "batch_size", "eval_every", "eval_episodes", "log_every"):
            if getattr(self, name) < 1:
                raise FpaError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.lr <= 0 or self.grad_clip <= 0:
            raise FpaError(f"lr and grad_clip must be positive; got {self.lr}, {self.grad_clip}")
        if not 0.0 <= self.hide_prob < 1.0:
            raise FpaError(f"hide_prob must be in [0, 1); got {self.hide_prob}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise FpaError(f"max_minutes must be positive; got {self.max_minutes}")


class FewShotTask:
    """The images of ``root``, their class split, and episode samplers for both halves."""

    def __init__(self, root: str | Path, cfg: EpisodeConfig) -> None:
        cfg.validate()
        self.config = cfg
        self.data = load_labelled_images(root, cfg.image_size, cfg.channels, cfg.class_column)
        self.split = split_classes(self.data, cfg)
        self.train = EpisodeSampler(self.data, self.split.train, cfg.n_way, cfg.k_shot)
        self.held_out = EpisodeSampler(self.data, self.split.held_out, cfg.n_way, cfg.k_shot)

    @property
    def chance(self) -> float:
        """Accuracy of guessing: 1 / N."""
        return 1.0 / self.config.n_way


@dataclass
class FewShotResult:
    """Where a run ended: step, minutes trained (all sessions), held-out accuracy, chance, stop reason."""

    step: int
    minutes: float
    held_out_accuracy: float
    chance: float
    stopped: str
    eval_episodes: int


@torch.no_grad()
def evaluate(model: FewShotDeltaNet, sampler: EpisodeSampler, episodes: int, seed: int = 1234,
             batch_size: int = 100) -> float:
    """Query accuracy on ``episodes`` episodes drawn with ``seed`` (the same ones on every call)."""
    device = next(model.parameters()).device
    generator, correct = torch.Generator().manual_seed(seed), 0
    with eval_mode(model):
        for start in range(0, episodes, batch_size):
            batch = sampler.sample(min(batch_size, episodes - start), generator).to(device)
            correct += int((model(batch.images, batch.labels).argmax(-1) == batch.targets).sum())
    return correct / episodes


def train_fewshot(model: FewShotDeltaNet, task: FewShotTask, cfg: FewShotTrainConfig, out: str | Path | None = None,
                  *, resume: bool = True, progress: bool = True) -> FewShotResult:
    """Train ``model`` on ``task``'s training classes; return the held-out result.

    With ``out``, writes ``metrics.jsonl`` and ``fewshot.pt`` (atomically, at every evaluation and
    at the end) there. A checkpoint of the same configuration is resumed; one that already finished
    (steps or budget reached) is returned as it is, so notebooks can cache runs.
    """
    cfg.validate()
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(cfg.seed)
    configs = {"model": model.config.to_dict(), "episodes": asdict(task.config), "train": asdict(cfg)}
    step, minutes_before, state = 0, 0.0, None
    path = Path(out) / CHECKPOINT_FILE if out is not None else None
    if resume and path is not None and path.is_file():
        state = load_fewshot_checkpoint(path, device)
        if state["configs"] != configs:
            raise FpaError(f"{path} holds a run with another configuration; pass another run folder or start afresh")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, minutes_before = state["step"], state["minutes"]
        if state["stopped"]:
            return FewShotResult(**state["result"])
    if out is not None:
        refuse_other_run_kind(out, "few-shot")
    log = MetricsLog(Path(out or ".") / METRICS_FILE, keep_until=step if state else None, write=out is not None)
    started, stopped, window = time.perf_counter(), "", []
    bar = tqdm(total=cfg.steps, initial=step, desc="few-shot", disable=not progress, dynamic_ncols=True)
    model.train()
    while not stopped:
        batch = task.train.sample(cfg.batch_size, generator)
        labels, truth, mask = hide_support_labels(batch, task.config.n_way, cfg.hide_prob, generator)
        logits, _ = model.sequence_logits(batch.images.to(device), labels.to(device))
        mask = mask.to(device)
        loss = nn.functional.cross_entropy(logits[mask], truth.to(device)[mask])
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise FpaError(f"the few-shot loss became {loss_value} at step {step + 1}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        step += 1
        bar.update()
        window.append((loss_value, float((logits[:, -1].argmax(-1).cpu() == batch.targets).float().mean())))
        minutes_now = (time.perf_counter() - started) / 60
        minutes = minutes_before + minutes_now
        if step >= cfg.steps:
            stopped = "steps"
        elif cfg.max_minutes is not None and minutes_now >= cfg.max_minutes:
            stopped = "time"
        if step % cfg.log_every == 0 or stopped:
            losses, accuracies = zip(*window)
            record = {"step": step, "loss": sum(losses) / len(losses), "train_accuracy": sum(accuracies) / len(window),
                      "elapsed_s": round(minutes * 60, 1)}
            window = []
            bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['train_accuracy']:.2f}")
            log.append(record)
        if step % cfg.eval_every == 0 or stopped:
            accuracy = evaluate(model, task.held_out, cfg.eval_episodes)
            result = FewShotResult(step, minutes, accuracy, task.chance, stopped, cfg.eval_episodes)
            bar.write(f"step {step}: held-out accuracy {accuracy:.3f} (chance {task.chance:.3f})")
            log.append({"step": step, "held_out_accuracy": accuracy})
            if path is not None:
                torch_save_atomically(path, {
                    "kind": CHECKPOINT_KIND, "configs": configs, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "generator": generator.get_state(), "step": step,
                    "minutes": minutes, "stopped": stopped, "result": asdict(result),
                })
    bar.close()
    return result


def run_fewshot(data: str | Path, out: str | Path, episodes: EpisodeConfig, model_cfg: FewShotModelConfig,
                cfg: FewShotTrainConfig, *, fresh: bool = False, device: str | torch.device | None = None,
                progress: bool = True) -> tuple[FewShotDeltaNet, FewShotTask, FewShotResult]:
    """``fpa fewshot``: train a model seeded with ``cfg.seed`` in run folder ``out``, holding its lock.

    Resumes (or returns) the folder's run like :func:`train_fewshot`; ``fresh`` deletes its
    checkpoint first. Returns the trained model, the task and the held-out result.
    """
    cfg.validate()
    out = Path(out)
    with RunLock(out):
        if fresh:
            (out / CHECKPOINT_FILE).unlink(missing_ok=True)
        torch.manual_seed(cfg.seed)
        task = FewShotTask(data, episodes)
        model = FewShotDeltaNet(model_cfg).to(resolve_device(device))
        if progress:
            tqdm.write(f"{len(task.split.train)} training and {len(task.split.held_out)} held-out classes "
                       f"({len(task.split.too_small)} with fewer than {episodes.k_shot + 1} images left out); "
                       f"{sum(p.numel() for p in model.parameters()):,} parameters")
        result = train_fewshot(model, task, cfg, out, progress=progress)
    return model, task, result


def load_fewshot_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The dict saved by :func:`train_fewshot` (``path`` a ``fewshot.pt`` or its run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise FpaError(f"no few-shot checkpoint at {path}; train one with `fpa fewshot --out {path.parent}`")
    state = torch.load(path, map_location=device, weights_only=True)
    if state.get("kind") != CHECKPOINT_KIND:
        raise FpaError(f"{path} is not a few-shot checkpoint (kind {state.get('kind')!r})")
    return state


def load_fewshot_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[FewShotDeltaNet, EpisodeConfig]:
    """The trained model (in eval mode) and the episode configuration of a few-shot run."""
    state = load_fewshot_checkpoint(path, device)
    model = FewShotDeltaNet(FewShotModelConfig(**state["configs"]["model"])).to(device)
    model.load_state_dict(state["model"])
    return model.eval(), EpisodeConfig(**state["configs"]["episodes"])
