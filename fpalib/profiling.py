"""Measurement helpers shared by the benchmarks and the tests: time and autograd memory.

Timings use :class:`torch.utils.benchmark.Timer` (it synchronises CUDA and reports a median
over repeated blocks), imported on first use: importing it loads ``torch.utils.cpp_extension``,
which logs "No CUDA runtime is found, using CUDA_HOME=..." on a CPU-only machine that has a
CUDA toolkit folder; that warning says nothing about timing on the CPU and is silenced here.
Memory is measured as the bytes of the distinct tensors an autograd
graph keeps for its backward pass, which is deterministic on every device.
"""

from __future__ import annotations

import logging
from typing import Callable

import torch

CPP_EXTENSION_LOGGER = "torch.utils.cpp_extension"


def _benchmark_module():
    """``torch.utils.benchmark``, imported without cpp_extension's CUDA_HOME warning."""
    logger = logging.getLogger(CPP_EXTENSION_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils import benchmark
    finally:
        logger.setLevel(level)
    return benchmark


def median_seconds(fn: Callable[[], object], *, min_run_time: float = 0.5) -> float:
    """Median wall time of one call of ``fn`` in seconds (CUDA-synchronised)."""
    timer = _benchmark_module().Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
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
