"""The training loop of both objectives: ``Trainer(cfg).train()``; one step is :meth:`Trainer.train`'s
loop body, a :class:`~fpalib.train.step.GanStep` (``objective="gan"``, the paper's) or a
:class:`~fpalib.train.vae_step.VaeStep` (``objective="vae"``: the generator as a VAE's decoder).

Run folder (``cfg.run_dir``, i.e. ``loop.out`` or ``runs/<name>``): ``config.json`` (of the
latest start), ``metrics.jsonl`` and ``loss_curve.png`` (:mod:`fpalib.train.run_log`),
``samples/step_000250_{raw,ema}.png`` (the fixed sample latents through the raw generator and
its average; a VAE run adds ``step_000250_recon.png``: test images beside their reconstructions),
``checkpoints/latest.pt`` and, with an evaluate_fn or a VAE's test set, ``checkpoints/best.pt``.

- Resumes by default: ``checkpoints/latest.pt`` holds the weights, optimiser states, random
  states and data position, so the losses that follow equal those of an uninterrupted run
  (exactly so in one process with ``data.num_workers = 0``). Only the keys of
  :data:`RESUMABLE_CHANGES` may change in between; ``new=True`` moves the old folder aside to
  ``<run>-old-<date>-<time>``. A fresh run writes a step-0 checkpoint first.
- One process per run folder: the trainer holds its lock (:mod:`fpalib.train.run_folder`) from
  construction to the end of :meth:`Trainer.train`.
- Non-finite losses (or weights, when a checkpoint is due) stop the run with an FpaError and
  nothing more is saved, so ``latest.pt`` keeps the last good step to continue from with a
  lower ``--optim.lr`` or ``--loop.amp false``.
- ``loop.max_minutes`` (wall clock), ``loop.max_cpu_minutes`` (CPU time) of this call and a
  first Ctrl-C or SIGTERM end the run after the current step, with a checkpoint.
- ``evaluate_fn(ema_generator, step) -> {"fid": ...}`` runs every ``loop.eval_every`` steps;
  the lowest ``loop.eval_metric`` so far is kept in ``best.pt``. A VAE run with ``data.test_path``
  measures the test-set bounds then (:func:`~fpalib.train.vae_step.test_bounds`, e.g. ``test_nelbo``).
  Each evaluation record also holds ``cpu_s``, the CPU seconds of this call so far (it restarts
  at 0 when a run resumes), which the ablation's learning curves use.
- Under torchrun, G and D are wrapped in DistributedDataParallel, each process reads its
  shard of every batch, and only rank 0 writes files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from fpalib.data import check_batch_size
from fpalib.data.arrays import open_images
from fpalib.errors import FpaError
from fpalib.models import build_generator, ema_part, with_ema_part
from fpalib.models.discriminator import Discriminator
from fpalib.models.latents import seeded_latents
from fpalib.models.vae import VAE
from fpalib.pretrained import PRETRAINED_KIND
from fpalib.train.checkpoint import BEST, LATEST, checkpoint_config, checkpoint_path, load_checkpoint
from fpalib.train.checkpoint import save_checkpoint
from fpalib.train.config import ExperimentConfig, config_differences, save_config_file, to_dict
from fpalib.train.ema import EMA
from fpalib.train.refine import load_refinement_start
from fpalib.train.run_folder import claim_run_folder, refuse_other_run_kind, refuse_unfinished_outputs
from fpalib.train.run_log import LOSS_CURVE_FILE, METRICS_FILE, LossWindow, MetricsLog
from fpalib.train.runtime import (
    barrier,
    catch_interrupts,
    mean_over_processes,
    start_runtime,
    stop_runtime,
    wrap_for_training,
)
from fpalib.train.seeding import ResumableBatchSampler, capture_rng_state, derived_seed, restore_rng_state
from fpalib.train.step import LOSS_NAMES, GanStep
from fpalib.train.vae_step import VAE_LOSS_NAMES, VaeStep, test_bounds
from fpalib.viz import save_grid

EvaluateFn = Callable[[nn.Module, int], dict[str, float]]
"""``evaluate_fn(generator, step) -> metrics``; lower values of the chosen metric are better."""

RESUMABLE_CHANGES = ("name", "loop.", "data.path", "data.test_path", "data.num_workers", "optim.lr", "refine.", "eval.",
                     "vae.eval_images")
"""Config keys (prefixes) that may differ between a run and its resumption."""


class Trainer:
    """Trains ``cfg.generator`` against the LightGAN discriminator, or as a VAE's decoder; see the module docstring.

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
        self.cfg, self.run_dir, self.evaluate_fn, self.progress = cfg.validate(), cfg.run_dir, evaluate_fn, progress
        self.runtime = start_runtime(device)
        self._lock = None
        if self.runtime.is_main:  # only rank 0 writes to the run folder
            self._lock, moved, removed = claim_run_folder(self.run_dir, new=new)
            if moved is not None:
                tqdm.write(f"moved the previous run {self.run_dir} to {moved}")
            if removed:
                tqdm.write(f"removed {len(removed)} temporary file(s) of an interrupted write in {self.run_dir}")
        barrier(self.runtime)
        try:
            refuse_other_run_kind(self.run_dir, "GAN training")
            refuse_unfinished_outputs(self.run_dir)
            self._build()
        except BaseException:
            self._release()
            raise

    def _build(self) -> None:
        """Data, G and D (or G and the VAE's encoder), the EMA copy and the optimisers; then the stored
        state when resuming."""
        cfg, seed, device, rank = self.cfg, self.cfg.loop.seed, self.runtime.device, self.runtime.rank
        torch.manual_seed(seed)
        dataset = open_images(cfg.data.path, cfg.data.image_size, cfg.data.channels, cfg.data.hflip)
        self.test_set = None if cfg.data.test_path is None else open_images(
            cfg.data.test_path, cfg.data.image_size, cfg.data.channels)
        check_batch_size(dataset, cfg.optim.batch_size * self.runtime.world_size, "--optim.batch_size")
        self.sampler = ResumableBatchSampler(len(dataset), cfg.optim.batch_size, seed=seed, rank=rank,
                                             world_size=self.runtime.world_size)
        self.loader = DataLoader(dataset, batch_sampler=self.sampler, num_workers=cfg.data.num_workers,
                                 pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))
        self.generator = build_generator(cfg.generator, cfg.generator_config).to(device)
        vae = cfg.objective == "vae"
        self.discriminator = None if vae else Discriminator(cfg.disc).to(device)
        self.vae = VAE(self.generator, (cfg.data.channels,) + (cfg.data.image_size,) * 2, cfg.vae).to(device) \
            if vae else None
        self.loss_names = VAE_LOSS_NAMES if vae else LOSS_NAMES
        self.resumed = checkpoint_path(self.run_dir).is_file()
        if not self.resumed and not vae:  # an FPA/U-Net loads its frozen painter (and D); a no-op otherwise
            load_refinement_start(self.generator, self.discriminator, cfg)
        self.ema = EMA(ema_part(self.generator), cfg.ema)  # an FPA/U-Net averages its U-Net only
        self.ema_generator = with_ema_part(self.generator, self.ema.model)  # shares the weights of self.ema
        trained = [p for p in (self.vae or self.generator).parameters() if p.requires_grad]
        self.optimizer_g = torch.optim.Adam(trained, lr=cfg.optim.lr, betas=cfg.optim.betas)
        self.optimizer_d = None if vae else torch.optim.Adam(self.discriminator.parameters(), lr=cfg.optim.lr,
                                                             betas=cfg.optim.betas)
        amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        self.sample_latents = seeded_latents(cfg.loop.num_sample_latents, self.generator.latent_dim, seed)
        self.step, self.batches_consumed, self.best_metric, self.elapsed_before = 0, 0, None, 0.0
        self._saved_step = -1  # the step of checkpoints/latest.pt (-1: none yet)
        if self.resumed:
            self._load_state(load_checkpoint(self.run_dir, map_location=device))
        if rank > 0:  # each process draws its own latents
            torch.manual_seed(derived_seed(seed, self.step, rank))
        if vae:
            self.objective_step = VaeStep(wrap_for_training(self.vae, self.runtime), self.optimizer_g, self.scaler,
                                          cfg.vae, grad_accum=cfg.optim.grad_accum, amp_dtype=amp_dtype)
            return
        self.objective_step = GanStep(
            wrap_for_training(self.generator, self.runtime), wrap_for_training(self.discriminator, self.runtime),
            self.optimizer_g, self.optimizer_d, self.scaler, cfg.loss, batch_size=cfg.optim.batch_size,
            grad_accum=cfg.optim.grad_accum, amp_dtype=amp_dtype, augment=cfg.augment,
        )

    # ------------------------------------------------------------------ the loop
    def train(self) -> dict[str, Any]:
        """Train up to ``loop.steps`` (or the time budget / Ctrl-C); returns a summary dict."""
        loop, objective, start_step, names = self.cfg.loop, self.objective_step, self.step, self.loss_names
        window, stopped = LossWindow(names), None
        bar = tqdm(total=loop.steps, initial=self.step, unit="step", dynamic_ncols=True,
                   disable=not (self.progress and self.runtime.is_main))
        try:
            self._start_session()
            with catch_interrupts() as interrupted:
                if 0 in (loop.max_minutes, loop.max_cpu_minutes):
                    stopped = "time budget"
                while stopped is None and self.step < loop.steps:
                    # GAN: D update on grad_accum real batches and G's fakes, then G update through the frozen D
                    step_losses = dict(zip(names, objective.run(self._next_batch, self.step), strict=True))
                    self.step += 1
                    self.ema.update(ema_part(self.generator), self.step)
                    # losses and stop flags averaged over processes in one all-reduce: every process decides alike
                    flags = {"over_budget": self._over_budget(), "interrupted": interrupted.is_set()}
                    means = mean_over_processes({**step_losses, **flags}, self.runtime)
                    losses = {name: means[name] for name in names}  # floats
                    if means["over_budget"] > 0:
                        stopped = "time budget"
                    elif means["interrupted"] > 0:
                        stopped = "interrupted"
                    ending = stopped is not None or self.step >= loop.steps
                    # weights are checked only before a checkpoint (costly); losses after every step
                    self._stop_if_diverged(losses, check_weights=self._checkpoint_due(ending))
                    window.add(losses, objective.penalised)  # gp is averaged over the penalised steps
                    bar.update(1)
                    if self.step % loop.log_every == 0:  # one metrics.jsonl record: the window's mean losses
                        record = self._log_record(window)
                        bar.set_postfix(**{name: f"{record[name]:.3f}" for name in names[:2]},
                                        img_s=f"{record['images_per_s']:.0f}")
                    if loop.sample_every and self.step % loop.sample_every == 0:
                        self._write_samples()
                    improved = self._evaluation_due() and self._evaluate()  # rank 0 only
                    if (loop.checkpoint_every and self.step % loop.checkpoint_every == 0) or improved:
                        self._save(LATEST)
                    if improved:
                        self._save(BEST)
                if self._saved_step != self.step:  # inside: a first Ctrl-C here does not stop the save
                    self._save(LATEST)
                    self._write_samples()
        finally:
            bar.close()
            self._release()
        elapsed = time.monotonic() - self._started
        images = (self.step - start_step) * self._images_per_step()
        return {
            "run_dir": str(self.run_dir), "generator": self.cfg.generator, "start_step": start_step,
            "step": self.step, "steps": loop.steps, "stopped": stopped or "finished", "elapsed_s": elapsed,
            "images_per_s": images / elapsed if elapsed > 0 else 0.0,
            "last_losses": window.pop() if window.pending else window.last, "best_metric": self.best_metric,
        }

    def _start_session(self) -> None:
        """Clocks, the lock (again, for a second train() call), config.json, the metrics log, the
        step-0 checkpoint of a fresh run and the data iterator."""
        self._started, self._cpu_started, self._window_start = time.monotonic(), time.process_time(), time.monotonic()
        main = self.runtime.is_main
        if main:
            self._lock.acquire()
            save_config_file(self.cfg, self.run_dir / "config.json")
            if self.progress:
                where = f"resuming at step {self.step}" if self.resumed else "starting"
                tqdm.write(f"{self.run_dir}: {where}, training to step {self.cfg.loop.steps}")
        kept = self._saved_step if self._saved_step >= 0 else None  # records of later steps are trained again
        self.log = MetricsLog(self.run_dir / METRICS_FILE, keep_until=kept, write=main)
        if self._saved_step < 0:
            self._save(LATEST)
        self.sampler.start = self.batches_consumed
        self._batches = iter(self.loader)

    def _stop_if_diverged(self, losses: dict[str, float], check_weights: bool) -> None:
        """FpaError when a loss (or, with check_weights, a weight) is NaN or infinite; nothing is saved."""
        bad = [f"{name} = {value}" for name, value in losses.items() if not math.isfinite(value)]
        if check_weights and not bad:
            nets = {"generator": self.generator, "discriminator": self.discriminator, "VAE": self.vae,
                    "EMA generator": self.ema.model}
            nets = {name: net for name, net in nets.items() if net is not None}
            bad = [f"non-finite weights in the {name}" for name, net in nets.items()
                   if not all(bool(torch.isfinite(p).all()) for p in net.parameters())]
        if bad:
            raise FpaError(
                f"training diverged at step {self.step}: {', '.join(bad)}; nothing was saved, so "
                f"{checkpoint_path(self.run_dir)} still holds step {self._saved_step}, the last good one: continue "
                f"from it with `fpa train --out {self.run_dir}` and a lower --optim.lr"
                + (" or --loop.amp false" if self._amp_dtype() else "")
            )

    def _log_record(self, window: LossWindow) -> dict[str, Any]:
        """Append the record of step ``self.step`` to metrics.jsonl: the losses averaged since the last
        record, the throughput over that window, the elapsed training time and the learning rate."""
        now = time.monotonic()
        images_per_s = len(window.pending) * self._images_per_step() / max(now - self._window_start, 1e-9)
        record = {"step": self.step, **window.pop(), "images_per_s": images_per_s,
                  "elapsed_s": self.elapsed_before + now - self._started, "lr": self.optimizer_g.param_groups[0]["lr"]}
        self._window_start = now
        self.log.append(record)
        return record

    def _evaluation_due(self) -> bool:
        """Whether evaluate_fn runs after step ``self.step``."""
        every = self.cfg.loop.eval_every
        evaluates = self.evaluate_fn is not None or (self.vae is not None and self.test_set is not None)
        return bool(every) and evaluates and self.step % every == 0

    def _evaluate(self) -> bool:
        """Run evaluate_fn on the EMA generator, and a VAE's test-set bounds (rank 0); True when the metric improved."""
        if not self.runtime.is_main:
            return False
        metrics = {} if self.evaluate_fn is None else self.evaluate_fn(self.ema_generator, self.step)
        if self.vae is not None and self.test_set is not None:
            metrics = {**test_bounds(self.vae, self.test_set, limit=self.cfg.vae.eval_images or None), **metrics}
        metrics = {name: float(value) for name, value in metrics.items()}
        self.log.append({"step": self.step, **metrics, "cpu_s": time.process_time() - self._cpu_started})
        name = self.cfg.loop.eval_metric
        if name not in metrics:
            raise FpaError(f"evaluate_fn returned {', '.join(metrics) or 'nothing'} but not loop.eval_metric {name!r}")
        if self.best_metric is None or metrics[name] < self.best_metric:
            self.best_metric = metrics[name]
            return True
        return False

    def _checkpoint_due(self, ending: bool) -> bool:
        """Whether a checkpoint may be written after step ``self.step`` (ending: the loop stops now);
        the same answer in every process, unlike rank 0's evaluation result."""
        every = self.cfg.loop.checkpoint_every
        return ending or self._evaluation_due() or (bool(every) and self.step % every == 0)

    # ------------------------------------------------------------------ helpers
    def _next_batch(self) -> Tensor:
        """The next real batch (B, C, H, W) on the device."""
        batch = next(self._batches)
        self.batches_consumed += 1
        return batch.to(self.runtime.device, non_blocking=True)

    def _images_per_step(self) -> int:
        optim = self.cfg.optim
        return optim.batch_size * optim.grad_accum * self.runtime.world_size

    def _over_budget(self) -> bool:
        loop = self.cfg.loop
        wall = loop.max_minutes is not None and time.monotonic() - self._started >= loop.max_minutes * 60
        cpu = loop.max_cpu_minutes is not None and time.process_time() - self._cpu_started >= loop.max_cpu_minutes * 60
        return wall or cpu

    def _amp_dtype(self) -> torch.dtype | None:
        """bfloat16 where the GPU supports it, else float16 (with loss scaling); None on CPU."""
        if not self.cfg.loop.amp or self.runtime.device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def _release(self) -> None:
        """Let go of the run folder's lock (rank 0) and of the process group."""
        if self._lock is not None:
            self._lock.release()
        stop_runtime(self.runtime)

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
        if self.vae is not None and self.test_set is not None:  # rows of 8 test images, each above its reconstruction
            real = torch.stack([self.test_set[i] for i in range(min(32, len(self.test_set)))]).to(self.runtime.device)
            with torch.no_grad():
                self.vae.eval()
                recon = self.vae.reconstruct(real)
                self.vae.train()
            pairs = torch.stack([real.view(-1, 8, *real.shape[1:]), recon.view(-1, 8, *real.shape[1:])], 1)
            save_grid(pairs.flatten(0, 2), self.run_dir / "samples" / f"step_{self.step:06d}_recon.png", nrow=8)
        self.log.save_loss_curve(self.run_dir / LOSS_CURVE_FILE)

    def _save(self, name: str) -> None:
        """Write the full training state to checkpoints/<name> (rank 0)."""
        if self.runtime.is_main:
            save_checkpoint(checkpoint_path(self.run_dir, name), self._state())
        if name == LATEST:
            self._saved_step = self.step

    def _stateful(self) -> dict[str, Any]:
        """What a checkpoint stores by ``state_dict()``, by its key there."""
        if self.vae is not None:  # the encoder and the likelihood's scales; the decoder is the generator
            return {"generator": self.generator, "encoder": self.vae.encoder, "likelihood": self.vae.likelihood,
                    "ema": self.ema_generator, "optimizer_g": self.optimizer_g, "scaler": self.scaler}
        return {"generator": self.generator, "discriminator": self.discriminator, "ema": self.ema_generator,
                "optimizer_g": self.optimizer_g, "optimizer_d": self.optimizer_d, "scaler": self.scaler}

    def _state(self) -> dict[str, Any]:
        return {
            **{name: part.state_dict() for name, part in self._stateful().items()},
            "config": to_dict(self.cfg), "step": self.step, "rng": capture_rng_state(self.loader.generator),
            "data_position": self.batches_consumed, "sample_latents": self.sample_latents,
            "best_metric": self.best_metric, "elapsed_s": self.elapsed_before + time.monotonic() - self._started,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        """Restore everything :meth:`_state` saved; the config must match (see RESUMABLE_CHANGES)."""
        if state["kind"] == PRETRAINED_KIND:
            raise FpaError(f"{checkpoint_path(self.run_dir)} is an inference export, not a training "
                           "checkpoint: it has no discriminator or optimiser state to resume; pass --new to start over")
        changed = {key: values for key, values in config_differences(checkpoint_config(state), self.cfg).items()
                   if not key.startswith(RESUMABLE_CHANGES)}
        if changed:
            details = ", ".join(f"{key}: {old!r} there, {new!r} now" for key, (old, new) in list(changed.items())[:3])
            raise FpaError(
                f"run folder {self.run_dir} was trained with another configuration ({details}); "
                "pass --new to start over or --out to use another folder"
            )
        for name, part in self._stateful().items():
            if state[name]:  # the scaler's is empty when saved without float16 loss scaling
                part.load_state_dict(state[name])
        for optimizer in filter(None, (self.optimizer_g, self.optimizer_d)):  # optim.lr may have changed
            for group in optimizer.param_groups:
                group["lr"] = self.cfg.optim.lr
        self.step = self._saved_step = state["step"]
        self.batches_consumed = state["data_position"]
        self.sample_latents = state["sample_latents"].cpu()
        self.best_metric = state["best_metric"]
        self.elapsed_before = state["elapsed_s"]
        restore_rng_state(state["rng"], self.loader.generator)
