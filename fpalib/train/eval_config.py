"""The ``eval`` section of an ExperimentConfig: how ``fpa evaluate`` and the trainer score a generator.

The metrics themselves live in :mod:`fpalib.metrics`; this module only holds their settings so
that the configuration does not import the Inception network.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

from jsonargparse.typing import PositiveInt, restricted_number_type

from fpalib.errors import Checked, FpaError

Metric = Literal["fid", "kid", "swd", "pr", "cfd", "coverage"]
EVAL_METRICS: tuple[str, ...] = typing.get_args(Metric)
JpegQuality = restricted_number_type("JpegQuality", int, [(">=", 1), ("<=", 95)])
AtLeastTwo = restricted_number_type("AtLeastTwo", int, (">=", 2))


@dataclass
class EvalConfig(Checked):
    """Evaluation of the generator (``fpa evaluate``; in training every ``loop.eval_every`` steps).

    Attributes:
        metrics: names among fid, kid, swd, pr (pixel precision and recall), cfd and coverage (in
            the features / classes of the shipped Fashion-MNIST classifier); empty means
            ``loop.eval_metric`` (with kid beside fid).
        num_samples: generated images per evaluation (paper: 50K, App. B.4); FID refuses fewer than dims.
        real_path: folder of real images; None means ``data.path``.
        image_format: the format both image sets pass through before Inception ("jpeg" as in the
            paper, App. B.4, or "png").
        jpeg_quality: its JPEG quality; 75 is PIL's default.
        fid_weights: pytorch-fid's Inception weights file; None: $FPA_FID_WEIGHTS, torch hub's cache, download.
        real_stats: an .npz of real statistics (e.g. ``python -m pytorch_fid --save-stats``) to use as is.
        stats_dir: cache of real statistics; None: $FPA_STATS_DIR or ~/.cache/fpalib/fid-stats.
        dims: Inception feature size (2048, the FID standard; 64, 192 or 768 for quick checks).
        max_real: real images used (None: all, as in the paper).
        batch_size: images per Inception / generator forward pass.
        kid_subsets: number of KID's random subsets.
        kid_subset_size: images per KID subset.
        kid_features: real/generated features kept for KID.
        swd_images: images per set for SWD and pr (fewer when the real set is smaller).
        seed: seed of the latents, subsets and SWD projections (the same at every evaluation).
    """

    metrics: tuple[Metric, ...] = ()
    num_samples: PositiveInt = 50_000
    real_path: str | None = None
    image_format: Literal["jpeg", "png"] = "jpeg"
    jpeg_quality: JpegQuality = 75
    fid_weights: str | None = None
    real_stats: str | None = None
    stats_dir: str | None = None
    dims: Literal[64, 192, 768, 2048] = 2048
    max_real: AtLeastTwo | None = None
    batch_size: PositiveInt = 50
    kid_subsets: PositiveInt = 100
    kid_subset_size: AtLeastTwo = 1000
    kid_features: AtLeastTwo = 10_000
    swd_images: PositiveInt = 8192
    seed: int = 0

    def resolved_metrics(self, eval_metric: str) -> tuple[str, ...]:
        """``metrics``, or for an empty tuple ``eval_metric`` (plus "kid" when it is "fid"), which must
        then name a metric (``metrics`` are checked by their annotation)."""
        if self.metrics:
            return tuple(self.metrics)
        if eval_metric not in EVAL_METRICS:
            raise FpaError(f"unknown metric {eval_metric!r} (loop.eval_metric); choose from {', '.join(EVAL_METRICS)} "
                           "or list the metrics to compute with --eval.metrics")
        return ("fid", "kid") if eval_metric == "fid" else (eval_metric,)
