"""Maintainer tool: turn a training run into a shipped inference checkpoint with a model card.

    python tools/export_pretrained.py runs/emoji32-cpu --name my-painter [--out exports] [--force]
        [--command "fpa train --preset emoji32-cpu ..."] [--metric swd=0.12] [--notes "..."]

Writes ``<out>/<name>.pt`` ({"kind": "fpa-pretrained", "config", "step", "generator" (the EMA
weights in float16; a VAE run's raw decoder, with "encoder" and "likelihood"), "card",
"fpalib_version"}), ``<name>.md`` (the card rendered: config, steps, wall time, hardware,
metrics, seed, reproduce command, notes) and ``<name>.metrics.jsonl`` (the training log) into
``exports/`` by default (git-ignored). An existing ``<name>.pt`` is replaced only with ``--force``
(how maintainers update the shipped painters: ``--out data/pretrained --force``); a run's
``checkpoints/`` folder is refused. Errors are one line with exit status 2, as for ``fpa``.
Loading the shipped files is the package's (:mod:`fpalib.pretrained`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import fpalib
from fpalib.cli import main as fpa_main
from fpalib.cli import script_parser
from fpalib.errors import FpaError
from fpalib.pretrained import PRETRAINED_KIND
from fpalib.train.checkpoint import (
    CHECKPOINT_DIR,
    LATEST,
    checkpoint_config,
    load_checkpoint,
    resolve_checkpoint,
    run_folder_of,
    torch_save_atomically,
)
from fpalib.train.presets import PRESETS
from fpalib.train.run_folder import write_atomically, write_error
from fpalib.train.run_log import METRICS_FILE, read_metrics

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


def export_pretrained(
    checkpoint: str | Path, out_dir: str | Path, name: str, *, command: str, hardware: str | None = None,
    metrics: dict[str, float] | None = None, notes: str = "", force: bool = False,
) -> Path:
    """Write ``<out_dir>/<name>.pt`` and ``<name>.md`` from a training run or checkpoint file.

    Refuses (FpaError, nothing written) an export of an export, a ``<name>.pt`` that exists unless
    ``force``, and any folder that holds a run's training checkpoints. Each file is replaced
    atomically: when a write fails (FpaError), the previous export of that name is still readable.
    """
    source = resolve_checkpoint(checkpoint)
    state = load_checkpoint(source)
    if state["kind"] == PRETRAINED_KIND:
        raise FpaError(f"{source} is already an inference export (this tool writes these); export the training "
                       "run it came from, or copy the file as it is")
    out_dir = Path(out_dir)
    if out_dir.name == CHECKPOINT_DIR or (out_dir / LATEST).exists():
        raise FpaError(f"{out_dir} holds a run's training checkpoints; an export there would replace them, so pass "
                       "--out with another folder (nothing was written)")
    if (out_dir / f"{name}.pt").exists() and not force:
        raise FpaError(f"{out_dir / f'{name}.pt'} exists; choose another --name or --out, or pass --force to "
                       "replace it and its model card (nothing was written)")
    run_dir = run_folder_of(source)
    log = run_dir / METRICS_FILE if run_dir else None
    card = build_card(
        state, name=name, command=command, hardware=hardware or cpu_description(),
        wall_seconds=training_wall_seconds(log), metrics=metrics, notes=notes,
    )

    def half(weights: dict) -> dict:
        return {key: value.half() if value.is_floating_point() else value for key, value in weights.items()}

    vae = state["config"].get("objective") == "vae"  # the raw decoder the test bounds were measured with, and q(z|x)
    parts = {"generator": half(state["generator"]), "encoder": half(state["encoder"]),
             "likelihood": half(state["likelihood"])} if vae else {"generator": half(state["ema"])}
    if out_dir.exists() and not out_dir.is_dir():
        raise FpaError(f"export folder {out_dir} is a file; pass --out with a folder")
    path = out_dir / f"{name}.pt"
    torch_save_atomically(path, {"kind": PRETRAINED_KIND, "config": state["config"], "step": state["step"],
                                 **parts, "card": card, "fpalib_version": fpalib.__version__},
                          what="export")
    try:
        write_atomically(out_dir / f"{name}.md", render_card(card))
        if log is not None and log.is_file():
            write_atomically(out_dir / f"{name}.metrics.jsonl", log.read_bytes())
    except OSError as error:
        raise write_error(error, f"the model card of {path}", "the weights were written; free space and run "
                          "the export again") from None
    return path


def cpu_description() -> str:
    """A short description of this machine's CPU, e.g. '2-core CPU (AMD EPYC 7B13)'."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core CPU ({model})"


def training_wall_seconds(log: Path | None) -> float | None:
    """Elapsed training seconds of the last record of a run's metrics.jsonl (None if absent)."""
    elapsed = [record["elapsed_s"] for record in read_metrics(log) if "elapsed_s" in record] if log else []
    return elapsed[-1] if elapsed else None


def build_card(
    state: dict[str, Any], *, name: str, command: str, hardware: str, wall_seconds: float | None,
    metrics: dict[str, float] | None = None, notes: str = "",
) -> dict[str, Any]:
    """The model card of a training checkpoint ``state`` as a plain dict."""
    config = state["config"]
    return {
        "name": name,
        "generator": config["generator"],
        "steps": int(state["step"]),
        "seed": config["loop"]["seed"],
        "wall_time_s": None if wall_seconds is None else round(float(wall_seconds), 1),
        "hardware": hardware,
        "metrics": metrics or {},
        "command": command,
        "notes": notes,
        "config": config,
    }


def render_card(card: dict[str, Any]) -> str:
    """The model card as Markdown; the config block is the exact JSON of ``card['config']``."""
    wall = card["wall_time_s"]
    wall_text = "unknown" if wall is None else f"{wall / 60:.1f} min ({wall:.0f} s)"
    metrics = ", ".join(f"{k} = {v:.4g}" for k, v in card["metrics"].items()) or "none measured"
    section = {"lightgan": "lightgan", "fpa-unet": "unet", "conv": "conv"}.get(card["generator"], "painter")
    model = card["config"][section]
    lines = [
        f"# {card['name']}",
        "",
        (f"Decoder ({card['generator']}) of an fpalib VAE run with its encoder and likelihood, the raw weights "
         "(on which the test bounds were measured), stored in float16. Load the VAE with "
         "`fpalib.train.checkpoint.vae_from_checkpoint(load_checkpoint(path))`, the decoder with "
         "`load_generator(path)`, or pass the .pt file to `fpa generate`, `fpa paint` or `fpa interpolate`."
         if card["config"].get("objective") == "vae" else
         f"EMA generator ({card['generator']}) of an fpalib GAN run, stored in float16. "
         "Load it with `fpalib.train.checkpoint.load_generator(path)` or pass the .pt file to "
         "`fpa generate`, `fpa paint` or `fpa interpolate`."),
        "",
        f"- training steps: {card['steps']}",
        f"- wall time of training: {wall_text}",
        f"- hardware: {card['hardware']}",
        f"- seed: {card['seed']}",
        f"- data: `{card['config']['data']['path']}` at {card['config']['data']['image_size']}x"
        f"{card['config']['data']['image_size']}",
        f"- metrics: {metrics}",
        "- generator: " + ", ".join(f"{k}={v}" for k, v in model.items()),
        "",
        "Reproduce it with:",
        "",
        "```bash",
        card["command"],
        "```",
        "",
    ]
    if card["notes"]:
        lines += [card["notes"], ""]
    lines += ["Full configuration:", "", "```json", json.dumps(card["config"], indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the export with ``argv`` (default ``sys.argv[1:]``); the exit status of ``fpa``'s rules."""
    return fpa_main(argv, parser=script_parser(sys.modules[__name__], "tools/export_pretrained.py"))


if __name__ == "__main__":
    sys.exit(main())
