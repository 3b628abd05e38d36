"""Random-number state of a training process: seeding, saving and restoring it.

Training draws only from torch: latents, DiffAugment and random flips from the global CPU
or CUDA generator, data-loader worker seeds from the DataLoader's own generator (the batch
order needs no state: :mod:`fpalib.train.sampler` derives it from the seed and the epoch). A
checkpoint stores exactly these states, as tensors, so that it loads with
``torch.load(weights_only=True)`` and a resumed run continues where an uninterrupted one
would be. Checkpoints of older versions also hold Python's and NumPy's states; they are ignored.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np
import torch


def derived_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers, e.g. ``derived_seed(seed, step, rank)``.

    Different tuples give unrelated seeds (unlike ``seed + rank``, which makes the
    stream of (seed=1, rank=0) equal to that of (seed=0, rank=1)).
    """
    digest = hashlib.sha256(",".join(str(int(part)) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA); for notebooks,
    whose cells may draw from any of them (the trainer needs only ``torch.manual_seed``)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state(data_loader: torch.Generator) -> dict[str, Any]:
    """The states of torch's CPU generator, every CUDA generator and the DataLoader's generator."""
    state = {"torch": torch.get_rng_state(), "data_loader": data_loader.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], data_loader: torch.Generator) -> None:
    """Put back a state captured by :func:`capture_rng_state` (CUDA only where available).

    The tensors may be on any device (``torch.load(map_location=...)`` moves them).
    """
    data_loader.set_state(state["data_loader"].cpu())
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
