"""``fpa interpolate``: images along a path between two latents.

    fpa interpolate runs/emoji32 --seed-a 0 --seed-b 1 --frames 8 --out figures/walk.png [--gif walk.gif]

The two end latents are drawn with ``--seed-a`` and ``--seed-b``; the path between them is
spherical (slerp, the default: it keeps the norm typical of Gaussian latents) or linear
(:func:`fpalib.sampling.interpolate_latents`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpalib.commands import add_checkpoint_arguments
from fpalib.errors import FpaError
from fpalib.sampling import INTERPOLATIONS, write_interpolation

HELP = "interpolate between two latents (grid PNG, optional GIF)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="PNG", help="grid of the frames (one row)")
    parser.add_argument("--gif", type=Path, metavar="GIF", help="also write the frames as an animated GIF")
    parser.add_argument("--seed-a", type=int, default=0, help="seed of the first latent (default: %(default)s)")
    parser.add_argument("--seed-b", type=int, default=1, help="seed of the last latent (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=8, metavar="N", help="images on the path (default: 8)")
    parser.add_argument("--method", choices=INTERPOLATIONS, default="slerp", help="path shape (default: slerp)")


def run(args: argparse.Namespace) -> int:
    if args.frames < 2:
        raise FpaError(f"--frames must be at least 2; got {args.frames}")
    write_interpolation(args.run, args.out, gif=args.gif, seed_a=args.seed_a, seed_b=args.seed_b,
                        frames=args.frames, method=args.method, ema=not args.raw, device=args.device)
    print(f"wrote {args.frames} interpolated images to {args.out}")
    if args.gif is not None:
        print(f"wrote the animation to {args.gif}")
    return 0
