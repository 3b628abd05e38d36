"""The learning-rule and painting-steps ablation at an equal CPU-time budget, with seeds, for
either objective: the paper's GAN, or the painter as a VAE decoder.

    from fpalib.ablation import run_ablation, format_table
    results = run_ablation(get_preset("fashion28-vae"), "runs/ablation-vae", cpu_minutes=6, seeds=(0, 1, 2))
    print(format_table(results))

Every variant is the base config with the overrides of :func:`variants_for` (``VAE_VARIANTS`` for
the Fashion-MNIST painter, VAE or GAN; ``VARIANTS`` for the emoji GAN), nothing else. Each (variant, seed) trains in
``<out>/<variant>-s<seed>`` for ``cpu_minutes`` of CPU time (fair when runs share a machine;
``minutes`` of wall clock or a ``steps`` cap also work) and is scored once by ``fpa evaluate``'s
protocol (:func:`~fpalib.metrics.evaluate.score_checkpoint`) into ``<out>/<variant>-s<seed>/ablation.json``:

- GAN: SWD and pixel precision/recall of ``num_samples`` EMA samples, and on Fashion-MNIST the
  classifier's cfd and class coverage (:func:`gan_metrics`);
- VAE: the test -ELBO of every test image, the importance-weighted bound (``iw_samples`` on the
  first ``iw_images``), the reconstruction error, and cfd and class coverage of ``num_samples``
  prior samples, all with the raw decoder. A VAE run also logs the -ELBO of ``curve_images`` test images every
  ``curve_every`` steps to its ``metrics.jsonl`` (with the CPU seconds spent), the learning curves.

A scored run is not trained again, so the same command run twice, or split over processes by
seed, gathers one table. ``benchmarks/ablation.py`` is the command line.
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
from fpalib.train.run_log import METRICS_FILE, read_metrics
from fpalib.train.trainer import Trainer

VARIANTS: dict[str, list[str]] = {  # the delta rule (Eq. 2 / 9) at the base's T, 16 and 8
    "delta": [],
    "delta-T16": ["painter.num_steps=16"],
    "delta-T8": ["painter.num_steps=8"],
    "authors-additive": ["painter.variant=authors-additive"],  # the authors' additive baseline (lstm_sum)
    "additive": ["painter.rule=additive"],  # the paper's purely additive rule (Sec. 2.1) in the delta painter
    "additive-rate": ["painter.rule=additive-rate"],  # additive with the sigmoid rate beta_t
    "oja-softmax": ["painter.rule=oja-softmax"],  # Oja's rule in the authors' softmax form
}
"""GAN ablation: variant name -> config overrides on top of the base config."""

VAE_VARIANTS: dict[str, list[str]] = {  # the 28x28 painter: T = 7, 14, 28 (the base) and 56 > the side
    "delta": [],
    "delta-T7": ["painter.num_steps=7"],
    "delta-T14": ["painter.num_steps=14"],
    "delta-T56": ["painter.num_steps=56"],
    "additive": ["painter.rule=additive"],
    "additive-rate": ["painter.rule=additive-rate"],
    "authors-additive": ["painter.variant=authors-additive"],
    "oja-softmax": ["painter.rule=oja-softmax"],
    "conv": ["generator=conv"],  # the transposed-convolution baseline decoder, about as many parameters
}
"""VAE ablation: variant name -> config overrides on top of the base config."""

METRICS = ("swd", "precision", "recall")
VAE_METRICS = ("test_nelbo", "test_iw_nll", "recon_mse", "cfd", "classes_covered", "class_min", "class_max")
RESULTS_FILE = "results.json"
SCORE_FILE = "ablation.json"


def variants_for(base: ExperimentConfig) -> dict[str, list[str]]:
    """The variants of ``base``: ``VAE_VARIANTS`` for the 28-step Fashion-MNIST painter (either
    objective: ``fashion28-vae``, ``fashion32-gan``), ``VARIANTS`` otherwise (the emoji painter)."""
    return VAE_VARIANTS if base.objective == "vae" or base.painter.num_steps == 28 else VARIANTS


def gan_metrics(base: ExperimentConfig) -> tuple[str, ...]:
    """What scores a GAN run: SWD and pixel precision/recall, and the classifier's cfd and class
    coverage where the preset evaluates them (Fashion-MNIST), as the VAE rows are scored."""
    return ("swd", "pr", *(name for name in ("cfd", "coverage") if name in base.eval.metrics))


def variant_config(base: ExperimentConfig, variant: str, seed: int, out: Path) -> ExperimentConfig:
    """The config of one run: ``base`` with the variant's overrides, the seed and its folder."""
    variants = variants_for(base)
    if variant not in variants:
        raise FpaError(f"unknown {base.objective} ablation variant {variant!r}; choose from {', '.join(variants)}")
    if base.generator != "fpa":
        raise FpaError(f"the ablation compares painters; this config trains {base.generator!r}")
    cfg = apply_overrides(copy.deepcopy(base), variants[variant] + [f"loop.seed={seed}"])
    cfg.name = f"ablation-{variant}-s{seed}"
    cfg.loop.out = str(out / f"{variant}-s{seed}")
    return cfg.validate()


def run_ablation(
    base: ExperimentConfig,
    out: str | Path,
    *,
    variants: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1),
    minutes: float | None = None,
    cpu_minutes: float | None = None,
    steps: int | None = None,
    num_samples: int = 1636,
    real_path: str | None = None,
    iw_samples: int = 100,
    iw_images: int = 500,
    curve_every: int = 500,
    curve_images: int = 1000,
    device: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train and score every (variant, seed) not scored yet; returns the records of all scored
    runs in ``out`` (also written to ``<out>/results.json``). ``cpu_minutes`` / ``minutes`` is the
    CPU-time / wall-clock budget of each run; ``steps`` caps it. ``variants``: default all."""
    if minutes is None and cpu_minutes is None and steps is None:
        raise FpaError("give the budget of each run: cpu_minutes, minutes and/or steps")
    variants = list(variants_for(base) if variants is None else variants)
    vae = base.objective == "vae"
    out = Path(out)
    for variant in variants:
        for seed in seeds:
            cfg = variant_config(base, variant, seed, out)
            if (Path(cfg.loop.out) / SCORE_FILE).is_file():
                continue
            if steps is not None:
                cfg.loop.steps = steps
            cfg.loop.max_minutes, cfg.loop.max_cpu_minutes = minutes, cpu_minutes
            cfg.loop.eval_every = curve_every if vae else 0  # a GAN is scored once below, on one protocol
            cfg.vae.eval_images = curve_images
            summary = Trainer(cfg, device=device, progress=progress).train()
            # a VAE's samples come from the raw decoder, the one its bounds use: its EMA starts at step
            # 1000, and the untrained weights it keeps for a while would favour the runs with more steps
            scores = score_checkpoint(cfg.loop.out, real_path or cfg.data.path, ema=not vae, num_samples=num_samples,
                                      seed=0, metrics=None if vae else gan_metrics(base), iw_samples=iw_samples,
                                      iw_images=iw_images)
            record = {"variant": variant, "seed": seed, "step": int(summary["step"]),
                      "cpu_minutes": cpu_minutes, "wall_minutes": summary["elapsed_s"] / 60,
                      **{name: float(scores[name]) for name in METRICS + VAE_METRICS if name in scores}}
            write_atomically(Path(cfg.loop.out) / SCORE_FILE, json.dumps(record, indent=1))
    records = gather_records(out, variants)
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / RESULTS_FILE, json.dumps(records, indent=1))
    return records


def gather_records(out: str | Path, variants: Sequence[str] = tuple(VARIANTS)) -> list[dict[str, Any]]:
    """The scores of every run in ``out``, in the order of ``variants`` and then by seed; a VAE run's
    record also holds its learning curve, ``curve``: [[step, CPU seconds, test -ELBO], ...]."""
    order = {variant: index for index, variant in enumerate(variants)}
    records = []
    for path in Path(out).glob(f"*/{SCORE_FILE}"):
        record = json.loads(path.read_text())
        if record["variant"] not in order:
            continue
        curve = [[r["step"], r["cpu_s"], r["test_nelbo"]] for r in read_metrics(path.parent / METRICS_FILE)
                 if "test_nelbo" in r and "cpu_s" in r and r.get("evaluated_by") is None]
        records.append({**record, "curve": curve} if curve else record)
    return sorted(records, key=lambda r: (order[r["variant"]], r["seed"]))


COLUMNS = {  # metric -> (column title, digits)
    "swd": ("SWD (x1e3)", 1), "precision": ("precision", 3), "recall": ("recall", 3),
    "test_nelbo": ("test -ELBO (nats)", 1), "test_iw_nll": ("IW bound (nats)", 1),
    "recon_mse": ("recon MSE (x1e3)", 2), "cfd": ("cfd", 1), "class_min": ("min class share", 3),
}


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """A Markdown table: per variant the number of seeds, mean steps, and mean (min-max) of each metric."""
    names = [name for name in COLUMNS if records and name in records[0]]
    lines = ["| variant | seeds | steps | " + " | ".join(COLUMNS[name][0] for name in names) + " |",
             "|---|---:|---:|" + "---:|" * len(names)]
    for variant in dict.fromkeys(r["variant"] for r in records):
        runs = [r for r in records if r["variant"] == variant]
        cells = []
        for name in names:
            scale = 1e3 if name == "recon_mse" else 1.0
            values = [r[name] * scale for r in runs]
            digits = COLUMNS[name][1]
            spread = f" ({min(values):.{digits}f}-{max(values):.{digits}f})" if len(values) > 1 else ""
            cells.append(f"{statistics.fmean(values):.{digits}f}{spread}")
        steps = round(statistics.fmean(r["step"] for r in runs))
        lines.append(f"| {variant} | {len(runs)} | {steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
