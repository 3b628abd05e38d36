"""Self-describing training checkpoints, written atomically.

A checkpoint is a dict saved with ``torch.save`` in ``<run>/checkpoints/latest.pt`` (and
``best.pt``, the best evaluation so far): kind "fpa-gan", fpalib_version, config (the
ExperimentConfig as a dict), step, the state dicts generator, discriminator, ema, optimizer_g,
optimizer_d and scaler, rng (:mod:`fpalib.train.seeding`), data_position, sample_latents
(N, latent_dim), best_metric and elapsed_s. It holds only tensors and plain values, so it loads
with ``weights_only=True``, and needs no other file to rebuild its generator. "ema" is the whole
averaged generator; for an FPA/U-Net both "generator" and "ema" hold the frozen painter beside
the U-Net. The loaders also accept the shipped inference files of :mod:`fpalib.pretrained`
(kind "fpa-pretrained": EMA weights only).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

import fpalib
from fpalib.errors import FpaError
from fpalib.models import build_generator, ema_part, with_ema_part
from fpalib.models.vae import VAE
from fpalib.pretrained import PRETRAINED_KIND, shipped_dir
from fpalib.train.config import ExperimentConfig, from_dict
from fpalib.train.ema import EMA
from fpalib.train.run_folder import write_atomically, write_error

CHECKPOINT_KIND = "fpa-gan"
CHECKPOINT_DIR = "checkpoints"
LATEST = "latest.pt"
BEST = "best.pt"


def checkpoint_path(run_dir: str | Path, name: str = LATEST) -> Path:
    """``<run_dir>/checkpoints/<name>``."""
    return Path(run_dir) / CHECKPOINT_DIR / name


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus kind and library version) to ``path`` with :func:`torch_save_atomically`."""
    torch_save_atomically(path, {**state, "kind": CHECKPOINT_KIND, "fpalib_version": fpalib.__version__})


def torch_save_atomically(path: str | Path, state: dict[str, Any], what: str = "checkpoint") -> None:
    """``torch.save(state, path)``, atomically (:func:`fpalib.train.run_folder.write_atomically`);
    a failed write raises FpaError, which says whether a previous ``what`` at ``path`` is intact."""
    path = Path(path)
    existed = path.is_file()
    buffer = io.BytesIO()  # serialised first: torch reports a failed file write as an opaque RuntimeError
    torch.save(state, buffer)
    try:
        write_atomically(path, buffer.getvalue())
    except OSError as error:
        kept = f"the previous {what} there is intact" if existed else f"no {what} was written"
        raise write_error(error, f"the {what} {path}", f"{kept}; free space or fix the folder's permissions and "
                          "run again") from None


def run_folder_of(path: str | Path) -> Path | None:
    """The run folder of a run folder or of ``<run>/checkpoints/<name>.pt``; None for a loose .pt file."""
    path = Path(path)
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == CHECKPOINT_DIR else None


def resolve_checkpoint(path_or_run_dir: str | Path) -> Path:
    """A .pt file as given, ``<run>/checkpoints/latest.pt`` for a run folder, or a shipped
    checkpoint by its bare name ("fpa-delta-emoji32", found through the package)."""
    path = Path(path_or_run_dir)
    if not path.exists() and path.parent == Path(".") and path.suffix in ("", ".pt"):
        try:
            shipped = shipped_dir() / f"{path.stem}.pt"
        except FpaError:
            shipped = None
        if shipped is not None and shipped.is_file():
            return shipped
    if path.is_dir():
        path = checkpoint_path(path)
        if not path.is_file():
            raise FpaError(f"no checkpoint in run folder {path_or_run_dir} (expected {path}); train it first")
    elif not path.is_file():
        raise FpaError(f"checkpoint {path} does not exist; give a run folder or a .pt file")
    return path


def load_checkpoint(path_or_run_dir: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (from a run folder or a .pt file).

    Raises FpaError when it is missing, unreadable, neither a training checkpoint nor a shipped one,
    or holds a NaN or infinite weight.
    """
    path = resolve_checkpoint(path_or_run_dir)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for foreign or damaged files
        raise FpaError(f"{path} is not a readable fpalib checkpoint ({type(error).__name__})") from None
    if not isinstance(state, dict) or state.get("kind") not in (CHECKPOINT_KIND, PRETRAINED_KIND):
        raise FpaError(f"{path} is not an fpalib checkpoint (kind {CHECKPOINT_KIND!r} or {PRETRAINED_KIND!r} missing)")
    bad = _non_finite_parts(state)
    if bad:  # nothing paints, scores, exports or resumes from NaN weights
        raise FpaError(f"{path} holds non-finite weights ({', '.join(bad)}): use the run's checkpoints/best.pt "
                       "(copy it over latest.pt to resume from it) or an earlier checkpoint, or train again with --new")
    return state


def _non_finite_parts(state: dict[str, Any]) -> list[str]:
    """The state dicts of a loaded checkpoint (its dict-valued entries) that hold a NaN or infinite weight."""
    return [part for part, value in state.items() if isinstance(value, dict) and any(
        isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
        for tensor in value.values())]


def checkpoint_config(state: dict[str, Any]) -> ExperimentConfig:
    """The ExperimentConfig stored in a loaded checkpoint."""
    return from_dict(state["config"])


def generator_from_checkpoint(
    state: dict[str, Any], *, ema: bool = True, device: str | torch.device = "cpu"
) -> nn.Module:
    """Rebuild the generator of a loaded checkpoint, in eval mode on ``device``.

    ema=True returns the exponential-moving-average copy, ema=False the raw generator.
    """
    cfg = checkpoint_config(state)
    if cfg.objective == "vae" and state["kind"] == PRETRAINED_KIND:  # a VAE's export holds the raw decoder
        return vae_from_checkpoint(state, device).decoder
    generator = build_generator(cfg.generator, cfg.generator_config)
    if state["kind"] == PRETRAINED_KIND:  # the EMA weights in float16, nothing else
        if not ema:
            raise FpaError("a shipped (pretrained) checkpoint holds only the EMA generator; drop --raw")
        generator.load_state_dict({key: value.float() if value.is_floating_point() else value
                                   for key, value in state["generator"].items()})
        return generator.to(device).eval().requires_grad_(False)
    generator.load_state_dict(state["generator"])
    if ema:  # for an FPA/U-Net: the painter shared with the raw generator and an averaged U-Net
        generator = with_ema_part(generator, EMA(ema_part(generator), cfg.ema).model)
        generator.load_state_dict(state["ema"])
    return generator.to(device).eval()


def vae_from_checkpoint(state: dict[str, Any], device: str | torch.device = "cpu") -> VAE:
    """The VAE (raw decoder, encoder, likelihood) of a loaded ``objective="vae"`` checkpoint, in eval
    mode on ``device`` without gradients; the test bounds of its run were measured on these weights."""
    cfg = checkpoint_config(state)
    if cfg.objective != "vae" or "encoder" not in state:
        raise FpaError("this checkpoint holds a GAN generator without an encoder; reconstructions and test "
                       "bounds need a VAE run (fpa train --preset fashion28-vae)")
    decoder = build_generator(cfg.generator, cfg.generator_config)
    vae = VAE(decoder, (cfg.data.channels,) + (cfg.data.image_size,) * 2, cfg.vae)
    for name, part in (("generator", decoder), ("encoder", vae.encoder), ("likelihood", vae.likelihood)):
        part.load_state_dict({key: value.float() if value.is_floating_point() else value
                              for key, value in state[name].items()})
    return vae.to(device).eval().requires_grad_(False)


def load_generator(
    path_or_run_dir: str | Path,
    *,
    ema: bool = True,
    device: str | torch.device = "cpu",
    require: str | None = None,
) -> tuple[nn.Module, ExperimentConfig]:
    """Load a trained generator: ``(generator in eval mode, its ExperimentConfig)``.

    require: "fpa", "lightgan" or "fpa-unet" to insist on that generator type (FpaError otherwise).
    """
    state = load_checkpoint(path_or_run_dir)
    cfg = checkpoint_config(state)
    if require is not None and cfg.generator != require:
        raise FpaError(
            f"{path_or_run_dir} holds a {cfg.generator!r} generator, but a {require!r} one is needed"
        )
    return generator_from_checkpoint(state, ema=ema, device=device), cfg
