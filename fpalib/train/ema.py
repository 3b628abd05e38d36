"""Exponential moving average (EMA) of the generator's weights, with the paper's schedule.

Irie & Schmidhuber (2023, App. B, following lightweight-gan): decay 0.995, the average is
updated every 10 steps after step 20K, and up to step 25K it is reset to the current generator
every 1000 steps. For the index ``step`` of the training step just completed:

- reset  if ``step <= reset_until and step % reset_every == 0`` (0, 1000, ..., 25000 by
  default): the average becomes an exact copy;
- update if ``step > start_step and step % update_every == 0`` and no reset happens then
  (20010, 20020, ..., except 21000 ... 25000): ``average = decay * average + (1 - decay) *
  current`` for the parameters, while buffers (e.g. batch-norm statistics) are copied;
- otherwise nothing.

A step that qualifies for both gets the reset, which is what an update followed by a reset
gives. (The authors' code resets at steps that are 2 modulo 1000, so its resets never coincide
with updates; we use the round multiples.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from jsonargparse.typing import PositiveInt
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from fpalib.errors import Checked, FpaError, HalfOpenUnitInterval


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

    decay: HalfOpenUnitInterval = 0.995
    update_every: PositiveInt = 10
    start_step: int = 20_000
    reset_every: PositiveInt = 1_000
    reset_until: int = 25_000

    def action(self, step: int) -> Literal["reset", "update", "none"]:
        """What :meth:`EMA.update` does at ``step``."""
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
    """An averaged copy of a model, kept on the schedule of :class:`EMAConfig` by torch's
    :class:`~torch.optim.swa_utils.AveragedModel` (its exponential average, buffers copied).

    ``.model`` is a deep copy of ``model`` (unwrapped from DDP) in eval mode without gradients,
    on the model's device (build the EMA after moving the model). Call :meth:`update` after
    every training step with the step counter. The copy counts as one average already, so the
    first update averages it (AveragedModel would copy) and a resumed run continues bit-exactly
    from the saved weights alone; a reset restarts the count, which makes the next update a copy.
    """

    def __init__(self, model: nn.Module, config: EMAConfig | None = None) -> None:
        self.config = (config if config is not None else EMAConfig()).validate()
        self.averaged = AveragedModel(unwrap(model), multi_avg_fn=get_ema_multi_avg_fn(self.config.decay))
        self.averaged.n_averaged.fill_(1)
        self.model = self.averaged.module.eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> str:
        """Apply the schedule at ``step`` with the current weights of ``model``; returns the action taken."""
        action = self.config.action(step)
        if action == "reset":
            self.reset(model)
        elif action == "update":
            self.averaged.update_parameters(self._checked(model))
        return action

    @torch.no_grad()
    def reset(self, model: nn.Module) -> None:
        """Make the average an exact copy of ``model``'s parameters and buffers."""
        self.averaged.n_averaged.zero_()
        self.averaged.update_parameters(self._checked(model))

    def _checked(self, model: nn.Module) -> nn.Module:
        """``model`` unwrapped, after checking that its parameters are the averaged copy's (by name)."""
        model = unwrap(model)
        if [name for name, _ in model.named_parameters()] != [name for name, _ in self.model.named_parameters()]:
            raise FpaError("EMA: the model passed in has other parameters than the averaged copy; "
                           "pass the model the EMA was built from")
        return model

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights (the state dict of ``.model``)."""
        return self.model.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.model.load_state_dict(state_dict)
