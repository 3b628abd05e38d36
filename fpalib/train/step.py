"""One GAN optimisation step: a discriminator update, then a generator update.

Losses (Irie & Schmidhuber, 2023, Sec. 3.3 and App. B; see :mod:`fpalib.train.losses`), for real
images x (B, C, H, W) and fresh standard-normal latents z, z' (B, latent_dim):

    discriminator:  hinge(D(x), D(G(z))) on both heads + aux_weight * D's reconstruction loss on x
                    + gp_weight * gradient penalty on x                (every gp_every-th step)
    generator:      generator_loss(D(G(z'))) on both heads
                    + mode_seeking_weight * mode_seeking_loss(z', G(z'))   (when the weight > 0)

Each update sums gradients over ``grad_accum`` micro-batches. Under mixed precision the forward
passes run in autocast and one GradScaler scales both backward passes. With DDP wrappers, G runs
without gradients in D's update and D is frozen and unwrapped in G's, so each wrapper
all-reduces only the gradients of its own update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field

import torch
from torch import Tensor, nn

from fpalib.train.augment import AugmentConfig, augment
from fpalib.train.ema import unwrap
from fpalib.train.losses import (
    LossConfig,
    discriminator_hinge_loss,
    generator_loss,
    gradient_penalty,
    mode_seeking_loss,
)

LOSS_NAMES = ("d_loss", "g_loss", "aux_loss", "gp")
"""Order of the values in the tensor returned by :meth:`GanStep.run`."""


@dataclass(eq=False)
class GanStep:
    """Updates a generator and a discriminator once per :meth:`run` call.

    generator, discriminator: modules (or DDP wrappers) on the training device.
    batch_size: latents per generator micro-batch (the real micro-batches set D's fakes).
    amp_dtype: autocast dtype (torch.float16 / torch.bfloat16), or None for full precision.
    """

    generator: nn.Module
    discriminator: nn.Module
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loss: LossConfig
    _: KW_ONLY
    batch_size: int
    grad_accum: int = 1
    amp_dtype: torch.dtype | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    penalised: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.device = next(unwrap(self.generator).parameters()).device
        self.latent_dim = unwrap(self.generator).latent_dim

    def run(self, next_batch: Callable[[], Tensor], step: int) -> Tensor:
        """One update of D then G at step index ``step`` (0-based; the one place that decides the
        gradient penalty, kept in ``penalised`` for the trainer's log).

        next_batch() returns real images (B, C, H, W) on the device. Returns the losses of this
        step, a detached (4,) tensor in the order of :data:`LOSS_NAMES` (gp is 0 at steps
        without penalty), each the mean over micro-batches.
        """
        self.penalised = self.loss.applies_gradient_penalty(step)
        losses = self.update_discriminator(next_batch, self.penalised)
        losses["g_loss"] = self.update_generator()
        self.scaler.update()  # the loss scale of float16 autocast (a no-op otherwise)
        return torch.stack([losses[name] for name in LOSS_NAMES])

    def update_discriminator(self, next_batch: Callable[[], Tensor], with_penalty: bool) -> dict[str, Tensor]:
        """One optimiser step of D on ``grad_accum`` real micro-batches and as many batches of G's fakes.

        Returns {"d_loss": hinge, "aux_loss": reconstruction, "gp": gradient penalty (0 without)},
        detached scalars, each the mean over micro-batches.
        """
        self.optimizer_d.zero_grad(set_to_none=True)
        totals = dict.fromkeys(("d_loss", "aux_loss", "gp"), torch.zeros((), device=self.device))
        generator = unwrap(self.generator)
        for micro in range(self.grad_accum):
            real = next_batch()
            with torch.no_grad(), self._autocast():
                fake = generator(self._latents(real.shape[0]))
            if with_penalty:
                real.requires_grad_(True)
            self.discriminator.require_backward_grad_sync = micro == self.grad_accum - 1  # DDP: sync on the last
            with self._autocast():
                real_out = self.discriminator(self._augment(real), aux=True)
                fake_out = self.discriminator(self._augment(fake), aux=False)
                hinge = discriminator_hinge_loss(real_out, fake_out)
                loss = hinge + self.loss.aux_weight * real_out.aux_loss
            penalty = gradient_penalty(real, real_out) if with_penalty else torch.zeros((), device=self.device)
            loss = loss + self.loss.gp_weight * penalty
            self.scaler.scale(loss / self.grad_accum).backward()
            for name, value in (("d_loss", hinge), ("aux_loss", real_out.aux_loss), ("gp", penalty)):
                totals[name] = totals[name] + value.detach().float() / self.grad_accum
        self.scaler.step(self.optimizer_d)
        return totals

    def update_generator(self) -> Tensor:
        """One optimiser step of G through the frozen D; returns the generator loss (a detached
        scalar, the mean over micro-batches), including the mode-seeking term when it is on."""
        self.optimizer_g.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        critic = unwrap(self.discriminator)
        with _frozen(critic):
            for micro in range(self.grad_accum):
                self.generator.require_backward_grad_sync = micro == self.grad_accum - 1  # DDP: sync on the last
                with self._autocast():
                    latents = self._latents(self.batch_size)
                    fake = self.generator(latents)
                    loss = generator_loss(critic(self._augment(fake), aux=False))
                    if self.loss.mode_seeking_weight > 0:
                        loss = loss + self.loss.mode_seeking_weight * mode_seeking_loss(latents, fake.float())
                self.scaler.scale(loss / self.grad_accum).backward()
                total += loss.detach().float() / self.grad_accum
        self.scaler.step(self.optimizer_g)
        return total

    def _augment(self, images: Tensor) -> Tensor:
        """What the discriminator sees: ``images`` after DiffAugment (unchanged when it is off)."""
        return augment(images, self.augment)

    def _latents(self, batch_size: int) -> Tensor:
        return torch.randn(batch_size, self.latent_dim, device=self.device)

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(
            device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
        )


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` do not require grad inside the block (restored afterwards)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(module.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
