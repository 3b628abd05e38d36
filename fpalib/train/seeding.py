"""Randomness of a training process: seeds, the random state a checkpoint keeps, the data order.

Training draws only from torch: latents, DiffAugment and random flips from the global CPU or
CUDA generator, data-loader worker seeds from the DataLoader's own generator. A checkpoint
stores exactly these states, as tensors, so that it loads with ``torch.load(weights_only=True)``
and a resumed run continues where an uninterrupted one would be (checkpoints of older versions
also hold Python's and NumPy's states; they are ignored). The batch order needs no state:
:class:`ResumableBatchSampler` derives batch ``b`` (counted from the start of the run, over all
processes) from (seed, b): the data set is shuffled once per epoch with a permutation drawn from
the seed and the epoch, and cut into global batches of ``batch_size * world_size`` indices (the
last incomplete one dropped); process ``rank`` takes every ``world_size``-th index of a global
batch, so DDP processes see disjoint images, like ``torch.utils.data.DistributedSampler``.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler


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

    Set ``start`` (the number of batches already consumed by each process) before creating
    an iterator; a DataLoader made with ``batch_sampler=`` this object then yields the same
    batches as an uninterrupted run would from that point on.
    """

    def __init__(self, num_items: int, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1):
        if num_items < batch_size * world_size:
            raise ValueError(f"{num_items} items cannot fill one batch of {batch_size} x {world_size} processes")
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start = 0
        self._epoch_order: tuple[int, torch.Tensor] | None = None

    def batch(self, number: int) -> list[int]:
        """The indices this process reads for batch ``number`` (0-based, from the run's start)."""
        width = self.batch_size * self.world_size
        epoch, position = divmod(number, self.num_items // width)
        if self._epoch_order is None or self._epoch_order[0] != epoch:  # one permutation per epoch, kept
            generator = torch.Generator().manual_seed(derived_seed(self.seed, epoch))
            self._epoch_order = (epoch, torch.randperm(self.num_items, generator=generator))
        global_batch = self._epoch_order[1][position * width : (position + 1) * width]
        return global_batch[self.rank :: self.world_size].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        return map(self.batch, itertools.count(self.start))
