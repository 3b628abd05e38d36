"""Shipped inference checkpoints: EMA generator weights in half precision plus a model card.

``fpa export`` (:func:`fpalib.train.export.export_pretrained`) turns a training checkpoint into
``data/pretrained/<name>.pt`` ({"kind": "fpa-pretrained", "config", "step", "generator" (float16
EMA state dict), "card", "fpalib_version"}), ``<name>.md`` (the model card rendered from
``card``) and ``<name>.metrics.jsonl`` (the training log). ``load_generator`` and the ``fpa``
sampling commands accept the ``.pt`` file, or just its name for a shipped one. A wheel copies
the shipped files into ``fpalib/_pretrained/`` (``setup.py``); :func:`shipped_dir` finds that
copy or ``data/pretrained`` beside the package, whatever the working directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fpalib
from fpalib.errors import FpaError

PRETRAINED_KIND = "fpa-pretrained"
PRETRAINED_DIR = Path("data/pretrained")
"""Where the shipped files live in a source checkout (and where ``fpa export`` writes by default)."""
PACKAGED_DIR = "_pretrained"
"""The folder inside the installed package that holds the shipped files of a wheel."""


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


def shipped_dir() -> Path:
    """The folder of the shipped checkpoints and model cards, found through the package.

    The installed package's ``fpalib/_pretrained`` (wheel), else ``data/pretrained`` next to the
    package folder (source checkout, editable install). Raises FpaError when neither exists.
    """
    package = Path(fpalib.__file__).resolve().parent
    candidates = (package / PACKAGED_DIR, package.parent / PRETRAINED_DIR)
    for folder in candidates:
        if any(folder.glob("*.pt")):
            return folder
    raise FpaError(
        f"no shipped checkpoints next to the fpalib package (looked in {candidates[0]} and {candidates[1]}); "
        "reinstall fpalib from a full clone (`pip install .`) or restore data/pretrained with git"
    )
