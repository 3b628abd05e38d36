"""``fpa paint``: show how a trained painter paints one image, step by step.

    fpa paint runs/emoji32 --seed 3 --out figures/steps.png [--gif figures/steps.gif] [--display paper]

The figure has two rows over the painting steps: the rank-one update of each step and the
image accumulated so far. ``--display output`` (default) shows the image after step t as the
painter would output it, tanh(W_t), so the last one is the sample exactly as ``fpa generate``
draws it, and the updates on one symmetric scale (0 = mid-grey); ``--display paper`` uses the
paper's normalisation of Fig. 5-7 (each picture divided by |W_T|, tanh, its own colour range),
see :mod:`fpalib.step_display`. The sample is
number ``--index`` of a batch drawn with ``--seed``. Needs an FPA or FPA/U-Net checkpoint; for
an FPA/U-Net the steps are its frozen painter's, and ``--unet-out PNG`` also draws the painted
image before and after the U-Net.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fpalib.commands import add_checkpoint_arguments
from fpalib.errors import FpaError
from fpalib.models import FPAWithUNet
from fpalib.models.latents import seeded_latents
from fpalib.step_display import DISPLAY_MODES, check_mode
from fpalib.train.checkpoint import checkpoint_config, generator_from_checkpoint, load_checkpoint
from fpalib.train.runtime import resolve_device
from fpalib.viz import before_after_figure, painting_steps_figure, save_painting_gif

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
    if args.index < 0 or args.every < 1:
        raise FpaError(f"--index must be 0 or more and --every at least 1; got {args.index} and {args.every}")
    check_mode(args.display)
    state = load_checkpoint(args.run)
    cfg = checkpoint_config(state)
    if cfg.generator not in ("fpa", "fpa-unet"):
        raise FpaError(f"paint needs an FPA checkpoint, this run trains {cfg.generator}")
    if args.unet_out is not None and cfg.generator != "fpa-unet":
        raise FpaError("--unet-out needs an FPA/U-Net checkpoint (fpa train --refine-from)")
    device = resolve_device(args.device)
    model = generator_from_checkpoint(state, ema=not args.raw, device=device)
    painter = model.painter if isinstance(model, FPAWithUNet) else model
    latents = seeded_latents(args.index + 1, painter.latent_dim, args.seed)
    with torch.no_grad():
        before, steps = painter(latents.to(device), return_steps=True)
        if args.unet_out is not None:
            pair = before[args.index : args.index + 1]
            args.unet_out.parent.mkdir(parents=True, exist_ok=True)
            before_after_figure(pair, model.unet(pair), pairs_per_row=1).savefig(args.unet_out, dpi=120)
            print(f"wrote the image before and after the U-Net to {args.unet_out}")
    steps = type(steps)(*(tensor.float().cpu() for tensor in steps))
    title = f"{cfg.name}, step {state['step']}, seed {args.seed}, sample {args.index}"
    display = {"mode": args.display, "out_tanh": cfg.model.out_tanh}
    figure = painting_steps_figure(steps, index=args.index, every=args.every, title=title, **display)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=120)
    print(f"wrote the painting steps to {args.out}")
    if args.gif is not None:
        save_painting_gif(steps, args.gif, index=args.index, **display)
        print(f"wrote the animation to {args.gif}")
    return 0
