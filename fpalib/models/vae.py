"""The painter as the decoder of a variational auto-encoder (Kingma & Welling, 2014); beyond the
paper, whose Sec. 3 names this alternative to the GAN but does not run it.

    x (B, C, H, W) in [-1, 1] --Encoder--> q(z|x) = N(mu, diag(sigma^2)),  mu, log sigma^2 (B, d_latent)
    z = mu + sigma * eps --decoder (any generator, e.g. the FastWeightPainter)--> m (B, C, H, W) in [-1, 1]
    p(x|z) = prod over pixels of DiscretizedLogistic(x; m, s),  s = exp(log_scale) (C, H, W), learned

The likelihood: pixels are 8-bit values, so p(x|z) is a probability mass over the 256 levels of
every pixel: the mass of a logistic distribution centred on the painted value m in the bin of
width 2/255 around x, with the two end bins taking the tails (Salimans et al., 2017, PixelCNN++,
Sec. 2.1, with one component). Unlike a Bernoulli cross-entropy on grey values it is a proper
likelihood of the data, so -ELBO is an upper bound on -log p(x) in nats (divide by
H*W*C*ln 2 for bits per dimension), comparable across decoders. The painted image m is the
centre (location) of the logistic, which sample grids and the step display show: within a bin of
the median of p(x|z), and its mean away from -1 and 1, where the end bins pull the mean inwards.

- ``elbo_terms(x)``: per image, -log p(x|z) for one z ~ q(z|x) and KL(q(z|x) || N(0, I)) (closed form).
- ``importance_weighted_bound(x, k)``: log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x)
  (Burda et al., 2016, Eq. 8); tighter than the ELBO, equal to it at k = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from jsonargparse.typing import NonNegativeInt, PositiveInt, restricted_number_type
from torch import Tensor, nn

from fpalib.errors import Checked, FpaError

LogScale = restricted_number_type("LogScale", float, [(">=", -7), ("<=", 2)])
"""The initial log s of the likelihood: in [-7, 2]."""

HALF_BIN = 1.0 / 255.0  # half the width of one of the 256 levels of [-1, 1]


@dataclass
class VAEConfig(Checked):
    """The encoder and the objective of a ``--objective vae`` run (section ``vae``).

    Attributes:
        encoder_width: channels of the encoder's first convolution (the second has twice as many).
        kl_warmup_steps: the KL term's weight rises linearly from 0 to 1 over these steps (0: 1 from the start).
        init_log_scale: initial log s of every pixel's logistic.
        eval_images: test images whose ELBO is measured at every evaluation (0: all).
    """

    encoder_width: PositiveInt = 32
    kl_warmup_steps: NonNegativeInt = 1_000
    init_log_scale: LogScale = -2.0
    eval_images: NonNegativeInt = 2_000

    def kl_weight(self, step: int) -> float:
        """The KL term's weight at (0-based) training step ``step``."""
        return 1.0 if self.kl_warmup_steps == 0 else min(1.0, (step + 1) / self.kl_warmup_steps)


class Encoder(nn.Module):
    """q(z|x): x (B, C, H, W) -> mu, log sigma^2 (each (B, d_latent)).

    Two 4x4 convolutions of stride 2 (H -> H/2 -> H/4, rounded up), SiLU, then one linear layer.
    """

    def __init__(self, channels: int, image_size: int, latent_dim: int, width: int = 32) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.SiLU(), nn.Flatten(),
        )
        side = image_size // 4
        self.to_posterior = nn.Linear(2 * width * side * side, 2 * latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_var = self.to_posterior(self.convs(x)).chunk(2, dim=-1)
        return mu, log_var.clamp(-12.0, 8.0)


def discretized_logistic_log_prob(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log P(x) per pixel (same shape as x) of 8-bit values x in [-1, 1] under a logistic of
    ``mean`` and ``log_scale`` discretised into 256 bins; the two end bins hold the tails."""
    centred = x - mean
    inv_scale = torch.exp(-log_scale)
    upper = inv_scale * (centred + HALF_BIN)
    lower = inv_scale * (centred - HALF_BIN)
    log_cdf_upper = F.logsigmoid(upper)  # the bin of x = -1 takes (-inf, upper]
    log_survival_lower = F.logsigmoid(-lower)  # the bin of x = 1 takes [lower, inf)
    # sigmoid(upper) - sigmoid(lower) = sigmoid(-lower) - sigmoid(-upper): take the form whose terms are
    # small (the tail x lies in), then log(s_a - s_b) = log s_a + log(1 - s_b / s_a) loses no digits
    reflect = centred > 0
    a, b = torch.where(reflect, -lower, upper), torch.where(reflect, -upper, lower)
    log_a = F.logsigmoid(a)
    inner = log_a + torch.log(-torch.expm1(F.logsigmoid(b) - log_a))
    return torch.where(x < -1 + HALF_BIN, log_cdf_upper, torch.where(x > 1 - HALF_BIN, log_survival_lower, inner))


def discretized_logistic_log_prob_reference(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """The plain form of :func:`discretized_logistic_log_prob`: log(F(x + 1/255) - F(x - 1/255)) with
    the logistic CDF F, the end bins reaching to -inf and +inf (exact in float64 for moderate scales)."""
    scale = torch.exp(log_scale)
    upper = torch.where(x > 1 - HALF_BIN, torch.ones_like(x), torch.sigmoid((x + HALF_BIN - mean) / scale))
    lower = torch.where(x < -1 + HALF_BIN, torch.zeros_like(x), torch.sigmoid((x - HALF_BIN - mean) / scale))
    return torch.log(upper - lower)


class DiscretizedLogistic(nn.Module):
    """p(x|z) with the decoder's image as the mean and a learned log-scale per pixel (C, H, W)."""

    def __init__(self, shape: tuple[int, int, int], init_log_scale: float = -2.0) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.full(shape, float(init_log_scale)))

    def log_prob(self, x: Tensor, mean: Tensor) -> Tensor:
        """log p(x|z) per image (B,), summed over pixels; x and mean (B, C, H, W)."""
        log_scale = self.log_scale.clamp(-7.0, 2.0)
        return discretized_logistic_log_prob(x, mean, log_scale).flatten(1).sum(-1)


class ElboTerms(NamedTuple):
    """Per image (B,): the reconstruction term -log p(x|z) and KL(q(z|x) || p(z)), in nats."""

    nll: Tensor
    kl: Tensor


class VAE(nn.Module):
    """Encoder, decoder and likelihood together; ``decoder`` maps latents to images in [-1, 1]."""

    def __init__(self, decoder: nn.Module, shape: tuple[int, int, int], cfg: VAEConfig) -> None:
        super().__init__()
        channels, height, width = shape
        if height != width:
            raise FpaError(f"the VAE's encoder needs square images; got {height}x{width}")
        self.decoder = decoder
        self.encoder = Encoder(channels, height, decoder.latent_dim, cfg.encoder_width)
        self.likelihood = DiscretizedLogistic(shape, cfg.init_log_scale)
        self.num_dims = channels * height * width

    def forward(self, x: Tensor) -> ElboTerms:
        """:meth:`elbo_terms`: the call through which DistributedDataParallel all-reduces the gradients."""
        return self.elbo_terms(x)

    def elbo_terms(self, x: Tensor) -> ElboTerms:
        """x (B, C, H, W) in [-1, 1] -> ElboTerms, each (B,); one reparameterised z per image."""
        mu, log_var = self.encoder(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        nll = -self.likelihood.log_prob(x, self.decoder(z).float())
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)  # KL(N(mu, sigma^2) || N(0, I))
        return ElboTerms(nll, kl)

    def reconstruct(self, x: Tensor) -> Tensor:
        """The decoder's image for the posterior mean of each x: (B, C, H, W)."""
        return self.decoder(self.encoder(x)[0])

    def importance_weighted_bound(self, x: Tensor, num_samples: int) -> Tensor:
        """log p(x) >= log mean_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x), i = 1..num_samples; (B,) nats."""
        mu, log_var = self.encoder(x)
        std = torch.exp(0.5 * log_var)
        log_weights = []
        for _ in range(num_samples):
            eps = torch.randn_like(mu)
            z = mu + std * eps
            log_q = (-0.5 * eps.pow(2) - 0.5 * log_var - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_prior = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_weights.append(self.likelihood.log_prob(x, self.decoder(z).float()) + log_prior - log_q)
        return torch.logsumexp(torch.stack(log_weights), dim=0) - math.log(num_samples)


def bits_per_dim(nats: float, num_dims: int) -> float:
    """A negative log-likelihood per image in nats as bits per pixel and channel."""
    return nats / (num_dims * math.log(2.0))
