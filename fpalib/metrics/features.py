"""Inception features of an image stream, summarised without storing them all.

pytorch-fid keeps every feature vector ((n, 2048) float64: 1.6 GB for CelebA's 203K images)
before taking the mean and covariance. :class:`FeatureAccumulator` keeps float64 running sums
instead (shifted by the first batch's mean, which keeps the covariance free of cancellation),
plus the first ``keep`` vectors for KID. The tests compare its statistics with ``np.cov``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from fpalib.errors import FpaError
from fpalib.metrics.fid import GaussianStats


class FeatureAccumulator:
    """Running mean and covariance of feature vectors (n, d), and the first ``keep`` of them.

    add(features (b, d)) any number of times; :meth:`stats` gives a :class:`GaussianStats`
    (covariance normalised by n - 1, like ``np.cov``); :attr:`kept` the stored vectors (k, d) float32.
    """

    def __init__(self, keep: int = 0) -> None:
        self.keep = keep
        self.count = 0
        self._shift: np.ndarray | None = None
        self._sum: np.ndarray | None = None
        self._outer: np.ndarray | None = None
        self._kept: list[np.ndarray] = []
        self._kept_count = 0

    def add(self, features: np.ndarray) -> None:
        features = np.asarray(features, dtype=np.float64)
        if self._shift is None:
            self._shift = features.mean(axis=0)
            self._sum = np.zeros_like(self._shift)
            self._outer = np.zeros((features.shape[1], features.shape[1]))
        centred = features - self._shift
        self._sum += centred.sum(axis=0)
        self._outer += centred.T @ centred
        self.count += features.shape[0]
        if self._kept_count < self.keep:
            taken = features[: self.keep - self._kept_count].astype(np.float32)
            self._kept.append(taken)
            self._kept_count += taken.shape[0]

    def stats(self) -> GaussianStats:
        if self.count < 2:
            raise FpaError(f"need at least 2 images for feature statistics; got {self.count}")
        mean_centred = self._sum / self.count
        covariance = (self._outer - self.count * np.outer(mean_centred, mean_centred)) / (self.count - 1)
        return GaussianStats(self._shift + mean_centred, (covariance + covariance.T) / 2, self.count)

    @property
    def kept(self) -> np.ndarray:
        width = 0 if self._shift is None else self._shift.shape[0]
        return np.concatenate(self._kept) if self._kept else np.zeros((0, width), np.float32)


@torch.no_grad()
def image_features(model: nn.Module, images: Tensor) -> np.ndarray:
    """Inception features (N, dims) float64 of images (N, 3, H, W) in [0, 1] (on the model's device).

    Feature maps larger than 1x1 (dims < 2048) are average-pooled, as pytorch-fid does.
    """
    device = next(model.parameters()).device
    features = model(images.to(device))[0]
    if features.shape[2:] != (1, 1):
        features = F.adaptive_avg_pool2d(features, output_size=(1, 1))
    return features.flatten(1).double().cpu().numpy()


def accumulate_features(
    model: nn.Module,
    batches: Iterable[Tensor],
    *,
    keep: int = 0,
    total: int | None = None,
    description: str = "Inception features",
    progress: bool = True,
) -> FeatureAccumulator:
    """Feed batches of images (b, 3, H, W) in [0, 1] through ``model``; returns the filled accumulator.

    total: the number of images, for the progress bar.
    """
    accumulator = FeatureAccumulator(keep=keep)
    with tqdm(total=total, desc=description, unit="img", disable=not progress, leave=False) as bar:
        for batch in batches:
            accumulator.add(image_features(model, batch))
            bar.update(batch.shape[0])
    return accumulator
