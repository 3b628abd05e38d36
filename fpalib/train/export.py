"""Exporting a training run as a shipped inference checkpoint (``fpa export``).

:func:`export_pretrained` reads a run's checkpoint and writes the files that
:mod:`fpalib.pretrained` describes: ``<name>.pt`` (the EMA generator in float16 and the
config; a VAE run's raw decoder with its encoder and likelihood), the model card ``<name>.md``
and, when the run has one, ``<name>.metrics.jsonl``.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import fpalib
from fpalib.errors import FpaError
from fpalib.pretrained import PRETRAINED_KIND, build_card, render_card
from fpalib.train.checkpoint import (
    CHECKPOINT_DIR,
    LATEST,
    load_checkpoint,
    resolve_checkpoint,
    torch_save_atomically,
)
from fpalib.train.run_folder import write_atomically, write_error
from fpalib.train.run_log import METRICS_FILE, read_metrics


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
        raise FpaError(f"{source} is already an inference export (fpa export writes these); export the training "
                       "run it came from, or copy the file as it is")
    out_dir = Path(out_dir)
    if out_dir.name == CHECKPOINT_DIR or (out_dir / LATEST).exists():
        raise FpaError(f"{out_dir} holds a run's training checkpoints; an export there would replace them, so pass "
                       "--out with another folder (nothing was written)")
    if (out_dir / f"{name}.pt").exists() and not force:
        raise FpaError(f"{out_dir / f'{name}.pt'} exists; choose another --name or --out, or pass --force to "
                       "replace it and its model card (nothing was written)")
    run_dir = source.parent.parent
    card = build_card(
        state, name=name, command=command, hardware=hardware or cpu_description(),
        wall_seconds=training_wall_seconds(run_dir), metrics=metrics, notes=notes,
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
        log = run_dir / METRICS_FILE
        if log.is_file():
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


def training_wall_seconds(run_dir: Path) -> float | None:
    """Elapsed training seconds of the last record in ``<run>/metrics.jsonl`` (None if absent)."""
    elapsed = [record["elapsed_s"] for record in read_metrics(run_dir / METRICS_FILE) if "elapsed_s" in record]
    return elapsed[-1] if elapsed else None
