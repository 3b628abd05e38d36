"""Where a training process runs: its device and, under torchrun, its place in a DDP group.

Single process: ``start_runtime("cpu" | "cuda" | None)`` picks the device (None = CUDA when
available). Launched by ``torchrun --nproc_per_node N`` (the environment then holds RANK,
WORLD_SIZE, LOCAL_RANK and TORCHELASTIC_RUN_ID), the process joins the default process group
(NCCL on CUDA, Gloo on CPU) and uses the GPU ``cuda:LOCAL_RANK``; so does a single process
under torchrun (N = 1), so that ``torchrun --nproc_per_node 1`` exercises the DDP path.
Nothing custom: plain ``torch.distributed`` and ``DistributedDataParallel``.

Job schedulers (Slurm, Kubernetes, systemd) send SIGTERM and wait a grace period before killing
a process, so :func:`catch_interrupts` treats SIGTERM like a first Ctrl-C: the run finishes its
current step and saves a checkpoint; a second signal of either kind aborts at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from fpalib.errors import FpaError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Runtime:
    """Device and process-group membership of this process; ``distributed``: it trains in a
    torch.distributed group (under torchrun, even alone)."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    distributed: bool = False
    owns_process_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes logs, samples and checkpoints."""
        return self.rank == 0


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``None``/"auto" -> CUDA if available else CPU; "cuda" (or "mps") without one -> FpaError;
    device types other than cpu, cuda and mps -> FpaError."""
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise FpaError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FpaError("device cuda was asked for, but PyTorch sees no CUDA GPU; use --device cpu")
    if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise FpaError("device mps was asked for, but this PyTorch has no usable MPS (Apple GPU); use --device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise FpaError(f"device {name!r} is not supported; use cpu, cuda or cuda:N")
    return device


def start_runtime(device: str | torch.device | None = None) -> Runtime:
    """The runtime of this process; joins the torchrun process group when launched by one."""
    requested = resolve_device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and not launched_by_torchrun():
        return Runtime(requested)
    if requested.type == "cuda":
        requested = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(requested)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if requested.type == "cuda" else "gloo")
    return Runtime(requested, dist.get_rank(), dist.get_world_size(), distributed=True, owns_process_group=owns)


def launched_by_torchrun() -> bool:
    """torchrun (torch.distributed.run) started this process: it sets TORCHELASTIC_RUN_ID and RANK."""
    return "TORCHELASTIC_RUN_ID" in os.environ and "RANK" in os.environ


def stop_runtime(runtime: Runtime) -> None:
    """Leave the process group if :func:`start_runtime` created it."""
    if runtime.owns_process_group and dist.is_initialized():
        dist.destroy_process_group()
        runtime.owns_process_group = False


def wrap_for_training(module: nn.Module, runtime: Runtime) -> nn.Module:
    """``module`` itself, or wrapped in DistributedDataParallel when training in a group."""
    if not runtime.distributed:
        return module
    device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def mean_over_processes(values: dict[str, torch.Tensor | float], runtime: Runtime) -> dict[str, float]:
    """Each named scalar averaged over all processes, all in one all-reduce; alone, the values
    themselves. A flag (True/False) comes back as the fraction of processes that set it."""
    stacked = torch.stack([torch.as_tensor(value, dtype=torch.float32, device=runtime.device).reshape(())
                           for value in values.values()])
    if runtime.distributed:
        dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    return {name: total / runtime.world_size for name, total in zip(values, stacked.tolist(), strict=True)}


def barrier(runtime: Runtime) -> None:
    """Wait until every process reaches this point (no-op alone)."""
    if runtime.distributed:
        dist.barrier()


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode inside; its training flag is restored on the way out, however it ends."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@contextlib.contextmanager
def catch_interrupts() -> Iterator[threading.Event]:
    """While inside, a first SIGINT or SIGTERM sets the yielded event; a second raises KeyboardInterrupt.

    The previous handlers come back on exit. Outside the main thread (where signal handlers
    cannot be installed) the signals behave as usual.
    """
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handle(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        tqdm.write(f"{name}: saving a checkpoint after this step (Ctrl-C again to abort)")

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield event
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
