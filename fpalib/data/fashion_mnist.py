"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017; MIT licence): 70,000 28x28 grey pictures of
clothes in 10 classes, the course's data set for the FPA as a VAE decoder.

``fpa data fashion-mnist`` reads the four IDX files from the first source that has them:

1. a folder the user names (``--idx DIR``), files named as Zalando ships them, gzipped or not;
2. Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
3. torchvision's downloader, when the machine is online.

and writes two array data sets (:mod:`fpalib.data.arrays`): ``OUT/train`` (60,000 images) and
``OUT/test`` (10,000), each ``data.npz`` with labels and ``classes.json``, plus
``OUT/ATTRIBUTION.md``. ``per_class`` keeps a class-balanced random subset (how the shipped
``data/fashion-mnist-subset`` was made). A non-empty ``OUT`` that is not a Fashion-MNIST set
written here is refused, never replaced.
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np

from fpalib.data.arrays import ARRAY_FILE, load_arrays, save_arrays
from fpalib.errors import FpaError

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = Path("data/fashion-mnist")
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
ATTRIBUTION = """# Fashion-MNIST

Images and labels of Fashion-MNIST by Zalando Research (Han Xiao, Kashif Rasul, Roland Vollgraf:
"Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms", arXiv:1708.07747,
2017), https://github.com/zalandoresearch/fashion-mnist, under the MIT licence:

Copyright (c) 2017 Zalando SE

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the
following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO
EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR
THE USE OR OTHER DEALINGS IN THE SOFTWARE.

Written by `fpa data fashion-mnist` from {source}{subset}.
"""


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (gzipped or not) as a uint8 array: (N, 28, 28) images or (N,) labels."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            data = file.read()
    except (OSError, EOFError) as error:
        raise FpaError(f"cannot read IDX file {path}: {error}") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise FpaError(f"{path} is not an IDX file of unsigned bytes (its header is {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise FpaError(f"{path} is cut short: its header says {shape}, it holds {body.size} bytes of data")
    return body.reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz", stem.replace("-idx", ".idx"), f"{stem.replace('-idx', '.idx')}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_split(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of ``split`` ("train" or "test") from the IDX
    files in ``folder``."""
    folder = Path(folder)
    paths = [_find_idx(folder, stem) for stem in SPLITS[split]]
    missing = [stem for stem, path in zip(SPLITS[split], paths, strict=True) if path is None]
    if missing:
        raise FpaError(f"no {missing[0]}[.gz] in {folder}; pass --idx with the folder of the four IDX files")
    images, labels = read_idx(paths[0]), read_idx(paths[1]).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise FpaError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
    if labels.max(initial=0) >= len(CLASSES):
        raise FpaError(f"{folder}: {split} labels go up to {labels.max()}; Fashion-MNIST has 10 classes")
    return images, labels


def _download(scratch: Path) -> Path:
    """torchvision's downloader into ``scratch``; returns the folder of the IDX files."""
    try:
        from torchvision.datasets import FashionMNIST

        for train in (True, False):
            FashionMNIST(str(scratch), train=train, download=True)
    except Exception as error:  # noqa: BLE001 - any failure of the download is one line for the user
        raise FpaError(
            f"no Fashion-MNIST files found and the download failed ({type(error).__name__}: {error}); "
            "pass --idx DIR with the four IDX files, or install Debian's dataset-fashion-mnist"
        ) from None
    return scratch / "FashionMNIST" / "raw"


def subset_folder() -> Path:
    """The shipped class-balanced subset (5,000 train and 1,000 test images, no download needed):
    the installed package's copy (``fpalib/_fashion_mnist_subset``), else ``data/fashion-mnist-subset``
    of the source checkout; its ``train`` and ``test`` folders are array data sets."""
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "_fashion_mnist_subset", package.parent / "data" / "fashion-mnist-subset"):
        if (folder / "train" / ARRAY_FILE).is_file():
            return folder
    raise FpaError("the shipped Fashion-MNIST subset is missing; reinstall fpalib from a full clone, "
                   "or run `fpa data fashion-mnist` and use data/fashion-mnist")


def balanced_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` random items of every class (all of a smaller class)."""
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def _is_ours(out: Path) -> bool:
    return (out / "ATTRIBUTION.md").is_file() and "fpa data fashion-mnist" in (out / "ATTRIBUTION.md").read_text(
        encoding="utf-8", errors="replace")


def prepare_fashion_mnist(out: str | Path = DEFAULT_OUT, idx: str | Path | None = None, *,
                          per_class: int | None = None, test_per_class: int | None = None, seed: int = 0,
                          force: bool = False) -> dict[str, int]:
    """Write ``out/train`` and ``out/test``; returns the number of images of each split.

    idx: the folder of IDX files (else Debian's, else a download). per_class / test_per_class: keep
    that many random images of every class of the train / test split (None: all). Does nothing when
    ``out`` already holds a set written here (unless ``force``); refuses any other non-empty folder.
    """
    out = Path(out)
    if out.is_file():
        raise FpaError(f"--out {out} is a file; name a folder")
    if out.is_dir() and any(out.iterdir()):
        if not _is_ours(out):
            raise FpaError(f"{out} is not empty and holds no Fashion-MNIST set written by fpa; "
                           "name an empty or new folder with --out (nothing was changed)")
        if not force and all((out / split / ARRAY_FILE).is_file() for split in SPLITS):
            counts = {split: len(load_arrays(out / split)[0]) for split in SPLITS}
            print(f"{out} already holds Fashion-MNIST ({counts['train']} train, {counts['test']} test images); "
                  "--force writes it again")
            return counts
    with tempfile.TemporaryDirectory(prefix="fpa-fashion-") as scratch:
        if idx is not None:
            source = Path(idx)
            if not source.is_dir():
                raise FpaError(f"--idx {source} is not a folder; name the folder of the four IDX files")
        elif all(_find_idx(DEBIAN_FOLDER, stem) for stems in SPLITS.values() for stem in stems):
            source = DEBIAN_FOLDER
        else:
            source = _download(Path(scratch))
        counts, limits = {}, {"train": per_class, "test": test_per_class}
        for split in SPLITS:
            images, labels = read_split(source, split)
            if limits[split] is not None:
                keep = balanced_subset(labels, limits[split], seed)
                images, labels = images[keep], labels[keep]
            save_arrays(out / split, images, labels, CLASSES)
            counts[split] = len(images)
    subset = "" if per_class is None and test_per_class is None else (
        f", a class-balanced subset (seed {seed}): {counts['train']} train and {counts['test']} test images")
    from fpalib.train.run_folder import write_atomically

    where = "torchvision's download" if source.name == "raw" and idx is None else str(source)
    write_atomically(out / "ATTRIBUTION.md", ATTRIBUTION.format(source=where, subset=subset))
    return counts

