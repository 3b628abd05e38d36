"""Tests of the Fast Weight Painter (fpalib.models.painter, fpalib.models.input_generator)."""

from __future__ import annotations

import math

import pytest
import torch

from fpalib.errors import FpaError
from fpalib.models import FastWeightPainter, PainterConfig, build_generator, count_parameters


def small_config(**overrides) -> PainterConfig:
    fields = dict(image_size=16, num_steps=6, latent_dim=12, input_dim=4, input_proj_dim=10, hidden=32)
    fields.update(overrides)
    return PainterConfig(**fields)


def make_painter(
    seed: int = 0, dtype: torch.dtype = torch.float32, **overrides
) -> FastWeightPainter:
    torch.manual_seed(seed)
    return FastWeightPainter(small_config(**overrides)).to(dtype)


def capture_projection(painter: FastWeightPainter) -> list[torch.Tensor]:
    """Record the raw UpdateNet projection [k, v, beta] (B, T, c*(dk+dv+1)) of each forward."""
    seen: list[torch.Tensor] = []
    painter.update_net.projection.register_forward_hook(lambda m, i, out: seen.append(out.detach()))
    return seen


def hand_painted(
    raw: torch.Tensor, channels: int, height: int, width: int, first_lr_one: bool
) -> torch.Tensor:
    """The paper's Eq. 8-9 written out step by step: raw (B, T, ...) -> W_T (B, C, H, W)."""
    batch, steps, _ = raw.shape
    keys = raw[..., : channels * width].reshape(batch, steps, channels, width).softmax(-1)
    values = raw[..., channels * width : channels * (width + height)].reshape(
        batch, steps, channels, height
    )
    rates = torch.sigmoid(raw[..., -channels:])
    image = raw.new_zeros(batch, channels, height, width)
    for t in range(steps):
        for b in range(batch):
            for i in range(channels):
                k, v = keys[b, t, i], values[b, t, i]
                rate = 1.0 if (t == 0 and first_lr_one) else rates[b, t, i]
                image[b, i] = image[b, i] + rate * torch.outer(v - image[b, i] @ k, k)
    return image


@pytest.mark.parametrize(
    "overrides",
    [
        dict(input_version="v1"),
        dict(input_version="v2", input_tanh=False),
        dict(channels=1),
        dict(image_width=24),
        dict(layers=2),
        dict(latent_to_init=False),
        dict(rule="additive-rate"),
        dict(rule="additive"),
        dict(variant="authors-additive"),
        dict(rule="oja"),
        dict(rule="oja-softmax"),
        dict(rule_mode="loop", key_norm="none"),
    ],
)
def test_shapes_and_range(overrides):
    painter = make_painter(**overrides)
    cfg = painter.config
    channels, height, width = cfg.shape
    z = painter.sample_latents(3, generator=torch.Generator().manual_seed(1))
    images, steps = painter(z, return_steps=True)
    assert images.shape == (3, channels, height, width) and images.dtype == torch.float32
    assert steps.updates.shape == steps.cumulative.shape == (3, cfg.num_steps, channels, height, width)
    assert images.abs().max() <= 1.0
    assert torch.isfinite(images).all()


def test_shape_property_and_non_square_orientation():
    cfg = small_config(image_size=16, image_width=24, channels=1)
    assert cfg.shape == (1, 16, 24)
    update_net = FastWeightPainter(cfg).update_net
    assert update_net.projection.out_features == 16 + 24 + 1


def test_images_are_tanh_of_final_cumulative_and_cumulative_sums_updates():
    painter = make_painter(channels=3, image_width=20)
    z = torch.randn(2, 12, generator=torch.Generator().manual_seed(2))
    images, steps = painter(z, return_steps=True)
    torch.testing.assert_close(images, torch.tanh(steps.cumulative[:, -1]))
    torch.testing.assert_close(steps.cumulative[:, -1], steps.updates.sum(1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(painter(z), images)  # the flag changes nothing in the images


def test_out_tanh_off_returns_raw_weights():
    painter = make_painter(out_tanh=False)
    z = torch.randn(2, 12, generator=torch.Generator().manual_seed(3))
    images, steps = painter(z, return_steps=True)
    torch.testing.assert_close(images, steps.cumulative[:, -1])


@pytest.mark.parametrize("first_lr_one", [True, False])
def test_matches_hand_computation_non_square(first_lr_one):
    painter = make_painter(
        channels=3, image_size=16, image_width=20, num_steps=3, first_step_beta_one=first_lr_one
    )
    seen = capture_projection(painter)
    z = torch.randn(2, 12, generator=torch.Generator().manual_seed(4))
    images = painter(z)
    expected = torch.tanh(hand_painted(seen[0], 3, 16, 20, first_lr_one))
    torch.testing.assert_close(images, expected, atol=1e-5, rtol=1e-4)


def test_single_step_is_value_outer_softmax_key():
    painter = make_painter(channels=1, num_steps=1, image_width=20, out_tanh=False)
    seen = capture_projection(painter)
    images = painter(torch.randn(2, 12, generator=torch.Generator().manual_seed(5)))
    raw = seen[0][:, 0]  # (B, 20 + 16 + 1)
    expected = torch.einsum("bh,bw->bhw", raw[:, 20:36], raw[:, :20].softmax(-1))
    torch.testing.assert_close(images[:, 0], expected, atol=1e-6, rtol=1e-5)


def test_first_step_beta_one_changes_the_output():
    z = torch.randn(2, 12, generator=torch.Generator().manual_seed(6))
    with_one = make_painter(seed=7, first_step_beta_one=True)(z)
    without = make_painter(seed=7, first_step_beta_one=False)(z)
    assert (with_one - without).abs().max() > 1e-3


def test_learning_rate_is_used():
    """With beta forced to -inf (rate 0) nothing after step 1 may change the image."""
    painter = make_painter(channels=3, num_steps=5, first_step_beta_one=True)

    def zero_rates(module, inputs, out):
        out = out.clone()
        out[..., -3:] = -1e4
        return out

    painter.update_net.projection.register_forward_hook(zero_rates)
    _, steps = painter(
        torch.randn(2, 12, generator=torch.Generator().manual_seed(8)), return_steps=True
    )
    first = steps.cumulative[:, :1].expand_as(steps.cumulative)
    torch.testing.assert_close(steps.cumulative, first)
    assert steps.cumulative[:, 0].abs().max() > 1e-3  # step 1 still paints (rate 1)


@pytest.mark.parametrize("rule", ["delta", "additive", "additive-rate", "oja", "oja-softmax"])
def test_parallel_matches_loop_in_float64(rule):
    z = torch.randn(3, 12, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    results = {}
    for mode in ("parallel", "loop"):
        painter = make_painter(
            seed=10, dtype=torch.float64, rule=rule, rule_mode=mode, image_width=20, num_steps=8
        )
        images, steps = painter(z, return_steps=True)
        (images.square().sum() + steps.cumulative.sum()).backward()
        grads = {name: p.grad.clone() for name, p in painter.named_parameters()}
        results[mode] = (images.detach(), steps.cumulative.detach(), grads)
    torch.testing.assert_close(results["parallel"][0], results["loop"][0], atol=1e-10, rtol=1e-9)
    torch.testing.assert_close(results["parallel"][1], results["loop"][1], atol=1e-10, rtol=1e-9)
    for name, grad in results["loop"][2].items():
        torch.testing.assert_close(
            results["parallel"][2][name], grad, atol=1e-10, rtol=1e-8, msg=name
        )


def test_initialisation_ranges():
    painter = make_painter(
        channels=3, image_size=16, image_width=20, hidden=64, input_dim=8, input_proj_dim=128
    )
    lstm_bound = 1 / math.sqrt(64)
    lstm = torch.cat([p.flatten() for p in painter.sequence_processor.lstm.parameters()])
    assert lstm.abs().max() <= lstm_bound and lstm.abs().max() > 0.95 * lstm_bound
    update = painter.update_net.projection.weight
    update_bound = 1 / math.sqrt(3 * (16 + 20 + 1))
    assert update.abs().max() <= update_bound and update.abs().max() > 0.95 * update_bound
    assert painter.update_net.projection.bias is None
    per_step = painter.input_generator.per_step.weight  # Kaiming normal: std sqrt(2 / d_in)
    assert abs(per_step.std().item() / math.sqrt(2 / 8) - 1) < 0.1


def test_key_and_value_init_scales_multiply_only_their_rows():
    shape = dict(channels=3, image_size=16, image_width=20)
    plain = make_painter(seed=3, **shape).update_net.projection.weight
    scaled = make_painter(seed=3, key_init_scale=8.0, value_init_scale=0.5, **shape)
    keys, values, rates = scaled.update_net.projection.weight.split([3 * 20, 3 * 16, 3])
    plain_keys, plain_values, plain_rates = plain.split([3 * 20, 3 * 16, 3])
    torch.testing.assert_close(keys, 8.0 * plain_keys)
    torch.testing.assert_close(values, 0.5 * plain_values)
    torch.testing.assert_close(rates, plain_rates)


def test_v1_input_is_the_latent_at_every_step():
    painter = make_painter(input_version="v1", num_steps=4)
    z = torch.randn(2, 12)
    inputs = painter.input_generator(z)
    assert inputs.shape == (2, 4, 12)
    torch.testing.assert_close(inputs, z[:, None].expand(2, 4, 12))


def test_latent_to_init_makes_the_first_hidden_state_depend_on_z():
    seen: list[torch.Tensor] = []
    painter = make_painter(input_version="v1", latent_to_init=True)
    painter.update_net.projection.register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    painter(torch.randn(2, 12))
    assert painter.sequence_processor.latent_to_init.out_features == 2 * 1 * 32
    painter.sequence_processor.latent_to_init.weight.data.zero_()
    painter.sequence_processor.latent_to_init.bias.data.zero_()
    painter(torch.randn(2, 12))
    assert seen[0].shape == (2, 6, 32)
    assert not torch.allclose(seen[0], seen[1])


@pytest.mark.parametrize(
    "overrides, words",
    [
        (dict(image_size=8), "image_size"),
        (dict(image_size=256), "image_size"),
        (dict(image_width=200), "image_width"),
        (dict(channels=2), "channels"),
        (dict(num_steps=0), "num_steps"),
        (dict(rule="anti-hebbian"), "rule"),
        (dict(rule_mode="chunked"), "rule_mode"),
        (dict(key_norm="l2"), "key_norm"),
        (dict(input_version="v3"), "input_version"),
        (dict(hidden=0), "hidden"),
        (dict(key_init_scale=0.0), "key_init_scale"),
        (dict(value_init_scale=-1.0), "value_init_scale"),
    ],
)
def test_validate_errors(overrides, words):
    with pytest.raises(FpaError, match=words):
        small_config(**overrides).validate()
    with pytest.raises(FpaError):
        FastWeightPainter(small_config(**overrides))


def test_bad_latent_shape_is_a_clear_error():
    painter = make_painter()
    with pytest.raises(FpaError, match=r"\(batch, 12\)"):
        painter(torch.randn(2, 13))


def test_sample_latents_is_seeded():
    painter = make_painter()
    first = painter.sample_latents(4, generator=torch.Generator().manual_seed(11))
    second = painter.sample_latents(4, generator=torch.Generator().manual_seed(11))
    assert first.shape == (4, 12)
    torch.testing.assert_close(first, second)


def test_count_parameters_and_default_config():
    cfg = PainterConfig()
    assert cfg.validate() is cfg
    assert (
        cfg.image_size,
        cfg.num_steps,
        cfg.latent_dim,
        cfg.hidden,
        cfg.input_dim,
        cfg.input_proj_dim,
    ) == (
        64,
        64,
        512,
        1024,
        8,
        128,
    )
    painter = make_painter(channels=1, image_width=20, latent_to_init=False, input_version="v1")
    lstm = 4 * 32 * (12 + 32 + 2)
    assert count_parameters(painter) == lstm + 32 * (20 + 16 + 1)
    painter.update_net.projection.weight.requires_grad_(False)
    assert count_parameters(painter) == lstm


def test_build_generator():
    assert isinstance(build_generator("fpa", small_config()), FastWeightPainter)
    with pytest.raises(FpaError, match="fpa, lightgan"):
        build_generator("stylegan", small_config())
    with pytest.raises(FpaError, match="PainterConfig"):
        build_generator("fpa", object())
