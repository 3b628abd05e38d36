"""What the learning rules, read-outs and the painter accept: dtypes, rates, T = 0 (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fpalib.errors import FpaError
from fpalib.models.painter import FastWeightPainter, PainterConfig
from fpalib.rules import MODES, RULES, RULES_WITHOUT_RATE
from fpalib.rules.readout import READOUTS

B, T, D_KEY, D_VALUE = 2, 5, 4, 3
RATE_RULES = [name for name in RULES if name not in RULES_WITHOUT_RATE]


def rate_for(name, beta):
    """The rate argument of rule ``name``: None for a rule without a rate (the purely additive rule of Sec. 2.1)."""
    return None if name in RULES_WITHOUT_RATE else beta


@pytest.fixture
def inputs():
    keys = torch.softmax(torch.randn(B, T, D_KEY), dim=-1)
    return keys, torch.randn(B, T, D_VALUE), torch.rand(B, T), torch.randn(B, D_VALUE, D_KEY)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(RULES))
def test_mixed_float32_float64_inputs_are_computed_in_float64_in_both_modes(inputs, name, mode):
    keys, values, beta, init = inputs
    reference = RULES[name](keys.double(), values.double(), rate_for(name, beta.double()), init.double(), mode=mode)
    mixed = RULES[name](keys, values.double(), rate_for(name, beta), init, mode=mode)
    assert mixed.dtype == torch.float64
    torch.testing.assert_close(mixed, reference, rtol=0, atol=0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(RULES))
def test_half_precision_inputs_give_half_results_computed_in_float32(inputs, name, mode):
    keys, values, beta, _ = inputs
    for dtype in (torch.float16, torch.bfloat16):
        low = RULES[name](keys.to(dtype), values.to(dtype), rate_for(name, beta.to(dtype)), mode=mode)
        full = RULES[name](keys.to(dtype).float(), values.to(dtype).float(), rate_for(name, beta.to(dtype).float()),
                           mode=mode)
        assert low.dtype == dtype
        torch.testing.assert_close(low, full.to(dtype))


@pytest.mark.parametrize("name", list(RULES))
def test_integer_and_boolean_tensors_are_refused_naming_the_argument_and_dtype(inputs, name):
    keys, values, beta, init = inputs
    with pytest.raises(FpaError, match=r"keys has dtype torch.int64; .*floating-point"):
        RULES[name](keys.long(), values, beta)
    with pytest.raises(FpaError, match=r"beta has dtype torch.bool"):
        RULES[name](keys, values, beta > 0.5)
    with pytest.raises(FpaError, match=r"init has dtype torch.int32"):
        RULES[name](keys, values, beta, init.int())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", RATE_RULES)
def test_a_python_number_or_numpy_array_rate_equals_the_tensor_rate(inputs, name, mode):
    keys, values, _, _ = inputs
    tensor_rate = RULES[name](keys, values, torch.full((B, T), 0.25), mode=mode)
    for rate in (0.25, np.full((B, T), 0.25), np.full((B, T, 1), 0.25, dtype=np.float32)):
        result = RULES[name](keys, values, rate, mode=mode)
        assert result.dtype == torch.float32
        torch.testing.assert_close(result, tensor_rate)
    with pytest.raises(FpaError, match="beta must be numbers"):
        RULES[name](keys, values, "fast", mode=mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(RULES))
def test_zero_steps_leave_the_initial_matrix(inputs, name, mode):
    keys, values, beta, init = inputs
    keys, values, beta = keys[:, :0], values[:, :0], beta[:, :0]
    assert torch.equal(RULES[name](keys, values, beta, init, mode=mode), init)
    weights, steps = RULES[name](keys, values, beta, mode=mode, return_steps=True)
    assert torch.equal(weights, torch.zeros(B, D_VALUE, D_KEY))
    assert steps.updates.shape == steps.cumulative.shape == (B, 0, D_VALUE, D_KEY)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(READOUTS))
def test_readouts_take_the_same_inputs(inputs, name, mode):
    keys, values, beta, _ = inputs
    queries = torch.randn(B, T, D_KEY)
    reference = READOUTS[name](queries.double(), keys.double(), values.double(), beta.double(), mode=mode)
    torch.testing.assert_close(READOUTS[name](queries, keys, values.double(), beta, mode=mode), reference, rtol=0, atol=0)
    assert READOUTS[name](queries[:, :0], keys[:, :0], values[:, :0], 0.5, mode=mode).shape == (B, 0, D_VALUE)
    assert READOUTS[name](queries.half(), keys.half(), values.half(), beta.half(), mode=mode).dtype == torch.float16


def test_the_painter_takes_latents_of_any_floating_dtype_and_refuses_integers():
    painter = FastWeightPainter(PainterConfig(image_size=16, num_steps=4, latent_dim=8, input_dim=4, input_proj_dim=8,
                                              hidden=16)).eval()
    z = torch.randn(3, 8)
    with torch.no_grad():
        reference = painter(z)
        for dtype in (torch.float64, torch.float16, torch.bfloat16):
            images = painter(z.to(dtype))
            assert images.dtype == torch.float32
            torch.testing.assert_close(images, painter(z.to(dtype).float()))
        assert torch.equal(painter(z.double()), reference)  # float32 values survive the round trip
        assert painter.double()(z).dtype == torch.float64
    with pytest.raises(FpaError, match="latents have dtype torch.int64"):
        painter(torch.ones(3, 8, dtype=torch.long))
