"""A resumable, shardable, endless order of training batches.

Batch number ``b`` (counted from the start of the run, over all processes) is a pure
function of (seed, b): the data set is shuffled once per epoch with a permutation drawn from
``seed`` and the epoch number, and cut into global batches of ``batch_size * world_size``
indices (the last incomplete one is dropped); process ``rank`` takes every
``world_size``-th index of a global batch. A resumed run therefore continues the data order
by starting at the number of batches it had consumed, and DDP processes see disjoint
images, like ``torch.utils.data.DistributedSampler``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from fpalib.train.seeding import derived_seed


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

    @property
    def batches_per_epoch(self) -> int:
        """Full global batches in one pass over the data set."""
        return self.num_items // (self.batch_size * self.world_size)

    def batch(self, number: int) -> list[int]:
        """The indices this process reads for batch ``number`` (0-based, from the run's start)."""
        epoch, position = divmod(number, self.batches_per_epoch)
        order = self._order(epoch)
        width = self.batch_size * self.world_size
        global_batch = order[position * width : (position + 1) * width]
        return global_batch[self.rank :: self.world_size].tolist()

    def _order(self, epoch: int) -> torch.Tensor:
        """The permutation of epoch ``epoch`` (cached for the current epoch)."""
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            generator = torch.Generator().manual_seed(derived_seed(self.seed, epoch))
            self._epoch_order = (epoch, torch.randperm(self.num_items, generator=generator))
        return self._epoch_order[1]

    def __iter__(self) -> Iterator[list[int]]:
        number = self.start
        while True:
            yield self.batch(number)
            number += 1
