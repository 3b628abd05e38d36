"""Array data sets: a folder with one ``data.npz`` of uint8 images and class labels.

A folder of 60,000 PNG files takes about 40 s to open (every header is read); one compressed
NumPy archive opens in well under a second. The layout, written by :func:`save_arrays`::

    <folder>/data.npz        images: uint8 (N, H, W) or (N, H, W, C); labels: int64 (N,)
    <folder>/classes.json    ["T-shirt/top", "Trouser", ...]: the name of label i (optional)

:func:`open_images` gives an :class:`ArrayImages` for such a folder and an
:class:`~fpalib.data.ImageFolder` for a folder of pictures, so ``--data.path`` takes either.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from fpalib.data import ImageFolder
from fpalib.errors import FpaError

ARRAY_FILE = "data.npz"
CLASSES_FILE = "classes.json"


def is_array_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds a ``data.npz`` (an array data set)."""
    return (Path(folder) / ARRAY_FILE).is_file()


def load_arrays(folder: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The images (N, H, W, C) uint8 and labels (N,) int64 (or None) of an array data set."""
    path = Path(folder) / ARRAY_FILE
    try:
        with np.load(path, allow_pickle=False) as archive:
            images = archive["images"]
            labels = archive["labels"] if "labels" in archive.files else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise FpaError(f"{path} is not an fpalib array data set ({error}); write it again with `fpa data`") from None
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise FpaError(f"{path}: images must be uint8 (N, H, W) or (N, H, W, C); got {images.dtype} {images.shape}")
    if images.ndim == 3:
        images = images[..., None]
    if labels is not None and labels.shape != (len(images),):
        raise FpaError(f"{path}: {len(labels)} labels for {len(images)} images")
    return images, None if labels is None else labels.astype(np.int64)


def save_arrays(folder: str | Path, images: np.ndarray, labels: np.ndarray | None = None,
                classes: list[str] | None = None) -> Path:
    """Write ``images`` (N, H, W[, C]) uint8 and ``labels`` (N,) as ``folder/data.npz`` (atomically),
    and ``classes`` as ``folder/classes.json``; returns the archive's path."""
    from fpalib.train.run_folder import write_atomically

    buffer = io.BytesIO()
    arrays = {"images": np.ascontiguousarray(images, dtype=np.uint8)}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, dtype=np.int64)
    np.savez_compressed(buffer, **arrays)
    folder = Path(folder)
    write_atomically(folder / ARRAY_FILE, buffer.getvalue())
    if classes is not None:
        write_atomically(folder / CLASSES_FILE, json.dumps(list(classes)) + "\n")
    return folder / ARRAY_FILE


def class_names(folder: str | Path) -> list[str] | None:
    """The class names of an array data set (``classes.json``), or None."""
    path = Path(folder) / CLASSES_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class ArrayImages(Dataset):
    """The images of an array data set as (channels, image_size, image_size) tensors in [-1, 1].

    image_size: the stored side, or a larger one: the images are then padded on every side with
    the value of their corner pixels' mode (black for Fashion-MNIST: 28 -> 32 adds 2 pixels), so no
    pixel is resampled. channels: 1 or 3 (grey is repeated to RGB; RGB is averaged to grey).
    ``labels``: (N,) int64 tensor or None.
    """

    def __init__(self, root: str | Path, image_size: int | None = None, channels: int = 1,
                 hflip: bool = False) -> None:
        self.root = Path(root)
        images, labels = load_arrays(self.root)
        _, height, width, stored_channels = images.shape
        if height != width:
            raise FpaError(f"{self.root}: images are {height}x{width}; square images are needed")
        image_size = height if image_size is None else image_size
        pad = image_size - height
        if pad < 0 or pad % 2:
            raise FpaError(
                f"{self.root} holds {height}x{height} images; set the image size to {height} "
                f"or to {height} plus an even number of padding pixels (e.g. {height + 4 - height % 4})"
            )
        if channels not in (1, 3):
            raise FpaError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels!r}")
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2)  # (N, C, H, W) uint8
        if stored_channels != channels:
            pixels = pixels.float().mean(1, keepdim=True).round().to(torch.uint8) if channels == 1 \
                else pixels.expand(-1, 3, -1, -1)
        if pad:
            background = int(torch.cat([pixels[:, :, 0, 0], pixels[:, :, -1, -1]]).flatten().mode().values)
            pixels = torch.nn.functional.pad(pixels, (pad // 2,) * 4, value=background)
        self.pixels = pixels.contiguous()
        self.labels = None if labels is None else torch.from_numpy(labels)
        self.image_size, self.channels, self.hflip = image_size, channels, hflip

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.pixels[index].float().div(127.5).sub(1.0)
        if self.hflip and bool(torch.rand(()) < 0.5):
            image = image.flip(-1)
        return image

    def tensors(self) -> torch.Tensor:
        """Every image at once, (N, C, H, W) float in [-1, 1]."""
        return self.pixels.float().div(127.5).sub(1.0)


def open_images(root: str | Path, image_size: int, channels: int = 3, hflip: bool = False) -> Dataset:
    """The data set under ``root``: :class:`ArrayImages` when it holds a ``data.npz``, else an
    :class:`~fpalib.data.ImageFolder` of its pictures."""
    if is_array_folder(root):
        return ArrayImages(root, image_size, channels, hflip)
    return ImageFolder(root, image_size, channels, hflip)
