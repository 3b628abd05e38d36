"""``fpa generate``: sample images from a trained generator.

    fpa generate runs/emoji32 --num 64 --out figures/samples.png      one grid image
    fpa generate runs/emoji32 --num 5000 --out samples/              a folder of PNGs

An ``--out`` ending in .png/.jpg (or ``--grid``) gets one grid; any other path becomes a folder
of ``000000.png, 000001.png, ...``. The same ``--seed`` gives the same images. For an FPA/U-Net
``--before-unet`` samples its frozen painter.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpalib.commands import add_checkpoint_arguments
from fpalib.errors import FpaError
from fpalib.sampling import write_samples

HELP = "sample images from a trained generator (a grid or a folder of PNGs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="PATH", help="grid image or folder to write")
    parser.add_argument("--num", type=int, default=64, metavar="N", help="images to sample (default: %(default)s)")
    parser.add_argument("--grid", action="store_true", help="write one grid image (default when PATH is .png/.jpg)")
    parser.add_argument("--nrow", type=int, metavar="N", help="images per grid row (default: about sqrt(num))")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=256, metavar="B", help="latents per forward pass")
    parser.add_argument("--before-unet", action="store_true", help="FPA/U-Net: the painter's images, before the U-Net")


def run(args: argparse.Namespace) -> int:
    if args.num < 1 or args.batch_size < 1:
        raise FpaError(f"--num and --batch-size must be at least 1; got {args.num} and {args.batch_size}")
    out = write_samples(args.run, args.out, num=args.num, seed=args.seed, grid=args.grid, nrow=args.nrow,
                        batch_size=args.batch_size, before_unet=args.before_unet, ema=not args.raw, device=args.device)
    print(f"wrote a grid of {args.num} images to {out}" if out.is_file() else f"wrote {args.num} images to {out}/")
    return 0
