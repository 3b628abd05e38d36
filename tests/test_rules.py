"""Learning rules: fast forms against sequential references, and references against the equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fpalib.errors import FpaError
from fpalib.profiling import saved_tensor_bytes
from fpalib.rules import RULES, RULES_WITHOUT_RATE, additive_rate_rule, additive_rule, delta_rule, get_rule, oja_rule
from fpalib.rules.delta import delta_rule_parallel_autograd

F64 = torch.float64
RATE_RULES = [name for name in RULES if name not in RULES_WITHOUT_RATE]
CUDA = pytest.mark.cuda  # skipped without a GPU (conftest.py)


def make_inputs(batch, steps, d_key, d_value, *, seed, dtype=F64, lr_range=(0.0, 1.0), init=True, device="cpu"):
    """Fresh random rule inputs: softmax keys, Gaussian values, uniform rates, Gaussian W_0."""
    gen = torch.Generator().manual_seed(seed)
    keys = torch.softmax(2 * torch.randn(batch, steps, d_key, generator=gen, dtype=F64), dim=-1)
    values = torch.randn(batch, steps, d_value, generator=gen, dtype=F64)
    low, high = lr_range
    beta = low + (high - low) * torch.rand(batch, steps, generator=gen, dtype=F64)
    w0 = torch.randn(batch, d_value, d_key, generator=gen, dtype=F64) if init else None
    tensors = [keys, values, beta] + ([w0] if init else [])
    tensors = [t.to(device=device, dtype=dtype).requires_grad_() for t in tensors]
    return tensors if init else tensors + [None]


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


def run_with_grads(rule, inputs, *, mode, seed=123, **kwargs):
    """Run a rule with steps and return (W, cumulative, updates, grads of keys/values/beta/init)."""
    keys, values, beta, init = inputs
    weights, steps = rule(keys, values, beta, init, mode=mode, return_steps=True, **kwargs)
    gen = torch.Generator().manual_seed(seed)
    probe_w = torch.randn(weights.shape, generator=gen, dtype=F64).to(weights)
    probe_c = torch.randn(steps.cumulative.shape, generator=gen, dtype=F64).to(weights)
    loss = (weights * probe_w).sum() + (steps.cumulative * probe_c).sum()
    leaves = [t for t in inputs if t is not None]
    grads = torch.autograd.grad(loss, leaves)
    return [weights, steps.cumulative, steps.updates, *grads]


# --- independent NumPy transcriptions of the equations (one step at a time, per example) ---

def numpy_rule(name, keys, values, beta, init, first_step_beta_one=False, renormalize=False):
    keys, values, beta = (t.detach().cpu().numpy().astype(np.float64) for t in (keys, values, beta))
    out = []
    for b in range(keys.shape[0]):
        w = np.zeros((values.shape[2], keys.shape[2])) if init is None else init[b].detach().cpu().numpy().copy()
        for t in range(keys.shape[1]):
            rate = 1.0 if (first_step_beta_one and t == 0) else beta[b, t]
            k, v = keys[b, t], values[b, t]
            if name == "delta":
                w = w + rate * np.outer(v - w @ k, k)
            elif name in ("additive-rate", "additive"):
                w = w + rate * np.outer(v, k)
            else:
                corrected = k - w.T @ v
                if renormalize or name == "oja-softmax":
                    corrected = np.exp(corrected - corrected.max())
                    corrected /= corrected.sum()
                w = w + rate * np.outer(v, corrected)
        out.append(w)
    return np.stack(out)


@pytest.mark.parametrize("name", RATE_RULES)
@pytest.mark.parametrize("mode", ["loop", "parallel"])
@pytest.mark.parametrize("with_init", [False, True])
@pytest.mark.parametrize("first_step_beta_one", [False, True])
def test_rules_match_equations(name, mode, with_init, first_step_beta_one):
    keys, values, beta, init = make_inputs(2, 6, 5, 3, seed=1, init=with_init)
    got = get_rule(name)(keys, values, beta, init, mode=mode, first_step_beta_one=first_step_beta_one)
    expected = numpy_rule(name, keys, values, beta, init, first_step_beta_one)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["loop", "parallel"])
def test_oja_with_renormalized_keys_matches_equation(mode):
    keys, values, beta, init = make_inputs(2, 5, 4, 6, seed=2)
    got = oja_rule(keys, values, beta, init, mode=mode, renormalize_keys=True)
    expected = numpy_rule("oja", keys, values, beta, init, renormalize=True)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


SHAPES = [  # (batch, T, d_key, d_value)
    (3, 1, 4, 4), (2, 2, 8, 8), (2, 8, 16, 4), (2, 8, 4, 16), (1, 64, 32, 24), (1, 16, 128, 128),
]


@pytest.mark.parametrize("name", RATE_RULES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}T{}k{}v{}".format(*s))
@pytest.mark.parametrize("with_init", [False, True])
def test_parallel_matches_loop_outputs_steps_and_grads(name, shape, with_init):
    inputs = make_inputs(*shape, seed=sum(shape), init=with_init)
    rule = get_rule(name)
    loop = run_with_grads(rule, inputs, mode="loop")
    fast = run_with_grads(rule, inputs, mode="parallel")
    labels = ["W", "cumulative", "updates", "d_keys", "d_values", "d_lr", "d_init"]
    for label, a, b in zip(labels, fast, loop):
        assert rel_err(a, b) < 1e-10, label


@pytest.mark.parametrize("lr_range", [(0.0, 1e-4), (1 - 1e-4, 1.0), (1.0, 1.0)], ids=["near0", "near1", "one"])
def test_parallel_delta_matches_loop_at_extreme_rates(lr_range):
    inputs = make_inputs(2, 32, 16, 12, seed=7, lr_range=lr_range)
    for a, b in zip(run_with_grads(delta_rule, inputs, mode="parallel"), run_with_grads(delta_rule, inputs, mode="loop")):
        assert rel_err(a, b) < 1e-10


def test_hand_written_backward_matches_autograd_through_solve():
    keys, values, beta, init = make_inputs(3, 24, 10, 7, seed=11)
    probe = torch.randn(3, 7, 10, dtype=F64)
    g_fast = torch.autograd.grad((delta_rule(keys, values, beta, init) * probe).sum(), [keys, values, beta, init])
    g_ref = torch.autograd.grad(
        (delta_rule_parallel_autograd(keys, values, beta, init) * probe).sum(), [keys, values, beta, init]
    )
    for a, b in zip(g_fast, g_ref):
        assert rel_err(a, b) < 1e-10


@pytest.mark.parametrize("name", RATE_RULES)
@pytest.mark.parametrize("with_init", [False, True])
def test_gradcheck_parallel(name, with_init):
    keys, values, beta, init = make_inputs(2, 5, 4, 3, seed=5, init=with_init)
    rule = get_rule(name)
    args = (keys, values, beta) + ((init,) if with_init else ())

    def final_and_steps(k, v, r, w=None):
        weights, steps = rule(k, v, r, w, return_steps=True)
        return weights, steps.cumulative

    assert torch.autograd.gradcheck(final_and_steps, args)


@pytest.mark.parametrize("name", RATE_RULES)
def test_float32_agrees_with_float64(name):
    inputs64 = make_inputs(4, 64, 64, 64, seed=3)
    # Oja's rule is a delta rule with the values as keys: keep them unit-norm so that the
    # recurrence is contractive and the comparison measures rounding, not blow-up.
    with torch.no_grad():
        inputs64[1] /= inputs64[1].norm(dim=-1, keepdim=True)
    inputs32 = [t.detach().float().requires_grad_() for t in inputs64]
    out64 = run_with_grads(get_rule(name), inputs64, mode="parallel")
    out32 = run_with_grads(get_rule(name), inputs32, mode="parallel")
    for a, b in zip(out32, out64):
        assert rel_err(a.double(), b) < 1e-5


def test_delta_rule_writes_then_overwrites_an_association():
    """With rate 1 and unit keys, reading key k right after writing (k, v) returns exactly v."""
    basis = torch.eye(4, dtype=F64)
    keys = torch.stack([basis[0], basis[1], basis[0]]).unsqueeze(0)  # key 0 is written twice
    values = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [-5.0, 6.0]]], dtype=F64)
    weights = delta_rule(keys, values, torch.ones(1, 3, dtype=F64))
    assert torch.allclose(weights[0] @ basis[0], values[0, 2])  # overwritten, not summed
    assert torch.allclose(weights[0] @ basis[1], values[0, 1])
    hebb = additive_rule(keys, values)
    assert torch.allclose(hebb[0] @ basis[0], values[0, 0] + values[0, 2])  # additive interference


def test_first_step_beta_one_ignores_first_rate_only():
    keys, values, beta, _ = make_inputs(2, 4, 6, 5, seed=9, init=False)
    w = delta_rule(keys[:, :1], values[:, :1], beta[:, :1], first_step_beta_one=True)
    assert torch.allclose(w, values[:, 0, :, None] * keys[:, 0, None, :])
    full = delta_rule(keys, values, beta, first_step_beta_one=True)
    manual = delta_rule(keys, values, torch.cat([torch.ones_like(beta[:, :1]), beta[:, 1:]], 1))
    assert torch.allclose(full, manual)
    assert not torch.allclose(full, delta_rule(keys, values, beta))
    grad = torch.autograd.grad(full.sum(), beta)[0]
    assert torch.all(grad[:, 0] == 0) and torch.all(grad[:, 1:] != 0)


@pytest.mark.parametrize("name", RATE_RULES)
def test_lr_shapes_and_none(name):
    keys, values, beta, init = make_inputs(2, 3, 4, 4, seed=4)
    rule = get_rule(name)
    assert torch.equal(rule(keys, values, beta, init), rule(keys, values, beta.unsqueeze(-1), init))
    ones = torch.ones_like(beta)
    assert torch.allclose(rule(keys, values, None, init), rule(keys, values, ones, init))


@pytest.mark.parametrize(
    "bad",
    [
        dict(keys=torch.zeros(2, 3)),
        dict(values=torch.zeros(2, 4, 5)),
        dict(beta=torch.zeros(2, 4)),
        dict(init=torch.zeros(2, 4, 5)),
        dict(mode="fast"),
    ],
)
def test_bad_inputs_raise_one_clear_error(bad):
    args = dict(keys=torch.zeros(2, 3, 4), values=torch.zeros(2, 3, 5), beta=torch.zeros(2, 3), init=None, mode="loop")
    args.update(bad)
    with pytest.raises(FpaError):
        delta_rule(args.pop("keys"), args.pop("values"), args.pop("beta"), args.pop("init"), **args)


def test_unknown_rule_name():
    with pytest.raises(FpaError, match="delta"):
        get_rule("hebb")


def test_parallel_graph_keeps_far_less_memory_than_loop():
    keys, values, beta, _ = make_inputs(60, 64, 64, 64, seed=0, dtype=torch.float32, init=False)
    loop = saved_tensor_bytes(lambda: delta_rule(keys, values, beta, mode="loop"))
    fast = saved_tensor_bytes(lambda: delta_rule(keys, values, beta, mode="parallel"))
    assert loop > 10 * fast


@CUDA
@pytest.mark.parametrize("name", RATE_RULES)
def test_cuda_parallel_matches_cpu_loop(name):
    inputs = make_inputs(3, 32, 16, 24, seed=21)
    cuda_inputs = [t.detach().cuda().requires_grad_() for t in inputs]
    cpu = run_with_grads(get_rule(name), inputs, mode="loop")
    gpu = run_with_grads(get_rule(name), cuda_inputs, mode="parallel")
    for a, b in zip(gpu, cpu):
        assert rel_err(a.cpu(), b) < 1e-10


@CUDA
def test_cuda_autocast_runs_rule_in_float32():
    keys, values, beta, init = make_inputs(2, 16, 8, 8, seed=22, dtype=torch.float32, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        weights = delta_rule(keys, values, beta, init)
    assert weights.dtype == torch.float32
    assert rel_err(weights, delta_rule(keys, values, beta, init, mode="loop")) < 1e-5


# --- the purely additive rule of Sec. 2.1 (no learning rate) ---

def additive_inputs(batch, steps, d_key, d_value, *, seed, dtype=F64, init=True):
    keys, values, _, w0 = make_inputs(batch, steps, d_key, d_value, seed=seed, dtype=dtype, init=init)
    return [keys, values, None, w0]


def run_additive_with_grads(inputs, *, mode):
    keys, values, _, init = inputs
    weights, steps = additive_rule(keys, values, None, init, mode=mode, return_steps=True)
    gen = torch.Generator().manual_seed(5)
    loss = (weights * torch.randn(weights.shape, generator=gen, dtype=F64).to(weights)).sum() + (
        steps.cumulative * torch.randn(steps.cumulative.shape, generator=gen, dtype=F64).to(weights)).sum()
    grads = torch.autograd.grad(loss, [t for t in (keys, values, init) if t is not None])
    return [weights, steps.cumulative, steps.updates, *grads]


@pytest.mark.parametrize("mode", ["loop", "parallel"])
@pytest.mark.parametrize("with_init", [False, True])
def test_additive_rule_matches_eq2(mode, with_init):
    keys, values, _, init = additive_inputs(2, 6, 5, 3, seed=1, init=with_init)
    got = additive_rule(keys, values, None, init, mode=mode)
    ones = torch.ones(keys.shape[:2], dtype=F64)
    np.testing.assert_allclose(got.detach().numpy(), numpy_rule("additive", keys, values, ones, init), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}T{}k{}v{}".format(*s))
@pytest.mark.parametrize("with_init", [False, True])
def test_additive_parallel_matches_loop_outputs_steps_and_grads(shape, with_init):
    inputs = additive_inputs(*shape, seed=sum(shape), init=with_init)
    labels = ["W", "cumulative", "updates", "d_keys", "d_values", "d_init"]
    for label, a, b in zip(labels, run_additive_with_grads(inputs, mode="parallel"),
                           run_additive_with_grads(inputs, mode="loop")):
        assert rel_err(a, b) < 1e-10, label


def test_additive_gradcheck_and_float32():
    keys, values, _, init = additive_inputs(2, 5, 4, 3, seed=5)
    assert torch.autograd.gradcheck(lambda k, v, w: additive_rule(k, v, None, w, return_steps=True)[1].cumulative,
                                    (keys, values, init))
    inputs64 = additive_inputs(4, 64, 64, 64, seed=3)
    inputs32 = [None if t is None else t.detach().float().requires_grad_() for t in inputs64]
    for a, b in zip(run_additive_with_grads(inputs32, mode="parallel"),
                    run_additive_with_grads(inputs64, mode="parallel")):
        assert rel_err(a.double(), b) < 1e-5


def test_additive_is_additive_rate_at_rate_one_and_refuses_a_rate():
    keys, values, beta, init = make_inputs(2, 4, 3, 3, seed=8)
    torch.testing.assert_close(additive_rule(keys, values, None, init),
                               additive_rate_rule(keys, values, torch.ones_like(beta), init))
    with pytest.raises(FpaError, match="no learning rate"):
        additive_rule(keys, values, beta, init)

