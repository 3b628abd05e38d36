"""The DeltaNet layer, stack and few-shot classifier: parallel == loop (float64), shapes, steps, configs."""

from __future__ import annotations

import copy

import pytest
import torch

from fpalib.errors import FpaError
from fpalib.models.deltanet import (
    DeltaNet,
    DeltaNetConfig,
    DeltaNetLayer,
    FewShotDeltaNet,
    FewShotModelConfig,
)


def small_config(rule: str = "delta", **changes) -> DeltaNetConfig:
    return DeltaNetConfig(**{"hidden": 12, "layers": 2, "heads": 3, "ff_dim": 16, "rule": rule, **changes})


@pytest.mark.parametrize("rule", ["delta", "additive"])
def test_layer_parallel_equals_loop_in_outputs_and_gradients(rule: str):
    layer = DeltaNetLayer(small_config(rule)).double()
    loop_layer = copy.deepcopy(layer)
    loop_layer.mode = "loop"
    x = torch.randn(2, 7, 12, dtype=torch.float64, requires_grad=True)
    results = []
    for module in (layer, loop_layer):
        out, _ = module(x)
        weights = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)
        grads = torch.autograd.grad((out * weights).sum(), [x, *module.parameters()])
        results.append((out, grads))
    (out_p, grads_p), (out_l, grads_l) = results
    torch.testing.assert_close(out_p, out_l, rtol=0, atol=1e-12)
    for got, expected in zip(grads_p, grads_l, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def test_layer_steps_have_one_matrix_per_head_and_step_and_match_the_loop():
    layer = DeltaNetLayer(small_config()).double()
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    _, steps = layer(x, return_steps=True)
    assert steps.updates.shape == steps.cumulative.shape == (2, 3, 5, 4, 4)
    torch.testing.assert_close(steps.cumulative, steps.updates.cumsum(2))
    layer.mode = "loop"
    _, loop_steps = layer(x, return_steps=True)
    torch.testing.assert_close(steps.cumulative, loop_steps.cumulative, rtol=0, atol=1e-12)


def test_outputs_are_causal():
    net = DeltaNet(small_config()).double().eval()
    x = torch.randn(1, 6, 12, dtype=torch.float64)
    changed = x.clone()
    changed[:, 4:] += torch.randn(1, 2, 12, dtype=torch.float64)
    before, after = net(x)[0], net(changed)[0]
    torch.testing.assert_close(before[:, :4], after[:, :4], rtol=0, atol=1e-12)
    assert not torch.allclose(before[:, 4:], after[:, 4:])


def test_stack_set_mode_switches_every_layer():
    net = DeltaNet(small_config())
    net.set_mode("loop")
    assert all(layer.mode == "loop" for layer in net.layers) and net.config.mode == "loop"
    with pytest.raises(FpaError, match="mode"):
        net.set_mode("fast")


def few_shot_model(rule: str = "delta") -> FewShotDeltaNet:
    cfg = FewShotModelConfig(n_way=3, image_size=8, conv_channels=4, conv_blocks=2, deltanet=small_config(rule))
    return FewShotDeltaNet(cfg)


@pytest.mark.parametrize("rule", ["delta", "additive"])
def test_few_shot_model_parallel_equals_loop(rule: str):
    model = few_shot_model(rule).double().eval()
    images = torch.randn(2, 7, 3, 8, 8, dtype=torch.float64)
    labels = torch.randint(0, 4, (2, 7))
    parallel, steps = model(images, labels, return_steps=True)
    model.set_mode("loop")
    loop, loop_steps = model(images, labels, return_steps=True)
    assert parallel.shape == (2, 3)
    torch.testing.assert_close(parallel, loop, rtol=0, atol=1e-12)
    assert len(steps) == 2 and steps[1].cumulative.shape == (2, 3, 7, 4, 4)
    torch.testing.assert_close(steps[1].cumulative, loop_steps[1].cumulative, rtol=0, atol=1e-12)


def test_last_step_logits_are_the_last_of_the_sequence_logits():
    model = few_shot_model().eval()
    images, labels = torch.randn(2, 5, 3, 8, 8), torch.randint(0, 4, (2, 5))
    every, _ = model.sequence_logits(images, labels)
    assert every.shape == (2, 5, 3)
    torch.testing.assert_close(model(images, labels), every[:, -1])


def test_the_additive_model_has_no_learning_rate_outputs():
    delta, additive = few_shot_model("delta"), few_shot_model("additive")
    heads, head_dim = 3, 4
    assert delta.deltanet.layers[0].slow.out_features == heads * (3 * head_dim + 1)
    assert additive.deltanet.layers[0].slow.out_features == heads * 3 * head_dim


def test_default_config_is_the_paper_figure_1_model():
    cfg = DeltaNetConfig()
    assert (cfg.layers, cfg.heads, cfg.hidden, cfg.key_dim) == (4, 16, 256, 16)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"hidden": 10, "heads": 3}, "divisible"), ({"rule": "oja"}, "rule"), ({"mode": "fast"}, "mode"),
     ({"layers": 0}, "layers"), ({"dropout": 1.0}, "dropout"), ({"query_key_init_scale": 0.0}, "init_scale")],
)
def test_bad_deltanet_configs_raise(changes: dict, message: str):
    with pytest.raises(FpaError, match=message):
        DeltaNetConfig(**changes).validate()


def test_bad_few_shot_configs_raise_and_dict_round_trip():
    with pytest.raises(FpaError, match="too small"):
        FewShotModelConfig(image_size=8, conv_blocks=4).validate()
    with pytest.raises(FpaError, match="n_way"):
        FewShotModelConfig(n_way=1).validate()
    cfg = FewShotModelConfig(n_way=3, deltanet=small_config())
    assert FewShotModelConfig(**cfg.to_dict()) == cfg
    with pytest.raises(FpaError, match="labels"):
        few_shot_model()(torch.randn(2, 5, 3, 8, 8), torch.zeros(2, 4, dtype=torch.long))


def test_query_rows_start_as_scaled_copies_of_the_key_rows():
    torch.manual_seed(0)
    tied = DeltaNetLayer(DeltaNetConfig(hidden=32, heads=4))
    torch.manual_seed(0)
    plain = DeltaNetLayer(DeltaNetConfig(hidden=32, heads=4, tie_query_key_init=False, query_key_init_scale=1.0))
    d = 8
    rows = tied.slow.weight.view(4, tied.slots, 32)
    plain_rows = plain.slow.weight.view(4, plain.slots, 32)
    assert torch.equal(rows[:, :d], rows[:, d : 2 * d])
    torch.testing.assert_close(rows[:, d : 2 * d], 4.0 * plain_rows[:, d : 2 * d])
    assert torch.equal(rows[:, 2 * d :], plain_rows[:, 2 * d :])  # values and rates untouched
    assert not torch.equal(plain_rows[:, :d], plain_rows[:, d : 2 * d])
    # the init makes the read-out selective: a step's query matches its own key far more often than
    # chance (1/6) and the scores spread ten times more than with the default initialisation
    x = torch.randn(2, 6, 32)
    matches, spreads = [], []
    for layer in (tied, plain):
        slots = layer.slow(layer.norm_attention(x)).view(2, 6, 4, layer.slots)
        scores = torch.einsum("bthd,bshd->bhts", slots[..., :d].softmax(-1), slots[..., d : 2 * d].softmax(-1))
        matches.append((scores.argmax(-1) == torch.arange(6)).float().mean().item())
        spreads.append(scores.std().item())
    assert matches[0] > 0.6 > 0.3 > matches[1]
    assert spreads[0] > 10 * spreads[1]

def test_small_few_shot_config_reaches_4x4_features():
    cfg = FewShotModelConfig.small(n_way=3, image_size=32, hidden=64, layers=2, heads=4, rule="additive")
    cfg.validate()
    assert cfg.image_size >> cfg.conv_blocks == 4
    assert (cfg.deltanet.ff_dim, cfg.deltanet.key_dim, cfg.deltanet.rule) == (128, 16, "additive")
