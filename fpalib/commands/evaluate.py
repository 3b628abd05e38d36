"""``fpa evaluate``: FID, KID, SWD, pixel precision/recall, cfd and class coverage of a trained
generator; for a VAE also its test-set ELBO and importance-weighted bound.

    fpa evaluate runs/emoji32 --data data/emoji --metrics swd
    fpa evaluate runs/celeba64 --data data/celeba --metrics fid,kid --num-samples 50000
    fpa evaluate runs/fashion28-vae --num-samples 10000          # VAE: bounds, cfd and coverage

Prints one line of results and appends them, with the checkpoint's step, to the run's
``metrics.jsonl``. Defaults come from the checkpoint's ``eval`` section (the paper's protocol:
50K samples, JPEG, 2048-d features, all real images). FID/KID need pytorch-fid's Inception
weights (``--fid-weights``, ``$FPA_FID_WEIGHTS``, torch hub's cache or a download); SWD does not;
cfd and coverage use the shipped Fashion-MNIST classifier. A VAE run (``objective="vae"``) is
scored by default with its test bounds on ``data.test_path`` (``--test-data``: -ELBO of every test
image, the bound with ``--iw-samples`` on the first ``--iw-images``) and with cfd and coverage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from fpalib.commands import add_checkpoint_arguments, add_field_options
from fpalib.data import DataConfig
from fpalib.errors import FpaError
from fpalib.metrics.evaluate import format_results, score_checkpoint
from fpalib.metrics.image_format import ImageFormat
from fpalib.train.checkpoint import checkpoint_config, load_checkpoint, run_folder_of
from fpalib.train.eval_config import EvalConfig
from fpalib.train.run_folder import append_line, write_error
from fpalib.train.run_log import METRICS_FILE
from fpalib.train.runtime import resolve_device

HELP = ("score a trained generator: FID/KID (pytorch-fid Inception), SWD, pixel precision/recall, cfd and class "
        "coverage against real images; a VAE's test-set bounds")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    settings = parser.add_argument_group("the run's eval section, replaced for this evaluation (a VAE run's metrics "
                                         "default to cfd,coverage for one channel, else swd)")
    add_field_options(settings, EvalConfig, EVAL_OPTIONS, {"real_path": "--data", "image_format": "--format"})
    vae = parser.add_argument_group("VAE runs")
    add_field_options(vae, DataConfig, ["test_path"], {"test_path": "--test-data"})
    vae.add_argument("--iw-samples", type=int, default=100, metavar="K",
                     help="samples of the importance-weighted bound (default: %(default)s; 0 skips it)")
    vae.add_argument("--iw-images", type=int, default=1000, metavar="N",
                     help="test images of the importance-weighted bound (default: %(default)s)")
    parser.add_argument("--no-log", action="store_true", help=f"do not append the results to the run's {METRICS_FILE}")


EVAL_OPTIONS = ("real_path", "metrics", "num_samples", "image_format", "jpeg_quality", "fid_weights", "real_stats",
                "stats_dir", "dims", "batch_size", "seed")
"""The fields of EvalConfig that are options of fpa evaluate."""


def run(args: argparse.Namespace) -> int:
    state = load_checkpoint(args.run)
    changes = {name: getattr(args, name) for name in EVAL_OPTIONS if getattr(args, name) is not None}
    if changes.get("metrics") == ():
        raise FpaError("--metrics is empty; give e.g. --metrics fid,kid or --metrics swd")
    settings = dataclasses.replace(checkpoint_config(state).eval, **changes)  # for the log record
    results = score_checkpoint(state, ema=not args.raw, device=resolve_device(args.device), progress=True,
                               test_path=args.test_path, iw_samples=args.iw_samples, iw_images=args.iw_images,
                               **changes)
    step = int(state.get("step", 0))
    print(f"step {step}: {format_results(results)}")
    run_dir = run_folder_of(args.run)
    if run_dir is not None and not args.no_log:
        record = {"step": step, **results, "evaluated_by": "fpa evaluate",
                  "num_samples": settings.num_samples,
                  "format": ImageFormat(settings.image_format, settings.jpeg_quality).label,
                  "checkpoint": str(args.run), "ema": not args.raw}
        try:  # all or nothing; a damaged last line (from a crash) is dropped first
            append_line(run_dir / METRICS_FILE, json.dumps(record))
        except OSError as error:
            raise write_error(error, f"the results to {run_dir / METRICS_FILE}",
                              "the log is unchanged; free space or pass --no-log") from None
        print(f"appended to {run_dir / METRICS_FILE}")
    return 0
