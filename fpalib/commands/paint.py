"""``fpa paint``: show how a trained painter paints one image, step by step.

    fpa paint runs/emoji32 --seed 3 --out figures/steps.png [--gif figures/steps.gif] [--display paper]

The figure has two rows over the painting steps: the rank-one update of each step and the
image accumulated so far. ``--display output`` (default) shows the image after step t as the
painter would output it, tanh(W_t), so the last one is the sample exactly as ``fpa generate``
draws it, and the updates on one symmetric scale (0 = mid-grey); ``--display paper`` uses the
paper's normalisation of Fig. 5-7 (each picture divided by |W_T|, tanh, its own colour range),
see :mod:`fpalib.viz.step_display`. The sample is
number ``--index`` of a batch drawn with ``--seed``. Needs an FPA or FPA/U-Net checkpoint; for
an FPA/U-Net the steps are its frozen painter's, and ``--unet-out PNG`` also draws the painted
image before and after the U-Net (:func:`fpalib.sampling.write_painting`).
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
