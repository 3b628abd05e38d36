"""FID cost: Inception feature extraction speed, and the time cached real statistics save.

Usage:
    python benchmarks/bench_fid.py                         # CPU (and CUDA when present)
    python benchmarks/bench_fid.py --device cpu --real 256 --batch-sizes 25,50

Rows of the first table: images/s through pytorch-fid's FID Inception (2048-d pool features,
inputs resized to 299x299 inside) per device and batch size, including the JPEG round trip of
the paper's protocol ("jpeg") or not ("none"). The weights' values do not change the speed, so
a randomly initialised network is used unless --fid-weights names pytorch-fid's file.

The second table: the real-image statistics of ``--real`` images of ``--data`` (default: the
emoji set) computed from the images (a cache miss: decode, resize, JPEG, Inception) and read
from the cache (a hit), and the time one evaluation of the authors' code would spend on them
at 50K samples per evaluation (Irie & Schmidhuber, 2023, App. B.4) for a data set of that size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from fpalib.metrics.evaluate import Evaluator
from fpalib.metrics.features import image_features
from fpalib.metrics.image_format import ImageFormat, through_format
from fpalib.metrics.inception import load_fid_inception, save_random_inception_weights
from fpalib.profiling import median_seconds
from fpalib.train.eval_config import EvalConfig

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", action="append", help="cpu, cuda (repeatable; default: cpu and cuda if present)")
    parser.add_argument("--batch-sizes", default="10,50", help="comma-separated (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=64, help="generated image side before Inception's resize")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data" / "emoji", help="real images (cache rows)")
    parser.add_argument("--real", type=int, default=200, help="real images for the cache rows (default: %(default)s)")
    parser.add_argument("--fid-weights", type=Path, help="pytorch-fid's weights file (default: random weights)")
    parser.add_argument("--min-run-time", type=float, default=2.0, help="seconds per timing (default: %(default)s)")
    return parser.parse_args()


def extraction_rows(weights: Path, devices: list[str], batch_sizes: list[int], image_size: int,
                    min_run_time: float, hash_prefix: str | None) -> list[tuple]:
    rows = []
    for device in devices:
        model = load_fid_inception(weights, 2048, device, hash_prefix=hash_prefix)
        for batch_size in batch_sizes:
            pixels = torch.randint(0, 256, (batch_size, 3, image_size, image_size), dtype=torch.uint8)
            calls = {
                "none": lambda model=model, pixels=pixels: image_features(model, pixels.float().div(255)),
                "jpeg": lambda model=model, pixels=pixels: image_features(
                    model, through_format(pixels, ImageFormat("jpeg"))),
            }
            for protocol, call in calls.items():
                seconds = median_seconds(call, min_run_time=min_run_time)
                rows.append((device, batch_size, protocol, batch_size / seconds))
    return rows


def cache_rows(weights: Path, data: Path, real: int, hash_prefix: str | None) -> list[tuple]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as stats_dir:
        cfg = EvalConfig(fid_weights=str(weights), stats_dir=stats_dir, max_real=real, kid_features=real)
        timings = []
        for _ in range(2):  # the first call computes and caches, the second reads the cache
            evaluator = Evaluator(cfg, str(data), 64, 3, ("fid", "kid"), hash_prefix=hash_prefix, progress=False)
            started = time.perf_counter()
            evaluator.real_stats(device)
            timings.append((time.perf_counter() - started, evaluator.last_cache_hit))
    return [(f"{real} images, {'hit' if hit else 'miss'}", seconds) for seconds, hit in timings]


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        weights, hash_prefix = args.fid_weights, "expected"
        if weights is None:
            weights, hash_prefix = save_random_inception_weights(Path(folder) / "random.pth"), None
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
              f"{'pytorch-fid weights' if args.fid_weights else 'random weights (same speed)'}")
        print("\nInception feature extraction (2048-d, inputs resized to 299x299)")
        print(f"{'device':<8}{'batch':>6}  {'format':<7}{'images/s':>10}")
        for device, batch_size, protocol, rate in extraction_rows(
                weights, devices, batch_sizes, args.image_size, args.min_run_time, hash_prefix):
            print(f"{device:<8}{batch_size:>6}  {protocol:<7}{rate:>10.1f}")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        print(f"\nReal statistics of {args.data} at 64x64, JPEG (device: {device})")
        rows = cache_rows(weights, args.data, args.real, hash_prefix)
        for label, seconds in rows:
            print(f"{label:<24}{seconds:>10.3f} s")
        miss, hit = rows[0][1], rows[1][1]
        print(f"cache saves {miss - hit:.2f} s per evaluation ({miss / max(hit, 1e-9):.0f}x) at this size; the real "
              f"side scales with the data set (CelebA: 203K images, {203_000 / args.real * miss / 60:.0f} min "
              "at this speed, paid once instead of at every evaluation)")


if __name__ == "__main__":
    main()
