"""Shipped inference checkpoints: EMA generator weights in half precision plus a model card.

``tools/export_pretrained.py`` (a maintainer tool) turns a training checkpoint into
``data/pretrained/<name>.pt`` ({"kind": "fpa-pretrained", "config", "step", "generator" (float16
EMA state dict), "card", "fpalib_version"}), ``<name>.md`` (the model card rendered from
``card``) and ``<name>.metrics.jsonl`` (the training log). ``load_generator`` and the ``fpa``
sampling commands accept the ``.pt`` file, or just its name for a shipped one. A wheel copies
the shipped files into ``fpalib/_pretrained/`` (``setup.py``); :func:`shipped_dir` finds that
copy or ``data/pretrained`` beside the package, whatever the working directory.
"""

from __future__ import annotations

from pathlib import Path

import fpalib
from fpalib.errors import FpaError

PRETRAINED_KIND = "fpa-pretrained"
PRETRAINED_DIR = Path("data/pretrained")
"""Where the shipped files live in a source checkout."""
PACKAGED_DIR = "_pretrained"
"""The folder inside the installed package that holds the shipped files of a wheel."""


def shipped_dir() -> Path:
    """The folder of the shipped checkpoints and model cards, found through the package.

    The installed package's ``fpalib/_pretrained`` (wheel), else ``data/pretrained`` next to the
    package folder (source checkout, editable install). Raises FpaError when neither exists.
    """
    package = Path(fpalib.__file__).resolve().parent
    candidates = (package / PACKAGED_DIR, package.parent / PRETRAINED_DIR)
    for folder in candidates:
        if any(folder.glob("*.pt")):
            return folder
    raise FpaError(
        f"no shipped checkpoints next to the fpalib package (looked in {candidates[0]} and {candidates[1]}); "
        "reinstall fpalib from a full clone (`pip install .`) or restore data/pretrained with git"
    )
