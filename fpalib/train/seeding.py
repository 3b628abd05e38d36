"""Randomness of a training process: seeds, the random state a checkpoint keeps, the data order.

Training draws only from torch: latents, DiffAugment and random flips from the global CPU or
CUDA generator, data-loader worker seeds from the DataLoader's own generator. A checkpoint
stores exactly these states, as tensors, so that it loads with ``torch.load(weights_only=True)``
and a resumed run continues where an uninterrupted one would be. The batch order needs no state
beyond the number of batches consumed: :class:`ResumableBatchSampler` is torch's
``DistributedSampler`` (one shuffle per epoch, each process a disjoint share) cut into batches,
started at any batch.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DistributedSampler, Sampler


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


class ResumableBatchSampler(Sampler[list[int]]):
    """Endless batches of ``batch_size`` dataset indices for one process, from batch ``start``.

    ``torch.utils.data.DistributedSampler`` (shuffled, ``drop_last``) draws each epoch's order with
    the seed ``derived_seed(seed, epoch)`` (its own ``seed + epoch`` would give seed 1 the order of
    seed 0's next epoch; one process then reads the orders of earlier fpalib versions) and hands
    process ``rank`` every ``world_size``-th index; ``BatchSampler`` cuts that into batches (the
    incomplete last one dropped). Set ``start`` (the batches each process
    has consumed) before making an iterator: a DataLoader made with ``batch_sampler=`` this object
    then yields the batches an uninterrupted run would from that point on.
    """

    def __init__(self, num_items: int, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1):
        if num_items < batch_size * world_size:
            raise ValueError(f"{num_items} items cannot fill one batch of {batch_size} x {world_size} processes")
        self.share = DistributedSampler(range(num_items), num_replicas=world_size, rank=rank, shuffle=True,
                                        drop_last=True)
        self.seed = seed
        self.batches = BatchSampler(self.share, batch_size, drop_last=True)
        self.start = 0

    def __iter__(self) -> Iterator[list[int]]:
        epoch, skip = divmod(self.start, len(self.batches))
        while True:
            self.share.set_epoch(epoch)
            self.share.seed = derived_seed(self.seed, epoch) - epoch  # it shuffles with seed + epoch
            yield from itertools.islice(self.batches, skip, None)
            epoch, skip = epoch + 1, 0
