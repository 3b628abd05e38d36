"""Random-number state of a training process: seeding, saving and restoring it.

A run is reproducible from its seed, and a resumed run continues exactly where an
uninterrupted one would be, because a checkpoint stores the state of every generator the
loop draws from: Python's ``random``, NumPy's global generator, torch's CPU generator and
(when present) every CUDA generator. The states are stored as tensors and plain values so
that checkpoints load with ``torch.load(weights_only=True)``.
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
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """The state of every global random generator, as tensors and plain values."""
    version, internal, gauss_next = random.getstate()
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": torch.tensor(internal), "gauss_next": gauss_next},
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back a state captured by :func:`capture_rng_state` (CUDA only where available).

    The tensors may be on any device (``torch.load(map_location=...)`` moves them).
    """
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"].tolist()), python["gauss_next"]))
    numpy = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy["keys"].cpu().numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
