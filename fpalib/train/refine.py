"""Starting an FPA/U-Net run (``fpa train --refine-from``) from a trained painter.

The U-Net of an "fpa-unet" generator is trained on top of a frozen painter
(:mod:`fpalib.models.refined`). :func:`refinement_config` turns a configuration into such a run,
copying the painter's architecture from its checkpoint; :func:`load_refinement_start` loads the
painter (and, by default, the painter run's discriminator) when the run starts.
"""

from __future__ import annotations

import copy
from pathlib import Path

from torch import nn

from fpalib.errors import FpaError
from fpalib.pretrained import PRETRAINED_KIND
from fpalib.train.checkpoint import checkpoint_config, generator_from_checkpoint, load_checkpoint
from fpalib.train.config import ExperimentConfig, with_image_size


def refinement_config(cfg: ExperimentConfig, painter_run_or_ckpt: str | Path) -> ExperimentConfig:
    """``cfg`` turned into an FPA/U-Net run on top of a trained painter (``fpa train --refine-from``).

    Takes the painter's architecture (``painter``), discriminator (``disc``, needed to continue
    it) and image size/channels from its checkpoint, sets generator "fpa-unet" and
    ``refine.source``; the U-Net, optimiser, loop and data sections stay those of ``cfg``.
    """
    state = load_checkpoint(painter_run_or_ckpt)
    painter_cfg = checkpoint_config(state)
    if painter_cfg.generator != "fpa":
        raise FpaError(
            f"{painter_run_or_ckpt} holds a {painter_cfg.generator!r} generator; --refine-from needs a trained "
            "painter ('fpa') checkpoint or run folder"
        )
    cfg = with_image_size(cfg, painter_cfg.data.image_size, painter_cfg.data.channels)
    cfg.generator = "fpa-unet"
    cfg.painter = copy.deepcopy(painter_cfg.painter)
    cfg.disc = copy.deepcopy(painter_cfg.disc)
    cfg.refine.source = str(painter_run_or_ckpt)
    return cfg.validate()


def load_refinement_start(generator: nn.Module, discriminator: nn.Module, cfg: ExperimentConfig) -> None:
    """At the start of an "fpa-unet" run, load the pre-trained painter (frozen inside ``generator``)
    and, unless ``refine.reset_discriminator``, the painter run's discriminator; no-op otherwise.

    The painter is read from ``refine.source`` (its EMA weights unless ``refine.painter_ema`` is
    false); its stored architecture must equal ``cfg.painter`` (and ``cfg.disc`` when continuing D).
    """
    if cfg.generator != "fpa-unet":
        return
    if cfg.refine.source is None:
        raise FpaError("an 'fpa-unet' run refines a trained painter: pass --refine-from PAINTER_RUN_OR_CKPT")
    state = load_checkpoint(cfg.refine.source)
    stored = checkpoint_config(state)
    if stored.generator != "fpa" or stored.painter != cfg.painter:
        raise FpaError(
            f"{cfg.refine.source} does not hold a painter with this run's painter section; start the run with "
            "--refine-from, which copies the painter's configuration"
        )
    painter = generator_from_checkpoint(state, ema=cfg.refine.painter_ema)
    generator.painter.load_state_dict(painter.state_dict())
    if cfg.refine.reset_discriminator:
        return
    if state["kind"] == PRETRAINED_KIND or stored.disc != cfg.disc:
        raise FpaError(
            f"cannot continue the discriminator of {cfg.refine.source} (it is not stored there, or its disc "
            "section differs from this run's); pass --refine.reset_discriminator true to train a new one"
        )
    discriminator.load_state_dict(state["discriminator"])
