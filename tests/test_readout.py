"""Per-step read-outs y_t = W_t q_t: the parallel forms against the sequential loops (float64)."""

from __future__ import annotations

import pytest
import torch

from fpalib.errors import FpaError
from fpalib.rules import additive_rate_rule, delta_rule
from fpalib.rules.readout import READOUTS, additive_outputs, delta_outputs, get_readout

RULE_OF = {"delta": delta_rule, "additive": additive_rate_rule}  # the read-outs take an optional rate


def random_inputs(batch: int = 3, steps: int = 9, d_key: int = 5, d_value: int = 4, init: bool = False):
    """Fresh float64 leaves: softmax queries/keys, values, sigmoid rates, optional W_0."""
    queries = torch.randn(batch, steps, d_key, dtype=torch.float64).softmax(-1).requires_grad_()
    keys = torch.randn(batch, steps, d_key, dtype=torch.float64).softmax(-1).requires_grad_()
    values = torch.randn(batch, steps, d_value, dtype=torch.float64, requires_grad=True)
    beta = torch.rand(batch, steps, dtype=torch.float64).requires_grad_()
    weights = torch.randn(batch, d_value, d_key, dtype=torch.float64, requires_grad=True) if init else None
    return queries, keys, values, beta, weights


def explicit_outputs(rule, queries, keys, values, beta, init):
    """y_t = W_t q_t with W_t from the rule's own per-step cumulative matrices (a third reference)."""
    _, steps = rule(keys, values, beta, init, mode="loop", return_steps=True)
    return (steps.cumulative @ queries.unsqueeze(-1)).squeeze(-1)


@pytest.mark.parametrize("name", sorted(READOUTS))
@pytest.mark.parametrize("with_init", [False, True])
def test_parallel_outputs_and_gradients_match_the_loop(name: str, with_init: bool):
    inputs = random_inputs(init=with_init)
    leaves = [x for x in inputs if x is not None]
    readout = get_readout(name)
    results = []
    for mode in ("parallel", "loop"):
        outputs = readout(*inputs, mode=mode)
        grads = torch.autograd.grad((outputs * torch.linspace(-1, 2, outputs.numel()).view_as(outputs)).sum(), leaves)
        results.append((outputs, grads))
    (parallel, parallel_grads), (loop, loop_grads) = results
    assert parallel.shape == (3, 9, 4)
    torch.testing.assert_close(parallel, loop, rtol=0, atol=1e-12)
    for got, expected in zip(parallel_grads, loop_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-11)


@pytest.mark.parametrize("name", sorted(READOUTS))
def test_every_step_reads_the_matrix_of_that_step(name: str):
    queries, keys, values, beta, _ = random_inputs()
    expected = explicit_outputs(RULE_OF[name], queries, keys, values, beta, None)
    outputs = get_readout(name)(queries, keys, values, beta, mode="parallel")
    torch.testing.assert_close(outputs, expected, rtol=0, atol=1e-12)
    # a later step really differs from reading the final matrix at every step
    final = RULE_OF[name](keys, values, beta)
    assert not torch.allclose(outputs[:, 0], (final @ queries[:, 0].unsqueeze(-1)).squeeze(-1))


def test_parallel_outputs_match_the_loop_over_a_long_sequence():
    queries, keys, values, beta, _ = random_inputs(batch=2, steps=64, d_key=16, d_value=16)
    parallel = delta_outputs(queries, keys, values, beta, mode="parallel")
    loop = delta_outputs(queries, keys, values, beta, mode="loop")
    torch.testing.assert_close(parallel, loop, rtol=0, atol=1e-11)


@pytest.mark.parametrize("name", sorted(READOUTS))
def test_steps_are_those_of_the_rule_and_the_last_matrix_is_its_result(name: str):
    queries, keys, values, beta, init = random_inputs(init=True)
    outputs, steps = get_readout(name)(queries, keys, values, beta, init, mode="parallel", return_steps=True)
    _, rule_steps = RULE_OF[name](keys, values, beta, init, mode="loop", return_steps=True)
    torch.testing.assert_close(steps.updates, rule_steps.updates, rtol=0, atol=1e-12)
    torch.testing.assert_close(steps.cumulative, rule_steps.cumulative, rtol=0, atol=1e-12)
    torch.testing.assert_close(outputs[:, -1], (steps.cumulative[:, -1] @ queries[:, -1, :, None]).squeeze(-1))


def test_first_step_at_full_rate_and_default_rate_of_one():
    queries, keys, values, beta, _ = random_inputs()
    full_first = delta_outputs(queries, keys, values, beta, first_step_beta_one=True)
    manual = delta_outputs(queries, keys, values, torch.cat([torch.ones_like(beta[:, :1]), beta[:, 1:]], 1), mode="loop")
    torch.testing.assert_close(full_first, manual, rtol=0, atol=1e-12)
    torch.testing.assert_close(additive_outputs(queries, keys, values), additive_outputs(queries, keys, values,
                                                                                        torch.ones_like(beta)))


def test_additive_outputs_are_causal_linear_attention():
    queries, keys, values, _, _ = random_inputs()
    scores = queries @ keys.mT  # (B, T, T)
    expected = torch.stack([scores[:, t, : t + 1].unsqueeze(1) @ values[:, : t + 1] for t in range(9)], 1).squeeze(2)
    torch.testing.assert_close(additive_outputs(queries, keys, values), expected, rtol=0, atol=1e-12)


def test_bad_arguments_raise_fpa_errors():
    queries, keys, values, beta, _ = random_inputs()
    with pytest.raises(FpaError, match="queries"):
        delta_outputs(queries[..., :3], keys, values, beta)
    with pytest.raises(FpaError, match="mode"):
        delta_outputs(queries, keys, values, beta, mode="fast")
    with pytest.raises(FpaError, match="oja"):
        get_readout("oja")
