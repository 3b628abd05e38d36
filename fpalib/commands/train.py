"""``fpa train``: train a generator from a preset, a JSON config and overrides.

    fpa train --preset emoji32-cpu --data data/emoji --out runs/emoji32 [--steps N] [--new]
    fpa train --preset emoji32-cpu-unet --refine-from runs/emoji32-cpu      (FPA/U-Net)

The configuration, later steps winning: ``--preset`` (without it, the run folder's
``config.json`` when there is one, so ``fpa train --out runs/x`` continues run x as configured,
else the config stored in its ``checkpoints/latest.pt``, else ``emoji32-cpu``); ``--config FILE``; ``--refine-from PAINTER``
(:func:`~fpalib.train.refine.refinement_config`); ``--data``, ``--out``, ``--steps``,
``--max-minutes``; then ``--<section>.<field> VALUE`` for any config field. A run folder with a
checkpoint is resumed; ``--new`` moves it aside. Ctrl-C saves a checkpoint and exits (130).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from fpalib.cli import INTERRUPTED
from fpalib.commands import add_field_options
from fpalib.data import DataConfig
from fpalib.metrics.evaluate import make_evaluate_fn
from fpalib.train.checkpoint import checkpoint_config, checkpoint_path, load_checkpoint
from fpalib.train.config import ExperimentConfig, LoopConfig, config_help, load_config_file, parse_config_args
from fpalib.train.presets import PRESETS, get_preset
from fpalib.train.refine import refinement_config
from fpalib.train.trainer import Trainer

HELP = "train a generator (resumes the run folder's checkpoint unless --new)"

DEFAULT_PRESET = "emoji32-cpu"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", metavar="NAME", help=f"named configuration: {', '.join(PRESETS)} (default: "
                        f"the run folder's config.json, else {DEFAULT_PRESET})")
    parser.add_argument("--config", type=Path, metavar="FILE", help="JSON config applied on top of the preset")
    parser.add_argument("--refine-from", metavar="PAINTER", help="train a U-Net on top of this frozen painter "
                        "(run folder or .pt; e.g. --preset emoji32-cpu-unet)")
    shortcuts = parser.add_argument_group("shortcuts for --data.path, --loop.out, --loop.steps, --loop.max_minutes")
    add_field_options(shortcuts, DataConfig, ["path"], {"path": "--data"})
    add_field_options(shortcuts, LoopConfig, ["out", "steps", "max_minutes"])
    parser.add_argument("--new", action="store_true", help="start over: move an existing run folder aside to "
                        "<DIR>-old-<date>")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.set_defaults(config_args=[])  # the `fpa` parser passes the arguments it does not know here
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "configuration: any config field as --<section>.<field> VALUE, e.g. --painter.hidden 1024 "
        "--optim.betas 0.5,0.9\n--loop.amp false --loop.max_minutes null (defaults below are the dataclasses'; "
        "a preset or config.json changes them)\n\n" + config_help().split("\n\n", 1)[-1]
    )


def build_config(args: argparse.Namespace) -> ExperimentConfig:
    """The ExperimentConfig described by the command-line arguments (see the module docstring)."""
    cfg = get_preset(args.preset or DEFAULT_PRESET)
    saved = Path(args.out or cfg.run_dir) / "config.json"
    if args.preset is None and saved.is_file():
        cfg = load_config_file(saved)
    elif args.preset is None and checkpoint_path(saved.parent).is_file():  # config.json lost: the checkpoint's
        cfg = checkpoint_config(load_checkpoint(saved.parent))
    if args.config is not None:
        cfg = load_config_file(args.config, base=cfg)
    if args.refine_from is not None:
        cfg = refinement_config(cfg, args.refine_from)
    if args.path is not None:  # the shortcuts, taken as typed (a folder named "null" stays one)
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, path=args.path))
    loop = {"out": args.out, "steps": args.steps, "max_minutes": args.max_minutes}
    given = {name: value for name, value in loop.items() if value is not None}
    cfg = dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, **given))
    return parse_config_args(args.config_args, base=cfg)


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    # a VAE measures its test-set ELBO itself; it gets the sample metrics only when eval.metrics names them
    scored = cfg.loop.eval_every > 0 and (cfg.objective == "gan" or bool(cfg.eval.metrics))
    evaluate_fn = make_evaluate_fn(cfg) if scored else None  # stops here without weights
    summary = Trainer(cfg, device=args.device, new=args.new, evaluate_fn=evaluate_fn).train()
    print(f"{summary['stopped']} at step {summary['step']} of {summary['steps']} "
          f"({summary['images_per_s']:.1f} images/s); run folder: {summary['run_dir']}")
    return INTERRUPTED if summary["stopped"] == "interrupted" else 0
