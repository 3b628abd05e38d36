"""Sub-commands of ``fpa``; each module is registered in :data:`fpalib.cli.COMMANDS`.

A command module defines ``HELP: str`` (one line),
``add_arguments(parser: argparse.ArgumentParser) -> None`` and
``run(args: argparse.Namespace) -> int`` (the exit status).
"""

from __future__ import annotations

import argparse


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of every command that samples from a trained generator."""
    parser.add_argument("run", metavar="RUN_OR_CKPT", help="run folder (uses checkpoints/latest.pt) or .pt file")
    parser.add_argument("--raw", action="store_true", help="use the raw generator instead of its EMA")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
