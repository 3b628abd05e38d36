"""Maintainer tool: tile the fetched emoji set at 32x32 into the shipped atlas of
:mod:`fpalib.data.emoji_atlas` (for machines without npm).

    fpa data emoji && python tools/build_emoji_atlas.py data/emoji [--out data/emoji-atlas]

Errors are one line with exit status 2, as for ``fpa``.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from fpalib.cli import main as fpa_main
from fpalib.cli import script_parser
from fpalib.data import load_image
from fpalib.data.emoji_atlas import ATLAS_COLUMNS, ATLAS_FOLDER, ATLAS_IMAGE, ATLAS_SIZE, metadata_files

HELP = "tile a fetched emoji set (fpa data emoji) at 32x32 into the atlas folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("emoji", type=Path, metavar="EMOJI_DIR", help="the set `fpa data emoji` fetched")
    parser.add_argument("--out", type=Path, default=ATLAS_FOLDER, help="atlas folder (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    print(f"wrote {build_atlas(args.emoji, args.out)}")
    return 0


def build_atlas(emoji: str | Path, out: str | Path = ATLAS_FOLDER) -> Path:
    """Tile every image of the fetched set ``emoji`` at 32x32 into ``out/emoji32.png``; return its path.

    Each tile is ``load_image(file, 32)``, stored as uint8 (exact: the loader's values are
    uint8 / 127.5 - 1). metadata.csv and ATTRIBUTION.md are copied next to it.
    """
    emoji, out = Path(emoji), Path(out)
    files = metadata_files(emoji)
    rows = math.ceil(len(files) / ATLAS_COLUMNS)
    sheet = np.full((rows * ATLAS_SIZE, ATLAS_COLUMNS * ATLAS_SIZE, 3), 255, dtype=np.uint8)
    for index, file in enumerate(files):
        tile = load_image(emoji / file, ATLAS_SIZE)                                   # (3, 32, 32) in [-1, 1]
        pixels = tile.add(1).mul(127.5).round().byte().permute(1, 2, 0).numpy()      # (32, 32, 3)
        row, column = divmod(index, ATLAS_COLUMNS)
        sheet[row * ATLAS_SIZE:(row + 1) * ATLAS_SIZE, column * ATLAS_SIZE:(column + 1) * ATLAS_SIZE] = pixels
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(out / ATLAS_IMAGE, optimize=True)
    shutil.copyfile(emoji / "metadata.csv", out / "metadata.csv")
    note = (f"# Emoji atlas: attribution\n\n`{ATLAS_IMAGE}` tiles the {len(files)} images of the set described below, "
            f"each reduced to {ATLAS_SIZE}x{ATLAS_SIZE}\n(Lanczos), {ATLAS_COLUMNS} per row in metadata.csv order; "
            "made by `tools/build_emoji_atlas.py`.\nThe licences below apply to it unchanged.\n\n")
    original = (emoji / "ATTRIBUTION.md").read_text(encoding="utf-8")
    (out / "ATTRIBUTION.md").write_text(note + original.replace("# ", "## ", 1), encoding="utf-8")
    return out / ATLAS_IMAGE


def main(argv: list[str] | None = None) -> int:
    """Build the atlas with ``argv`` (default ``sys.argv[1:]``); the exit status of ``fpa``'s rules."""
    return fpa_main(argv, parser=script_parser(sys.modules[__name__], "tools/build_emoji_atlas.py"))


if __name__ == "__main__":
    sys.exit(main())
