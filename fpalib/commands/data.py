"""``fpa data emoji``: fetch the emoji images (see :mod:`fpalib.data.emoji` for what is written)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fpalib.data.emoji import DEFAULT_OUT, DEFAULT_VERSION, PACKAGE, EmojiOptions, prepare_emoji
from fpalib.data.emoji_atlas import ATLAS_FOLDER, ATLAS_IMAGE, UNPACKED_FOLDER, build_atlas, unpack_atlas
from fpalib.errors import FpaError

HELP = "download and prepare a training data set (emoji: Noto Emoji artwork as 64x64 PNGs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    datasets = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    emoji = datasets.add_parser(
        "emoji",
        help=f"Noto Emoji images from the npm package {PACKAGE} (needs npm)",
        description=f"Fetch {PACKAGE} with `npm pack` and write 64x64 PNGs on white, one folder "
        "per category, with metadata.csv and ATTRIBUTION.md. Does nothing when the set is already there.",
    )
    emoji.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    emoji.add_argument("--version", default=DEFAULT_VERSION, help=f"{PACKAGE} version to fetch (default: %(default)s)")
    emoji.add_argument("--skin-tones", action="store_true", help="also keep the skin-tone variants")
    emoji.add_argument("--flags", action="store_true", help="also keep the 'Flags' category")
    emoji.add_argument("--components", action="store_true", help="also keep the 'Component' category "
                       "(skin-tone swatches)")
    emoji.add_argument("--force", action="store_true", help="rebuild even if --out already holds an emoji set "
                       "made here")
    source = emoji.add_mutually_exclusive_group()
    source.add_argument(
        "--from-atlas", action="store_true",
        help=f"no npm: write the shipped 32x32 copy ({ATLAS_FOLDER}/{ATLAS_IMAGE}) as an image folder "
        f"into --out (default then: {UNPACKED_FOLDER})",
    )
    source.add_argument(
        "--write-atlas", type=Path, metavar="DIR",
        help="after fetching, tile the set at 32x32 into DIR (how the shipped atlas was made)",
    )


def run(args: argparse.Namespace) -> int:
    options = EmojiOptions(version=args.version, skin_tones=args.skin_tones, flags=args.flags,
                           components=args.components)
    if args.from_atlas:
        if options != EmojiOptions() or args.version != DEFAULT_VERSION:
            raise FpaError("--from-atlas holds only the base emoji of the default version; "
                           "drop --skin-tones/--flags/--components/--version or fetch with npm")
        out = UNPACKED_FOLDER if args.out == DEFAULT_OUT else args.out
        print(f"wrote {len(list(unpack_atlas(out).rglob('*.png')))} 32x32 emoji images to '{out}'")
        return 0
    result = prepare_emoji(args.out, options, force=args.force)
    if args.write_atlas is not None:
        print(f"wrote {build_atlas(result.out, args.write_atlas)}")
    return 0
