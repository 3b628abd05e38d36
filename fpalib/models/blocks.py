"""Convolutional building blocks of the LightGAN discriminator.

Shapes use B = batch, C = channels, H = W = spatial size (square maps).

- :func:`resize_images`: (B, C, H, H) -> (B, C, size, size); area averaging to
  shrink, bilinear interpolation to enlarge.
- :class:`Blur`: a fixed 3x3 binomial low-pass filter, (B, C, H, W) -> same shape.
- :class:`DownBlock`: the residual down-sampling block, (B, C_in, H, W) ->
  (B, C_out, H/2, W/2).
- :class:`LinearSelfAttention`: residual global self-attention whose cost is
  linear in the number of positions, (B, C, H, W) -> same shape.
- :class:`ReconstructionDecoder`: the up-sampling decoder of the auxiliary reconstruction
  loss, (B, C, h, h) -> (B, C_out, h * 2**n, same).

Every activation is LeakyReLU with slope 0.1 (Irie & Schmidhuber, 2023,
App. B.3, following the lightweight-gan implementation of Liu et al., 2021).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEAKY_SLOPE = 0.1

MIN_DECODER_CHANNELS = 8
"""Narrowest hidden width of a reconstruction decoder."""


RESIZE_MODES = ("area", "nearest")


def resize_images(images: Tensor, size: int, mode: str = "area") -> Tensor:
    """Resize square images (B, C, H, H) to (B, C, size, size).

    ``mode="area"``: shrinking averages whole input pixels (exact 2x2/4x4... means for
    powers of two), enlarging interpolates bilinearly. ``mode="nearest"``: nearest-neighbour
    both ways (what the authors' code does, ``F.interpolate``'s default). The same size
    returns the input unchanged.
    """
    current = images.shape[-1]
    if size == current:
        return images
    if mode == "nearest":
        return F.interpolate(images, size=(size, size), mode="nearest")
    if size < current:
        return F.interpolate(images, size=(size, size), mode="area")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


class Blur(nn.Module):
    """Depth-wise 3x3 binomial blur ([1, 2, 1] outer [1, 2, 1] / 16), reflect padding.

    Used before every down-sampling to reduce aliasing. (B, C, H, W) -> (B, C, H, W);
    H and W must be at least 2.
    """

    def __init__(self) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16.0
        self.register_buffer("kernel", kernel[None, None], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        # A copy: DistributedDataParallel (torch 2.11) re-broadcasts buffers in place at every
        # forward, which would invalidate a view of the buffer saved for an earlier backward.
        weight = self.kernel.to(dtype=x.dtype, copy=True).expand(channels, 1, 3, 3)
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(padded, weight, groups=channels)


def maybe_blur(blur: bool) -> nn.Module:
    """A :class:`Blur`, or an identity when ``blur`` is False (same state-dict keys either way)."""
    return Blur() if blur else nn.Identity()


class DownBlock(nn.Module):
    """Residual down-sampling block: the sum of two branches.

    - main: blur -> 4x4 conv stride 2 -> LeakyReLU -> 3x3 conv -> LeakyReLU;
    - shortcut: blur -> 2x2 average pool -> 1x1 conv -> LeakyReLU.

    ``blur=False`` leaves the blurs out (the authors' runs: their ``antialias`` flag is off).
    (B, in_channels, H, W) -> (B, out_channels, H/2, W/2), H and W even.
    """

    def __init__(self, in_channels: int, out_channels: int, blur: bool = True) -> None:
        super().__init__()
        self.main = nn.Sequential(
            maybe_blur(blur),
            nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(LEAKY_SLOPE),
        )
        self.shortcut = nn.Sequential(
            maybe_blur(blur),
            nn.AvgPool2d(2),
            nn.Conv2d(in_channels, out_channels, 1),
            nn.LeakyReLU(LEAKY_SLOPE),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x) + self.shortcut(x)


class ChannelNorm(nn.Module):
    """Layer norm over the channel dimension at every position, (B, C, H, W) -> same.

    Per-sample and per-position, so it couples no two images of a batch (the
    gradient penalty stays a per-image quantity).
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        wide = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # at least float32 statistics
        mean = wide.mean(dim=1, keepdim=True)
        var = wide.var(dim=1, unbiased=False, keepdim=True)
        normalised = ((wide - mean) * torch.rsqrt(var + self.eps)).to(x.dtype)
        return normalised * self.gain + self.bias


class LinearSelfAttention(nn.Module):
    """Residual pre-norm self-attention over all positions at linear cost.

    Queries are soft-maxed over their feature dimension and keys over the
    positions, so the (dim_head x dim_head) context ``K^T V`` replaces the
    (N x N) attention matrix (Shen et al., 2021, "Efficient Attention").

    (B, channels, H, W) -> (B, channels, H, W): ``x + out(attention(norm(x)))``.
    """

    def __init__(self, channels: int, heads: int = 4, dim_head: int = 16) -> None:
        super().__init__()
        self.heads = heads
        self.dim_head = dim_head
        inner = heads * dim_head
        self.norm = ChannelNorm(channels)
        self.to_qkv = nn.Conv2d(channels, 3 * inner, 1, bias=False)
        self.to_out = nn.Conv2d(inner, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        qkv = self.to_qkv(self.norm(x)).reshape(batch, 3, self.heads, self.dim_head, height * width)
        queries, keys, values = qkv.unbind(dim=1)  # each (B, heads, dim_head, N)
        queries = queries.softmax(dim=2)
        keys = keys.softmax(dim=3)
        context = torch.einsum("bhdn,bhen->bhde", keys, values)  # (B, heads, d_key, d_value)
        attended = torch.einsum("bhde,bhdn->bhen", context, queries)  # (B, heads, d_value, N)
        attended = attended.reshape(batch, self.heads * self.dim_head, height, width)
        return x + self.to_out(attended)


class ReconstructionDecoder(nn.Module):
    """Up-sampling decoder: (B, in_channels, h, h) -> (B, out_channels, h * 2**num_upsamples, same).

    Each stage: nearest up-sampling x2 -> 3x3 conv -> GLU (which halves the
    conv's output channels). Hidden widths halve per stage, never below
    ``MIN_DECODER_CHANNELS``; the last stage emits ``out_channels``. The output
    is unbounded (no tanh), as the target images lie in [-1, 1] anyway.
    """

    def __init__(self, in_channels: int, out_channels: int, num_upsamples: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for stage in range(num_upsamples):
            is_last = stage == num_upsamples - 1
            next_width = out_channels if is_last else max(width // 2, MIN_DECODER_CHANNELS)
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(width, 2 * next_width, 3, padding=1),
                nn.GLU(dim=1),
            ]
            width = next_width
        self.layers = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)
