"""Cached real statistics (hit, miss, invalidation, pytorch-fid .npz files) and FID of a set against itself.

A randomly initialised FID Inception (hash check off) stands in for pytorch-fid's weights;
the 64-d features (its first block) keep the CPU cost low.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fpalib.data import ImageFolder
from fpalib.errors import FpaError
from fpalib.metrics.evaluate import Evaluator
from fpalib.metrics.stats_cache import load_stats_file, stored_key
from fpalib.train.eval_config import EvalConfig

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*singular.*covariance:UserWarning"),
    pytest.mark.usefixtures("one_thread"),
]


def image_folder(folder: Path, count: int, size: int = 16, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{index:03d}.png")
    return folder


def settings(weights: Path, stats_dir: Path, **changes) -> EvalConfig:
    base = EvalConfig(dims=64, num_samples=64, batch_size=32, kid_subsets=4, kid_subset_size=8, kid_features=64,
                      fid_weights=str(weights), stats_dir=str(stats_dir), image_format="png")
    return dataclasses.replace(base, **changes)


def evaluator(cfg: EvalConfig, real: Path, metrics=("fid", "kid")) -> Evaluator:
    return Evaluator(cfg, str(real), 16, 3, metrics, hash_prefix=None, progress=False)


class ReplayGenerator(nn.Module):
    """A stand-in generator that returns given images (N, C, H, W) in order, whatever the latents."""

    latent_dim = 2

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))
        self.images, self.position = images, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        batch = self.images[self.position : self.position + len(z)]
        self.position = (self.position + len(z)) % len(self.images)
        return batch


@pytest.mark.slow
def test_real_statistics_are_cached_and_recomputed_when_their_key_changes(random_weights, tmp_path):
    real = image_folder(tmp_path / "real", 8)
    cfg = settings(random_weights, tmp_path / "stats")
    first = evaluator(cfg, real)
    stats = first.real_stats(torch.device("cpu"))
    assert first.last_cache_hit is False and len(list((tmp_path / "stats").glob("*.npz"))) == 1
    again = evaluator(cfg, real)
    np.testing.assert_array_equal(again.real_stats(torch.device("cpu")).stats.sigma, stats.stats.sigma)
    assert again.last_cache_hit is True

    for changed in (dataclasses.replace(cfg, image_format="jpeg"), dataclasses.replace(cfg, jpeg_quality=90,
                    image_format="jpeg"), dataclasses.replace(cfg, dims=192, num_samples=192)):
        other = evaluator(changed, real)
        other.real_stats(torch.device("cpu"))
        assert other.last_cache_hit is False
    assert len(list((tmp_path / "stats").glob("*.npz"))) == 4

    image_folder(real, 1, seed=5)  # 000.png rewritten: the dataset changed
    os.utime(real / "000.png", ns=(1, 1))
    changed_data = evaluator(cfg, real)
    new_stats = changed_data.real_stats(torch.device("cpu"))
    assert changed_data.last_cache_hit is False
    assert not np.allclose(new_stats.stats.mu, stats.stats.mu)


def test_a_cache_file_with_another_key_is_recomputed(random_weights, tmp_path):
    real = image_folder(tmp_path / "real", 4)
    cfg = settings(random_weights, tmp_path / "stats")
    first = evaluator(cfg, real)
    first.real_stats(torch.device("cpu"))
    path = next((tmp_path / "stats").glob("*.npz"))
    key = stored_key(path)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["key"] = np.array('{"something": "else"}')
    np.savez_compressed(path, **arrays)
    with pytest.warns(UserWarning, match="recomputing"):
        evaluator(cfg, real).real_stats(torch.device("cpu"))
    assert stored_key(path) == key


def test_pytorch_fid_save_stats_files_are_accepted(random_weights, tmp_path):
    real = image_folder(tmp_path / "real", 2)
    rng = np.random.default_rng(0)
    mu, features = rng.standard_normal(64), rng.standard_normal((100, 64))
    path = tmp_path / "from_pytorch_fid.npz"
    np.savez_compressed(path, mu=mu, sigma=np.cov(features, rowvar=False))  # what --save-stats writes
    loaded = load_stats_file(path, dims=64)
    np.testing.assert_array_equal(loaded.stats.mu, mu)
    assert loaded.kid_features is None
    with pytest.raises(FpaError, match="64-d statistics but 2048-d"):
        load_stats_file(path, dims=2048)
    cfg = settings(random_weights, tmp_path / "stats", real_stats=str(path))
    assert evaluator(cfg, real, ("fid",)).real_stats(torch.device("cpu")).stats.count == 0
    generator = ReplayGenerator(torch.rand(64, 3, 16, 16) * 2 - 1)
    with pytest.raises(FpaError, match="no KID features"):
        evaluator(cfg, real, ("fid", "kid"))(generator)


def test_fid_refuses_fewer_samples_than_feature_dimensions(random_weights, tmp_path):
    with pytest.raises(FpaError, match="at least 2048 generated samples"):
        evaluator(settings(random_weights, tmp_path, dims=2048, num_samples=2047), tmp_path)
    evaluator(settings(random_weights, tmp_path, dims=2048, num_samples=100), tmp_path, ("kid",))  # KID has no minimum


@pytest.mark.slow
def test_fid_of_a_set_against_itself_is_zero_and_cached_equals_uncached(random_weights, tmp_path):
    real = image_folder(tmp_path / "real", 64)
    images = torch.stack([ImageFolder(real, 16)[i] for i in range(64)])
    cfg = settings(random_weights, tmp_path / "stats")
    uncached = evaluator(cfg, real)(ReplayGenerator(images))
    cached_evaluator = evaluator(cfg, real)
    cached = cached_evaluator(ReplayGenerator(images))
    assert cached_evaluator.last_cache_hit is True
    assert abs(uncached["fid"]) < 1e-6
    assert abs(uncached["kid"]) < 3 * uncached["kid_std"]  # unbiased: ~0 up to the spread of random subsets
    assert cached == pytest.approx(uncached, rel=1e-9, abs=1e-9)
    noisy = evaluator(cfg, real)(ReplayGenerator((images + 0.5 * torch.randn_like(images)).clamp(-1, 1)))
    assert noisy["fid"] > 1000 * max(abs(uncached["fid"]), 1e-6) and noisy["kid"] > 0
