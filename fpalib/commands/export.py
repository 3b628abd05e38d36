"""``fpa export``: turn a training run into a shipped inference checkpoint with a model card.

    fpa export runs/emoji32-cpu --name my-painter [--out exports] [--force]
               [--command "fpa train --preset emoji32-cpu ..."] [--metric swd=0.12]

Writes ``<out>/<name>.pt`` (EMA generator weights in float16 plus config; a VAE run's raw
decoder, encoder and likelihood) and ``<name>.md`` (the model card: config, steps, wall time,
hardware, metrics, seed, reproduce command) into ``exports/`` by default (git-ignored). An
existing ``<name>.pt`` is replaced only with ``--force`` (how maintainers update the shipped
painters: ``--out data/pretrained --force``); a run's ``checkpoints/`` folder is refused.
See :mod:`fpalib.pretrained` and :mod:`fpalib.train.export`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpalib.errors import FpaError
from fpalib.train.checkpoint import checkpoint_config, load_checkpoint
from fpalib.train.export import export_pretrained
from fpalib.train.presets import PRESETS

HELP = "export a run's generator (float16) with a model card into exports/ (never replacing a file without --force)"
DEFAULT_OUT = Path("exports")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN_OR_CKPT", help="run folder (uses checkpoints/latest.pt) or .pt file")
    parser.add_argument("--name", required=True, help="file name stem, e.g. fpa-delta-emoji32")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace an existing <name>.pt and its card")
    parser.add_argument("--command", help="the command that reproduces the run (default: built from the config)")
    parser.add_argument("--hardware", help="where it was trained (default: this machine's CPU)")
    parser.add_argument("--metric", action="append", default=[], metavar="NAME=VALUE", help="a measured metric")
    parser.add_argument("--notes", default="", help="a paragraph added to the model card")


def parse_metrics(items: list[str]) -> dict[str, float]:
    metrics = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            metrics[name.strip()] = float(value)
        except ValueError:
            raise FpaError(f"--metric needs NAME=NUMBER, got {item!r}") from None
    return metrics


def default_command(run: str) -> str:
    cfg = checkpoint_config(load_checkpoint(run))
    preset = f"--preset {cfg.name} " if cfg.name in PRESETS else ""
    return f"fpa train {preset}--steps {cfg.loop.steps} --out {cfg.run_dir}"


def run(args: argparse.Namespace) -> int:
    if not args.name or "/" in args.name or args.name.startswith("."):
        raise FpaError(f"--name must be a plain file name stem, got {args.name!r}")
    path = export_pretrained(
        args.run, args.out, args.name, command=args.command or default_command(args.run),
        hardware=args.hardware, metrics=parse_metrics(args.metric), notes=args.notes, force=args.force,
    )
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB) and {path.with_suffix('.md')}")
    return 0
