"""``fpa interpolate``: images along a path between two latents.

    fpa interpolate runs/emoji32 --seed-a 0 --seed-b 1 --frames 8 --out figures/walk.png [--gif walk.gif]

The two end latents are drawn with ``--seed-a`` and ``--seed-b``; the path between them is
spherical (slerp, the default: it keeps the norm typical of Gaussian latents) or linear.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from fpalib.commands import add_checkpoint_arguments
from fpalib.errors import FpaError
from fpalib.models.latents import seeded_latents
from fpalib.train.checkpoint import load_generator
from fpalib.train.runtime import resolve_device
from fpalib.viz import save_grid, to_uint8, to_unit, write_gif

HELP = "interpolate between two latents (grid PNG, optional GIF)"

METHODS = ("slerp", "linear")
GIF_MIN_SIDE = 128
"""GIF frames are enlarged (nearest neighbour) to at least this many pixels."""


def interpolate_latents(start: Tensor, end: Tensor, frames: int, method: str = "slerp") -> Tensor:
    """``frames`` latents (frames, d) from ``start`` (d,) to ``end`` (d,), both included.

    slerp: ``sin((1-t) w) / sin(w) * start + sin(t w) / sin(w) * end`` with w the angle
    between them (linear when they are parallel); linear: ``(1-t) * start + t * end``.
    """
    if method not in METHODS:
        raise FpaError(f"unknown interpolation {method!r}; choose one of {', '.join(METHODS)}")
    t = torch.linspace(0.0, 1.0, frames, dtype=start.dtype)[:, None]
    cosine = torch.dot(start, end) / (start.norm() * end.norm()).clamp_min(1e-12)
    angle = torch.arccos(cosine.clamp(-1.0, 1.0))
    if method == "linear" or torch.sin(angle) < 1e-6:
        return (1 - t) * start + t * end
    return (torch.sin((1 - t) * angle) * start + torch.sin(t * angle) * end) / torch.sin(angle)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="PNG", help="grid of the frames (one row)")
    parser.add_argument("--gif", type=Path, metavar="GIF", help="also write the frames as an animated GIF")
    parser.add_argument("--seed-a", type=int, default=0, help="seed of the first latent (default: %(default)s)")
    parser.add_argument("--seed-b", type=int, default=1, help="seed of the last latent (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=8, metavar="N", help="images on the path (default: 8)")
    parser.add_argument("--method", choices=METHODS, default="slerp", help="path shape (default: slerp)")


def run(args: argparse.Namespace) -> int:
    if args.frames < 2:
        raise FpaError(f"--frames must be at least 2; got {args.frames}")
    device = resolve_device(args.device)
    generator, _ = load_generator(args.run, ema=not args.raw, device=device)
    start, end = (
        seeded_latents(1, generator.latent_dim, seed)[0]
        for seed in (args.seed_a, args.seed_b)
    )
    latents = interpolate_latents(start, end, args.frames, args.method)
    with torch.no_grad():
        images = generator(latents.to(device)).float().cpu()
    save_grid(images, args.out, nrow=args.frames)
    print(f"wrote {args.frames} interpolated images to {args.out}")
    if args.gif is not None:
        _save_gif(images, args.gif)
        print(f"wrote the animation to {args.gif}")
    return 0


def _save_gif(images: Tensor, path: Path, duration_ms: int = 150) -> None:
    """Frames (N, C, H, W) in [-1, 1] as a looping GIF that goes there and back."""
    pixels = to_uint8(to_unit(images)).permute(0, 2, 3, 1).numpy()
    scale = max(1, -(-GIF_MIN_SIDE // images.shape[-1]))
    frames = [
        Image.fromarray(frame.squeeze(-1) if frame.shape[-1] == 1 else frame).resize(
            (frame.shape[1] * scale, frame.shape[0] * scale), Image.Resampling.NEAREST
        )
        for frame in pixels
    ]
    write_gif(frames + frames[-2:0:-1], path, duration_ms)
