"""``fpa demo``: the end-to-end demonstration behind ``make demo``.

Trains the ``emoji32-cpu`` painter on the emoji set for a few minutes (resuming the same run
folder on every call, so repeated demos keep improving), then writes into ``figures/``:

    demo_samples.png           a grid of EMA samples
    demo_painting_steps.png    the paper's two-row figure: rank-one updates and the image so far
    demo_painting.gif          the same steps as an animation

A few CPU minutes give coarse blobs of emoji colours, not emoji; ``fpa train --preset
emoji32-cpu`` for about an hour is the real run. Later versions paint from shipped weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpalib import cli
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.trainer import Trainer

HELP = "train a short emoji painter on the CPU and write sample and painting-step figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="data/emoji", help="image folder (default: %(default)s)")
    parser.add_argument("--out", default="runs/demo", help="run folder, resumed when present (default: %(default)s)")
    parser.add_argument("--figures", type=Path, default=Path("figures"), help="where figures go (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget of this call (default: %(default)s)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    cfg = apply_overrides(
        get_preset("emoji32-cpu"),
        [f"data.path={args.data}", f"loop.out={args.out}", f"loop.max_minutes={args.minutes}"],
    )
    summary = Trainer(cfg, device=args.device).train()
    print(f"trained to step {summary['step']} ({summary['stopped']})")
    figures = args.figures
    device = [] if args.device is None else ["--device", args.device]
    status = cli.main(["generate", args.out, "--num", "64", "--grid", "--out", str(figures / "demo_samples.png")] + device)
    if status == 0:
        status = cli.main(
            ["paint", args.out, "--every", "2", "--out", str(figures / "demo_painting_steps.png"),
             "--gif", str(figures / "demo_painting.gif")] + device
        )
    return status
