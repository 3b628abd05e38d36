"""The paper's FID protocol for pixels: both image sets pass through the same file format.

Irie & Schmidhuber (2023, App. B.4) give pytorch-fid JPEG files of the generated and resized
real images (PNG files raise every FID in their Table 4). :func:`through_format` does this in
memory: each uint8 image is encoded by PIL as ``Image.save`` would write it and decoded as
pytorch-fid reads a file (``Image.open(path).convert("RGB")``, then ``ToTensor``); the tests
check it against files on disk read by pytorch-fid's own dataset.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from fpalib.errors import FpaError

FORMATS = ("jpeg", "png")
DEFAULT_JPEG_QUALITY = 75
"""PIL's default JPEG quality: what saving a ``.jpg`` without options writes (as ``save_image`` does)."""


@dataclass(frozen=True)
class ImageFormat:
    """A file format the images pass through: "jpeg" (with ``quality`` 1-95) or "png" (lossless)."""

    name: str = "jpeg"
    quality: int = DEFAULT_JPEG_QUALITY

    def __post_init__(self) -> None:
        if self.name not in FORMATS:
            raise FpaError(f"image format {self.name!r} is not supported; choose one of {', '.join(FORMATS)}")
        if self.name == "jpeg" and not 1 <= self.quality <= 95:
            raise FpaError(f"JPEG quality must be between 1 and 95; got {self.quality}")

    @property
    def label(self) -> str:
        """``"jpeg-q75"`` or ``"png"``: the format as it enters cache keys and file names."""
        return f"jpeg-q{self.quality}" if self.name == "jpeg" else "png"

    def save(self, image: Image.Image, target: str | Path | io.BytesIO) -> None:
        """Write one PIL image in this format (to a path or a buffer; PNG ignores the quality)."""
        image.save(target, format=self.name.upper(), quality=self.quality)


def to_uint8(images: Tensor) -> Tensor:
    """images (N, C, H, W) in [-1, 1] -> uint8 (N, C, H, W), rounded like ``save_image``."""
    return ((images.detach().float() + 1) * 127.5).add_(0.5).clamp_(0, 255).to(torch.uint8)


def _pil(image: Tensor) -> Image.Image:
    """uint8 (C, H, W), C in {1, 3} -> a PIL image (mode L or RGB)."""
    array = image.permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


def _as_pytorch_fid_reads(image: Image.Image) -> Tensor:
    """A decoded image as pytorch-fid's dataset returns it: RGB, float (3, H, W) in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255)


def through_format(images: Tensor, image_format: ImageFormat) -> Tensor:
    """uint8 (N, C, H, W) -> float (N, 3, H, W) in [0, 1]: encoded and decoded as files would be."""
    decoded = []
    for image in images:
        buffer = io.BytesIO()
        image_format.save(_pil(image), buffer)
        buffer.seek(0)
        with Image.open(buffer) as opened:
            decoded.append(_as_pytorch_fid_reads(opened))
    return torch.stack(decoded) if decoded else torch.zeros(0, 3, *images.shape[2:])

