"""The learning-rule and painting-steps ablation at an equal CPU-time budget, with seeds.

    from fpalib.ablation import run_ablation, format_table
    results = run_ablation(get_preset("emoji32-cpu"), "runs/ablation", cpu_minutes=8, seeds=(0, 1))
    print(format_table(results))

Every variant is the base config with the overrides of :data:`VARIANTS`, nothing else. Each
(variant, seed) trains in ``<out>/<variant>-s<seed>`` for ``cpu_minutes`` of CPU time (fair when
runs share a machine; ``minutes`` of wall clock or a ``steps`` cap also work) and is scored once
by ``fpa evaluate``'s protocol (SWD and pixel precision/recall of ``num_samples`` EMA samples)
into ``<out>/<variant>-s<seed>/ablation.json``; a scored run is not trained again, so the same
command run twice, or split over processes by seed, gathers one table. ``benchmarks/ablation.py``
is the command line.
"""

from __future__ import annotations

import copy
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpalib.errors import FpaError
from fpalib.metrics.evaluate import score_checkpoint
from fpalib.train.config import ExperimentConfig, apply_overrides
from fpalib.train.run_folder import write_atomically
from fpalib.train.trainer import Trainer

VARIANTS: dict[str, list[str]] = {  # the delta rule (Eq. 2 / 9) at the base's T, 16 and 8
    "delta": [],
    "delta-T16": ["painter.num_steps=16"],
    "delta-T8": ["painter.num_steps=8"],
    "authors-additive": ["painter.variant=authors-additive"],  # the authors' additive baseline (lstm_sum)
    "additive": ["painter.rule=additive"],  # the paper's purely additive rule (Sec. 2.1) in the delta painter
    "additive-rate": ["painter.rule=additive-rate"],  # additive with the sigmoid rate beta_t (formerly hebbian)
    "oja-softmax": ["painter.rule=oja-softmax"],  # Oja's rule in the authors' softmax form
}
"""Variant name -> config overrides on top of the base config."""

METRICS = ("swd", "precision", "recall")
RESULTS_FILE = "results.json"
SCORE_FILE = "ablation.json"


def variant_config(base: ExperimentConfig, variant: str, seed: int, out: Path) -> ExperimentConfig:
    """The config of one run: ``base`` with the variant's overrides, the seed and its folder."""
    if variant not in VARIANTS:
        raise FpaError(f"unknown ablation variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if base.generator != "fpa":
        raise FpaError(f"the ablation compares painters; this config trains {base.generator!r}")
    cfg = apply_overrides(copy.deepcopy(base), VARIANTS[variant] + [f"loop.seed={seed}"])
    cfg.name = f"ablation-{variant}-s{seed}"
    cfg.loop.out = str(out / f"{variant}-s{seed}")
    return cfg.validate()


def run_ablation(
    base: ExperimentConfig,
    out: str | Path,
    *,
    variants: Sequence[str] = tuple(VARIANTS),
    seeds: Sequence[int] = (0, 1),
    minutes: float | None = None,
    cpu_minutes: float | None = None,
    steps: int | None = None,
    num_samples: int = 1636,
    real_path: str | None = None,
    device: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train and score every (variant, seed) not scored yet; returns the records of all scored
    runs in ``out`` (also written to ``<out>/results.json``). ``cpu_minutes`` / ``minutes`` is the
    CPU-time / wall-clock budget of each run; ``steps`` caps it."""
    if minutes is None and cpu_minutes is None and steps is None:
        raise FpaError("give the budget of each run: cpu_minutes, minutes and/or steps")
    out = Path(out)
    for variant in variants:
        for seed in seeds:
            cfg = variant_config(base, variant, seed, out)
            if (Path(cfg.loop.out) / SCORE_FILE).is_file():
                continue
            if steps is not None:
                cfg.loop.steps = steps
            cfg.loop.max_minutes, cfg.loop.max_cpu_minutes = minutes, cpu_minutes
            cfg.loop.eval_every = 0  # scored once below, on the same protocol for every run
            summary = Trainer(cfg, device=device, progress=progress).train()
            scores = score_checkpoint(cfg.loop.out, real_path or cfg.data.path, num_samples=num_samples)
            record = {"variant": variant, "seed": seed, "step": int(summary["step"]),
                      "cpu_minutes": cpu_minutes, "wall_minutes": summary["elapsed_s"] / 60,
                      **{name: float(scores[name]) for name in METRICS}}
            write_atomically(Path(cfg.loop.out) / SCORE_FILE, json.dumps(record, indent=1))
    records = gather_records(out, variants)
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / RESULTS_FILE, json.dumps(records, indent=1))
    return records


def gather_records(out: str | Path, variants: Sequence[str] = tuple(VARIANTS)) -> list[dict[str, Any]]:
    """The scores of every run in ``out``, in the order of ``variants`` and then by seed."""
    records = [json.loads(path.read_text()) for path in Path(out).glob(f"*/{SCORE_FILE}")]
    order = {variant: index for index, variant in enumerate(variants)}
    records = [r for r in records if r["variant"] in order]
    return sorted(records, key=lambda r: (order[r["variant"]], r["seed"]))


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """A Markdown table: per variant the number of seeds, mean steps, and mean (min-max) of each metric."""
    lines = ["| variant | seeds | steps | SWD (x1e3) | precision | recall |", "|---|---:|---:|---:|---:|---:|"]
    for variant in dict.fromkeys(r["variant"] for r in records):
        runs = [r for r in records if r["variant"] == variant]
        cells = []
        for name, digits in (("swd", 1), ("precision", 3), ("recall", 3)):
            values = [r[name] for r in runs]
            spread = f" ({min(values):.{digits}f}-{max(values):.{digits}f})" if len(values) > 1 else ""
            cells.append(f"{statistics.fmean(values):.{digits}f}{spread}")
        steps = round(statistics.fmean(r["step"] for r in runs))
        lines.append(f"| {variant} | {len(runs)} | {steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
