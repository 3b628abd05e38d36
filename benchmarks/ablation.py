"""The learning-rule / painting-steps ablation table in one command (fpalib.ablation).

Usage:
    python benchmarks/ablation.py --preset fashion28-vae --cpu-minutes 6 --seeds 0,1,2 --out runs/ablation-vae
    python benchmarks/ablation.py --preset fashion32-gan --cpu-minutes 5 --seeds 0,1,2 --out runs/ablation-gan-fashion32
    python benchmarks/ablation.py --data data/emoji --cpu-minutes 8 --seeds 0,1 --out runs/ablation
    python benchmarks/ablation.py --variants delta,authors-additive --cpu-minutes 5 --seeds 0
    python benchmarks/ablation.py --dry --data tests-images --out /tmp/ablation-dry   # seconds

Trains every variant x seed at the same CPU-time budget on the ``--preset`` (default
emoji32-cpu; a VAE preset such as fashion28-vae runs the VAE variants), skipping runs already
scored in ``--out`` (processes, one per seed, can share it: ``--seeds 0`` and ``--seeds 1``),
scores each as ``fpa evaluate`` does (GAN: SWD and pixel precision/recall of ``--num-samples``
EMA samples; VAE: test bounds, reconstruction error, cfd and class coverage), writes
``<out>/results.json`` and prints the Markdown table (mean and min-max over seeds). ``--dry``
swaps in the tiny ``smoke`` (or ``smoke-vae``) models, 2 steps and 8 samples, to check the
pipeline end to end (CI runs it).
Train with OMP_NUM_THREADS=1 on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fpalib.ablation import VAE_VARIANTS, VARIANTS, format_table, run_ablation
from fpalib.errors import FpaError
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.run_folder import write_atomically


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="emoji32-cpu")
    parser.add_argument("--data", default=None, help="training and real images (default: the preset's)")
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--variants", default=None,
                        help=f"comma-separated (default: all); GAN: {', '.join(VARIANTS)}; VAE: {', '.join(VAE_VARIANTS)}")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--cpu-minutes", type=float, default=None, help="CPU-time budget of each run")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget of each run")
    parser.add_argument("--steps", type=int, default=None, help="step cap of each run")
    parser.add_argument("--num-samples", type=int, default=None, help="generated images scored (default: 5000 on Fashion-MNIST, 1636 on emoji)")
    parser.add_argument("--iw-samples", type=int, default=100, help="VAE: samples of the importance-weighted bound")
    parser.add_argument("--iw-images", type=int, default=500, help="VAE: test images of the importance-weighted bound")
    parser.add_argument("--curve-every", type=int, default=500, help="VAE: steps between test -ELBO points of the curves")
    parser.add_argument("--json", default=None, help="also write the records (results.json) to this file")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dry", action="store_true", help="tiny models, 2 steps, 8 samples")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        base = get_preset(args.preset)
        vae = base.objective == "vae"
        if args.dry:
            base = get_preset("smoke-vae" if vae else "smoke")
        if args.data:
            base = apply_overrides(base, [f"data.path={args.data}"])
        classifier = vae or "cfd" in base.eval.metrics  # Fashion-MNIST: cfd of as many samples as the VAE rows
        steps, samples = (2, 8) if args.dry else (args.steps, args.num_samples or (5000 if classifier else 1636))
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        variants = None if args.variants is None else [v.strip() for v in args.variants.split(",") if v.strip()]
        records = run_ablation(base, args.out, variants=variants, seeds=seeds, minutes=args.minutes,
                               cpu_minutes=args.cpu_minutes, steps=steps, num_samples=samples,
                               iw_samples=2 if args.dry else args.iw_samples,
                               iw_images=8 if args.dry else args.iw_images,
                               curve_every=1 if args.dry else args.curve_every,
                               curve_images=8 if args.dry else 1000, device=args.device, progress=not args.dry)
    except FpaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_table(records))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(Path(args.json), json.dumps(records, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
