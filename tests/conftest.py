"""Shared pytest set-up: deterministic seeds, automatic skipping of CUDA tests, tiny image folders."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` are skipped on machines without a CUDA GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request: pytest.FixtureRequest) -> str:
    """A device name: every test that takes it runs on the CPU and (marked ``cuda``) on a CUDA GPU."""
    return request.param


@pytest.fixture(autouse=True)
def seeded() -> None:
    """Every test starts from the same random state (python, numpy, torch)."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def write_solid_image(path: Path, size: tuple[int, int], color: tuple[int, ...], mode: str = "RGB") -> Path:
    """Write a one-colour image of ``size`` (width, height) and ``mode``; the format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


@pytest.fixture
def tiny_image_folder(tmp_path: Path) -> Path:
    """A folder of 8 distinct 16x16 RGB PNGs, enough for a couple of batches of 4."""
    folder = tmp_path / "tiny_images"
    rng = np.random.default_rng(0)
    for index in range(8):
        pixels = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"image_{index}.png")
    return folder


@pytest.fixture(scope="module")
def noise_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 24 random-coloured 16x16 PNGs, shared by the tests of one module."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for index in range(24):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{index:02d}.png")
    return folder


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module (apply with ``pytest.mark.usefixtures("one_thread")``).

    Training-loop tests are dominated by small ops, where two threads only add contention.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised FID Inception saved like pytorch-fid's weights file (no download)."""
    from fpalib.metrics.inception import save_random_inception_weights

    return save_random_inception_weights(tmp_path_factory.mktemp("weights") / "random_inception.pth")
