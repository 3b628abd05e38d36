"""Training Fast Weight Painters as GAN generators.

- :mod:`fpalib.train.config`: dataclasses of a run (:class:`ExperimentConfig`), overrides.
- :mod:`fpalib.train.presets`: named configurations (paper settings, CPU emoji, smoke test).
- :mod:`fpalib.train.checkpoint`: atomic, self-describing checkpoints; :func:`load_generator`;
  :mod:`fpalib.train.refine` starts an FPA/U-Net run from a painter checkpoint.
- :mod:`fpalib.train.trainer`: the loop (:class:`Trainer`), with :mod:`~fpalib.train.step`
  (one GAN step), :mod:`~fpalib.train.run_log` (metrics.jsonl), :mod:`~fpalib.train.seeding`
  (random state, data order), :mod:`~fpalib.train.runtime` (device, DDP, Ctrl-C and SIGTERM) and
  :mod:`~fpalib.train.run_folder` (atomic writes, all-or-nothing appends, one writer per folder).
- :mod:`fpalib.train.losses` and :mod:`fpalib.train.ema`: GAN losses, weight averaging.
"""

from fpalib.train.checkpoint import load_checkpoint, load_generator, save_checkpoint
from fpalib.train.config import ExperimentConfig, apply_overrides, from_dict, to_dict, with_image_size
from fpalib.train.presets import PRESETS, get_preset
from fpalib.train.trainer import Trainer

__all__ = [
    "PRESETS",
    "ExperimentConfig",
    "Trainer",
    "apply_overrides",
    "from_dict",
    "get_preset",
    "load_checkpoint",
    "load_generator",
    "save_checkpoint",
    "to_dict",
    "with_image_size",
]
