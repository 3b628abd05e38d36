"""``fpa generate``: sample images from a trained generator.

    fpa generate runs/emoji32 --num 64 --out figures/samples.png      one grid image
    fpa generate runs/emoji32 --num 5000 --out samples/              a folder of PNGs

An ``--out`` ending in .png/.jpg (or ``--grid``) gets one grid; any other path becomes a
folder of ``000000.png, 000001.png, ...``. Latents come from ``--seed``, so the same seed
gives the same images. The EMA generator is used unless ``--raw``. For an FPA/U-Net checkpoint
(``fpa train --refine-from``) ``--before-unet`` samples its frozen painter, i.e. the images
before the U-Net (``fpa before-after`` shows both side by side).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torchvision.utils import save_image

from fpalib.commands import add_checkpoint_arguments
from fpalib.errors import FpaError
from fpalib.models import FPAWithUNet
from fpalib.models.latents import seeded_latents
from fpalib.train.checkpoint import load_generator
from fpalib.train.runtime import resolve_device
from fpalib.viz import save_grid, to_unit

HELP = "sample images from a trained generator (a grid or a folder of PNGs)"

GRID_SUFFIXES = (".png", ".jpg", ".jpeg")


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
    as_grid = args.grid or args.out.suffix.lower() in GRID_SUFFIXES
    if as_grid and args.out.suffix.lower() not in GRID_SUFFIXES:
        raise FpaError(f"--grid needs an image file name ending in .png or .jpg; got {args.out}")
    device = resolve_device(args.device)
    generator, _ = load_generator(args.run, ema=not args.raw, device=device)
    if args.before_unet:
        if not isinstance(generator, FPAWithUNet):
            raise FpaError(f"--before-unet needs an FPA/U-Net checkpoint (fpa train --refine-from); {args.run} is not")
        generator = generator.painter
    latents = seeded_latents(args.num, generator.latent_dim, args.seed)
    if as_grid:
        images = torch.cat([_generate(generator, chunk, device) for chunk in latents.split(args.batch_size)])
        save_grid(images, args.out, nrow=args.nrow or math.ceil(math.sqrt(args.num)))
        print(f"wrote a grid of {args.num} images to {args.out}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for start in range(0, args.num, args.batch_size):
        images = to_unit(_generate(generator, latents[start : start + args.batch_size], device))
        for offset, image in enumerate(images):
            save_image(image, args.out / f"{start + offset:06d}.png")
    print(f"wrote {args.num} images to {args.out}/")
    return 0


@torch.no_grad()
def _generate(generator: torch.nn.Module, latents: torch.Tensor, device: torch.device) -> torch.Tensor:
    """latents (N, latent_dim) -> images (N, C, H, W) in [-1, 1] on the CPU."""
    return generator(latents.to(device)).float().cpu()
