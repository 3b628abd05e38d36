"""One VAE optimisation step, and the test-set bounds of a trained VAE (:mod:`fpalib.models.vae`).

Loss per image, in nats, at training step t (0-based):

    -log p(x|z) + kl_weight(t) * KL(q(z|x) || N(0, I)),   z ~ q(z|x) (one reparameterised sample)

with kl_weight rising linearly to 1 over ``vae.kl_warmup_steps`` (at weight 1 it is -ELBO). One
Adam optimiser updates encoder, decoder and the likelihood's scales together; gradients are summed
over ``grad_accum`` micro-batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from fpalib.models.vae import VAE, VAEConfig, bits_per_dim
from fpalib.train.runtime import eval_mode

VAE_LOSS_NAMES = ("loss", "nll", "kl")
"""Order of the values in the tensor returned by :meth:`VaeStep.run` (nats per image)."""


@dataclass(eq=False)
class VaeStep:
    """Updates a :class:`~fpalib.models.vae.VAE` (or a DDP wrapper of one) once per :meth:`run`."""

    vae: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    cfg: VAEConfig
    _: KW_ONLY
    grad_accum: int = 1
    amp_dtype: torch.dtype | None = None
    penalised: bool = field(default=False, init=False)  # no gradient penalty in a VAE

    def run(self, next_batch: Callable[[], Tensor], step: int) -> Tensor:
        """One update at step index ``step``; returns (loss, nll, kl) means over micro-batches, detached (3,)."""
        self.optimizer.zero_grad(set_to_none=True)
        weight = self.cfg.kl_weight(step)
        totals = torch.zeros(3)
        for micro in range(self.grad_accum):
            x = next_batch()
            self.vae.require_backward_grad_sync = micro == self.grad_accum - 1  # DDP: sync on the last
            with self._autocast(x.device):
                nll, kl = self.vae(x)  # through DDP's forward, which arms its gradient all-reduce
                nll, kl = nll.mean(), kl.mean()
                loss = nll + weight * kl
                self.scaler.scale(loss / self.grad_accum).backward()
            totals += torch.stack([loss, nll, kl]).detach().float().cpu() / self.grad_accum
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return totals

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)


@torch.no_grad()
def test_bounds(vae: VAE, dataset: Dataset, *, limit: int | None = None, iw_samples: int = 0,
                iw_limit: int | None = None, batch_size: int = 250, seed: int = 0) -> dict[str, float]:
    """Bounds on the test set's negative log-likelihood, mean nats per image and bits per dimension.

    ``test_nelbo``: -ELBO (one z per image) of the first ``limit`` images (None: all), with its
    parts ``test_nll`` (-log p(x|z)) and ``test_kl``, and ``recon_mse``, the mean squared error of
    :meth:`~fpalib.models.vae.VAE.reconstruct` with pixels in [0, 1]; with ``iw_samples`` k > 0 also ``test_iw_nll``,
    the importance-weighted bound with k samples on the first ``iw_limit`` images. Each ``*_bpd``
    is the value in bits per dimension. The encoder's noise is drawn from torch's generator seeded
    with ``seed`` (restored afterwards).
    """
    device = next(vae.parameters()).device
    results: dict[str, float] = {}
    with eval_mode(vae), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        terms, squared_errors = [], []
        for x in _batches(dataset, limit, batch_size):
            x = x.to(device)
            terms.append(vae.elbo_terms(x))
            squared_errors.append(((vae.reconstruct(x) - x) / 2).double().pow(2).flatten(1).mean(1))
        nll, kl = (torch.cat([t[i] for t in terms]).double().mean().item() for i in range(2))
        results.update(test_nelbo=nll + kl, test_nll=nll, test_kl=kl,
                       recon_mse=torch.cat(squared_errors).mean().item())
        if iw_samples:
            bound = [vae.importance_weighted_bound(x.to(device), iw_samples)
                     for x in _batches(dataset, iw_limit, batch_size)]
            results["test_iw_nll"] = -torch.cat(bound).double().mean().item()
            results["iw_samples"] = iw_samples
    for name in ("test_nelbo", "test_iw_nll"):
        if name in results:
            results[f"{name}_bpd"] = bits_per_dim(results[name], vae.num_dims)
    return results


def _batches(dataset: Dataset, limit: int | None, batch_size: int) -> DataLoader:
    if limit is not None and limit < len(dataset):
        dataset = Subset(dataset, range(limit))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False)
