"""Image-folder datasets: any folder of pictures as square tensors in [-1, 1].

:class:`ImageFolder` takes every ``.jpg .jpeg .png .webp .bmp`` file under a folder (any letter
case, hidden entries skipped), sorted by relative path so that index ``i`` is the same file on
every machine; :func:`load_image` composites transparency onto white, crops the centred square
and resizes it with Lanczos. Unreadable files never stop a training run: files whose header PIL
does not recognise are left out at scan time (one warning), and a file that fails to decode
later is replaced by the next readable one (recorded in ``ImageFolder.skipped``, one warning).
The emoji set: :mod:`fpalib.data.emoji` (``fpa data emoji``), :mod:`fpalib.data.emoji_atlas`.
:class:`DataConfig` is the ``data`` section of a training run's configuration.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from jsonargparse.typing import NonNegativeInt
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset, Subset

from fpalib.errors import Checked, FpaError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 256
WHITE = (255, 255, 255, 255)
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError)
_NAMES_IN_WARNING = 3
_SIXTEEN_TO_EIGHT_BITS = 1 / 256


@dataclass
class DataConfig(Checked):
    """The training images: a folder of images, resized to image_size x image_size.

    Attributes:
        path: the folder of training images, or of an array data set (``data.npz``, e.g. from
            ``fpa data fashion-mnist``).
        test_path: held-out images (same kinds of folder) for a VAE's test-set ELBO; null: none.
        image_size: side the images are resized to (painter, lightgan/unet and disc must agree).
        channels: 1 (grey) or 3 (RGB).
        hflip: random horizontal flips (the paper uses no augmentation).
        num_workers: DataLoader worker processes (0 loads in the training process).
    """

    path: str = "data/emoji"
    test_path: str | None = None
    image_size: int = 64
    channels: int = 3
    hflip: bool = False
    num_workers: NonNegativeInt = 0


def check_image_size(image_size: int) -> None:
    """Raise FpaError unless ``image_size`` is a power of two in [8, 256]."""
    is_power_of_two = isinstance(image_size, int) and image_size > 0 and image_size & (image_size - 1) == 0
    if not is_power_of_two or not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise FpaError(
            f"image size {image_size!r} is not supported; use a power of two from "
            f"{MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} (8, 16, 32, 64, 128 or 256)"
        )


def find_images(root: str | Path) -> list[Path]:
    """All image files under ``root`` (recursive, hidden entries skipped), sorted by relative path."""
    root = Path(root)
    found = [path for path in root.rglob("*") if path.suffix.lower() in IMAGE_EXTENSIONS
             and not any(part.startswith(".") for part in path.relative_to(root).parts) and path.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _has_readable_header(path: Path) -> bool:
    """True when PIL recognises the file as an image (reads the header only)."""
    try:
        with Image.open(path):
            return True
    except _DECODE_ERRORS:
        return False


def flatten_onto_white(image: Image.Image) -> Image.Image:
    """An opaque 8-bit ``image`` (mode RGB or L): alpha, palette or colour-key transparency composited
    onto white, 16-bit greyscale rescaled to 8 bits (not clipped)."""
    if image.mode.startswith("I"):
        image = image.convert("I").point(lambda value: value * _SIXTEEN_TO_EIGHT_BITS).convert("L")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE), rgba).convert("RGB")
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


def load_image(path: str | Path, image_size: int, channels: int = 3) -> torch.Tensor:
    """One file as a ``(channels, image_size, image_size)`` float tensor in [-1, 1]: flattened onto
    white, EXIF orientation applied, the centred square resized with Lanczos. Raises the PIL/OS
    error when the file cannot be decoded."""
    with Image.open(path) as opened:
        opened.load()
        image = ImageOps.exif_transpose(opened)
    image = flatten_onto_white(image).convert("RGB" if channels == 3 else "L")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # Crop before resizing: resize(box=...) would let the filter read pixels outside the square.
    square = image.crop((left, top, left + side, top + side))
    image = square.resize((image_size, image_size), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.float32).reshape(image_size, image_size, channels)
    return torch.from_numpy(pixels).permute(2, 0, 1).div(127.5).sub(1.0).contiguous()


class ImageFolder(Dataset):
    """Every image under ``root`` as a ``(channels, image_size, image_size)`` tensor in [-1, 1].

    image_size: a power of two in [8, 256]; channels: 3 (RGB) or 1 (grey); hflip: flip each item
    left-right with probability 1/2 (torch's RNG). ``paths``: the readable files in index order;
    ``skipped``: files left out at scan time or that failed to decode later in this process.
    """

    def __init__(self, root: str | Path, image_size: int, channels: int = 3, hflip: bool = False) -> None:
        check_image_size(image_size)
        if channels not in (1, 3):
            raise FpaError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels!r}")
        self.root = Path(root)
        if self.root.is_file():
            raise FpaError(f"image folder '{self.root}' is a file; pass --data with the folder that holds the images")
        if not self.root.is_dir():
            raise FpaError(
                f"image folder '{self.root}' does not exist; run `fpa data emoji` for the emoji set "
                "or pass --data with a folder of images"
            )
        self.image_size = image_size
        self.channels = channels
        self.hflip = hflip
        candidates = find_images(self.root)
        readable = {path: _has_readable_header(path) for path in candidates}
        self.paths = [path for path in candidates if readable[path]]
        self.skipped = [path for path in candidates if not readable[path]]
        if self.skipped:
            self._warn_skipped(self.skipped, "are not readable images and were left out")
        if not self.paths:
            raise FpaError(
                f"no readable images ({' '.join(IMAGE_EXTENSIONS)}) under '{self.root}'; "
                "pass --data with a folder of images or run `fpa data emoji`"
            )
        self._warned_decode = False

    def _warn_skipped(self, paths: list[Path], what: str) -> None:
        names = ", ".join(str(p.relative_to(self.root)) for p in paths[:_NAMES_IN_WARNING])
        more = ", ..." if len(paths) > _NAMES_IN_WARNING else ""
        warnings.warn(f"{len(paths)} file(s) under '{self.root}' {what}: {names}{more}", stacklevel=3)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        """Image ``index``; if it cannot be decoded, the next decodable one (wrapping around)."""
        count = len(self.paths)
        if not -count <= index < count:
            raise IndexError(f"index {index} is out of range for {count} images")
        for offset in range(count):
            path = self.paths[(index + offset) % count]
            try:
                image = load_image(path, self.image_size, self.channels)
            except _DECODE_ERRORS:
                self._record_decode_failure(path)
                continue
            if self.hflip and bool(torch.rand(()) < 0.5):
                image = image.flip(-1)
            return image
        raise FpaError(f"none of the {count} images under '{self.root}' could be decoded")

    def _record_decode_failure(self, path: Path) -> None:
        if path in self.skipped:
            return
        self.skipped.append(path)
        if not self._warned_decode:
            self._warned_decode = True
            self._warn_skipped([path], "could not be decoded; other images are used in their place")


def check_batch_size(dataset: Dataset, batch_size: int, option: str = "--batch-size") -> None:
    """Raise FpaError when ``batch_size`` is not positive or exceeds ``len(dataset)``; the
    message tells to lower ``option``."""
    if batch_size < 1:
        raise FpaError(f"batch size must be at least 1, got {batch_size}")
    if len(dataset) < batch_size:
        raise FpaError(
            f"the data set has {len(dataset)} image(s), fewer than the batch size {batch_size}; "
            f"lower {option} or add images"
        )


def seeded_subset(dataset: Dataset, seed: int, limit: int | None = None) -> Subset:
    """The items of ``dataset`` in a random order drawn with ``seed`` (so the first ones are a random
    subset), at most ``limit`` of them."""
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    return Subset(dataset, order[:limit])
