"""Measurement helpers shared by the benchmarks and the tests: time and autograd memory.

Timings use :class:`torch.utils.benchmark.Timer` (it synchronises CUDA and reports a median
over repeated blocks); memory is measured as the bytes of the distinct tensors an autograd
graph keeps for its backward pass, which is deterministic on every device.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.utils import benchmark


def median_seconds(fn: Callable[[], object], *, min_run_time: float = 0.5) -> float:
    """Median wall time of one call of ``fn`` in seconds (CUDA-synchronised)."""
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def saved_tensor_bytes(fn: Callable[[], object]) -> int:
    """Bytes of the distinct storages that autograd saves for backward while ``fn`` runs.

    Storages shared by several saved tensors (views, or one input saved by several ops)
    count once, so the number is the memory the graph really pins.
    """
    storages: dict[tuple[int, torch.device], int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[(storage.data_ptr(), tensor.device)] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return sum(storages.values())


def peak_cuda_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak CUDA memory allocated while ``fn`` runs, above what was allocated before."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before
