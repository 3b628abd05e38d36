"""One evaluation routine for ``fpa evaluate`` and the trainer: FID, KID, SWD, precision/recall,
and for Fashion-MNIST the classifier's Frechet distance (cfd) and class coverage.

    evaluate_fn = make_evaluate_fn(cfg)          # cfg: ExperimentConfig; reads cfg.eval
    evaluate_fn(generator, step)                 # -> {"fid": 23.1, "kid": 0.012, "kid_std": ...}

Protocol (Irie & Schmidhuber, 2023, Sec. 4.1 and App. B.4): ``eval.num_samples`` generated
images (50K) against all real images, both at the training resolution, quantised to 8 bits and
passed through one file format (JPEG in the paper) before pytorch-fid's Inception. The real
statistics are cached (:mod:`fpalib.metrics.stats_cache`). Latents come from ``eval.seed``, so
successive evaluations score the same latents. The Inception weights are looked up when the
evaluator is made, so a missing file stops ``fpa train`` at once rather than after hours.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from fpalib.data import seeded_subset
from fpalib.data.arrays import open_images
from fpalib.errors import FpaError
from fpalib.metrics.features import FeatureAccumulator, accumulate_features
from fpalib.metrics.classifier import classifier_scores, classify, load_classifier
from fpalib.metrics.fid import frechet_distance
from fpalib.metrics.image_format import ImageFormat, through_format, to_uint8
from fpalib.metrics.inception import check_weights_hash, expected_hash_prefix, load_fid_inception, resolve_weights
from fpalib.metrics.kid import kernel_inception_distance
from fpalib.metrics.precision_recall import kth_neighbour_radii, pixel_features, precision_recall
from fpalib.metrics.stats_cache import RealStats, cached_real_stats, load_stats_file, stats_key
from fpalib.metrics.swd import sliced_wasserstein_distance
from fpalib.sampling import sample_batches
from fpalib.train.checkpoint import (
    checkpoint_config,
    generator_from_checkpoint,
    load_checkpoint,
    vae_from_checkpoint,
)
from fpalib.train.config import ExperimentConfig
from fpalib.train.eval_config import EvalConfig
from fpalib.train.runtime import eval_mode

INCEPTION_METRICS = ("fid", "kid")


class Evaluator:
    """Scores generators against the real images under ``real_path`` at the training resolution;
    call it as ``evaluator(generator, step)``. metrics: names among fid, kid, swd, pr. hash_prefix:
    of the weights' SHA-256 ("expected": pytorch-fid's; None: unchecked, for random test weights)."""

    def __init__(
        self,
        eval_cfg: EvalConfig,
        real_path: str,
        image_size: int,
        channels: int = 3,
        metrics: tuple[str, ...] = ("fid", "kid"),
        *,
        allow_download: bool = True,
        hash_prefix: str | None = "expected",
        progress: bool = True,
    ) -> None:
        self.cfg = eval_cfg.validate()
        self.metrics = tuple(dict.fromkeys(metrics))
        self.real_path, self.image_size, self.channels = real_path, image_size, channels
        self.image_format = ImageFormat(eval_cfg.image_format, eval_cfg.jpeg_quality)
        self.progress = progress
        self.hash_prefix = expected_hash_prefix() if hash_prefix == "expected" else hash_prefix
        self.uses_inception = any(name in INCEPTION_METRICS for name in self.metrics)
        if "fid" in self.metrics and eval_cfg.num_samples < eval_cfg.dims:
            raise FpaError(
                f"FID with {eval_cfg.dims}-d features needs at least {eval_cfg.dims} generated samples (their "
                f"covariance is singular otherwise); got --num-samples {eval_cfg.num_samples}. The paper uses 50000"
            )
        self.weights = self._weights_sha = None
        if self.uses_inception:
            self.weights = resolve_weights(eval_cfg.fid_weights, allow_download=allow_download)
            self._weights_sha = check_weights_hash(self.weights, self.hash_prefix)
        self._inception: nn.Module | None = None
        self._real: RealStats | None = None
        self._real_pixels: Tensor | None = None
        self._real_manifold: tuple[Tensor, Tensor] | None = None  # pixel features and their k-NN radii
        self.last_cache_hit: bool | None = None
        self._real_classified: tuple[np.ndarray, np.ndarray] | None = None
        self.classifier = load_classifier() if {"cfd", "coverage"} & set(self.metrics) else None

    # ------------------------------------------------------------------ Inception side
    def inception(self, device: torch.device) -> nn.Module:
        """pytorch-fid's network on ``device`` (loaded and hash-checked once)."""
        if self._inception is None:  # the file's hash was checked in __init__
            self._inception = load_fid_inception(self.weights, self.cfg.dims, device, hash_prefix=None)
        return self._inception.to(device)

    def real_stats(self, device: torch.device) -> RealStats:
        """Statistics of the real images: ``eval.real_stats``, else the cache, else computed (and cached)."""
        if self._real is not None:
            return self._real
        if self.cfg.real_stats is not None:
            self._real = load_stats_file(self.cfg.real_stats, dims=self.cfg.dims)
            return self._real
        model = self.inception(device)
        key = stats_key(
            self.real_path, image_size=self.image_size, channels=self.channels, format=self.image_format.label,
            dims=self.cfg.dims, weights_sha256=self._weights_sha, max_real=self.cfg.max_real,
            kid_features=self.cfg.kid_features,
        )
        self._real, self.last_cache_hit = cached_real_stats(key, self.cfg.stats_dir, lambda: self._compute_real(model))
        return self._real

    def _compute_real(self, model: nn.Module) -> RealStats:
        dataset = self._real_dataset(self.cfg.max_real)
        if len(dataset) < self.cfg.dims and "fid" in self.metrics:
            warnings.warn(f"{len(dataset)} real images give a singular {self.cfg.dims}-d covariance; FID is "
                          "then only a rough guide (use more images or a smaller eval.dims)", stacklevel=3)
        loader = DataLoader(dataset, batch_size=self.cfg.batch_size, shuffle=False)
        accumulator = self._features(model, loader, len(dataset), "real images")
        return RealStats(accumulator.stats(), accumulator.kept)

    def _features(self, model: nn.Module, batches: Iterable[Tensor], total: int, what: str) -> FeatureAccumulator:
        """Inception statistics of image batches (b, C, H, W) in [-1, 1], as 8-bit files would give them."""
        formatted = (through_format(to_uint8(images), self.image_format) for images in batches)
        return accumulate_features(model, formatted, keep=self.cfg.kid_features, total=total, description=what,
                                   progress=self.progress)

    def _real_dataset(self, limit: int | None) -> Subset:
        """At most ``limit`` real images, a random subset drawn with ``eval.seed``."""
        return seeded_subset(open_images(self.real_path, self.image_size, self.channels), self.cfg.seed, limit)

    # ------------------------------------------------------------------ generated side
    def _latent_batches(self, generator: nn.Module, count: int) -> Iterator[Tensor]:
        """Images (b, C, H, W) in [-1, 1] on the CPU for the ``count`` latents of ``eval.seed``
        (:func:`fpalib.sampling.sample_batches`: the latents of fpa generate for that seed)."""
        return sample_batches(generator, count, self.cfg.seed, self.cfg.batch_size)

    def __call__(self, generator: nn.Module, step: int | None = None) -> dict[str, float]:
        """Evaluate ``generator`` (in eval mode for the duration); returns ``{metric: value}``."""
        with eval_mode(generator):
            return self._evaluate(generator)

    def _evaluate(self, generator: nn.Module) -> dict[str, float]:
        device = next(generator.parameters()).device
        results: dict[str, float] = {}
        if self.uses_inception:
            real = self.real_stats(device)
            if "kid" in self.metrics and (real.kid_features is None or len(real.kid_features) < 2):
                raise FpaError(f"{self.cfg.real_stats} holds no KID features (a pytorch-fid .npz has only mu "
                               "and sigma); drop kid from --metrics or let fpalib compute the statistics")
            fake = self._features(self.inception(device), self._latent_batches(generator, self.cfg.num_samples),
                                  self.cfg.num_samples, "generated images")
            if "fid" in self.metrics:
                results["fid"] = frechet_distance(real.stats, fake.stats())
            if "kid" in self.metrics:
                results["kid"], results["kid_std"] = kernel_inception_distance(
                    real.kid_features.astype(np.float64), fake.kept.astype(np.float64), subsets=self.cfg.kid_subsets,
                    subset_size=self.cfg.kid_subset_size, seed=self.cfg.seed,
                )
        if "swd" in self.metrics or "pr" in self.metrics:
            real, fake = self._pixel_sets(generator)
            if "swd" in self.metrics:
                results.update(sliced_wasserstein_distance(real.float(), fake.float(), seed=self.cfg.seed))
            if "pr" in self.metrics:
                if self._real_manifold is None:
                    features = pixel_features(real)
                    self._real_manifold = features, kth_neighbour_radii(features)
                features, radii = self._real_manifold
                results.update(precision_recall(features, pixel_features(fake), real_radii=radii))
        if "cfd" in self.metrics or "coverage" in self.metrics:
            results.update(self._classifier_metrics(generator))
        return results

    def _classifier_metrics(self, generator: nn.Module) -> dict[str, float]:
        """cfd and class coverage of ``eval.num_samples`` generated images against at most
        ``eval.max_real`` (default 10,000) real ones, in the shipped classifier's features."""
        if self.channels != 1:
            raise FpaError("cfd and coverage use a Fashion-MNIST classifier of grey images; evaluate a 1-channel model")
        if self._real_classified is None:
            dataset = self._real_dataset(self.cfg.max_real or 10_000)
            self._real_classified = classify(self.classifier, torch.cat(list(DataLoader(dataset, batch_size=500))))
        fake = torch.cat(list(self._latent_batches(generator, self.cfg.num_samples)))
        return classifier_scores(self.classifier, fake, self._real_classified, self.metrics)

    def _pixel_sets(self, generator: nn.Module) -> tuple[Tensor, Tensor]:
        """Equally many real and generated images (N, C, H, W) as 8-bit pixels (no file format)."""
        if self._real_pixels is None:
            dataset = self._real_dataset(min(self.cfg.swd_images, self.cfg.num_samples))
            loader = DataLoader(dataset, batch_size=max(self.cfg.batch_size, 64), shuffle=False)
            self._real_pixels = torch.cat([to_uint8(batch) for batch in loader])
        count = len(self._real_pixels)
        fake = torch.cat([to_uint8(images) for images in self._latent_batches(generator, count)])
        return self._real_pixels, fake


def make_evaluate_fn(cfg: ExperimentConfig, **options: Any) -> Evaluator:
    """The trainer's ``evaluate_fn(generator, step) -> {name: value}`` for ``cfg``, on the generator's
    device. ``options`` go to :class:`Evaluator`."""
    if cfg.loop.eval_metric == "pr":
        raise FpaError("loop.eval_metric cannot be pr: best.pt keeps the lowest value, and precision and recall "
                       "are better when higher; choose fid, kid or swd and add pr with --eval.metrics swd,pr")
    metrics = cfg.eval.resolved_metrics(cfg.loop.eval_metric)
    if cfg.loop.eval_metric not in metrics and cfg.objective == "gan":  # a VAE's may be a test bound (test_nelbo)
        raise FpaError(f"loop.eval_metric {cfg.loop.eval_metric!r} is not among the evaluated metrics "
                       f"{', '.join(metrics)}; set --eval.metrics or --loop.eval_metric")
    real_path = cfg.eval.real_path or cfg.data.path
    return Evaluator(cfg.eval, real_path, cfg.data.image_size, cfg.data.channels, metrics, **options)


def vae_bounds(state: dict[str, Any], test_path: str | Path | None = None, *, iw_samples: int = 100,
               iw_images: int = 1000, device: Any = "cpu") -> dict[str, float]:
    """A VAE checkpoint's test bounds (:func:`~fpalib.train.vae_step.test_bounds`: -ELBO and the
    reconstruction error of every image in ``test_path``, default ``data.test_path``; the bound with
    ``iw_samples`` on the first ``iw_images``), with the counts of images used."""
    from fpalib.train.vae_step import test_bounds

    cfg = checkpoint_config(state)
    folder = test_path or cfg.data.test_path
    if folder is None:
        raise FpaError("this VAE run has no data.test_path; pass --test-data with held-out images")
    if iw_samples < 0 or iw_images < 1:
        raise FpaError("--iw-samples must be at least 0 and --iw-images at least 1")
    dataset = open_images(str(folder), cfg.data.image_size, cfg.data.channels)
    bounds = test_bounds(vae_from_checkpoint(state, device), dataset, iw_samples=iw_samples, iw_limit=iw_images)
    return {**bounds, "test_images": len(dataset), "iw_images": min(iw_images, len(dataset))}


def score_checkpoint(
    checkpoint: str | Path | dict[str, Any], real_path: str | Path | None = None, *, ema: bool = True,
    device: Any = "cpu", progress: bool = False, test_path: str | Path | None = None, iw_samples: int = 100,
    iw_images: int = 1000, **eval_fields: Any,
) -> dict[str, float]:
    """What ``fpa evaluate CHECKPOINT --data REAL_PATH --num-samples N --seed S ...`` prints, as
    ``{metric: value}``: the one evaluation entry point (``fpa evaluate``, the ablation, notebooks).

    ``checkpoint``: a path (:func:`~fpalib.train.checkpoint.load_checkpoint`) or a loaded state;
    EMA weights unless not ``ema``. The checkpoint's ``eval`` section with ``eval_fields``
    (``metrics``, ``num_samples``, ``seed``, ...) replaced, against ``real_path`` (default:
    eval.real_path, else data.path); a VAE's metrics default to cfd and coverage for one channel,
    else swd, and its test bounds come first (:func:`vae_bounds` with ``test_path``, ``iw_samples``,
    ``iw_images``). Nothing is logged.
    """
    state = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    cfg = checkpoint_config(state)
    vae = cfg.objective == "vae"
    if vae and eval_fields.get("metrics") is None:
        eval_fields["metrics"] = ("cfd", "coverage") if cfg.data.channels == 1 else ("swd",)
    cfg.eval = dataclasses.replace(cfg.eval, **eval_fields).validate()
    evaluator = Evaluator(cfg.eval, str(real_path or cfg.eval.real_path or cfg.data.path), cfg.data.image_size,
                          cfg.data.channels, cfg.eval.resolved_metrics(cfg.loop.eval_metric), progress=progress)
    scores = evaluator(generator_from_checkpoint(state, ema=ema, device=device), int(state.get("step", 0)))
    if not vae:
        return scores
    return {**vae_bounds(state, test_path, iw_samples=iw_samples, iw_images=iw_images, device=device), **scores}


def format_results(results: dict[str, float]) -> str:
    """``"fid 23.41  kid 0.0123 +- 0.0004  swd 12.3 (32px 10.1, 16px 14.5)"``."""
    parts = []
    if "test_nelbo" in results:
        parts.append(f"test -elbo {results['test_nelbo']:.2f} nats ({results['test_nelbo_bpd']:.4f} bits/dim; "
                     f"kl {results['test_kl']:.2f})")
    if "recon_mse" in results:
        parts.append(f"recon mse {results['recon_mse']:.5f}")
    if "test_iw_nll" in results:
        parts.append(f"iw bound (k={results['iw_samples']:.0f}) {results['test_iw_nll']:.2f} nats "
                     f"({results['test_iw_nll_bpd']:.4f} bits/dim)")
    if "fid" in results:
        parts.append(f"fid {results['fid']:.3f}")
    if "kid" in results:
        parts.append(f"kid {results['kid']:.5f} +- {results.get('kid_std', math.nan):.5f}")
    if "swd" in results:
        levels = ", ".join(f"{key[4:]}px {value:.2f}" for key, value in results.items() if key.startswith("swd_"))
        parts.append(f"swd {results['swd']:.2f} ({levels})")
    if "precision" in results:
        parts.append(f"precision {results['precision']:.3f}  recall {results['recall']:.3f}")
    if "cfd" in results:
        parts.append(f"cfd {results['cfd']:.3f}")
    if "classes_covered" in results:
        parts.append(f"classes {results['classes_covered']:.0f}/10 (shares {results['class_min']:.3f}-"
                     f"{results['class_max']:.3f}, kl {results['class_kl']:.4f})")
    return "  ".join(parts)
