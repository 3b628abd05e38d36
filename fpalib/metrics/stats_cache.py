"""Statistics of the real images, computed once and cached as pytorch-fid ``.npz`` files.

A cache file holds pytorch-fid's arrays ``mu`` and ``sigma`` (so ``python -m pytorch_fid
stats.npz generated/`` reads it), plus ``kid_features`` (a random subset of the real features,
for KID) and ``key``. The key describes everything the numbers depend on: the dataset (folder,
and path, size and mtime of every image), resolution, channels, image format, feature size,
the weights' SHA-256, the image counts and :data:`PROTOCOL_VERSION`; any change gives another
file name, and a file whose stored key differs is recomputed. An ``.npz`` written by ``python
-m pytorch_fid --save-stats`` may be given instead (:func:`load_stats_file`; no key, no KID).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fpalib.data import find_images
from fpalib.errors import FpaError
from fpalib.metrics.fid import GaussianStats

PROTOCOL_VERSION = 1
"""Bump when the way real images become features changes (resizing, quantisation ...)."""
STATS_DIR_ENV = "FPA_STATS_DIR"


@dataclass
class RealStats:
    """Statistics of the real images: Gaussian ``stats`` and ``kid_features`` (k, d) float32 or None."""

    stats: GaussianStats
    kid_features: np.ndarray | None = None


def dataset_fingerprint(folder: str | Path) -> dict[str, Any]:
    """The folder's absolute path, image count and a SHA-256 over (relative path, size, mtime) of each image."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FpaError(f"real image folder '{folder}' does not exist; pass --data with the training images")
    digest = hashlib.sha256()
    paths = find_images(folder)
    for path in paths:
        status = path.stat()
        digest.update(f"{path.relative_to(folder).as_posix()}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return {"folder": str(folder), "images": len(paths), "files_sha256": digest.hexdigest()}


def stats_key(folder: str | Path, **protocol: Any) -> dict[str, Any]:
    """The JSON-able description that names one cached statistics file: the protocol version, the
    dataset's fingerprint and ``protocol`` (image_size, channels, format, dims, weights_sha256,
    max_real, kid_features)."""
    return {"protocol": PROTOCOL_VERSION, "dataset": dataset_fingerprint(folder), **protocol}


def cache_file(key: dict[str, Any], stats_dir: str | Path | None = None) -> Path:
    """``<stats_dir>/<folder name>-<size>px-<format>-<dims>d-<key hash>.npz``; the default folder is
    ``$FPA_STATS_DIR`` or ``~/.cache/fpalib/fid-stats``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(key["dataset"]["folder"]).name) or "data"
    default = os.environ.get(STATS_DIR_ENV) or Path.home() / ".cache" / "fpalib" / "fid-stats"
    folder = Path(stats_dir if stats_dir is not None else default)
    return folder / f"{name}-{key['image_size']}px-{key['format']}-{key['dims']}d-{digest}.npz"


def save_stats(path: str | Path, real: RealStats, key: dict[str, Any] | None = None) -> Path:
    """Write ``mu``, ``sigma`` (pytorch-fid's names), ``count``, ``kid_features`` and ``key`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"mu": real.stats.mu, "sigma": real.stats.sigma, "count": np.array(real.stats.count)}
    if real.kid_features is not None:
        arrays["kid_features"] = real.kid_features.astype(np.float32)
    if key is not None:
        arrays["key"] = np.array(json.dumps(key, sort_keys=True))
    temporary = path.with_name(f".{path.stem}.tmp.npz")
    np.savez_compressed(temporary, **arrays)
    os.replace(temporary, path)
    return path


def load_stats_file(path: str | Path, dims: int | None = None) -> RealStats:
    """Read an ``.npz`` with ``mu`` and ``sigma`` (ours or ``python -m pytorch_fid --save-stats``)."""
    path = Path(path)
    if not path.is_file():
        raise FpaError(f"statistics file {path} does not exist")
    try:
        with np.load(path) as data:
            mu, sigma = data["mu"].astype(np.float64), data["sigma"].astype(np.float64)
            count = int(data["count"]) if "count" in data else 0
            kid = data["kid_features"] if "kid_features" in data else None
    except (OSError, ValueError, KeyError) as error:
        raise FpaError(f"{path} is not a statistics .npz with arrays mu and sigma ({type(error).__name__})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise FpaError(f"{path}: mu {mu.shape} and sigma {sigma.shape} are not a mean and its covariance")
    if dims is not None and mu.shape[0] != dims:
        raise FpaError(f"{path} holds {mu.shape[0]}-d statistics but {dims}-d features are used; match --dims")
    return RealStats(GaussianStats(mu, sigma, count), kid)


def stored_key(path: str | Path) -> dict[str, Any] | None:
    """The key stored in a cache file (None when it has none or cannot be read)."""
    try:
        with np.load(path) as data:
            return json.loads(str(data["key"])) if "key" in data else None
    except (OSError, ValueError, KeyError):
        return None


def cached_real_stats(key: dict[str, Any], stats_dir: str | Path | None, compute: Any) -> tuple[RealStats, bool]:
    """``(statistics, hit)``: the cache file of ``key`` if it holds that key, else ``compute()``
    (returning :class:`RealStats`) saved there."""
    path = cache_file(key, stats_dir)
    if path.is_file():
        if stored_key(path) == json.loads(json.dumps(key, sort_keys=True)):
            return load_stats_file(path, dims=key["dims"]), True
        warnings.warn(f"{path} does not hold the expected statistics; recomputing them", stacklevel=2)
    real = compute()
    try:
        save_stats(path, real, key)
    except OSError as error:  # a read-only cache folder costs time, not correctness
        warnings.warn(f"could not cache the real statistics in {path} ({error}); pass --stats-dir", stacklevel=2)
    return real, False
