"""Shipped inference checkpoints: EMA generator weights in half precision plus a model card.

A training checkpoint (``runs/<name>/checkpoints/latest.pt``, tens of MB with the
discriminator, optimisers and RNG states) is exported into ``data/pretrained/``:

    <name>.pt    {"kind": "fpa-pretrained", "config", "step", "generator" (float16 state
                 dict of the EMA generator), "card", "fpalib_version"}
    <name>.md    the model card: what it is, config, steps, wall time, hardware, metrics,
                 seed and the exact command that reproduces it (rendered from ``card``)
    <name>.metrics.jsonl   the run's training log (losses, images/s, evaluations), if any

``fpalib.train.checkpoint.load_generator`` (and so ``fpa generate/paint/interpolate``)
accepts the ``.pt`` file like a run folder, or just its name (``fpa-delta-emoji32``) for a
shipped one; its weights come back as float32.

The shipped files travel with the package: a wheel (``pip install .``) copies
``data/pretrained/*.pt`` and ``*.md`` into ``fpalib/_pretrained/`` (see ``setup.py``), and
:func:`shipped_dir` finds that copy, or ``data/pretrained`` beside the package in a source
checkout or an editable install, so nothing depends on the working directory.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


import fpalib
from fpalib.errors import FpaError

PRETRAINED_KIND = "fpa-pretrained"
PRETRAINED_DIR = Path("data/pretrained")
"""Where the shipped files live in a source checkout (and where ``fpa export`` writes by default)."""
PACKAGED_DIR = "_pretrained"
"""The folder inside the installed package that holds the shipped files of a wheel."""


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


def training_wall_seconds(run_dir: Path) -> float | None:
    """Elapsed training seconds of the last record in ``<run>/metrics.jsonl`` (None if absent)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    elapsed = None
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        elapsed = record.get("elapsed_s", elapsed)
    return elapsed


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


def export_pretrained(
    checkpoint: str | Path, out_dir: str | Path, name: str, *, command: str, hardware: str | None = None,
    metrics: dict[str, float] | None = None, notes: str = "",
) -> Path:
    """Write ``<out_dir>/<name>.pt`` and ``<name>.md`` from a training run or checkpoint file.

    Each file is replaced atomically: when a write fails (FpaError), the previous export of
    that name is still readable.
    """
    from fpalib.train.checkpoint import load_checkpoint, resolve_checkpoint, torch_save_atomically
    from fpalib.train.files import copy_atomically, write_error, write_text_atomically

    source = resolve_checkpoint(checkpoint)
    state = load_checkpoint(source)
    run_dir = source.parent.parent
    card = build_card(
        state, name=name, command=command, hardware=hardware or cpu_description(),
        wall_seconds=training_wall_seconds(run_dir), metrics=metrics, notes=notes,
    )
    weights = {key: value.half() if value.is_floating_point() else value for key, value in state["ema"].items()}
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FpaError(f"export folder {out_dir} is a file; pass --out with a folder")
    path = out_dir / f"{name}.pt"
    torch_save_atomically(path, {"kind": PRETRAINED_KIND, "config": state["config"], "step": state["step"],
                                 "generator": weights, "card": card, "fpalib_version": fpalib.__version__},
                          what="export")
    try:
        write_text_atomically(out_dir / f"{name}.md", render_card(card))
        log = run_dir / "metrics.jsonl"
        if log.is_file():
            copy_atomically(log, out_dir / f"{name}.metrics.jsonl")
    except OSError as error:
        raise write_error(error, f"the model card of {path}", "the weights were written; free space and run "
                          "the export again") from None
    return path


def render_card(card: dict[str, Any]) -> str:
    """The model card as Markdown; the config block is the exact JSON of ``card['config']``."""
    wall = card["wall_time_s"]
    wall_text = "unknown" if wall is None else f"{wall / 60:.1f} min ({wall:.0f} s)"
    metrics = ", ".join(f"{k} = {v:.4g}" for k, v in card["metrics"].items()) or "none measured"
    section = {"fpa": "model", "lightgan": "lightgan", "fpa-unet": "unet"}.get(card["generator"], "model")
    model = card["config"].get(section, {})
    lines = [
        f"# {card['name']}",
        "",
        f"EMA generator ({card['generator']}) of an fpalib GAN run, stored in float16. "
        "Load it with `fpalib.train.checkpoint.load_generator(path)` or pass the .pt file to "
        "`fpa generate`, `fpa paint` or `fpa interpolate`.",
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


def card_config_from_markdown(text: str) -> dict[str, Any]:
    """The configuration JSON block of a rendered model card (for consistency checks)."""
    try:
        block = text.split("Full configuration:", 1)[1].split("```json", 1)[1].split("```", 1)[0]
        return json.loads(block)
    except (IndexError, json.JSONDecodeError):
        raise FpaError("the model card has no readable 'Full configuration' JSON block") from None


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


def shipped_path(name: str) -> Path:
    """The shipped file ``name`` (e.g. "fpa-delta-emoji32.pt"; ".pt" is added when there is no suffix)."""
    filename = name if Path(name).suffix else f"{name}.pt"
    path = shipped_dir() / filename
    if not path.is_file():
        available = ", ".join(p.stem for p in shipped_checkpoints()) or "none"
        raise FpaError(f"no shipped file {filename!r}; shipped checkpoints: {available}")
    return path


def shipped_checkpoints(folder: str | Path | None = None) -> list[Path]:
    """The shipped ``.pt`` files in ``folder`` (default: :func:`shipped_dir`), sorted."""
    return sorted(Path(shipped_dir() if folder is None else folder).glob("*.pt"))
