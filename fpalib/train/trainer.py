"""The GAN training loop: ``Trainer(cfg).train()``.

Run folder (``cfg.run_dir``, i.e. ``loop.out`` or ``runs/<name>``):

    config.json                     the configuration of the latest start
    metrics.jsonl, loss_curve.png   see :mod:`fpalib.train.run_log`
    samples/step_000250_raw.png     the fixed sample latents through the raw generator ...
    samples/step_000250_ema.png     ... and through its moving average
    checkpoints/latest.pt           see :mod:`fpalib.train.checkpoint`
    checkpoints/best.pt             best evaluation so far (only when an evaluate_fn is given)

Behaviour:

- Resumes by default: a run folder holding ``checkpoints/latest.pt`` continues from its step
  with the stored weights, optimiser states, random states and data position, so the losses
  that follow equal those of an uninterrupted run (exactly so in one process with
  ``data.num_workers = 0``). Only ``loop.*``, ``name``, ``data.path`` and
  ``data.num_workers`` may change between the two; any other difference is an FpaError.
  ``new=True`` renames an existing run folder to ``<run>-old-<date>-<time>`` and starts over.
- A fresh run writes a step-0 checkpoint first, so there is always one to return to.
- One process per run folder: the trainer holds its lock (:mod:`fpalib.train.run_folder`) from
  construction to the end of :meth:`Trainer.train`; a second one gets an FpaError.
- NaN guard: non-finite losses, or non-finite weights when a checkpoint is due, reload the last
  checkpoint and continue with re-seeded random generators (so the step is not replayed
  identically); after ``loop.nan_retries`` reloads without a new periodic checkpoint in
  between, FpaError. A checkpoint with non-finite weights is never written.
- ``loop.max_minutes`` (wall clock of this call), ``loop.max_cpu_minutes`` (CPU time of this
  call) and a first Ctrl-C or SIGTERM end the run after
  the current step, with a checkpoint; a second one aborts at once.
- ``evaluate_fn(ema_generator, step) -> {"fid": ...}`` runs every ``loop.eval_every`` steps;
  the lowest ``loop.eval_metric`` so far is kept in ``best.pt``.
- Under torchrun, G and D are wrapped in DistributedDataParallel, each process reads its
  shard of every batch, and only rank 0 writes files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from fpalib.data import ImageFolder, check_batch_size
from fpalib.errors import FpaError
from fpalib.models import build_generator, ema_part, with_ema_part
from fpalib.models.discriminator import Discriminator
from fpalib.models.latents import seeded_latents
from fpalib.train.checkpoint import (
    BEST,
    LATEST,
    checkpoint_config,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from fpalib.train.config import ExperimentConfig, config_differences, save_config_file, to_dict
from fpalib.train.ema import EMA
from fpalib.train.interrupts import catch_interrupts
from fpalib.train.refine import load_refinement_start
from fpalib.train.run_folder import RunLock, claim_run_folder, refuse_other_run_kind
from fpalib.train.run_log import LOSS_CURVE_FILE, METRICS_FILE, LossWindow, MetricsLog
from fpalib.train.runtime import Runtime, all_reduce_sum, barrier, start_runtime, stop_runtime, wrap_for_training
from fpalib.train.sampler import ResumableBatchSampler
from fpalib.train.seeding import capture_rng_state, derived_seed, restore_rng_state, seed_everything
from fpalib.train.step import GanStep
from fpalib.viz import save_grid

EvaluateFn = Callable[[nn.Module, int], dict[str, float]]
"""``evaluate_fn(generator, step) -> metrics``; lower values of the chosen metric are better."""

RESUMABLE_CHANGES = ("name", "loop.", "data.path", "data.num_workers", "refine.", "eval.")
"""Config keys (prefixes) that may differ between a run and its resumption."""


class Trainer:
    """Trains ``cfg.generator`` against the LightGAN discriminator; see the module docstring.

    device: "cpu", "cuda", "cuda:N" or None (CUDA when available); under torchrun each
        process uses cuda:LOCAL_RANK.
    new: start over, moving an existing run folder aside.
    evaluate_fn: called with the EMA generator every ``loop.eval_every`` steps.
    progress: show a tqdm progress bar (rank 0 only).
    """

    def __init__(
        self,
        cfg: ExperimentConfig,
        device: str | torch.device | None = None,
        *,
        new: bool = False,
        evaluate_fn: EvaluateFn | None = None,
        progress: bool = True,
    ) -> None:
        self.cfg = cfg.validate()
        self.runtime: Runtime = start_runtime(device)
        self.run_dir = cfg.run_dir
        self.evaluate_fn = evaluate_fn
        self.progress = progress
        self._lock = RunLock(self.run_dir)
        if self.runtime.is_main:
            self._lock, moved, removed = claim_run_folder(self.run_dir, new=new)
            if moved is not None:
                tqdm.write(f"moved the previous run {self.run_dir} to {moved}")
            if removed:
                tqdm.write(f"removed {len(removed)} temporary file(s) of an interrupted write in {self.run_dir}")
        barrier(self.runtime)
        try:
            refuse_other_run_kind(self.run_dir, "GAN training")
            self._build(cfg)
        except BaseException:
            self._lock.release()
            raise

    def _build(self, cfg: ExperimentConfig) -> None:
        """Data, models, optimisers and, when resuming, their stored states."""
        loop, device = cfg.loop, self.runtime.device
        seed_everything(loop.seed)
        self.dataset = ImageFolder(cfg.data.path, cfg.data.image_size, cfg.data.channels, cfg.data.hflip)
        check_batch_size(self.dataset, cfg.optim.batch_size * self.runtime.world_size, "--optim.batch_size")
        self.sampler = ResumableBatchSampler(
            len(self.dataset), cfg.optim.batch_size, seed=loop.seed,
            rank=self.runtime.rank, world_size=self.runtime.world_size,
        )
        self.loader = DataLoader(
            self.dataset, batch_sampler=self.sampler, num_workers=cfg.data.num_workers,
            pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(loop.seed),
        )
        self.generator = build_generator(cfg.generator, cfg.generator_config).to(device)
        self.discriminator = Discriminator(cfg.disc).to(device)
        if not checkpoint_path(self.run_dir).is_file():  # an FPA/U-Net loads its frozen painter (and D)
            load_refinement_start(self.generator, self.discriminator, cfg)
        self.ema = EMA(ema_part(self.generator), cfg.ema)  # an FPA/U-Net averages its U-Net only
        self.ema_generator = with_ema_part(self.generator, self.ema.model)  # shares the weights of self.ema
        trained = [p for p in self.generator.parameters() if p.requires_grad]
        self.optimizer_g = torch.optim.Adam(trained, lr=cfg.optim.lr, betas=cfg.optim.betas)
        self.optimizer_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas)
        amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        self.sample_latents = seeded_latents(loop.num_sample_latents, self.generator.latent_dim, loop.seed)
        self.step = 0
        self.best_metric: float | None = None
        self.batches_consumed = 0
        self.elapsed_before = 0.0
        self.resumed = checkpoint_path(self.run_dir).is_file()
        if self.resumed:
            self._load_state(load_checkpoint(self.run_dir, map_location=device))
        elif not self.runtime.is_main:
            seed_everything(derived_seed(loop.seed, 0, self.runtime.rank))
        self.gan_step = GanStep(
            wrap_for_training(self.generator, self.runtime),
            wrap_for_training(self.discriminator, self.runtime),
            self.optimizer_g, self.optimizer_d, self.scaler, cfg.loss,
            batch_size=cfg.optim.batch_size, grad_accum=cfg.optim.grad_accum, amp_dtype=amp_dtype,
            augment=cfg.augment,
        )
        self._batches: Iterator[Tensor] | None = None
        self._saved_step = self.step if self.resumed else -1
        self._reloads = 0
        self._session_started = time.monotonic()

    # ------------------------------------------------------------------ the loop
    def train(self) -> dict[str, Any]:
        """Train up to ``loop.steps`` (or the time budget / Ctrl-C); returns a summary dict."""
        loop, main = self.cfg.loop, self.runtime.is_main
        if main:
            self._lock.acquire()  # again, when train() is called a second time
        started, start_step = time.monotonic(), self.step
        self._cpu_started = time.process_time()
        self._session_started = started
        self.log = MetricsLog(self.run_dir / METRICS_FILE, keep_until=self.step if self.resumed else None, write=main)
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config_file(self.cfg, self.run_dir / "config.json")
            if self.progress:
                where = f"resuming at step {self.step}" if self.resumed else "starting"
                tqdm.write(f"{self.run_dir}: {where}, training to step {loop.steps}")
        if not self.resumed:
            self._save(LATEST)
        self._restart_data()
        window, self._window_start = LossWindow(), time.monotonic()
        stopped, total_reloads = "finished", 0
        bar = tqdm(
            total=loop.steps, initial=self.step, unit="step", dynamic_ncols=True,
            disable=not (self.progress and main),
        )
        try:
            with catch_interrupts() as interrupted:
                if 0 in (loop.max_minutes, loop.max_cpu_minutes):
                    stopped = "time budget"
                while stopped == "finished" and self.step < loop.steps:
                    losses = self.gan_step.run(self._next_batch, self.step)
                    flags = torch.tensor([self._over_budget(started), interrupted.is_set()], dtype=losses.dtype)
                    reduced = all_reduce_sum(torch.cat([losses, flags.to(losses.device)]), self.runtime).tolist()
                    values = [value / self.runtime.world_size for value in reduced[:4]]
                    if not all(math.isfinite(value) for value in values):
                        total_reloads += 1
                        losses = ", ".join(f"{value:.3g}" for value in values)
                        self._recover_from_non_finite("non-finite losses", f" ({losses})", self.step + 1, bar, window)
                        continue
                    with_penalty = self.cfg.loss.applies_gradient_penalty(self.step)
                    self.step += 1
                    self.ema.update(ema_part(self.generator), self.step)
                    if reduced[4] > 0:
                        stopped = "time budget"
                    elif reduced[5] > 0:
                        stopped = "interrupted"
                    if self._saves_now(stopped != "finished" or self.step >= loop.steps) and not self._weights_finite():
                        total_reloads += 1  # never save them over the last good checkpoint
                        self._recover_from_non_finite("non-finite weights", "", self.step, bar, window)
                        continue
                    window.add(values, with_penalty)
                    bar.update(1)
                    self._periodic_work(window, started, bar)
                if self._saved_step != self.step:  # inside: a first Ctrl-C here does not stop the save
                    self._save(LATEST)
                    self._write_samples()
        finally:
            bar.close()
            self._lock.release()
            stop_runtime(self.runtime)
        elapsed = time.monotonic() - started
        images = (self.step - start_step) * self._images_per_step()
        return {
            "run_dir": str(self.run_dir), "generator": self.cfg.generator, "start_step": start_step,
            "step": self.step, "steps": loop.steps, "stopped": stopped, "elapsed_s": elapsed,
            "images_per_s": images / elapsed if elapsed > 0 else 0.0,
            "last_losses": window.pop() if window.steps else window.last,
            "best_metric": self.best_metric, "nan_reloads": total_reloads,
        }

    def _periodic_work(self, window: LossWindow, started: float, bar: tqdm) -> None:
        """Logging, samples, evaluation and checkpoints due after step ``self.step``."""
        loop, step = self.cfg.loop, self.step
        if step % loop.log_every == 0:
            now = time.monotonic()
            images_per_s = window.steps * self._images_per_step() / max(now - self._window_start, 1e-9)
            record = {"step": step, **window.pop(), "images_per_s": images_per_s,
                      "elapsed_s": self.elapsed_before + now - started, "lr": self.optimizer_g.param_groups[0]["lr"]}
            self._window_start = now
            self.log.append(record)
            bar.set_postfix(d=f"{record['d_loss']:.3f}", g=f"{record['g_loss']:.3f}", img_s=f"{images_per_s:.0f}")
        if loop.sample_every and step % loop.sample_every == 0:
            self._write_samples()
        improved = False
        if loop.eval_every and self.evaluate_fn is not None and step % loop.eval_every == 0:
            improved = self._evaluate()
        periodic_checkpoint = bool(loop.checkpoint_every) and step % loop.checkpoint_every == 0
        if periodic_checkpoint:
            self._reloads = 0  # the same decision in every process, unlike rank 0's evaluation
        if periodic_checkpoint or improved:
            self._save(LATEST)
        if improved:
            self._save(BEST)

    def _evaluate(self) -> bool:
        """Run evaluate_fn on the EMA generator (rank 0); True when the metric improved."""
        if not self.runtime.is_main:
            return False
        metrics = {name: float(value) for name, value in self.evaluate_fn(self.ema_generator, self.step).items()}
        self.log.append({"step": self.step, **metrics})
        name = self.cfg.loop.eval_metric
        if name not in metrics:
            raise FpaError(f"evaluate_fn returned {', '.join(metrics) or 'nothing'} but not loop.eval_metric {name!r}")
        if self.best_metric is None or metrics[name] < self.best_metric:
            self.best_metric = metrics[name]
            return True
        return False

    def _saves_now(self, ending: bool) -> bool:
        """Whether a checkpoint may be written after step ``self.step`` (ending: the loop stops now)."""
        loop, step = self.cfg.loop, self.step
        evaluates = bool(loop.eval_every) and self.evaluate_fn is not None and step % loop.eval_every == 0
        return ending or evaluates or (bool(loop.checkpoint_every) and step % loop.checkpoint_every == 0)

    def _weights_finite(self) -> bool:
        """All weights of G, D and the EMA generator are finite (no NaN or inf)."""
        modules = (self.generator, self.discriminator, self.ema.model)
        return all(bool(torch.isfinite(p).all()) for module in modules for p in module.parameters())

    def _recover_from_non_finite(self, what: str, detail: str, failed_step: int, bar: tqdm,
                                 window: LossWindow) -> None:
        """Reload the last checkpoint and re-seed; FpaError after loop.nan_retries reloads in a row."""
        self._reloads += 1
        if self._reloads > self.cfg.loop.nan_retries:
            raise FpaError(
                f"training diverged: {what} at step {failed_step} after {self.cfg.loop.nan_retries} "
                "reloads of the last checkpoint; lower optim.lr, try --loop.amp false, or check the data"
            )
        barrier(self.runtime)
        elapsed_before = self.elapsed_before  # wall-clock time keeps running across a reload
        self._load_state(load_checkpoint(self.run_dir, map_location=self.runtime.device))
        self.elapsed_before = elapsed_before
        seed_everything(derived_seed(self.cfg.loop.seed, self.step, self._reloads, self.runtime.rank))
        self._restart_data()
        self.log.rewind(self.step)
        window.pop()
        bar.n = self.step
        bar.refresh()
        if self.runtime.is_main:
            tqdm.write(f"{what}{detail} at step {failed_step}; reloaded step {self.step} "
                       f"(reload {self._reloads} of {self.cfg.loop.nan_retries})")

    # ------------------------------------------------------------------ helpers
    def _next_batch(self) -> Tensor:
        """The next real batch (B, C, H, W) on the device."""
        batch = next(self._batches)
        self.batches_consumed += 1
        return batch.to(self.runtime.device, non_blocking=True)

    def _restart_data(self) -> None:
        self.sampler.start = self.batches_consumed
        self._batches = iter(self.loader)

    def _images_per_step(self) -> int:
        optim = self.cfg.optim
        return optim.batch_size * optim.grad_accum * self.runtime.world_size

    def _over_budget(self, started: float) -> bool:
        loop = self.cfg.loop
        wall = loop.max_minutes is not None and time.monotonic() - started >= loop.max_minutes * 60
        cpu = loop.max_cpu_minutes is not None and time.process_time() - self._cpu_started >= loop.max_cpu_minutes * 60
        return wall or cpu

    def _amp_dtype(self) -> torch.dtype | None:
        """bfloat16 where the GPU supports it, else float16 (with loss scaling); None on CPU."""
        if not self.cfg.loop.amp or self.runtime.device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def _write_samples(self) -> None:
        """Sample grids of the fixed latents (raw and EMA generator) and the loss curve (rank 0)."""
        if not self.runtime.is_main:
            return
        latents = self.sample_latents.to(self.runtime.device)
        nrow = math.ceil(math.sqrt(len(latents)))
        for tag, model in (("raw", self.generator), ("ema", self.ema_generator)):
            was_training = model.training
            with torch.no_grad():
                images = model.eval()(latents)
            model.train(was_training)
            save_grid(images, self.run_dir / "samples" / f"step_{self.step:06d}_{tag}.png", nrow=nrow)
        self.log.save_loss_curve(self.run_dir / LOSS_CURVE_FILE)

    def _save(self, name: str) -> None:
        """Write the full training state to checkpoints/<name> (rank 0)."""
        if self.runtime.is_main:
            save_checkpoint(checkpoint_path(self.run_dir, name), self._state())
        if name == LATEST:
            self._saved_step = self.step

    def _state(self) -> dict[str, Any]:
        return {
            "config": to_dict(self.cfg),
            "step": self.step,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema": self.ema_generator.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": {**capture_rng_state(), "data_loader": self.loader.generator.get_state()},
            "data_position": self.batches_consumed,
            "sample_latents": self.sample_latents,
            "best_metric": self.best_metric,
            "elapsed_s": self.elapsed_before + time.monotonic() - self._session_started,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        """Restore everything :meth:`_state` saved; the config must match (see RESUMABLE_CHANGES)."""
        stored = checkpoint_config(state)
        changed = {
            key: values for key, values in config_differences(stored, self.cfg).items()
            if not key.startswith(RESUMABLE_CHANGES)
        }
        if changed:
            details = ", ".join(f"{key}: {old!r} there, {new!r} now" for key, (old, new) in list(changed.items())[:3])
            raise FpaError(
                f"run folder {self.run_dir} was trained with another configuration ({details}); "
                "pass --new to start over or --out to use another folder"
            )
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.ema_generator.load_state_dict(state["ema"])
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = state["step"]
        self.batches_consumed = state["data_position"]
        self.sample_latents = state["sample_latents"].cpu()
        self.best_metric = state["best_metric"]
        self.elapsed_before = state["elapsed_s"]
        self.loader.generator.set_state(state["rng"]["data_loader"].cpu())
        if self.runtime.is_main:
            restore_rng_state(state["rng"])
        else:
            seed_everything(derived_seed(self.cfg.loop.seed, self.step, self.runtime.rank))
