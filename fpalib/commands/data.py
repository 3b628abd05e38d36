"""``fpa data emoji`` and ``fpa data fashion-mnist``: see :mod:`fpalib.data.emoji` and
:mod:`fpalib.data.fashion_mnist` for what each writes."""

from __future__ import annotations

import argparse
from pathlib import Path

from fpalib.data import fashion_mnist
from fpalib.data.emoji import DEFAULT_OUT, DEFAULT_VERSION, PACKAGE, EmojiOptions, prepare_emoji
from fpalib.data.emoji_atlas import ATLAS_FOLDER, ATLAS_IMAGE, UNPACKED_FOLDER, unpack_atlas
from fpalib.errors import FpaError

HELP = "prepare a training data set (emoji: Noto Emoji artwork as 64x64 PNGs; fashion-mnist: 28x28 arrays)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    datasets = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    emoji = datasets.add_parser(
        "emoji",
        help=f"Noto Emoji images from the npm package {PACKAGE} (needs npm)",
        description=f"Fetch {PACKAGE} with `npm pack` and write 64x64 PNGs on white, one folder "
        "per category, with metadata.csv and ATTRIBUTION.md. Does nothing when the set is already there.",
    )
    fashion = datasets.add_parser(
        "fashion-mnist",
        help="Fashion-MNIST (60,000 + 10,000 28x28 grey images in 10 classes) as array data sets",
        description="Read the four IDX files from --idx DIR, else from Debian's dataset-fashion-mnist, "
        "else download them with torchvision; write OUT/train and OUT/test (data.npz with labels) and "
        "OUT/ATTRIBUTION.md. Does nothing when OUT already holds the set; refuses any other non-empty folder.",
    )
    fashion.add_argument("--out", type=Path, default=fashion_mnist.DEFAULT_OUT,
                         help="output folder (default: %(default)s)")
    fashion.add_argument("--idx", type=Path, metavar="DIR", help="folder of the IDX files (gzipped or not)")
    fashion.add_argument("--per-class", type=int, metavar="N", help="keep N random train images of every class")
    fashion.add_argument("--test-per-class", type=int, metavar="N", help="keep N random test images of every class")
    fashion.add_argument("--seed", type=int, default=0, help="seed of the subset (default: %(default)s)")
    fashion.add_argument("--force", action="store_true", help="write the set again over one written here")
    emoji.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    emoji.add_argument("--version", default=DEFAULT_VERSION, help=f"{PACKAGE} version to fetch (default: %(default)s)")
    emoji.add_argument("--skin-tones", action="store_true", help="also keep the skin-tone variants")
    emoji.add_argument("--flags", action="store_true", help="also keep the 'Flags' category")
    emoji.add_argument("--components", action="store_true", help="also keep the 'Component' category "
                       "(skin-tone swatches)")
    emoji.add_argument("--force", action="store_true", help="rebuild even if --out already holds an emoji set "
                       "made here")
    emoji.add_argument(
        "--from-atlas", action="store_true",
        help=f"no npm: write the shipped 32x32 copy ({ATLAS_FOLDER}/{ATLAS_IMAGE}) as an image folder "
        f"into --out (default then: {UNPACKED_FOLDER})",
    )


def run(args: argparse.Namespace) -> int:
    if args.dataset == "fashion-mnist":
        for option in ("per_class", "test_per_class"):
            if getattr(args, option) is not None and getattr(args, option) < 1:
                raise FpaError(f"--{option.replace('_', '-')} must be at least 1; got {getattr(args, option)}")
        counts = fashion_mnist.prepare_fashion_mnist(args.out, args.idx, per_class=args.per_class,
                                                     test_per_class=args.test_per_class, seed=args.seed,
                                                     force=args.force)
        print(f"wrote {counts['train']} train and {counts['test']} test images to '{args.out}' "
              f"(train with --data.path {args.out / 'train'})")
        return 0
    options = EmojiOptions(version=args.version, skin_tones=args.skin_tones, flags=args.flags,
                           components=args.components)
    if args.from_atlas:
        if options != EmojiOptions() or args.version != DEFAULT_VERSION:
            raise FpaError("--from-atlas holds only the base emoji of the default version; "
                           "drop --skin-tones/--flags/--components/--version or fetch with npm")
        out = UNPACKED_FOLDER if args.out == DEFAULT_OUT else args.out
        print(f"wrote {len(list(unpack_atlas(out).rglob('*.png')))} 32x32 emoji images to '{out}'")
        return 0
    prepare_emoji(args.out, options, force=args.force)
    return 0
