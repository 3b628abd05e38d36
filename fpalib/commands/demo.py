"""``fpa demo``: the end-to-end demonstration behind ``make demo``.

By default it paints with the shipped delta-rule painter (``data/pretrained/
fpa-delta-emoji32.pt``, no training, seconds on a CPU) and writes into ``figures/``:

    demo_samples.png           a grid of samples
    demo_painting_steps.png    the paper's two-row figure: rank-one updates and the image so far
    demo_painting.gif          the same steps as an animation
    demo_before_after.png      painter | painter + U-Net pairs (paper Fig. 9 style), from the
                               shipped U-Net refinement of that painter (``--refined``)

``--train-minutes M`` instead trains the ``emoji32-cpu`` painter for M minutes in ``--out``
(resuming that run folder on every call) and paints with the result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpalib import cli
from fpalib.errors import FpaError
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.trainer import Trainer

HELP = "paint sample and painting-step figures with the shipped emoji painter (or train one first)"

SHIPPED = Path("data/pretrained/fpa-delta-emoji32.pt")
SHIPPED_REFINED = Path("data/pretrained/fpa-delta-emoji32-unet.pt")
PAINTED_INDEX = 7
"""The sample of the seed-0 grid (row 1, column 8) whose painting steps the demo draws."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", type=Path, default=SHIPPED, help="painter to use (default: %(default)s)")
    parser.add_argument("--refined", type=Path, default=SHIPPED_REFINED,
                        help="painter + U-Net for the before/after figure (default: %(default)s; skipped if absent)")
    parser.add_argument("--figures", type=Path, default=Path("figures"), help="where figures go (default: %(default)s)")
    parser.add_argument("--train-minutes", type=float, metavar="M", help="train emoji32-cpu for M minutes first")
    parser.add_argument("--data", default="data/emoji", help="images for --train-minutes (default: %(default)s)")
    parser.add_argument("--out", default="runs/demo", help="run folder for --train-minutes (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (default: %(default)s)")
    parser.add_argument("--index", type=int, default=PAINTED_INDEX,
                        help="which sample of the grid to paint step by step (default: %(default)s, a smiley "
                             "with the shipped painter and seed 0)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    source = str(args.weights)
    if args.train_minutes is not None:
        cfg = apply_overrides(
            get_preset("emoji32-cpu"),
            [f"data.path={args.data}", f"loop.out={args.out}", f"loop.max_minutes={args.train_minutes}"],
        )
        summary = Trainer(cfg, device=args.device).train()
        print(f"trained to step {summary['step']} ({summary['stopped']})")
        source = args.out
    elif not args.weights.is_file():
        raise FpaError(
            f"no painter at {args.weights}; restore it with `git checkout -- {args.weights}` "
            "or train one with `fpa demo --train-minutes 3`"
        )
    figures, seed = args.figures, ["--seed", str(args.seed)]
    device = [] if args.device is None else ["--device", args.device]
    status = cli.main(["generate", source, "--num", "64", "--grid", "--out", str(figures / "demo_samples.png")]
                      + seed + device)
    if status == 0:
        status = cli.main(
            ["paint", source, "--every", "2", "--index", str(args.index),
             "--out", str(figures / "demo_painting_steps.png"), "--gif", str(figures / "demo_painting.gif")]
            + seed + device
        )
    if status == 0 and args.train_minutes is None:
        if args.refined.is_file():
            status = cli.main(["before-after", str(args.refined), "--num", "12",
                               "--out", str(figures / "demo_before_after.png")] + seed + device)
        else:
            print(f"no U-Net refinement at {args.refined}: skipped demo_before_after.png "
                  f"(train one with `fpa train --preset emoji32-cpu-unet --refine-from {source}`)")
    return status
