"""Checkpoints (atomic writes, loading, generator rebuild), random states and the batch order."""

import pytest
import torch

import fpalib
from fpalib.errors import FpaError
from fpalib.models import build_generator
from fpalib.train.checkpoint import (
    CHECKPOINT_KIND,
    checkpoint_path,
    load_checkpoint,
    load_generator,
    save_checkpoint,
)
from fpalib.train.config import apply_overrides, to_dict
from fpalib.train.ema import EMA
from fpalib.train.presets import get_preset
from fpalib.train.seeding import ResumableBatchSampler, capture_rng_state, derived_seed, restore_rng_state


def generator_checkpoint(generator_kind="fpa"):
    """A minimal training-checkpoint dict of the smoke preset whose EMA differs from the raw weights."""
    cfg = apply_overrides(get_preset("smoke"), [f"generator={generator_kind}"])
    generator = build_generator(cfg.generator, cfg.generator_config)
    ema = EMA(generator, cfg.ema)
    with torch.no_grad():
        for parameter in ema.model.parameters():
            parameter.add_(1.0)
    return {"config": to_dict(cfg), "step": 3, "generator": generator.state_dict(), "ema": ema.state_dict()}


def test_save_and_load_round_trip_stamps_kind_and_version(tmp_path):
    path = checkpoint_path(tmp_path / "run")
    save_checkpoint(path, {"step": 5, "weights": torch.arange(3.0)})
    state = load_checkpoint(tmp_path / "run")
    assert (state["kind"], state["fpalib_version"], state["step"]) == (CHECKPOINT_KIND, fpalib.__version__, 5)
    assert torch.equal(state["weights"], torch.arange(3.0))
    assert [p.name for p in path.parent.iterdir()] == ["latest.pt"]


def test_a_write_that_fails_midway_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = checkpoint_path(tmp_path)
    save_checkpoint(path, {"step": 1})
    real_save = torch.save

    def save_half_then_crash(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)
        file.truncate(10)
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", save_half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2, "big": torch.zeros(1000)})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["latest.pt"]


def test_load_checkpoint_errors_are_one_clear_line(tmp_path):
    with pytest.raises(FpaError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(FpaError, match="no checkpoint in run folder"):
        load_checkpoint(tmp_path)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(FpaError, match="not a readable fpalib checkpoint"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(FpaError, match="not an fpalib checkpoint"):
        load_checkpoint(foreign)


@pytest.mark.parametrize("kind", ["fpa", "lightgan"])
def test_load_generator_returns_the_ema_or_the_raw_weights_in_eval_mode(tmp_path, kind):
    state = generator_checkpoint(kind)
    save_checkpoint(checkpoint_path(tmp_path), state)
    averaged, cfg = load_generator(tmp_path)
    raw, _ = load_generator(tmp_path, ema=False, require=kind)
    assert cfg.generator == kind and not averaged.training and not raw.training
    name, ema_value = next(iter(averaged.state_dict().items()))
    assert torch.equal(raw.state_dict()[name], state["generator"][name])
    assert torch.equal(ema_value, state["ema"][name])
    assert not torch.equal(ema_value, raw.state_dict()[name])


def test_load_generator_refuses_the_wrong_generator_type(tmp_path):
    save_checkpoint(checkpoint_path(tmp_path), generator_checkpoint("lightgan"))
    with pytest.raises(FpaError, match="holds a 'lightgan' generator, but a 'fpa' one is needed"):
        load_generator(tmp_path, require="fpa")


def test_rng_states_restore_every_generator_and_survive_weights_only_loading(tmp_path):
    torch.manual_seed(1)
    data_loader = torch.Generator().manual_seed(2)
    state = capture_rng_state(data_loader)
    first = (torch.rand(3), torch.rand(3, generator=data_loader))
    save_checkpoint(tmp_path / "rng.pt", {"rng": state})
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"], data_loader)
    second = (torch.rand(3), torch.rand(3, generator=data_loader))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_rng_states_of_older_checkpoints_with_python_and_numpy_states_still_restore():
    data_loader = torch.Generator().manual_seed(2)
    old = {**capture_rng_state(data_loader), "python": {"version": 3, "internal": torch.arange(625), "gauss_next": None},
           "numpy": {"keys": torch.arange(624), "position": 624, "has_gauss": 0, "cached_gaussian": 0.0}}
    expected = torch.rand(3)
    restore_rng_state(old, data_loader)
    assert torch.equal(torch.rand(3), expected)


def test_derived_seeds_differ_for_different_tuples():
    assert derived_seed(0, 1) != derived_seed(1, 0)
    assert derived_seed(0, 1) == derived_seed(0, 1) < 2**63


def test_batch_order_is_resumable_and_each_epoch_is_a_permutation():
    sampler = ResumableBatchSampler(10, 3, seed=7)
    stream = iter(sampler)
    batches = [next(stream) for _ in range(7)]
    assert sorted(sum(batches[:3], [])) != list(range(10))  # 9 of 10 images per epoch ...
    assert len(set(sum(batches[:3], []))) == 9  # ... all distinct
    sampler.start = 4
    resumed = iter(sampler)
    assert [next(resumed) for _ in range(3)] == batches[4:7]
    assert next(iter(ResumableBatchSampler(10, 3, seed=8))) != batches[0]
    sampler.start = 0
    assert [next(stream) for stream in [iter(sampler)] for _ in range(7)] == batches  # no state kept between iterators


def test_processes_read_disjoint_shards_of_the_global_batch():
    whole = iter(ResumableBatchSampler(12, 4, seed=3))
    shards = [iter(ResumableBatchSampler(12, 2, seed=3, rank=rank, world_size=2)) for rank in range(2)]
    for _ in range(5):  # two epochs and a half
        parts = [next(shard) for shard in shards]
        assert not set(parts[0]) & set(parts[1])
        assert sorted(parts[0] + parts[1]) == sorted(next(whole))
