"""A shipped copy of the emoji set at 32x32, one PNG atlas, for machines without npm (Colab, Binder).

``data/emoji-atlas/`` holds ``emoji32.png`` (the 1636 base emoji reduced to 32x32 exactly as
:func:`fpalib.data.load_image` reduces the 64x64 files, ``ATLAS_COLUMNS`` tiles per row in
``metadata.csv`` order), ``metadata.csv`` and ``ATTRIBUTION.md``. :func:`unpack_atlas` writes the
tiles back as an image folder that reads like the fetched set (pixel for pixel at 32x32; larger
sizes are upsampled from 32x32). The maintainer tool ``tools/build_emoji_atlas.py`` made the atlas.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from fpalib.errors import FpaError

ATLAS_SIZE = 32
ATLAS_COLUMNS = 41
ATLAS_FOLDER = Path("data/emoji-atlas")
ATLAS_IMAGE = "emoji32.png"
UNPACKED_FOLDER = Path("data/emoji-32px")
COPIED_FILES = ("metadata.csv", "ATTRIBUTION.md")
_PACKAGED_ATLAS = Path(__file__).resolve().parents[1] / "_emoji_atlas"   # a wheel's copy (setup.py)
SHIPPED_ATLAS = _PACKAGED_ATLAS if _PACKAGED_ATLAS.is_dir() else Path(__file__).resolve().parents[2] / ATLAS_FOLDER


def metadata_files(folder: Path) -> list[str]:
    """The ``file`` column of ``folder/metadata.csv`` (relative PNG paths, in order)."""
    metadata = folder / "metadata.csv"
    if not metadata.is_file():
        raise FpaError(f"'{metadata}' is missing; pass a folder made by `fpa data emoji` (or the shipped atlas)")
    with open(metadata, newline="", encoding="utf-8") as handle:
        return [row["file"] for row in csv.DictReader(handle)]


def atlas_tiles(atlas: str | Path = SHIPPED_ATLAS) -> tuple[np.ndarray, list[str]]:
    """The atlas as ``(N, 32, 32, 3)`` uint8 tiles and their relative file names (metadata order)."""
    atlas = Path(atlas)
    files = metadata_files(atlas)
    sheet_path = atlas / ATLAS_IMAGE
    if not sheet_path.is_file():
        raise FpaError(f"'{sheet_path}' is missing; restore it with `git checkout -- {ATLAS_FOLDER}`")
    with Image.open(sheet_path) as opened:
        sheet = np.asarray(opened.convert("RGB"))
    rows = math.ceil(len(files) / ATLAS_COLUMNS)
    if sheet.shape[:2] != (rows * ATLAS_SIZE, ATLAS_COLUMNS * ATLAS_SIZE):
        raise FpaError(f"'{sheet_path}' is {sheet.shape[1]}x{sheet.shape[0]} pixels, not the "
                       f"{ATLAS_COLUMNS}x{rows} tiles of 32x32 that metadata.csv lists; restore the atlas folder")
    grid = sheet.reshape(rows, ATLAS_SIZE, ATLAS_COLUMNS, ATLAS_SIZE, 3).transpose(0, 2, 1, 3, 4)
    return grid.reshape(rows * ATLAS_COLUMNS, ATLAS_SIZE, ATLAS_SIZE, 3)[: len(files)], files


def _written_here(folder: Path) -> bool:
    """True when ``folder`` has the source.json that :func:`unpack_atlas` writes."""
    try:
        return json.loads((folder / "source.json").read_text(encoding="utf-8")).get("atlas") is not None
    except (OSError, ValueError, AttributeError):
        return False


def unpack_atlas(out: str | Path = UNPACKED_FOLDER, atlas: str | Path = SHIPPED_ATLAS) -> Path:
    """Write the atlas as an image folder ``out`` (32x32 PNGs, metadata.csv, ATTRIBUTION.md,
    source.json); a complete folder from an earlier call is kept, an incomplete one is replaced.
    Any other non-empty ``out`` is refused (FpaError), never deleted. Returns ``out``."""
    out, atlas = Path(out), Path(atlas)
    files = metadata_files(atlas)
    if (out / "source.json").is_file() and all((out / file).is_file() for file in files):
        return out
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not _written_here(out))):
        raise FpaError(f"{out} is not empty and holds no emoji set unpacked from the atlas; name an empty or new "
                       "folder with --out (nothing was changed)")
    tiles, files = atlas_tiles(atlas)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.partial-", dir=out.parent) as work_dir:
        staged = Path(work_dir) / "emoji"
        for tile, file in zip(tiles, files):
            (staged / file).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(tile).save(staged / file)
        for name in COPIED_FILES:
            shutil.copyfile(atlas / name, staged / name)
        source = {"atlas": str(ATLAS_FOLDER / ATLAS_IMAGE), "image_size": ATLAS_SIZE, "count": len(files)}
        (staged / "source.json").write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)
    return out
