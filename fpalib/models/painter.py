"""The Fast Weight Painter (FPA; Irie & Schmidhuber, ICLR 2023, Sec. 3.1, Eq. 4-9).

An image of c channels, height d_value and width d_key is painted as the fast weight matrix
of a learning rule:

    z (B, d_latent) --InputGenerator--> x_1..T (B, T, d_in)
      --SequenceProcessor (LSTM)--> h_1..T (B, T, d_hidden)
      --UpdateNet: linear h_t -> [k_t, v_t, b_t] (Eq. 8), split per channel, beta_t = sigmoid(b_t)-->
      W_t^i = W_{t-1}^i + beta_t^i (v_t^i - W_{t-1}^i phi(k_t^i)) outer phi(k_t^i)      (Eq. 9)
      --> image tanh(W_T) (B, c, d_value, d_key)

phi is a softmax over the key dimension. beta_t is the learning rate after the sigmoid (the paper
writes the raw output as beta_t and the rate as sigma(beta_t); here b_t is the raw output).
The rule (delta, additive, additive-rate or Oja) comes from :mod:`fpalib.rules`; its parallel
form and its sequential loop give the same result.

``variant="authors-additive"`` is the authors' additive baseline (their ``lstm_sum`` model, the
paper's additive row): v1 input, W_t = W_{t-1} + v_t outer k_t (Sec. 2.1, no rate), no key
softmax, an UpdateNet with a bias, PyTorch's default initialisation everywhere.
The painting steps (each rank-one update and each cumulative image) come out of the same
forward pass that training uses, with ``return_steps=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from fpalib.errors import Checked, FpaError
from fpalib.models.input_generator import build_input_generator
from fpalib.models.latents import LatentSampler
from fpalib.rules import MODES, RULES, RULES_WITHOUT_RATE, get_rule

KEY_NORMS = ("softmax", "none")
INPUT_VERSIONS = ("v1", "v2")
VARIANTS = ("fpa", "authors-additive")
INITS = ("authors", "pytorch")
MIN_SIZE, MAX_SIZE = 16, 128


@dataclass
class PainterConfig(Checked):
    """Architecture of a :class:`FastWeightPainter`.

    Defaults are the paper's example CelebA configuration (64x64, T=64, latent 512, v2 input
    with tanh, d_in 8, d'_in 128, LSTM hidden 1024, one layer, latent-to-initial-state on,
    softmax keys, output tanh, delta rule).

    Attributes:
        image_size: image height = d_value (16..128).
        image_width: width = d_key (null: square).
        channels: c, 1 (grey) or 3 (RGB); each channel has its own W_t.
        num_steps: T, the painting steps (rank-one updates).
        latent_dim: size of the latent z.
        input_version: "v1" or "v2" input generator.
        input_dim: the v2 input generator's d_in.
        input_proj_dim: the v2 input generator's d'_in.
        input_tanh: tanh on the v2 input generator's output.
        hidden: LSTM hidden size.
        layers: LSTM layers.
        latent_to_init: a linear layer maps z to the LSTM's initial (h, c); otherwise zeros.
        rule: the learning rule, one of :data:`fpalib.rules.RULES`.
        rule_mode: "parallel" (triangular solve) or "loop" (sequential reference); same result.
        key_norm: "softmax" (phi of the paper) or "none".
        first_step_beta_one: True (default) ignores the learning rate at step 1, W_1 = v_1 outer
            phi(k_1), as the authors' code that produced the paper's numbers does; False applies
            beta_1 as well, as the paper's Eq. 9 is written.
        out_tanh: apply tanh to W_T to get the image.
        update_bias: give the UpdateNet's projection a bias, as the authors' code does (their
            ``kvb_net``; the paper's Eq. 8 has none). Off by default (the shipped painters have none).
        latent_init_kaiming: Kaiming-normal (fan-in, ReLU gain) weights for the latent-to-initial-
            state layer, as the authors' v1 model (``lstm_delta``) has; off: PyTorch's default, as
            their v2 model has.
        init: "authors" (the authors' delta models: LSTM and UpdateNet uniform in +-1/sqrt(fan),
            see the classes) or "pytorch" (PyTorch's defaults, as the authors' ``lstm_sum``).
        variant: "fpa" (default; every field as set) or "authors-additive", the authors' additive
            baseline ``lstm_sum``: construction then sets input_version "v1", rule "additive",
            key_norm "none", update_bias on and init "pytorch".
        key_init_scale: multiplies the initial UpdateNet rows that produce the keys (before the
            softmax). 1.0 (default) is the authors' initialisation, under
            which the untrained painter's keys are nearly uniform and its images nearly blank; this
            is not in the paper. What other scales did on emoji: README, "Results on the emoji set".
        value_init_scale: the same for the rows that produce the values.
    """

    image_size: int = 64
    image_width: int | None = None
    channels: int = 3
    num_steps: int = 64
    latent_dim: int = 512
    input_version: str = "v2"
    input_dim: int = 8
    input_tanh: bool = True
    input_proj_dim: int = 128
    hidden: int = 1024
    layers: int = 1
    latent_to_init: bool = True
    rule: str = "delta"
    rule_mode: str = "parallel"
    key_norm: str = "softmax"
    first_step_beta_one: bool = True
    out_tanh: bool = True
    key_init_scale: float = 1.0
    value_init_scale: float = 1.0
    update_bias: bool = False
    latent_init_kaiming: bool = False
    init: str = "authors"
    variant: str = "fpa"

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of a painted image: H = d_value = image_size, W = d_key = image_width."""
        width = self.image_size if self.image_width is None else self.image_width
        return self.channels, self.image_size, width

    def __post_init__(self) -> None:
        """Raise FpaError for the first bad field; ``variant="authors-additive"`` sets the fields
        that variant fixes."""
        if self.variant not in VARIANTS:
            raise FpaError(f"unknown painter variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.variant == "authors-additive":
            self.input_version, self.rule, self.key_norm = "v1", "additive", "none"
            self.update_bias, self.init = True, "pytorch"
        _, height, width = self.shape
        for name, size in (("image_size", height), ("image_width", width)):
            if not MIN_SIZE <= size <= MAX_SIZE:
                raise FpaError(f"painter {name} must be in {MIN_SIZE}..{MAX_SIZE}; got {size}")
        if self.channels not in (1, 3):
            raise FpaError(f"painter channels must be 1 or 3; got {self.channels}")
        for name in ("num_steps", "latent_dim", "input_dim", "input_proj_dim", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise FpaError(f"painter {name} must be at least 1; got {getattr(self, name)}")
        for name in ("key_init_scale", "value_init_scale"):
            if not getattr(self, name) > 0:
                raise FpaError(f"painter {name} must be positive; got {getattr(self, name)}")
        for name, value, choices in (
            ("input_version", self.input_version, INPUT_VERSIONS),
            ("rule", self.rule, RULES),
            ("rule_mode", self.rule_mode, MODES),
            ("key_norm", self.key_norm, KEY_NORMS),
            ("init", self.init, INITS),
        ):
            if value not in choices:
                raise FpaError(
                    f"unknown painter {name} {value!r}; choose one of {', '.join(choices)}"
                )


class PaintingSteps(NamedTuple):
    """Every painting step of a batch, before the output tanh.

    updates:    (B, T, C, H, W), the rank-one update added at step t (per channel)
    cumulative: (B, T, C, H, W), the image W_t after step t; cumulative[:, -1] is W_T
    """

    updates: Tensor
    cumulative: Tensor


class SequenceProcessor(nn.Module):
    """LSTM over the input sequence: x (B, T, d_in), z (B, d_latent) -> h (B, T, d_hidden).

    With ``latent_to_init`` a linear layer maps z to the initial (h_0, c_0) of every layer
    (each (layers, B, d_hidden)); otherwise they are zeros. With ``init="authors"`` all LSTM
    weights and biases are uniform in +-1/sqrt(d_hidden), as in the authors' delta models;
    ``latent_init_kaiming`` gives the latent-to-state layer Kaiming-normal weights (their v1).
    """

    def __init__(
        self,
        input_dim: int,
        latent_dim: int,
        hidden: int,
        layers: int,
        latent_to_init: bool,
        init: str = "authors",
        latent_init_kaiming: bool = False,
    ) -> None:
        super().__init__()
        self.hidden = hidden
        self.layers = layers
        self.lstm = nn.LSTM(input_dim, hidden, num_layers=layers, batch_first=True)
        if init == "authors":
            bound = 1.0 / math.sqrt(hidden)
            for weight in self.lstm.parameters():
                nn.init.uniform_(weight, -bound, bound)
        self.latent_to_init = nn.Linear(latent_dim, 2 * layers * hidden) if latent_to_init else None
        if self.latent_to_init is not None and latent_init_kaiming:
            nn.init.kaiming_normal_(self.latent_to_init.weight, a=0, mode="fan_in", nonlinearity="leaky_relu")

    def forward(self, inputs: Tensor, z: Tensor) -> Tensor:
        """inputs (B, T, d_in), z (B, d_latent) -> hidden states (B, T, d_hidden)."""
        if self.latent_to_init is None:
            outputs, _ = self.lstm(inputs)
            return outputs
        state = self.latent_to_init(z).view(z.shape[0], 2, self.layers, self.hidden)
        h0, c0 = state.permute(1, 2, 0, 3).contiguous()  # each (layers, B, d_hidden)
        outputs, _ = self.lstm(inputs, (h0, c0))
        return outputs


class UpdateNet(nn.Module):
    """Hidden states -> keys, values, learning rates per channel -> learning rule -> W_T.

    One linear map (paper Eq. 8; bias-free unless ``update_bias``) h_t (d_hidden) ->
    [k_t (c*d_key), v_t (c*d_value), b_t (c)], each split into c per-channel parts; a rule
    without a rate (``additive``) gets no beta rows. With ``init="authors"`` its weights (and
    bias) are uniform in +-1/sqrt(c*(d_key+d_value+1)); for square images this is the authors'
    1/sqrt(c*(2*size+1)). Channels are folded into the batch: keys (B*c, T, d_key) normalised
    by ``key_norm``, values (B*c, T, d_value), learning rates beta_t = sigmoid(.) (B*c, T), or
    None. Every rule with a rate gets the same projection and the same sigmoid learning rate.
    ``key_init_scale`` and ``value_init_scale`` then multiply the key rows and the value rows.
    """

    def __init__(self, cfg: PainterConfig) -> None:
        super().__init__()
        self.channels, self.d_value, self.d_key = cfg.shape
        self.key_norm = cfg.key_norm
        self.rule = get_rule(cfg.rule)
        self.rule_mode = cfg.rule_mode
        self.first_step_beta_one = cfg.first_step_beta_one
        self.rate_dim = 0 if cfg.rule in RULES_WITHOUT_RATE else 1
        out_features = self.channels * (self.d_key + self.d_value + self.rate_dim)
        self.projection = nn.Linear(cfg.hidden, out_features, bias=cfg.update_bias)
        if cfg.init == "authors":
            bound = 1.0 / math.sqrt(self.channels * (self.d_key + self.d_value + 1))
            for parameter in self.projection.parameters():
                nn.init.uniform_(parameter, -bound, bound)
        with torch.no_grad():
            key_rows, value_rows, _ = self.projection.weight.split(
                [self.channels * self.d_key, self.channels * self.d_value, self.channels * self.rate_dim]
            )
            key_rows.mul_(cfg.key_init_scale)
            value_rows.mul_(cfg.value_init_scale)

    def project(self, hidden: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """h (B, T, d_hidden) -> keys (B*c, T, d_key), values (B*c, T, d_value), beta (B*c, T) or None."""
        batch, num_steps, _ = hidden.shape
        c, d_key, d_value = self.channels, self.d_key, self.d_value
        keys, values, b = self.projection(hidden).split([c * d_key, c * d_value, c * self.rate_dim], dim=-1)  # Eq. 8

        def fold(x: Tensor, dim: int) -> Tensor:  # (B, T, c*dim) -> (B*c, T, dim)
            return x.reshape(batch, num_steps, c, dim).transpose(1, 2).reshape(batch * c, num_steps, dim)

        keys = fold(keys, d_key)
        if self.key_norm == "softmax":
            keys = torch.softmax(keys, dim=-1)
        if not self.rate_dim:
            return keys, fold(values, d_value), None
        return keys, fold(values, d_value), torch.sigmoid(fold(b, 1).squeeze(-1))  # beta_t = sigma(b_t), Eq. 9

    def forward(
        self, hidden: Tensor, return_steps: bool = False
    ) -> Tensor | tuple[Tensor, PaintingSteps]:
        """hidden (B, T, d_hidden) -> W_T (B, c, d_value, d_key) [, PaintingSteps].

        The PaintingSteps hold (B, T, c, d_value, d_key) tensors.
        """
        batch, num_steps, _ = hidden.shape
        keys, values, beta = self.project(hidden)
        result = self.rule(
            keys,
            values,
            beta,
            None,
            mode=self.rule_mode,
            first_step_beta_one=self.first_step_beta_one,
            return_steps=return_steps,
        )
        image_shape = (self.channels, self.d_value, self.d_key)
        if not return_steps:
            return result.reshape(batch, *image_shape)
        weights, rule_steps = result

        def unfold(x: Tensor) -> Tensor:  # (B*c, T, d_value, d_key) -> (B, T, c, d_value, d_key)
            return x.reshape(batch, self.channels, num_steps, *image_shape[1:]).transpose(1, 2)

        painting = PaintingSteps(unfold(rule_steps.updates), unfold(rule_steps.cumulative))
        return weights.reshape(batch, *image_shape), painting


class FastWeightPainter(LatentSampler):
    """The FPA generator: z (B, d_latent) -> images (B, C, H, W), tanh(W_T) in [-1, 1].

    ``forward(z, return_steps=True)`` also returns the :class:`PaintingSteps` of the same pass.
    """

    def __init__(self, cfg: PainterConfig) -> None:
        super().__init__()
        self.config = cfg.validate()
        self.latent_dim = cfg.latent_dim
        self.input_generator = build_input_generator(
            cfg.input_version,
            cfg.latent_dim,
            cfg.num_steps,
            cfg.input_dim,
            cfg.input_proj_dim,
            cfg.input_tanh,
        )
        self.sequence_processor = SequenceProcessor(
            self.input_generator.output_dim,
            cfg.latent_dim,
            cfg.hidden,
            cfg.layers,
            cfg.latent_to_init,
            cfg.init,
            cfg.latent_init_kaiming,
        )
        self.update_net = UpdateNet(cfg)

    def forward(
        self, z: Tensor, return_steps: bool = False
    ) -> Tensor | tuple[Tensor, PaintingSteps]:
        """z (B, d_latent) -> images (B, C, H, W) [, PaintingSteps with (B, T, C, H, W) tensors].

        The steps are recorded before the output tanh; images == tanh(steps.cumulative[:, -1])
        when ``out_tanh`` is on. Latents of any floating dtype are cast to the painter's.
        """
        if not isinstance(z, Tensor):
            raise FpaError(f"painter latents must be a torch.Tensor (batch, {self.latent_dim}); got {type(z).__name__} "
                           "(use torch.as_tensor(z, dtype=torch.float32))")
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise FpaError(
                f"painter latents must be (batch, {self.latent_dim}); got {tuple(z.shape)}"
            )
        if not z.is_floating_point():
            raise FpaError(f"painter latents have dtype {z.dtype}; pass floating-point latents (e.g. z.float())")
        z = z.to(next(self.parameters()).dtype)
        hidden = self.sequence_processor(self.input_generator(z), z)
        result = self.update_net(hidden, return_steps=return_steps)
        weights, painting = result if return_steps else (result, None)
        images = torch.tanh(weights) if self.config.out_tanh else weights
        return (images, painting) if return_steps else images


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
