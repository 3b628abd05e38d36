"""``fpa paint``: show how a trained painter paints one image, step by step.

    fpa paint runs/emoji32 --seed 3 --out figures/steps.png [--gif figures/steps.gif] [--display paper]

Two rows over the painting steps: the rank-one update of each step and the image so far, either
as the painter outputs it after step t (``--display output``, the default: the last picture is
the sample ``fpa generate`` draws) or normalised as in the paper's Fig. 5-7 (``--display paper``,
:mod:`fpalib.viz.step_display`). The sample is number ``--index`` of a batch drawn with ``--seed``.
For an FPA/U-Net the steps are its frozen painter's; ``--unet-out PNG`` adds the image before and
after the U-Net.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpalib.commands import add_checkpoint_arguments
from fpalib.sampling import write_painting
from fpalib.viz.step_display import DISPLAY_MODES

HELP = "draw a painter's steps: each rank-one update and the image so far (PNG, optional GIF)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="PNG", help="figure of the painting steps")
    parser.add_argument("--gif", type=Path, metavar="GIF", help="also write an animated GIF of the steps")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (default: %(default)s)")
    parser.add_argument("--index", type=int, default=0, help="which sample of the seeded batch (default: 0)")
    parser.add_argument("--every", type=int, default=1, metavar="K", help="show every K-th step (default: 1)")
    parser.add_argument("--display", default="output", metavar="|".join(DISPLAY_MODES),
                        help="output: the image as the painter outputs it after each step (default); "
                             "paper: the paper's per-picture normalisation")
    parser.add_argument("--unet-out", type=Path, metavar="PNG", help="FPA/U-Net: the image before and after the U-Net")


def run(args: argparse.Namespace) -> int:
    write_painting(args.run, args.out, gif=args.gif, unet_out=args.unet_out, seed=args.seed, index=args.index,
                   every=args.every, display=args.display, ema=not args.raw, device=args.device)
    if args.unet_out is not None:
        print(f"wrote the image before and after the U-Net to {args.unet_out}")
    print(f"wrote the painting steps to {args.out}")
    if args.gif is not None:
        print(f"wrote the animation to {args.gif}")
    return 0
