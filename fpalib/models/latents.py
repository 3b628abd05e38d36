"""Latent sampling shared by every generator, and the seeded latents every command and figure uses."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LatentSampler(nn.Module):
    """Base class of generators with a ``latent_dim`` attribute: adds :meth:`sample_latents`."""

    latent_dim: int

    def sample_latents(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """n standard-normal latents (n, d_latent), on ``device`` (default: the model's device)."""
        if device is None:
            device = next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator, device=device)


def seeded_latents(count: int, latent_dim: int, seed: int) -> Tensor:
    """``count`` standard-normal latents (count, d_latent) on the CPU, the same for the same seed
    on every machine (a fresh CPU generator seeded with ``seed``): the latents of the sample grids,
    painting steps, interpolations and before/after pairs."""
    return torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(seed))
