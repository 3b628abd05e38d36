"""fpalib.train.runtime: where a training process runs, alone or under torchrun."""

from __future__ import annotations

import socket

import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from fpalib.train.runtime import launched_by_torchrun, start_runtime, stop_runtime, wrap_for_training


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_plain_process_trains_alone(monkeypatch):
    for name in ("TORCHELASTIC_RUN_ID", "RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    runtime = start_runtime("cpu")
    assert not launched_by_torchrun() and not runtime.distributed
    assert wrap_for_training(nn.Linear(2, 2), runtime).__class__ is nn.Linear


def test_one_process_under_torchrun_joins_a_group_and_wraps_in_ddp(monkeypatch):
    env = {"TORCHELASTIC_RUN_ID": "test", "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime = start_runtime("cpu")
    try:
        assert launched_by_torchrun() and runtime.distributed and runtime.world_size == 1
        assert dist.is_initialized() and dist.get_backend() == "gloo"
        assert isinstance(wrap_for_training(nn.Linear(2, 2), runtime), DistributedDataParallel)
    finally:
        stop_runtime(runtime)
    assert not dist.is_initialized()
