"""Evaluation metrics: FID and KID through pytorch-fid's Inception; network-free SWD and pixel
precision/recall; :func:`make_evaluate_fn`, shared by ``fpa evaluate`` and the trainer."""

from __future__ import annotations

from fpalib.metrics.evaluate import Evaluator, format_results, make_evaluate_fn
from fpalib.metrics.fid import GaussianStats, frechet_distance, frechet_distance_reference
from fpalib.metrics.image_format import ImageFormat, through_format, to_uint8
from fpalib.metrics.inception import load_fid_inception, resolve_weights, save_random_inception_weights
from fpalib.metrics.kid import kernel_inception_distance, mmd2_unbiased
from fpalib.metrics.precision_recall import pixel_features, precision_recall
from fpalib.metrics.stats_cache import load_stats_file
from fpalib.metrics.swd import laplacian_pyramid, sliced_wasserstein_distance

__all__ = [
    "Evaluator", "GaussianStats", "ImageFormat", "format_results", "frechet_distance",
    "frechet_distance_reference", "kernel_inception_distance", "laplacian_pyramid", "load_fid_inception",
    "load_stats_file", "make_evaluate_fn", "mmd2_unbiased", "pixel_features", "precision_recall",
    "resolve_weights", "save_random_inception_weights", "sliced_wasserstein_distance", "through_format",
    "to_uint8",
]
