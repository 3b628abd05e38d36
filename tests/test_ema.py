"""Tests of the generator weight average and its reset/update schedule."""

import pytest
import torch
from torch import nn

from fpalib.errors import FpaError
from fpalib.train.ema import EMA, EMAConfig

SMALL_SCHEDULE = EMAConfig(decay=0.5, update_every=2, start_step=10, reset_every=5, reset_until=15)


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def set_weights(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(value)
        model[1].running_mean.fill_(value)


class Wrapper(nn.Module):
    """Mimics DistributedDataParallel: the real model sits in ``.module``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module


def test_default_schedule_matches_the_paper() -> None:
    config = EMAConfig()
    expected = {
        0: "reset", 1: "none", 999: "none", 1000: "reset", 19_990: "none", 20_000: "reset",
        20_010: "update", 20_015: "none", 21_000: "reset", 24_990: "update", 25_000: "reset",
        25_010: "update", 26_000: "update", 30_001: "none",
    }
    assert {step: config.action(step) for step in expected} == expected


def test_small_schedule_step_by_step() -> None:
    actions = [SMALL_SCHEDULE.action(step) for step in range(21)]
    r, u, n = "reset", "update", "none"
    assert actions == [r, n, n, n, n, r, n, n, n, n, r, n, u, n, u, r, u, n, u, n, u]


def test_average_is_an_independent_frozen_copy_in_eval_mode() -> None:
    model = tiny_model()
    ema = EMA(model, SMALL_SCHEDULE)
    assert ema.model is not model and not ema.model.training
    assert all(not p.requires_grad for p in ema.model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    set_weights(model, 3.0)
    assert not torch.equal(ema.model[0].weight, model[0].weight)


def test_no_change_before_start_step_except_at_resets() -> None:
    model = tiny_model()
    ema = EMA(model, SMALL_SCHEDULE)
    initial = {k: v.clone() for k, v in ema.state_dict().items()}
    set_weights(model, 2.0)
    for step in range(1, 5):
        assert ema.update(model, step) == "none"
    assert all(torch.equal(initial[k], v) for k, v in ema.state_dict().items())
    assert ema.update(model, 5) == "reset"
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in ema.state_dict().items())


def test_one_update_lerps_parameters_and_copies_buffers() -> None:
    model = tiny_model()
    ema = EMA(model, SMALL_SCHEDULE)
    set_weights(model, 1.0)
    ema.update(model, 10)  # reset: the average is now all ones
    set_weights(model, 3.0)
    with torch.no_grad():
        model[1].running_var.fill_(7.0)
    assert ema.update(model, 12) == "update"
    for parameter in ema.model.parameters():
        assert torch.allclose(parameter, torch.full_like(parameter, 2.0))  # 0.5 * 1 + 0.5 * 3
    assert torch.equal(ema.model[1].running_mean, model[1].running_mean)
    assert torch.equal(ema.model[1].running_var, torch.full((2,), 7.0))


def test_lerp_uses_the_configured_decay() -> None:
    model = tiny_model()
    ema = EMA(model, EMAConfig(decay=0.9, update_every=1, start_step=0, reset_every=1, reset_until=-1))
    before = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model, 1)
    assert torch.allclose(ema.model[0].weight, before + 0.1)


def test_reset_copies_exactly() -> None:
    model = tiny_model()
    ema = EMA(model, SMALL_SCHEDULE)
    set_weights(model, 0.25)
    ema.update(model, 12)
    ema.reset(model)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in ema.state_dict().items())


def test_state_dict_round_trip() -> None:
    model = tiny_model()
    ema = EMA(model, SMALL_SCHEDULE)
    set_weights(model, 5.0)
    ema.update(model, 12)
    restored = EMA(tiny_model(seed=1), SMALL_SCHEDULE)
    restored.load_state_dict(ema.state_dict())
    assert all(torch.equal(v, restored.state_dict()[k]) for k, v in ema.state_dict().items())
    inputs = torch.randn(4, 3)
    assert torch.equal(restored.model(inputs), ema.model(inputs))


def test_wrapped_models_are_unwrapped() -> None:
    model = tiny_model()
    ema = EMA(Wrapper(model), SMALL_SCHEDULE)
    assert set(ema.state_dict()) == set(model.state_dict())
    set_weights(model, 4.0)
    ema.update(Wrapper(model), 5)
    assert torch.equal(ema.model[0].weight, model[0].weight)


def test_a_different_model_is_rejected() -> None:
    ema = EMA(tiny_model(), SMALL_SCHEDULE)
    with pytest.raises(FpaError, match="EMA"):
        ema.update(nn.Linear(3, 2), 5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [(dict(decay=1.0), "decay"), (dict(decay=-0.1), "decay"), (dict(update_every=0), "update_every"),
     (dict(reset_every=0), "reset_every"), (dict(update_every=1.5), "update_every")],
)
def test_config_validate_rejects_bad_values(overrides: dict, message: str) -> None:
    with pytest.raises(FpaError, match=message):
        EMA(tiny_model(), EMAConfig(**overrides))


@pytest.mark.cuda
def test_average_stays_on_the_model_device() -> None:
    model = tiny_model().cuda()
    ema = EMA(model, SMALL_SCHEDULE)
    ema.update(model, 12)
    assert ema.model[0].weight.device.type == "cuda"
