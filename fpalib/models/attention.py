"""The discriminator's hybrid self-attention: global linear attention plus 3x3 local attention.

This is the attention of the lightweight-gan discriminator that the paper's authors trained
with (Irie & Schmidhuber, 2023, App. B.3), re-implemented from its description: on a feature
map (B, C, H, W) with N = H * W positions, ``heads`` heads of ``dim_head`` features each run

- a global linear attention (Shen et al., 2021): queries q_n soft-maxed over their features,
  keys soft-maxed over the N positions, values from a depth-wise 3x3 conv followed by a 1x1
  conv; out_n = (q_n / sqrt(dim_head)) sum_m k_m outer v_m, then GELU;
- a local attention: each position attends to the 3x3 window around it (zero-padded at the
  border, so a padded position has a zero key and value), scores q_n . k_m / sqrt(dim_head),
  soft-maxed over the 9 window positions.

The two results are concatenated (2 * heads * dim_head channels) and mapped back to C channels
by a 1x1 conv; the block is pre-norm and residual: ``x + out(attention(norm(x)))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fpalib.models.blocks import ChannelNorm


class HybridSelfAttention(nn.Module):
    """Residual pre-norm global-linear + local-window attention, (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, heads: int = 8, dim_head: int = 64, window: int = 3) -> None:
        super().__init__()
        self.heads, self.dim_head, self.window = heads, dim_head, window
        self.scale = dim_head**-0.5
        inner = heads * dim_head
        self.norm = ChannelNorm(channels)
        self.global_query = nn.Conv2d(channels, inner, 1, bias=False)
        self.global_key_value = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.Conv2d(channels, 2 * inner, 1, bias=False),
        )
        self.local_query = nn.Conv2d(channels, inner, 1, bias=False)
        self.local_key_value = nn.Conv2d(channels, 2 * inner, 1, bias=False)
        self.to_out = nn.Conv2d(2 * inner, channels, 1)

    def _heads(self, x: Tensor) -> Tensor:
        """(B, heads * dim_head, H, W) -> (B * heads, N, dim_head)."""
        batch, _, height, width = x.shape
        return x.reshape(batch * self.heads, self.dim_head, height * width).transpose(1, 2)

    def _global(self, x: Tensor) -> Tensor:
        """Global linear attention: (B, C, H, W) -> (B * heads, N, dim_head)."""
        queries = self._heads(self.global_query(x)).softmax(dim=-1) * self.scale
        keys, values = (self._heads(t) for t in self.global_key_value(x).chunk(2, dim=1))
        context = keys.softmax(dim=1).transpose(1, 2) @ values  # (B*heads, dim_head, dim_head)
        return F.gelu(queries @ context)

    def _local(self, x: Tensor) -> Tensor:
        """Attention within each window x window neighbourhood: (B, C, H, W) -> (B * heads, N, dim_head).

        One shifted copy of the zero-padded keys and values per window offset, so no
        (N, window^2, dim_head) tensor is formed.
        """
        batch, _, height, width = x.shape
        per_head = (batch * self.heads, self.dim_head, height, width)
        queries = self.local_query(x).reshape(per_head) * self.scale
        pad = self.window // 2
        keys, values = (F.pad(t.reshape(per_head), (pad, pad, pad, pad)) for t in self.local_key_value(x).chunk(2, dim=1))
        offsets = [(dy, dx) for dy in range(self.window) for dx in range(self.window)]
        scores = torch.stack(
            [(queries * keys[..., dy : dy + height, dx : dx + width]).sum(dim=1) for dy, dx in offsets], dim=1
        )  # (B*heads, window^2, H, W)
        scores = scores - scores.amax(dim=1, keepdim=True).detach()
        weights = scores.softmax(dim=1)
        out = sum(weights[:, j : j + 1] * values[..., dy : dy + height, dx : dx + width] for j, (dy, dx) in enumerate(offsets))
        return out.reshape(batch * self.heads, self.dim_head, height * width).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        normed = self.norm(x)
        parts = [self._global(normed), self._local(normed)]  # each (B*heads, N, d)
        maps = [p.transpose(1, 2).reshape(batch, self.heads * self.dim_head, height, width) for p in parts]
        return x + self.to_out(torch.cat(maps, dim=1))
