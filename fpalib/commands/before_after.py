"""``fpa before-after``: images of an FPA/U-Net before and after its U-Net (the paper's Fig. 9).

    fpa before-after runs/emoji32-cpu-unet --out figures/unet_before_after.png [--num 12] [--seed 0]

Each pair shows the frozen painter's image (left) and the U-Net's refinement of it (right) for
the same latent (Irie & Schmidhuber, 2023, App. C.1, Fig. 9); needs an "fpa-unet" checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpalib.commands import add_checkpoint_arguments
from fpalib.sampling import write_before_after

HELP = "pairs of FPA/U-Net images before and after the U-Net (PNG, paper Fig. 9 style)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="PNG", help="figure to write")
    parser.add_argument("--num", type=int, default=12, metavar="N", help="pairs to show (default: %(default)s)")
    parser.add_argument("--per-row", type=int, default=4, metavar="K", help="pairs per row (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    path = write_before_after(args.run, args.out, num=args.num, seed=args.seed, per_row=args.per_row,
                              ema=not args.raw, device=args.device)
    print(f"wrote {args.num} before/after pairs to {path}")
    return 0
