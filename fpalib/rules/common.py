"""Shared plumbing of the learning rules: input checks, learning-rate handling, step records.

Every rule in :mod:`fpalib.rules` takes the same arguments

    keys    (B, T, d_key)    already normalised by the caller (softmax, or not at all)
    values  (B, T, d_value)
    beta    (B, T) or (B, T, 1), already squashed by the caller (sigmoid, or not); None means 1
    init    (B, d_value, d_key) initial fast weight matrix W_0; None means zeros

and returns the final matrix W_T of shape (B, d_value, d_key), plus, on request, a
:class:`RuleSteps` record of every step.

:func:`checked_rule` wraps every public rule and read-out so that they accept what a user will
pass: floating-point tensors of any precision (float16/bfloat16 are computed in float32, mixed
float32/float64 in float64; the result has the widest input dtype), a Python number or a NumPy
array as the rate, and T = 0 (W_T = W_0). Integer, boolean and complex tensors, and tensors on
different devices, raise FpaError naming the argument and its dtype or device.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from fpalib.errors import FpaError

MODES = ("parallel", "loop")


class RuleSteps(NamedTuple):
    """Every step of a learning-rule sequence, for visualisation.

    updates:    (B, T, d_value, d_key), the rank-one update added at step t
    cumulative: (B, T, d_value, d_key), the matrix W_t after step t (W_0 + updates up to t)
    """

    updates: Tensor
    cumulative: Tensor


def check_inputs(keys: Tensor, values: Tensor, beta: Tensor | None, init: Tensor | None) -> Tensor:
    """Validate shapes and return the learning rates as a (B, T) tensor.

    Raises FpaError naming the offending argument when shapes do not fit together.
    """
    if keys.dim() != 3 or values.dim() != 3:
        raise FpaError(
            f"keys and values must be (batch, steps, dim) tensors; got keys {tuple(keys.shape)} "
            f"and values {tuple(values.shape)}"
        )
    batch, steps, d_key = keys.shape
    if values.shape[:2] != (batch, steps):
        raise FpaError(
            f"keys {tuple(keys.shape)} and values {tuple(values.shape)} must agree in batch and steps"
        )
    if beta is None:
        beta = keys.new_ones(batch, steps)
    elif beta.dim() == 3 and beta.shape[-1] == 1:
        beta = beta.squeeze(-1)
    if beta.shape != (batch, steps):
        raise FpaError(
            f"learning rates must be (batch, steps) or (batch, steps, 1) = ({batch}, {steps}); "
            f"got {tuple(beta.shape)}"
        )
    if init is not None and init.shape != (batch, values.shape[-1], d_key):
        raise FpaError(
            f"init must be (batch, d_value, d_key) = ({batch}, {values.shape[-1]}, {d_key}); "
            f"got {tuple(init.shape)}"
        )
    return beta


def check_mode(mode: str) -> None:
    """Raise FpaError unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise FpaError(f"unknown rule mode {mode!r}; choose one of {', '.join(MODES)}")


def first_step_at_full_rate(beta: Tensor) -> Tensor:
    """Return ``beta`` (B, T) with the first step's rate replaced by 1.

    The authors' code skips the learning rate at step 1 (W_1 = v_1 outer k_1 when W_0 = 0);
    the paper's equation applies it at every step. Gradients still flow to beta[:, 1:].
    """
    return torch.cat([torch.ones_like(beta[:, :1]), beta[:, 1:]], dim=1)


def steps_from_updates(updates: Tensor, init: Tensor | None) -> RuleSteps:
    """Build a :class:`RuleSteps` from per-step updates (B, T, d_value, d_key)."""
    cumulative = updates.cumsum(dim=1)
    if init is not None:
        cumulative = cumulative + init.unsqueeze(1)
    return RuleSteps(updates, cumulative)


def outer_updates(left: Tensor, right: Tensor) -> Tensor:
    """Per-step outer products: left (B, T, m), right (B, T, n) -> (B, T, m, n)."""
    return left.unsqueeze(-1) * right.unsqueeze(-2)


_NAMES = ("queries", "keys", "values", "beta", "init")
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def checked_rule(rule: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a rule ``(keys, values, beta=None, init=None, **options)`` or a read-out
    ``(queries, keys, values, beta=None, init=None, **options)`` (named ``*_outputs``) with the
    input handling described in the module docstring."""
    takes_queries = rule.__name__.endswith("_outputs")

    @functools.wraps(rule)
    def checked(*args: Any, **kwargs: Any) -> Any:
        names = _NAMES if takes_queries else _NAMES[1:]
        inputs = dict(zip(names, args, strict=False))
        for name in names:
            if name in kwargs:
                inputs[name] = kwargs.pop(name)
        if len(args) > len(names):
            raise TypeError(f"{rule.__name__} takes at most {len(names)} positional arguments")
        tensors, compute, result_dtype = _as_tensors(inputs)
        keys, values = tensors["keys"], tensors["values"]
        check_mode(kwargs.get("mode", "parallel"))
        check_inputs(keys, values, tensors.get("beta"), tensors.get("init"))
        if keys.shape[1] == 0:
            result = _no_steps(tensors, takes_queries, kwargs.get("return_steps", False))
        else:
            result = rule(**tensors, **kwargs)
        if compute == result_dtype:
            return result
        if isinstance(result, tuple):
            outputs, steps = result
            return outputs.to(result_dtype), RuleSteps(*(part.to(result_dtype) for part in steps))
        return result.to(result_dtype)

    return checked


def _as_tensors(inputs: dict[str, Any]) -> tuple[dict[str, Tensor], torch.dtype, torch.dtype]:
    """Inputs as tensors of one floating dtype: (tensors, compute dtype, result dtype)."""
    floats, devices = [], set()
    for name, value in inputs.items():
        if isinstance(value, Tensor):
            if not value.is_floating_point():
                raise FpaError(f"{name} has dtype {value.dtype}; the learning rules need floating-point tensors "
                               f"(e.g. {name}.float())")
            floats.append(value.dtype)
            devices.add(value.device)
        elif value is not None and name != "beta":
            raise FpaError(f"{name} must be a torch tensor; got {type(value).__name__}")
    if len(devices) > 1:
        raise FpaError(f"the inputs are on different devices ({', '.join(sorted(map(str, devices)))}); "
                       "move them to one device")
    result_dtype = functools.reduce(torch.promote_types, floats)
    compute = torch.float32 if result_dtype in _LOW_PRECISION else result_dtype
    device = devices.pop()
    tensors = {}
    for name, value in inputs.items():
        if value is None:
            continue
        if not isinstance(value, Tensor):  # the rate: a Python number or a NumPy array
            array = np.asarray(value)
            if array.dtype.kind not in "iuf":
                raise FpaError(f"beta must be numbers (a tensor, a NumPy array or a float); got {type(value).__name__}")
            value = torch.as_tensor(array.astype(np.float64), device=device)
            if value.dim() == 0:
                value = value.expand(inputs["keys"].shape[:2]).contiguous()
        tensors[name] = value.to(compute)
    return tensors, compute, result_dtype


def _no_steps(tensors: dict[str, Tensor], readout: bool, return_steps: bool) -> Any:
    """The result for T = 0: W_T = W_0 (zeros without init), or no outputs for a read-out."""
    keys, values, init = tensors["keys"], tensors["values"], tensors.get("init")
    batch, _, d_key = keys.shape
    d_value = values.shape[-1]
    if readout:
        result = keys.new_zeros(batch, 0, d_value)
    else:
        result = init if init is not None else keys.new_zeros(batch, d_value, d_key)
    if not return_steps:
        return result
    empty = keys.new_zeros(batch, 0, d_value, d_key)
    return result, RuleSteps(empty, empty.clone())
