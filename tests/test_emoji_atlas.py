"""The shipped 32x32 emoji atlas: size, licence, round trip, the notebooks' fallback, the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fpalib import cli, tutorial
from fpalib.data import ImageFolder, emoji_atlas, load_image
from fpalib.data.emoji_atlas import SHIPPED_ATLAS, atlas_tiles, unpack_atlas
from fpalib.errors import FpaError
from tools.build_emoji_atlas import build_atlas

FETCHED = Path(__file__).resolve().parents[1] / "data" / "emoji"


def _fake_fetched_set(folder: Path, count: int = 5) -> Path:
    """A tiny folder shaped like `fpa data emoji` output: 64x64 RGBA PNGs, metadata.csv, ATTRIBUTION.md."""
    rng = np.random.default_rng(0)
    rows = []
    for index in range(count):
        file = f"cat-{index % 2}/e{index}.png"
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), "RGBA").save(folder / file)
        rows.append({"file": file, "name": f"e{index}", "category": "C", "subcategory": "s", "skin_tone": ""})
    with open(folder / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (folder / "ATTRIBUTION.md").write_text("# Emoji images: attribution\n\nApache License 2.0\n", encoding="utf-8")
    return folder


def test_the_shipped_atlas_is_small_complete_and_attributed():
    tiles, files = atlas_tiles()
    assert tiles.shape == (1636, 32, 32, 3) and tiles.dtype == np.uint8 and len(files) == 1636
    assert (SHIPPED_ATLAS / "emoji32.png").stat().st_size < 3 * 2**20
    attribution = (SHIPPED_ATLAS / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "Apache License 2.0" in attribution and "MIT License" in attribution
    assert tiles.reshape(1636, -1).std(1).min() > 0     # no blank tile: every image made it in


def test_build_then_unpack_gives_the_loader_pixels_at_32(tmp_path):
    fetched = _fake_fetched_set(tmp_path / "fetched")
    build_atlas(fetched, tmp_path / "atlas")
    unpacked = unpack_atlas(tmp_path / "unpacked", atlas=tmp_path / "atlas")
    folder = ImageFolder(unpacked, 32)
    assert len(folder) == 5
    for path in folder.paths:
        relative = path.relative_to(unpacked)
        assert torch.equal(load_image(path, 32), load_image(fetched / relative, 32)), relative
    assert json.loads((unpacked / "source.json").read_text())["count"] == 5


@pytest.mark.slow
def test_the_shipped_atlas_equals_the_fetched_set_at_32():
    """Fetches the set like `fpa data emoji` (idempotent); skipped only where npm cannot fetch it."""
    from fpalib.data.emoji import prepare_emoji

    try:
        prepare_emoji(FETCHED)
    except FpaError as error:
        pytest.skip(f"the emoji set cannot be fetched here: {error}")
    tiles, files = atlas_tiles()
    for index in range(0, len(files), 97):
        expected = load_image(FETCHED / files[index], 32)
        assert torch.equal(torch.from_numpy(tiles[index]).permute(2, 0, 1).float().div(127.5).sub(1), expected)


def test_a_damaged_atlas_is_one_clear_error(tmp_path):
    fetched = _fake_fetched_set(tmp_path / "fetched")
    build_atlas(fetched, tmp_path / "atlas")
    Image.new("RGB", (40, 40)).save(tmp_path / "atlas" / "emoji32.png")
    with pytest.raises(FpaError, match="not the 41x1 tiles"):
        atlas_tiles(tmp_path / "atlas")
    with pytest.raises(FpaError, match="metadata.csv' is missing"):
        atlas_tiles(tmp_path)


def test_notebooks_fall_back_to_the_atlas_when_npm_fails(tmp_path, monkeypatch, capsys):
    def no_npm(out):
        raise FpaError("npm was not found on PATH")

    monkeypatch.setattr("fpalib.data.emoji.prepare_emoji", no_npm)
    paths = tutorial.NotebookPaths(root=tmp_path, figures=tmp_path, runs=tmp_path, data=tmp_path / "data")
    folder = tutorial.ensure_emoji(paths)
    assert folder == tmp_path / emoji_atlas.UNPACKED_FOLDER
    assert "shipped 32x32 copy" in capsys.readouterr().out
    assert len(ImageFolder(folder, 32)) == 1636
    assert tutorial.ensure_emoji(paths) == folder       # the second call reuses the unpacked folder


def test_fpa_data_emoji_from_atlas(tmp_path, capsys):
    assert cli.main(["data", "emoji", "--from-atlas", "--out", str(tmp_path / "set")]) == 0
    assert "wrote 1636 32x32 emoji images" in capsys.readouterr().out
    assert cli.main(["data", "emoji", "--from-atlas", "--flags", "--out", str(tmp_path / "x")]) == 2
    assert "--from-atlas holds only the base emoji" in capsys.readouterr().err
