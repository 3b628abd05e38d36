"""``fpa before-after``: images of an FPA/U-Net before and after its U-Net (the paper's Fig. 9).

    fpa before-after runs/emoji32-cpu-unet --out figures/unet_before_after.png [--num 12] [--seed 0]

Each pair shows the frozen painter's image (left) and the U-Net's refinement of it (right) for
the same latent (Irie & Schmidhuber, 2023, App. C.1, Fig. 9). The latents come from ``--seed``;
the U-Net's weight average is used unless ``--raw``. Needs an "fpa-unet" checkpoint
(``fpa train --refine-from``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor

from fpalib.commands import add_checkpoint_arguments
from fpalib.errors import FpaError
from fpalib.models import FPAWithUNet
from fpalib.models.latents import seeded_latents
from fpalib.train.checkpoint import load_generator
from fpalib.train.runtime import resolve_device
from fpalib.viz import before_after_figure

HELP = "pairs of FPA/U-Net images before and after the U-Net (PNG, paper Fig. 9 style)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="PNG", help="figure to write")
    parser.add_argument("--num", type=int, default=12, metavar="N", help="pairs to show (default: %(default)s)")
    parser.add_argument("--per-row", type=int, default=4, metavar="K", help="pairs per row (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (default: %(default)s)")


@torch.no_grad()
def before_and_after(model: FPAWithUNet, num: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(painter images, refined images), each (num, C, H, W) in [-1, 1] on the CPU, for seeded latents."""
    if not isinstance(model, FPAWithUNet):
        raise FpaError(f"before/after pairs need an FPA/U-Net ('fpa-unet') generator; got {type(model).__name__}")
    if num < 1:
        raise FpaError(f"the number of pairs must be at least 1; got {num}")
    device = next(model.parameters()).device
    latents = seeded_latents(num, model.latent_dim, seed)
    after, before = model(latents.to(device), return_before=True)
    return before.float().cpu(), after.float().cpu()


def write_before_after(
    run: str | Path, out: str | Path, *, num: int = 12, seed: int = 0, per_row: int = 4, ema: bool = True,
    device: str | torch.device | None = None, dpi: int = 100,
) -> Path:
    """Draw the before/after figure of the FPA/U-Net checkpoint ``run`` to ``out``; returns the path."""
    model, cfg = load_generator(run, ema=ema, device=resolve_device(device), require="fpa-unet")
    before, after = before_and_after(model, num, seed)
    figure = before_after_figure(before, after, pairs_per_row=per_row,
                                 title=f"{cfg.name}: painter (left) and U-Net refinement (right), seed {seed}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=dpi)
    return out


def run(args: argparse.Namespace) -> int:
    if args.per_row < 1:
        raise FpaError(f"--per-row must be at least 1; got {args.per_row}")
    path = write_before_after(args.run, args.out, num=args.num, seed=args.seed, per_row=args.per_row,
                              ema=not args.raw, device=args.device)
    print(f"wrote {args.num} before/after pairs to {path}")
    return 0
