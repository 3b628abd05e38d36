"""Tests of fpalib.tutorial: the notebook set-up (paths, seeds, smoke folders) and its helpers."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from fpalib import tutorial
from fpalib.errors import FpaError
from fpalib.tutorial import NotebookPaths, find_repo_root, setup_notebook
from tests.conftest import REPO_ROOT


def test_repo_root_is_found_from_a_subfolder(monkeypatch):
    monkeypatch.chdir(REPO_ROOT / "fpalib" / "rules")
    assert find_repo_root() == REPO_ROOT
    assert find_repo_root(REPO_ROOT / "tests") == REPO_ROOT


def test_repo_root_outside_a_repository_raises(tmp_path):
    with pytest.raises(FpaError, match="no fpalib repository"):
        find_repo_root(tmp_path)


def test_full_setup_uses_repository_folders(monkeypatch):
    monkeypatch.chdir(REPO_ROOT / "tests")
    monkeypatch.delenv("FPA_DATA", raising=False)
    paths = setup_notebook(smoke=False, seed=3)
    shipped = REPO_ROOT / "data" / "pretrained"
    expected = NotebookPaths(REPO_ROOT, REPO_ROOT / "figures", REPO_ROOT / "runs", REPO_ROOT / "data", False, shipped)
    assert paths == expected
    assert paths.emoji == REPO_ROOT / "data" / "emoji"
    assert paths.pretrained == shipped


def test_setup_outside_a_repository_uses_the_working_directory_and_the_package(tmp_path, monkeypatch):
    from fpalib.pretrained import shipped_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FPA_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    paths = setup_notebook(smoke=False)
    assert (paths.root, paths.figures, paths.runs) == (tmp_path, tmp_path / "figures", tmp_path / "runs")
    assert paths.data == tmp_path / "cache" / "fpalib" / "data" and paths.pretrained == shipped_dir()
    assert any(paths.pretrained.glob("*.pt"))
    monkeypatch.setenv("FPA_DATA", str(tmp_path / "shared"))
    assert setup_notebook(smoke=True).emoji == tmp_path / "shared" / "emoji"
    assert setup_notebook(smoke=True, data=tmp_path / "mine").data == tmp_path / "mine"


def test_smoke_setup_writes_into_fresh_temporary_folders(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    first, second = setup_notebook(smoke=True), setup_notebook(smoke=True)
    for paths in (first, second):
        assert paths.smoke and paths.root == REPO_ROOT and paths.data == REPO_ROOT / "data"
        assert paths.figures.is_dir() and paths.runs.is_dir()
        assert REPO_ROOT not in paths.figures.parents and REPO_ROOT not in paths.runs.parents
        assert not any(paths.figures.iterdir()) and not any(paths.runs.iterdir())
    assert first.figures != second.figures


def test_setup_seeds_every_generator_and_sets_threads(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    threads = torch.get_num_threads()
    try:
        setup_notebook(smoke=True, seed=7, threads=1)
        assert torch.get_num_threads() == 1
        drawn = (random.random(), np.random.rand(), torch.rand(1).item())
        setup_notebook(smoke=True, seed=7)
        assert (random.random(), np.random.rand(), torch.rand(1).item()) == drawn
        setup_notebook(smoke=True, seed=8)
        assert torch.rand(1).item() != drawn[2]
    finally:
        torch.set_num_threads(threads)
    with pytest.raises(FpaError, match="threads"):
        setup_notebook(smoke=True, threads=0)


def test_setup_sets_modest_matplotlib_defaults(monkeypatch):
    import matplotlib

    monkeypatch.chdir(REPO_ROOT)
    setup_notebook(smoke=True)
    assert matplotlib.rcParams["figure.dpi"] == tutorial.FIGURE_DPI
    assert matplotlib.rcParams["savefig.dpi"] == tutorial.SAVE_DPI


def _paths(tmp_path) -> NotebookPaths:
    return NotebookPaths(tmp_path, tmp_path / "figures", tmp_path / "runs", tmp_path / "data")


def test_emoji_image_loads_a_named_emoji_and_names_missing_ones(tmp_path, monkeypatch):
    from PIL import Image

    paths = _paths(tmp_path)
    folder = paths.emoji / "smileys-and-emotion"
    folder.mkdir(parents=True)
    Image.new("RGBA", (64, 64), (255, 0, 0, 255)).save(folder / "red.png")
    (paths.emoji / "metadata.csv").write_text("file,name,category,subcategory,skin_tone\n")
    monkeypatch.setattr("fpalib.data.emoji.prepare_emoji", lambda *a, **k: pytest.fail("must not fetch"))
    image = tutorial.emoji_image(paths, "red", image_size=16)
    assert image.shape == (3, 16, 16)
    torch.testing.assert_close(image[:, 0, 0], torch.tensor([1.0, -1.0, -1.0]))
    with pytest.raises(FpaError, match="no emoji named 'blue'"):
        tutorial.emoji_image(paths, "blue")


def test_ensure_emoji_fetches_a_missing_set(tmp_path, monkeypatch):
    paths = _paths(tmp_path)
    calls = []
    monkeypatch.setattr("fpalib.data.emoji.prepare_emoji", lambda out, *a, **k: calls.append(out))
    assert tutorial.ensure_emoji(paths) == paths.emoji
    assert calls == [paths.emoji]
