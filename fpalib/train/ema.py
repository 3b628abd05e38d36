"""Exponential moving average (EMA) of the generator's weights, with the paper's schedule.

Irie & Schmidhuber (2023, App. B, following lightweight-gan): decay 0.995,
the average is updated every 10 steps after step 20K, and up to step 25K it is
reset to the current generator every 1000 steps. With :class:`EMAConfig`
fields, for the trainer's step counter ``step`` (the index of the training
step just completed; pass the same counter at every step):

- reset  if ``step <= reset_until and step % reset_every == 0``
  (steps 0, 1000, ..., 25000 by default): the average becomes an exact copy;
- update if ``step > start_step and step % update_every == 0`` and no reset
  happens at this step (20010, 20020, ..., except 21000 ... 25000):
  ``average = decay * average + (1 - decay) * current`` for the
  parameters, while buffers (e.g. batch-norm statistics) are copied;
- otherwise nothing.

So before ``start_step`` the average is the generator as of the last reset
(at most ``reset_every`` steps old); between ``start_step`` and
``reset_until`` it averages at most ``reset_every`` steps; afterwards it is a
plain moving average. A step that qualifies for both gets the reset, which is
what an update followed by a reset gives. (The authors' code resets at steps
that are 2 modulo 1000, so its resets never coincide with updates; we use
the round multiples.)
"""

import copy
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from fpalib.errors import Checked, FpaError

EMAAction = Literal["reset", "update", "none"]
TensorPair = tuple[torch.Tensor, torch.Tensor]


@dataclass
class EMAConfig(Checked):
    """Schedule of the weight average; see the module docstring for the exact rule.

    Attributes:
        decay: weight of the old average in an update, in [0, 1).
        update_every: update at steps divisible by this ...
        start_step: ... and strictly greater than this.
        reset_every: reset at steps divisible by this ...
        reset_until: ... and at most this (a negative value disables resets).
    """

    decay: float = 0.995
    update_every: int = 10
    start_step: int = 20_000
    reset_every: int = 1_000
    reset_until: int = 25_000

    def __post_init__(self) -> None:
        """Raise :class:`FpaError` for a decay outside [0, 1) or a non-positive period."""
        if isinstance(self.decay, bool) or not isinstance(self.decay, (int, float)) or not 0.0 <= self.decay < 1.0:
            raise FpaError(f"EMA decay must be a number in [0, 1), got {self.decay!r}")
        for name in ("update_every", "reset_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FpaError(f"EMA {name} must be a positive integer, got {value!r}")
        for name in ("start_step", "reset_until"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise FpaError(f"EMA {name} must be an integer, got {value!r}")

    def action(self, step: int) -> EMAAction:
        """What :meth:`EMA.update` does at ``step``: "reset", "update" or "none"."""
        if step <= self.reset_until and step % self.reset_every == 0:
            return "reset"
        if step > self.start_step and step % self.update_every == 0:
            return "update"
        return "none"


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / DataParallel wrapper, else the model itself."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


class EMA:
    """An averaged copy of a model, maintained on the schedule of :class:`EMAConfig`.

    ``.model`` is a deep copy of ``model`` (unwrapped from DDP) in eval mode
    with ``requires_grad=False``, on the same device; build the EMA after
    moving the model to its device. Call :meth:`update` after every training
    step with the step counter.
    """

    def __init__(self, model: nn.Module, config: EMAConfig | None = None) -> None:
        config = config if config is not None else EMAConfig()
        config.validate()
        self.config = config
        self.model = copy.deepcopy(unwrap(model)).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> EMAAction:
        """Apply the schedule at ``step`` with the current weights of ``model``; returns the action taken."""
        action = self.config.action(step)
        if action == "reset":
            self.reset(model)
        elif action == "update":
            self._average(model)
        return action

    @torch.no_grad()
    def reset(self, model: nn.Module) -> None:
        """Make the average an exact copy of ``model``'s parameters and buffers."""
        parameters, buffers = self._pairs(model)
        for average, current in parameters + buffers:
            average.copy_(current)

    def _average(self, model: nn.Module) -> None:
        parameters, buffers = self._pairs(model)
        for average, current in parameters:
            average.lerp_(current.to(average), 1.0 - self.config.decay)
        for average, current in buffers:
            average.copy_(current)

    def _pairs(self, model: nn.Module) -> tuple[list[TensorPair], list[TensorPair]]:
        """(average, current) pairs of the parameters and of the buffers, matched by name."""
        source = unwrap(model)
        return (
            _match(dict(self.model.named_parameters()), dict(source.named_parameters())),
            _match(dict(self.model.named_buffers()), dict(source.named_buffers())),
        )

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights (the state dict of ``.model``)."""
        return self.model.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load averaged weights saved by :meth:`state_dict`."""
        self.model.load_state_dict(state_dict)


def _match(averaged: dict[str, torch.Tensor], current: dict[str, torch.Tensor]) -> list[TensorPair]:
    if averaged.keys() != current.keys():
        raise FpaError(
            "EMA: the model passed in has other parameters than the averaged copy; "
            "pass the model the EMA was built from"
        )
    return [(averaged[name], current[name].detach()) for name in averaged]
