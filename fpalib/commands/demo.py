"""``fpa demo``: the end-to-end demonstration behind ``make demo``.

By default it paints with the shipped delta-rule painter trained as a VAE decoder on Fashion-MNIST
(``fpa-delta-vae-fashion28.pt``, found through the installed package; seconds on a CPU) into
``--figures`` (default ``figures/demo/``, ignored by git): ``demo_samples.png`` (a grid of
samples), ``demo_painting_steps.png`` (the rank-one updates and the image so far while it paints
its reconstruction of test image ``--test-image`` of the shipped subset; ``--display output`` as the
painter outputs it, ``paper`` normalised as in the paper; ``demo_painting_rows.png`` is the same
pixel-sharp at three times the size, no labels), ``demo_painting.gif`` (the same steps animated) and ``demo_before_after.png`` (painter | painter + U-Net pairs from the shipped emoji
U-Net refinement, ``--refined``). With ``--weights`` of a GAN painter (e.g. the shipped
``fpa-delta-emoji32.pt``) it paints sample ``--index`` of the seed's latents instead.
``--train-minutes M`` instead trains the ``fashion28-vae`` painter for M minutes in ``--out``
(resuming it on every call) on ``--data`` (an array data set with a ``test`` folder beside it;
default: the shipped Fashion-MNIST subset).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fpalib.data.arrays import ArrayImages
from fpalib.data.fashion_mnist import subset_folder
from fpalib.errors import FpaError
from fpalib.pretrained import PRETRAINED_DIR, shipped_dir
from fpalib.sampling import write_before_after, write_painting, write_samples
from fpalib.train.checkpoint import checkpoint_config, load_checkpoint
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.trainer import Trainer
from fpalib.viz.step_display import DISPLAY_MODES, check_mode

HELP = "paint sample and painting-step figures with the shipped Fashion-MNIST painter (or train one first)"

SHIPPED_NAME, SHIPPED_REFINED_NAME = "fpa-delta-vae-fashion28.pt", "fpa-delta-emoji32-unet.pt"
SHIPPED = PRETRAINED_DIR / SHIPPED_NAME
"""The demo painter's place in a source checkout (installed copies are found by :func:`shipped_dir`)."""
DEFAULT_FIGURES = Path("figures/demo")
PAINTED_INDEX = 7
"""The sample of the seed-0 grid (row 1, column 8) whose painting steps the demo draws for a GAN painter."""
TEST_IMAGE = 2
"""The test image of the shipped Fashion-MNIST subset whose reconstruction a VAE painter paints."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", type=Path, help=f"painter to use (default: the shipped {SHIPPED_NAME})")
    parser.add_argument("--refined", type=Path,
                        help=f"painter + U-Net for the before/after figure (default: the shipped "
                             f"{SHIPPED_REFINED_NAME}; skipped if absent)")
    parser.add_argument("--figures", type=Path, default=DEFAULT_FIGURES, help="where figures go (default: %(default)s)")
    parser.add_argument("--display", default="output", metavar="|".join(DISPLAY_MODES),
                        help="painting steps as the painter outputs them (default) or normalised as in the paper")
    parser.add_argument("--train-minutes", type=float, metavar="M", help="train fashion28-vae for M minutes first")
    parser.add_argument("--data", type=Path, help="training images for --train-minutes, with held-out images in "
                        "the sibling folder 'test' (default: the shipped Fashion-MNIST subset's train)")
    parser.add_argument("--out", default="runs/demo", help="run folder for --train-minutes (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (default: %(default)s)")
    parser.add_argument("--index", type=int, default=PAINTED_INDEX,
                        help="GAN painters: which sample of the grid to paint step by step (default: %(default)s)")
    parser.add_argument("--test-image", type=int, default=TEST_IMAGE,
                        help="VAE painters: which test image of the shipped Fashion-MNIST subset to paint "
                             "(default: %(default)s)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    check_mode(args.display)
    weights = args.weights or shipped_dir() / SHIPPED_NAME
    refined = args.refined or _shipped_or_missing(SHIPPED_REFINED_NAME)
    source = str(weights)
    if args.train_minutes is not None:
        data = args.data or subset_folder() / "train"
        cfg = apply_overrides(
            get_preset("fashion28-vae"),
            [f"data.path={data}", f"data.test_path={data.parent / 'test'}", f"loop.out={args.out}",
             f"loop.max_minutes={args.train_minutes}", "loop.max_cpu_minutes=null"],
        )
        summary = Trainer(cfg, device=args.device).train()
        print(f"trained to step {summary['step']} ({summary['stopped']})")
        source = args.out
    elif not weights.is_file():
        raise FpaError(
            f"no painter at {weights}; give one with --weights, restore the shipped one with "
            f"`git checkout -- {SHIPPED}`, or train one with `fpa demo --train-minutes 3`"
        )
    figures, seed, device = args.figures, args.seed, args.device
    write_samples(source, figures / "demo_samples.png", num=64, grid=True, seed=seed, device=device)
    print(f"wrote a grid of 64 images to {figures / 'demo_samples.png'}")
    steps, gif = figures / "demo_painting_steps.png", figures / "demo_painting.gif"
    image = _test_image(args.test_image) if checkpoint_config(load_checkpoint(source)).objective == "vae" else None
    rows = figures / "demo_painting_rows.png"
    write_painting(source, steps, gif=gif, every=2, index=args.index, display=args.display, seed=seed, device=device,
                   image=image, rows=rows)
    print(f"wrote the painting steps to {steps} (and pixel-sharp to {rows})\nwrote the animation to {gif}")
    if args.train_minutes is None:
        if refined.is_file():
            pairs = write_before_after(refined, figures / "demo_before_after.png", num=12, seed=seed, device=device)
            print(f"wrote 12 before/after pairs to {pairs}")
        else:
            print(f"no U-Net refinement at {refined}: skipped demo_before_after.png "
                  f"(train one with `fpa train --preset emoji32-cpu-unet --refine-from {source}`)")
    return 0


def _test_image(index: int) -> torch.Tensor:
    """Test image ``index`` of the shipped Fashion-MNIST subset, (1, 28, 28) in [-1, 1]."""
    test_set = ArrayImages(subset_folder() / "test")
    if not 0 <= index < len(test_set):
        raise FpaError(f"--test-image must be in 0..{len(test_set) - 1}; got {index}")
    return test_set[index]


def _shipped_or_missing(name: str) -> Path:
    """The shipped file ``name``; where nothing is shipped, its checkout path (which is absent)."""
    try:
        return shipped_dir() / name
    except FpaError:
        return PRETRAINED_DIR / name
