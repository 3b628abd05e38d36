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
import json
from pathlib import Path

from fpalib.commands import add_checkpoint_arguments
from fpalib.errors import FpaError
from fpalib.metrics.evaluate import evaluate_checkpoint, format_results, vae_bounds
from fpalib.train.checkpoint import checkpoint_config, load_checkpoint, run_folder_of
from fpalib.train.run_folder import append_line, write_error
from fpalib.train.run_log import METRICS_FILE
from fpalib.train.runtime import resolve_device

HELP = ("score a trained generator: FID/KID (pytorch-fid Inception), SWD, pixel precision/recall, cfd and class "
        "coverage against real images; a VAE's test-set bounds")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument("--data", metavar="FOLDER", help="real images (default: the run's eval.real_path or data.path)")
    parser.add_argument("--metrics", metavar="LIST",
                        help="comma-separated fid, kid, swd, pr (pixel precision and recall), cfd, coverage "
                             "(default: the run's eval metrics, i.e. loop.eval_metric, with kid beside fid; "
                             "for a VAE run cfd,coverage)")
    parser.add_argument("--num-samples", type=int, metavar="N", help="generated images (default: 50000, the paper's)")
    parser.add_argument("--format", choices=("jpeg", "png"), help="format both image sets pass through (default: jpeg)")
    parser.add_argument("--jpeg-quality", type=int, metavar="Q", help="JPEG quality 1-95 (default: 75, PIL's)")
    parser.add_argument("--fid-weights", metavar="PATH", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth")
    parser.add_argument("--real-stats", metavar="NPZ", help="real statistics .npz (python -m pytorch_fid --save-stats)")
    parser.add_argument("--stats-dir", metavar="DIR", help="real statistics cache (default: ~/.cache/fpalib/fid-stats)")
    parser.add_argument("--dims", type=int, metavar="D", help="Inception feature size 64/192/768/2048 (default: 2048)")
    parser.add_argument("--batch-size", type=int, metavar="B", help="images per forward pass (default: 50)")
    parser.add_argument("--seed", type=int, help="seed of latents, subsets and projections (default: 0)")
    vae = parser.add_argument_group("VAE runs")
    vae.add_argument("--test-data", metavar="FOLDER", help="held-out images for the bounds (default: data.test_path)")
    vae.add_argument("--iw-samples", type=int, default=100, metavar="K",
                     help="samples of the importance-weighted bound (default: %(default)s; 0 skips it)")
    vae.add_argument("--iw-images", type=int, default=1000, metavar="N",
                     help="test images of the importance-weighted bound (default: %(default)s)")
    parser.add_argument("--no-log", action="store_true", help=f"do not append the results to the run's {METRICS_FILE}")


_OPTION_FIELDS = {"num_samples": "num_samples", "format": "image_format", "jpeg_quality": "jpeg_quality",
                  "fid_weights": "fid_weights", "real_stats": "real_stats", "stats_dir": "stats_dir",
                  "dims": "dims", "batch_size": "batch_size", "seed": "seed"}


def run(args: argparse.Namespace) -> int:
    state = load_checkpoint(args.run)
    changes = {field: getattr(args, option) for option, field in _OPTION_FIELDS.items()
               if getattr(args, option) is not None}
    if args.metrics is not None:
        changes["metrics"] = tuple(name.strip() for name in args.metrics.split(",") if name.strip())
        if not changes["metrics"]:
            raise FpaError("--metrics is empty; give e.g. --metrics fid,kid or --metrics swd")
    cfg, device = checkpoint_config(state), resolve_device(args.device)
    if cfg.objective == "vae":
        changes.setdefault("metrics", ("cfd", "coverage") if cfg.data.channels == 1 else ("swd",))
    results, evaluator = evaluate_checkpoint(state, args.data, ema=not args.raw, device=device, **changes)
    if cfg.objective == "vae":
        results = {**vae_bounds(state, args.test_data, iw_samples=args.iw_samples, iw_images=args.iw_images,
                                  device=device), **results}
    step = int(state.get("step", 0))
    print(f"step {step}: {format_results(results)}")
    run_dir = run_folder_of(args.run)
    if run_dir is not None and not args.no_log:
        record = {"step": step, **results, "evaluated_by": "fpa evaluate",
                  "num_samples": evaluator.cfg.num_samples, "format": evaluator.image_format.label,
                  "checkpoint": str(args.run), "ema": not args.raw}
        try:  # all or nothing; a damaged last line (from a crash) is dropped first
            append_line(run_dir / METRICS_FILE, json.dumps(record))
        except OSError as error:
            raise write_error(error, f"the results to {run_dir / METRICS_FILE}",
                              "the log is unchanged; free space or pass --no-log") from None
        print(f"appended to {run_dir / METRICS_FILE}")
    return 0
