"""The painter as a VAE decoder against its baseline decoder on Fashion-MNIST, measured in one run.

    python benchmarks/vae_fashion.py [--data data/fashion-mnist] [--models fpa-delta-vae-fashion28 conv-vae-fashion28]

For each model (a shipped name, a .pt file or a run folder of ``objective="vae"``), on the CPU:
the test-set -ELBO of all test images and the importance-weighted bound with ``--iw-samples``
samples on the first ``--iw-images`` (nats per image and bits per pixel), the mean squared
reconstruction error of the test images (pixels in [0, 1]), and from ``--samples`` prior samples
the classifier's Frechet distance (cfd) against ``--real`` training images and the class coverage
(:mod:`fpalib.metrics.classifier`). Reference rows: the test set itself, uniform noise, and one test
image repeated. Prints a Markdown table and writes ``--json`` (default
``benchmarks/results/vae-fashion28.json``); with ``--figures DIR`` also each model's first 64
samples (``vae_fashion28_samples_<model>.png``), test images above their reconstructions
(``vae_fashion28_recon_<model>.png``) and the test -ELBO curves of the models' training logs
(``vae_fashion28_curves.png``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from fpalib.data.arrays import ArrayImages
from fpalib.metrics.classifier import classifier_scores, classify, load_classifier
from fpalib.train.checkpoint import checkpoint_config, load_checkpoint, resolve_checkpoint, vae_from_checkpoint
from fpalib.train.run_log import read_metrics
from fpalib.train.vae_step import test_bounds
from fpalib.tutorial.experiments import metrics_file_for
from fpalib.viz import save_figure, save_grid


@torch.no_grad()
def measure(name: str, test_set: ArrayImages, classifier, real, args) -> dict[str, float]:
    path = resolve_checkpoint(name)
    state = load_checkpoint(path)
    vae = vae_from_checkpoint(state)
    started = time.monotonic()
    row = {"model": name, "generator": checkpoint_config(state).generator,
           "decoder_parameters": sum(p.numel() for p in vae.decoder.parameters()), "steps": int(state["step"])}
    row.update(test_bounds(vae, test_set, iw_samples=args.iw_samples, iw_limit=args.iw_images))
    images = test_set.tensors()
    recon = torch.cat([vae.reconstruct(batch) for batch in images.split(500)])
    row["recon_mse"] = float(((recon - images) / 2).pow(2).mean())
    latents = torch.randn(args.samples, vae.decoder.latent_dim, generator=torch.Generator().manual_seed(args.seed))
    samples = torch.cat([vae.decoder(batch) for batch in latents.split(500)])
    row.update(classifier_scores(classifier, samples, real))
    row["eval_seconds"] = time.monotonic() - started
    if args.figures is not None:
        save_grid(samples[:64], args.figures / f"vae_fashion28_samples_{name}.png", nrow=8)
        save_grid(torch.cat([images[:16], recon[:16]]), args.figures / f"vae_fashion28_recon_{name}.png", nrow=16)
    return row


def curves_figure(names: list[str], path: Path) -> None:
    """Test -ELBO (of the first 2,000 test images, as logged during training) against training steps."""
    figure = Figure(figsize=(5.5, 3.0), layout="constrained")
    axis = figure.subplots()
    for name in names:
        records = read_metrics(metrics_file_for(resolve_checkpoint(name)))
        points = [(r["step"], r["test_nelbo"]) for r in records if "test_nelbo" in r]
        if points:
            axis.plot(*zip(*points), marker=".", label=name)
    axis.set_xlabel("training step (batch 64)")
    axis.set_ylabel("test -ELBO (nats), 2,000 images")
    axis.legend()
    save_figure(figure, path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/fashion-mnist"))
    parser.add_argument("--models", nargs="+", default=["fpa-delta-vae-fashion28", "conv-vae-fashion28"])
    parser.add_argument("--iw-samples", type=int, default=100)
    parser.add_argument("--iw-images", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--real", type=int, default=10_000, help="training images the cfd compares with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/vae-fashion28.json"))
    parser.add_argument("--figures", type=Path, help="also write sample, reconstruction and curve figures here")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    train_set, test_set = ArrayImages(args.data / "train"), ArrayImages(args.data / "test")
    classifier = load_classifier()
    real = classify(classifier, train_set.tensors()[:args.real])
    rows = [measure(name, test_set, classifier, real, args) for name in args.models]
    if args.figures is not None:
        curves_figure(args.models, args.figures / "vae_fashion28_curves.png")
    test_images = test_set.tensors()
    one = test_images[:1].expand(args.samples, -1, -1, -1) + 1e-4 * torch.randn(args.samples, 1, 28, 28)
    noise = torch.rand(args.samples, 1, 28, 28, generator=torch.Generator().manual_seed(args.seed)) * 2 - 1
    references = [{"model": f"reference: {what}", **classifier_scores(classifier, images, real)}
                  for what, images in (("test set", test_images), ("uniform noise", noise),
                                       ("one test image, repeated", one))]
    print(f"{len(test_set)} test images; bound with k = {args.iw_samples} on the first {args.iw_images}; "
          f"{args.samples} samples against {args.real} training images\n")
    print("| model | decoder params | steps | test -ELBO (nats) | bits/dim | IW bound (nats) | KL | recon MSE | cfd | "
          "classes covered | class share min-max | class KL |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for row in rows + references:
        def cell(key, fmt):
            return format(row[key], fmt) if key in row else "-"
        print(f"| {row['model']} | {cell('decoder_parameters', ',')} | {cell('steps', ',')} | "
              f"{cell('test_nelbo', '.1f')} | {cell('test_nelbo_bpd', '.3f')} | {cell('test_iw_nll', '.1f')} | "
              f"{cell('test_kl', '.1f')} | {cell('recon_mse', '.4f')} | {row['cfd']:.2f} | "
              f"{row['classes_covered']:.0f} | {row['class_min']:.3f}-{row['class_max']:.3f} | {row['class_kl']:.3f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "rows": rows,
                                     "references": references}, indent=1, default=float) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
