"""What a trained generator draws for fixed seeds, and the files of the sampling commands.

Every latent comes from :func:`fpalib.models.latents.seeded_latents` (all drawn at once on the
CPU from a generator seeded with ``seed``), so a seed gives the same images on every device and
for every batch size, here and in ``fpalib.metrics.Evaluator``. The ``write_*`` functions load a run or checkpoint and write what ``fpa
generate``, ``fpa paint``, ``fpa interpolate`` and ``fpa before-after`` write (``fpa demo`` too).
Images are in [-1, 1] on the CPU; figures are drawn by :mod:`fpalib.viz`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.utils import save_image

from fpalib import viz
from fpalib.errors import FpaError
from fpalib.models import FPAWithUNet
from fpalib.models.latents import seeded_latents
from fpalib.train.checkpoint import (
    checkpoint_config,
    generator_from_checkpoint,
    load_checkpoint,
    load_generator,
    vae_from_checkpoint,
)
from fpalib.train.runtime import eval_mode, resolve_device
from fpalib.viz import step_display

Device = str | torch.device | None
GRID_SUFFIXES = (".png", ".jpg", ".jpeg")
INTERPOLATIONS = ("slerp", "linear")


@torch.no_grad()
def sample_batches(generator: nn.Module, count: int, seed: int = 0, batch_size: int = 64) -> Iterator[Tensor]:
    """Images (b, C, H, W) in [-1, 1] on the CPU for the ``count`` latents of ``seed``, ``batch_size``
    at a time, generated in eval mode (the generator's mode is restored)."""
    if count < 1 or batch_size < 1:
        raise FpaError(f"count and batch_size must be at least 1; got {count}, {batch_size}")
    device = next(generator.parameters()).device
    latents = seeded_latents(count, generator.latent_dim, seed)
    with eval_mode(generator):
        for chunk in latents.split(batch_size):
            yield generator(chunk.to(device)).float().cpu()


def fixed_samples(generator: nn.Module, count: int, seed: int = 0, batch_size: int = 64) -> Tensor:
    """``count`` images (count, C, H, W) in [-1, 1] on the CPU from the latents of ``seed``."""
    return torch.cat(list(sample_batches(generator, count, seed, batch_size)))


def interpolate_latents(start: Tensor, end: Tensor, frames: int, method: str = "slerp") -> Tensor:
    """``frames`` latents (frames, d) from ``start`` (d,) to ``end`` (d,), both included.

    slerp: ``sin((1-t) w) / sin(w) * start + sin(t w) / sin(w) * end`` with w the angle
    between them (linear when they are parallel); linear: ``(1-t) * start + t * end``.
    """
    if method not in INTERPOLATIONS:
        raise FpaError(f"unknown interpolation {method!r}; choose one of {', '.join(INTERPOLATIONS)}")
    t = torch.linspace(0.0, 1.0, frames, dtype=start.dtype)[:, None]
    cosine = torch.dot(start, end) / (start.norm() * end.norm()).clamp_min(1e-12)
    angle = torch.arccos(cosine.clamp(-1.0, 1.0))
    if method == "linear" or torch.sin(angle) < 1e-6:
        return (1 - t) * start + t * end
    return (torch.sin((1 - t) * angle) * start + torch.sin(t * angle) * end) / torch.sin(angle)


@torch.no_grad()
def interpolation(generator: nn.Module, seed_a: int, seed_b: int, frames: int, method: str = "slerp") -> Tensor:
    """Images (frames, C, H, W) on the path from the first latent of ``seed_a`` to that of ``seed_b``."""
    if frames < 2:
        raise FpaError(f"an interpolation needs at least 2 frames; got {frames}")
    start, end = (seeded_latents(1, generator.latent_dim, seed)[0] for seed in (seed_a, seed_b))
    latents = interpolate_latents(start, end, frames, method)
    return generator(latents.to(next(generator.parameters()).device)).float().cpu()


@torch.no_grad()
def before_and_after(model: FPAWithUNet, num: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(painter images, refined images), each (num, C, H, W) in [-1, 1] on the CPU, for seeded latents."""
    if not isinstance(model, FPAWithUNet):
        raise FpaError(f"before/after pairs need an FPA/U-Net ('fpa-unet') generator; got {type(model).__name__}")
    if num < 1:
        raise FpaError(f"the number of pairs must be at least 1; got {num}")
    latents = seeded_latents(num, model.latent_dim, seed)
    after, before = model(latents.to(next(model.parameters()).device), return_before=True)
    return before.float().cpu(), after.float().cpu()


def write_samples(
    run: str | Path, out: str | Path, *, num: int = 64, seed: int = 0, grid: bool = False, nrow: int | None = None,
    batch_size: int = 256, before_unet: bool = False, ema: bool = True, device: Device = None,
) -> Path:
    """``num`` samples of the checkpoint ``run``: one grid (``nrow`` per row, default about
    sqrt(num)) when ``grid`` or ``out`` ends in .png/.jpg, else a folder of ``000000.png, ...``.
    before_unet: for an FPA/U-Net, its frozen painter's images. Returns ``out``."""
    out = Path(out)
    as_grid = grid or out.suffix.lower() in GRID_SUFFIXES
    if as_grid and out.suffix.lower() not in GRID_SUFFIXES:
        raise FpaError(f"--grid needs an image file name ending in .png or .jpg; got {out}")
    generator, _ = load_generator(run, ema=ema, device=resolve_device(device))
    if before_unet:
        if not isinstance(generator, FPAWithUNet):
            raise FpaError(f"--before-unet needs an FPA/U-Net checkpoint (fpa train --refine-from); {run} is not")
        generator = generator.painter
    if as_grid:
        images = fixed_samples(generator, num, seed, batch_size)
        return viz.save_grid(images, out, nrow=nrow or math.ceil(math.sqrt(num)))
    out.mkdir(parents=True, exist_ok=True)
    for start, images in zip(range(0, num, batch_size), sample_batches(generator, num, seed, batch_size)):
        for offset, image in enumerate(viz.to_unit(images)):
            path = out / f"{start + offset:06d}.png"
            viz.write_image_file(path, lambda buffer, kind, image=image: save_image(image, buffer, format=kind))
    return out


def write_painting(
    run: str | Path, out: str | Path, *, gif: str | Path | None = None, unet_out: str | Path | None = None,
    seed: int = 0, index: int = 0, every: int = 1, display: str = "output", ema: bool = True, device: Device = None,
    image: Tensor | None = None, rows: str | Path | None = None,
) -> None:
    """The painting steps of sample ``index`` of the latents of ``seed`` (update rows over image rows, see
    :func:`fpalib.viz.painting_steps_figure`) to ``out``, and as an animation to ``gif``. For an
    FPA/U-Net the steps are its frozen painter's; ``unet_out`` draws that image before and after
    the U-Net. ``image`` (C, H, W) in [-1, 1], for a VAE checkpoint: paint its reconstruction instead
    (the latent is the encoder's mean for it). ``rows``: also a pixel-sharp PNG of the two rows
    (updates, images after each step) at step 1, every ``max(every, ceil(T / 7))``-th step and the
    last, scale 3 (:func:`fpalib.viz.steps_rows_png`)."""
    if index < 0 or every < 1:
        raise FpaError(f"--index must be 0 or more and --every at least 1; got {index} and {every}")
    step_display.check_mode(display)
    state = load_checkpoint(run)
    cfg = checkpoint_config(state)
    if cfg.generator not in ("fpa", "fpa-unet"):
        raise FpaError(f"paint needs an FPA checkpoint, this run trains {cfg.generator}")
    if unet_out is not None and cfg.generator != "fpa-unet":
        raise FpaError("--unet-out needs an FPA/U-Net checkpoint (fpa train --refine-from)")
    if image is None:
        model = generator_from_checkpoint(state, ema=ema, device=resolve_device(device))
        painter = model.painter if isinstance(model, FPAWithUNet) else model
        latents = seeded_latents(index + 1, painter.latent_dim, seed)
        title = f"{cfg.name}, step {state['step']}, seed {seed}, sample {index}"
    else:  # the VAE's raw decoder, the one its encoder was trained with
        vae = vae_from_checkpoint(state, resolve_device(device))
        painter, index = vae.decoder, 0
        title = f"{cfg.name}, step {state['step']}: painting the reconstruction of an image"
        with torch.no_grad():
            latents = vae.encoder(image[None].to(next(painter.parameters()).device))[0].cpu()
    with torch.no_grad():
        before, steps = painter(latents.to(next(painter.parameters()).device), return_steps=True)
        if unet_out is not None:
            pair = before[index : index + 1]
            viz.save_figure(viz.before_after_figure(pair, model.unet(pair), pairs_per_row=1), unet_out)
    steps = type(steps)(*(tensor.float().cpu() for tensor in steps))
    shown = {"mode": display, "out_tanh": cfg.painter.out_tanh}
    viz.save_figure(viz.painting_steps_figure(steps, index=index, every=every, title=title, **shown), out)
    if gif is not None:
        viz.save_painting_gif(steps, gif, index=index, **shown)
    if rows is not None:  # at most 8 columns (step 1, then every stride-th), narrow enough for a page column
        count = steps.updates.shape[1]
        stride = max(every, math.ceil(count / 7))
        chosen = sorted({1, *range(stride, count + 1, stride), count})
        shown_steps = step_display.display_steps(steps, index, display, out_tanh=cfg.painter.out_tanh)
        png = step_display.steps_rows_png(shown_steps, chosen, scale=3)
        viz.write_image_file(rows, lambda buffer, kind: buffer.write(png))


def write_interpolation(
    run: str | Path, out: str | Path, *, gif: str | Path | None = None, seed_a: int = 0, seed_b: int = 1,
    frames: int = 8, method: str = "slerp", ema: bool = True, device: Device = None,
) -> None:
    """The :func:`interpolation` of the checkpoint ``run`` as one row to ``out`` and as a looping
    animation (there and back) to ``gif``."""
    generator, _ = load_generator(run, ema=ema, device=resolve_device(device))
    images = interpolation(generator, seed_a, seed_b, frames, method)
    viz.save_grid(images, out, nrow=frames)
    if gif is not None:
        viz.save_interpolation_gif(images, gif)


def write_before_after(
    run: str | Path, out: str | Path, *, num: int = 12, seed: int = 0, per_row: int = 4, ema: bool = True,
    device: Device = None, dpi: int = 100,
) -> Path:
    """Draw the before/after figure of the FPA/U-Net checkpoint ``run`` to ``out``; returns the path."""
    if per_row < 1:
        raise FpaError(f"--per-row must be at least 1; got {per_row}")
    model, cfg = load_generator(run, ema=ema, device=resolve_device(device), require="fpa-unet")
    before, after = before_and_after(model, num, seed)
    figure = viz.before_after_figure(before, after, pairs_per_row=per_row,
                                     title=f"{cfg.name}: painter (left) and U-Net refinement (right), seed {seed}")
    return viz.save_figure(figure, out, dpi)
