"""``fpa site``: a static web page that paints with the shipped painters live, step by step.

    fpa site --out site/ [--painters fpa-delta-vae-fashion28-5min ...]

Writes a self-contained folder that opens from any static web server (``python -m http.server``
in it, GitHub Pages), with relative paths only, no network request beyond its own files and no
build step:

    index.html, painter.js, page.js     the page (package data in ``fpalib/site/``); painter.js is
                                        the painter's forward pass written by hand in plain JavaScript
    weights/<name>.bin                  each painter's decoder tensors as little-endian float16 bytes
                                        (float32 for a tensor that float16 would round)
    test-images.bin                     one Fashion-MNIST test image per class, uint8 (N, 1, 28, 28)
    site.json                           the manifest: kind "fpa-site", every file written, and per
                                        painter its PainterConfig, each tensor's dtype, shape and
                                        byte offset in its .bin, and ``test_latents``: the posterior
                                        mean of every test image under that painter's VAE encoder

The page shows two Fashion-MNIST VAE painters trained alike (preset ``fashion28-vae``, same data,
seed and budget: the seed-0 runs of the 5-CPU-minute VAE ablation, notebook 07) except for the
learning rule: delta and additive-rate, side by side on one latent. The page's budget is 2 MB in
all (tests/test_site.py checks the folder against 2,000,000 bytes), and a decoder is 0.87 MB in
float16: so neither the emoji GAN painters (3.2 MB each) nor the 60-minute
``fpa-delta-vae-fashion28`` beside an equal pair are on it.
For the same reason the VAE encoders' weights (0.47 MB each) stay off the page: ``fpa site`` runs
each encoder here, in PyTorch, on the shipped test images and stores their posterior means mu(x)
in the manifest as float32 numbers (the shortest decimal that reads back as the same float32);
"paint this picture" paints those, and the page says the encoder ran when the page was built.

painter.js is hand-written rather than a vendored inference runtime (ONNX Runtime Web, TensorFlow.js):
the forward pass is an input layer, an LSTM, a linear layer and T rank-one updates, a few hundred lines
of loops that read beside fpalib's modules, far smaller than a runtime and without a model conversion.
tests/test_site.py checks in headless Chromium that its images equal the Python painter's within 1/255.

The weights are read from the shipped checkpoints (:mod:`fpalib.pretrained`) when the command
runs. ``--out`` must be a new or empty folder, or one this command wrote before (its
``site.json``): then only the files that manifest lists are replaced or removed; anything else in
the folder is kept. A file, or a folder with other content, is refused before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import torch

import fpalib
from fpalib.data.arrays import ArrayImages, class_names
from fpalib.data.fashion_mnist import subset_folder
from fpalib.errors import FpaError
from fpalib.models.painter import FastWeightPainter
from fpalib.train.checkpoint import generator_from_checkpoint, load_checkpoint
from fpalib.train.checkpoint import vae_from_checkpoint
from fpalib.train.run_folder import write_atomically

HELP = "write a static web page that paints with the shipped painters in the browser (no server code, no CDN)"
MANIFEST = "site.json"
SITE_KIND = "fpa-site"
PAGE_FILES = ("index.html", "painter.js", "page.js")
PAGE_DIR = Path(fpalib.__file__).resolve().parent / "site"
PAINTERS = {  # shipped name -> title on the page; an equal-budget pair (the 2 MB budget fits two decoders)
    "fpa-delta-vae-fashion28-5min": "Fashion-MNIST, delta rule (VAE decoder, 5 CPU minutes)",
    "fpa-additive-rate-vae-fashion28-5min": "Fashion-MNIST, additive rule with a rate (VAE decoder, 5 CPU minutes)",
}
JS_RULES = ("delta", "additive", "additive-rate")
"""The learning rules painter.js implements."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="folder to write (new, empty, or written by fpa site before)")
    parser.add_argument("--painters", nargs="+", choices=tuple(PAINTERS), default=list(PAINTERS), metavar="NAME",
                        help=f"the shipped painters to put on the page (default: all: {', '.join(PAINTERS)})")


def run(args: argparse.Namespace) -> int:
    files = write_site(args.out, args.painters)
    total = sum((args.out / name).stat().st_size for name in files)
    print(f"wrote {len(files)} files ({total / 2**20:.2f} MiB) to {args.out}; serve it with "
          f"`python -m http.server -d {args.out}` and open http://localhost:8000/")
    return 0


def previous_files(out: Path) -> list[str]:
    """The files a previous ``fpa site`` wrote into ``out`` ([] for a new or empty folder).

    Raises FpaError when ``out`` is a file or a non-empty folder without this command's manifest.
    """
    if out.exists() and not out.is_dir():
        raise FpaError(f"--out {out} is a file; give a folder (new, empty, or written by fpa site)")
    above = next((parent for parent in out.parents if parent.exists()), None)
    if above is not None and not above.is_dir():
        raise FpaError(f"--out {out}: {above} is a file, not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return []
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("kind") != SITE_KIND:
            raise ValueError
    except (OSError, ValueError, AttributeError):
        raise FpaError(f"--out {out} is a folder that is not empty and was not written by fpa site (no {MANIFEST} "
                       "of kind fpa-site); choose a new or empty folder; nothing was changed") from None
    names = [str(name) for name in manifest.get("files", [])]
    return [name for name in names if _inside(name)]


def _inside(name: str) -> bool:
    """A relative path without '..' (a manifest can only name files inside its folder)."""
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and bool(path.parts)


def tensor_bytes(tensors: dict[str, torch.Tensor]) -> tuple[bytes, dict[str, dict]]:
    """Tensors as one little-endian blob and their specs {key: {dtype, shape, offset}}.

    A tensor is stored as float16 when float16 holds it exactly (the shipped weights), else float32.
    """
    chunks, specs, offset = [], {}, 0
    for key, tensor in tensors.items():
        values = tensor.detach().float().cpu()
        exact = torch.equal(values.half().float(), values)
        array = values.numpy().astype("<f2" if exact else "<f4")
        specs[key] = {"dtype": "float16" if exact else "float32", "shape": list(values.shape), "offset": offset}
        chunks.append(array.tobytes())
        offset += len(chunks[-1])
    return b"".join(chunks), specs


def test_latents(state: dict, pixels: np.ndarray) -> list[list[float]]:
    """Posterior means mu(x) (N, d_latent) of uint8 images ``pixels`` (N, C, H, W) under the encoder of VAE
    checkpoint ``state``, as float32 values written as the shortest decimals that read back as them."""
    encoder = vae_from_checkpoint(state).encoder
    images = torch.from_numpy(pixels).float().div(127.5).sub(1.0)  # as fpalib.data.arrays.ArrayImages
    with torch.no_grad():
        mu = encoder(images)[0].numpy().astype(np.float32)
    return [[float(str(value)) for value in row] for row in mu]


def painter_entry(name: str, test_pixels: np.ndarray | None = None) -> tuple[dict, bytes]:
    """The manifest entry and decoder weight bytes of shipped painter ``name``; for a VAE painter the
    entry's ``test_latents`` hold its encoder's posterior means of ``test_pixels`` (the encoder's weights
    stay off the page)."""
    state = load_checkpoint(name)  # refuses non-finite weights
    generator = generator_from_checkpoint(state)
    if not isinstance(generator, FastWeightPainter):
        raise FpaError(f"{name} holds a {type(generator).__name__}, not a painter; the page paints painters only")
    cfg = generator.config
    if cfg.rule not in JS_RULES:
        raise FpaError(f"{name} uses the {cfg.rule!r} rule; the page implements {', '.join(JS_RULES)}")
    blob, specs = tensor_bytes(dict(generator.state_dict()))
    config = {**dataclasses.asdict(cfg), "shape": list(cfg.shape)}
    entry = {"title": PAINTERS.get(name, name), "file": f"weights/{name}.bin", "config": config, "tensors": specs}
    if "encoder" in state and test_pixels is not None and tuple(test_pixels.shape[1:]) == tuple(cfg.shape):
        entry["test_latents"] = test_latents(state, test_pixels)
    return entry, blob


def fashion_test_images() -> tuple[dict, np.ndarray]:
    """The first test image of every class of the shipped Fashion-MNIST subset: entry and uint8 pixels
    (N, 1, 28, 28)."""
    folder = subset_folder() / "test"
    data = ArrayImages(folder, channels=1)
    labels = data.labels.numpy()
    first = [int(np.flatnonzero(labels == label)[0]) for label in np.unique(labels)]
    pixels = data.pixels[first].numpy().astype(np.uint8)  # (N, 1, 28, 28)
    names = class_names(folder) or [str(label) for label in np.unique(labels)]
    entry = {"file": "test-images.bin", "shape": list(pixels.shape), "indices": first,
             "labels": [names[int(labels[i])] for i in first], "source": "fashion-mnist-subset/test"}
    return entry, pixels


def write_site(out: str | Path, painters: Sequence[str] = tuple(PAINTERS)) -> list[str]:
    """Write the page, the weights of ``painters`` (shipped names) and the manifest into ``out``;
    returns the written files (paths relative to ``out``).

    Everything is read and checked before the first write; files of an earlier site that this one
    no longer has are removed, nothing else in ``out`` is touched.
    """
    out = Path(out)
    earlier = previous_files(out)
    payloads: dict[str, bytes] = {}
    for name in PAGE_FILES:
        payloads[name] = (PAGE_DIR / name).read_bytes()
    images, pixels = fashion_test_images()
    payloads["test-images.bin"] = pixels.tobytes()
    entries = {}
    for name in dict.fromkeys(painters):
        entries[name], payloads[f"weights/{name}.bin"] = painter_entry(name, pixels)
    files = [*payloads, MANIFEST]
    manifest = {"kind": SITE_KIND, "fpalib_version": fpalib.__version__, "files": files,
                "painters": entries, "test_images": images}
    for name in earlier:
        if name not in files and (out / name).is_file():
            (out / name).unlink()
    write_atomically(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")  # first: a broken run can be redone
    for name, data in payloads.items():
        write_atomically(out / name, data)
    return files
