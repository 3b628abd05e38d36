"""InputGenerator of the Fast Weight Painter (paper Sec. 3.1, Eq. 4).

Turns one latent vector z (B, d_latent) into the input sequence x_1..x_T (B, T, d) that the
LSTM reads. Two variants from the paper:

- v1 (:class:`RepeatedLatentInput`): x_t = z at every step, so d = d_latent and the painter
  can be rolled out for any number of steps.
- v2 (:class:`ProjectedLatentInput`): one linear map z -> T * d_in, optionally squashed by
  tanh, split into T vectors of size d_in, then one more linear layer d_in -> d'_in shared over
  the steps (the "extra linear layer between the input generator and the RNN" of App. B.2),
  so d = d'_in. The paper found v2 trains more stably on most datasets.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RepeatedLatentInput(nn.Module):
    """v1: (B, d_latent) -> (B, T, d_latent), the latent repeated at every step. No parameters."""

    def __init__(self, latent_dim: int, num_steps: int) -> None:
        super().__init__()
        self.num_steps = num_steps
        self.output_dim = latent_dim

    def forward(self, z: Tensor) -> Tensor:
        """z (B, d_latent) -> x (B, T, d_latent) (a broadcast view, no copy)."""
        return z.unsqueeze(1).expand(-1, self.num_steps, -1)


class ProjectedLatentInput(nn.Module):
    """v2: (B, d_latent) -> (B, T, d'_in) through z -> T*d_in [-> tanh] -> split -> d_in -> d'_in.

    The per-step layer d_in -> d'_in gets a Kaiming-normal weight (fan-in, ReLU gain sqrt(2))
    as in the authors' code; the other layer keeps PyTorch's default initialisation.
    """

    def __init__(
        self, latent_dim: int, num_steps: int, input_dim: int, proj_dim: int, use_tanh: bool
    ) -> None:
        super().__init__()
        self.num_steps = num_steps
        self.input_dim = input_dim
        self.output_dim = proj_dim
        self.use_tanh = use_tanh
        self.sequence = nn.Linear(latent_dim, num_steps * input_dim)
        self.per_step = nn.Linear(input_dim, proj_dim)
        nn.init.kaiming_normal_(self.per_step.weight)

    def forward(self, z: Tensor) -> Tensor:
        """z (B, d_latent) -> x (B, T, d'_in)."""
        inputs = self.sequence(z)  # (B, T * d_in)
        if self.use_tanh:
            inputs = torch.tanh(inputs)
        inputs = inputs.view(z.shape[0], self.num_steps, self.input_dim)  # (B, T, d_in)
        return self.per_step(inputs)  # (B, T, d'_in)


def build_input_generator(
    version: str, latent_dim: int, num_steps: int, input_dim: int, proj_dim: int, use_tanh: bool
) -> RepeatedLatentInput | ProjectedLatentInput:
    """Return the v1 or v2 input generator (``input_dim``, ``proj_dim``, ``use_tanh``: v2 only)."""
    if version == "v1":
        return RepeatedLatentInput(latent_dim, num_steps)
    return ProjectedLatentInput(latent_dim, num_steps, input_dim, proj_dim, use_tanh)
