"""DeltaNet (Schlag et al., 2021): a Transformer whose attention is a fast weight memory.

Each layer's slow net (one linear map, Irie & Schmidhuber, 2023, Eq. 1) turns the input x_t into,
per head, a query q_t, key k_t, value v_t (each head_dim) and a learning rate beta_t. The head's
fast weight matrix W (head_dim x head_dim, W_0 = 0) is updated and read at every step (Eq. 2-3):

    W_t = W_{t-1} + sigmoid(beta_t) (v_t - W_{t-1} phi(k_t)) outer phi(k_t)       rule="delta"
    W_t = W_{t-1} + v_t outer phi(k_t)                                            rule="additive"
    y_t = W_t phi(q_t)                                                            phi = softmax

The Hebbian variant (rate 1) is the linear Transformer (Katharopoulos et al., 2020). The per-step
read-out comes from :mod:`fpalib.rules.readout`: ``mode="parallel"`` (triangular solve, no W_t is
ever formed) or ``mode="loop"`` (sequential reference); both compute the same function.

A layer is pre-norm: x + out_proj(fast weights(LayerNorm x)), then x + FF(LayerNorm x).
:class:`DeltaNet` stacks layers (B, T, hidden) -> (B, T, hidden) with a final LayerNorm;
:class:`FewShotDeltaNet` classifies sequences of (image, label) pairs: a small conv encoder per
image, a label embedding (with an extra "unknown" label for the query), the DeltaNet, and a linear
classifier on the last step. The paper's Figure 1 model has 4 layers, 16 heads, hidden 256 and
16 x 16 fast weights per head (Irie & Schmidhuber, 2023, Fig. 1 caption).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from fpalib.errors import FpaError
from fpalib.rules import MODES, RuleSteps
from fpalib.rules.readout import READOUTS, get_readout


@dataclass
class DeltaNetConfig:
    """Architecture of a :class:`DeltaNet` stack (defaults: the paper's Figure 1 model).

    Attributes:
        hidden: model width.
        layers: stack depth.
        heads: heads per layer.
        head_dim: query, key and value size per head (the fast weights are head_dim x head_dim);
            None means hidden // heads.
        ff_dim: feed-forward width (None: 4 * hidden).
        rule: "delta" or "additive" (linear Transformer, rate 1).
        mode: "parallel" or "loop" (same function).
        dropout: after attention and feed-forward.

    tie_query_key_init, query_key_init_scale: this library's initialisation, not the paper's. The
    query projection starts equal to the key projection and both start ``query_key_init_scale``
    times PyTorch's default scale, so that from the first step phi(q_t) . phi(k_s) is large for
    similar inputs and the read-out retrieves the values of similar earlier steps. With the default
    initialisation the softmax keys start nearly uniform and every read-out is close to the mean
    value (what each did on the emoji few-shot task: README, "The DeltaNet of Figure 1"). The
    two stay free to differ in training.
    """

    hidden: int = 256
    layers: int = 4
    heads: int = 16
    head_dim: int | None = None
    ff_dim: int | None = None
    rule: str = "delta"
    mode: str = "parallel"
    dropout: float = 0.0
    tie_query_key_init: bool = True
    query_key_init_scale: float = 4.0

    def validate(self) -> None:
        """Raise FpaError naming the first bad field."""
        for name in ("hidden", "layers", "heads"):
            if getattr(self, name) < 1:
                raise FpaError(f"DeltaNet {name} must be at least 1; got {getattr(self, name)}")
        if self.head_dim is None and self.hidden % self.heads:
            raise FpaError(
                f"hidden {self.hidden} is not divisible by heads {self.heads}; change one or set head_dim"
            )
        if self.head_dim is not None and self.head_dim < 1 or self.ff_dim is not None and self.ff_dim < 1:
            raise FpaError(f"head_dim and ff_dim must be at least 1; got {self.head_dim}, {self.ff_dim}")
        if self.rule not in READOUTS:
            raise FpaError(f"unknown DeltaNet rule {self.rule!r}; choose one of {', '.join(READOUTS)}")
        if self.mode not in MODES:
            raise FpaError(f"unknown rule mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if not 0.0 <= self.dropout < 1.0:
            raise FpaError(f"dropout must be in [0, 1); got {self.dropout}")
        if self.query_key_init_scale <= 0:
            raise FpaError(f"query_key_init_scale must be positive; got {self.query_key_init_scale}")

    @property
    def key_dim(self) -> int:
        """Query/key/value size per head."""
        return self.head_dim if self.head_dim is not None else self.hidden // self.heads


class DeltaNetLayer(nn.Module):
    """One pre-norm DeltaNet block: (B, T, hidden) -> (B, T, hidden) [, steps (B, heads, T, d, d)]."""

    def __init__(self, cfg: DeltaNetConfig) -> None:
        super().__init__()
        cfg.validate()
        self.heads, self.head_dim, self.rule, self.mode = cfg.heads, cfg.key_dim, cfg.rule, cfg.mode
        self.uses_rate = cfg.rule == "delta"
        self.slots = 3 * self.head_dim + int(self.uses_rate)  # q, k, v (, beta) per head
        self.norm_attention = nn.LayerNorm(cfg.hidden)
        self.slow = nn.Linear(cfg.hidden, cfg.heads * self.slots)
        self.out_proj = nn.Linear(cfg.heads * self.head_dim, cfg.hidden)
        self.norm_ff = nn.LayerNorm(cfg.hidden)
        ff_dim = cfg.ff_dim or 4 * cfg.hidden
        self.ff = nn.Sequential(
            nn.Linear(cfg.hidden, ff_dim), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(ff_dim, cfg.hidden)
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self._init_query_key(cfg.tie_query_key_init, cfg.query_key_init_scale)

    @torch.no_grad()
    def _init_query_key(self, tie: bool, scale: float) -> None:
        """Scale the query and key rows of the slow weights; with ``tie`` copy the key rows (and
        biases) onto the query rows (see :class:`DeltaNetConfig`)."""
        d = self.head_dim
        weight = self.slow.weight.view(self.heads, self.slots, -1)  # rows per head: q, k, v (, beta)
        bias = self.slow.bias.view(self.heads, self.slots)
        if tie:
            weight[:, :d] = weight[:, d : 2 * d]
            bias[:, :d] = bias[:, d : 2 * d]
        weight[:, : 2 * d] *= scale

    def forward(self, x: Tensor, return_steps: bool = False) -> tuple[Tensor, RuleSteps | None]:
        """x (B, T, hidden) -> (B, T, hidden) and, with ``return_steps``, this layer's fast weight
        steps as a RuleSteps of (B, heads, T, head_dim, head_dim) tensors (else None)."""
        batch, length, _ = x.shape
        slots = self.slow(self.norm_attention(x)).view(batch, length, self.heads, self.slots)
        slots = slots.transpose(1, 2).reshape(batch * self.heads, length, self.slots)  # heads folded into B
        d = self.head_dim
        queries = torch.softmax(slots[..., :d], dim=-1)
        keys = torch.softmax(slots[..., d : 2 * d], dim=-1)
        values = slots[..., 2 * d : 3 * d]
        beta = torch.sigmoid(slots[..., 3 * d]) if self.uses_rate else None  # (B * heads, T)
        result = get_readout(self.rule)(queries, keys, values, beta, mode=self.mode, return_steps=return_steps)
        outputs, rule_steps = result if return_steps else (result, None)
        outputs = outputs.view(batch, self.heads, length, d).transpose(1, 2).reshape(batch, length, self.heads * d)
        x = x + self.dropout(self.out_proj(outputs))
        x = x + self.dropout(self.ff(self.norm_ff(x)))
        if rule_steps is not None:
            rule_steps = RuleSteps(*(s.view(batch, self.heads, length, d, d) for s in rule_steps))
        return x, rule_steps


class DeltaNet(nn.Module):
    """A stack of :class:`DeltaNetLayer` and a final LayerNorm: (B, T, hidden) -> (B, T, hidden)."""

    def __init__(self, cfg: DeltaNetConfig) -> None:
        super().__init__()
        cfg.validate()
        self.config = cfg
        self.layers = nn.ModuleList(DeltaNetLayer(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.hidden)

    def set_mode(self, mode: str) -> None:
        """Switch every layer to ``mode`` ("parallel" or "loop") without touching the weights."""
        if mode not in MODES:
            raise FpaError(f"unknown rule mode {mode!r}; choose one of {', '.join(MODES)}")
        self.config.mode = mode
        for layer in self.layers:
            layer.mode = mode

    def forward(self, x: Tensor, return_steps: bool = False) -> tuple[Tensor, list[RuleSteps]]:
        """x (B, T, hidden) -> (B, T, hidden) and the per-layer steps (empty without ``return_steps``)."""
        all_steps = []
        for layer in self.layers:
            x, layer_steps = layer(x, return_steps)
            if layer_steps is not None:
                all_steps.append(layer_steps)
        return self.norm(x), all_steps


@dataclass
class FewShotModelConfig:
    """The few-shot classifier around a DeltaNet.

    n_way: classes per episode (labels 0..n_way-1; n_way is the query's "unknown" label).
    image_size, channels: input images (C, image_size, image_size). conv_channels, conv_blocks: the
    image encoder, blocks of conv3x3-BatchNorm-ReLU-maxpool2 (each halves the image side).
    deltanet: the sequence model.
    """

    n_way: int = 5
    image_size: int = 32
    channels: int = 3
    conv_channels: int = 32
    conv_blocks: int = 4
    deltanet: DeltaNetConfig | None = None

    def __post_init__(self) -> None:
        if isinstance(self.deltanet, dict):
            self.deltanet = DeltaNetConfig(**self.deltanet)
        elif self.deltanet is None:
            self.deltanet = DeltaNetConfig()

    @classmethod
    def small(cls, n_way: int = 5, image_size: int = 16, channels: int = 3, hidden: int = 128, layers: int = 4,
              heads: int = 8, rule: str = "delta", mode: str = "parallel") -> FewShotModelConfig:
        """The CPU-sized model of ``fpa fewshot`` and notebook 02: conv blocks down to 4x4 (or fewer),
        feed-forward width 2 * hidden, head size hidden / heads."""
        return cls(
            n_way=n_way, image_size=image_size, channels=channels, conv_blocks=max(1, image_size.bit_length() - 3),
            deltanet=DeltaNetConfig(hidden=hidden, layers=layers, heads=heads, ff_dim=2 * hidden, rule=rule, mode=mode),
        )

    def validate(self) -> None:
        """Raise FpaError naming the first bad field."""
        if self.n_way < 2:
            raise FpaError(f"n_way must be at least 2; got {self.n_way}")
        if self.channels not in (1, 3):
            raise FpaError(f"channels must be 1 or 3; got {self.channels}")
        if self.conv_channels < 1 or self.conv_blocks < 1:
            raise FpaError(f"conv_channels and conv_blocks must be at least 1; got {self.conv_channels}, "
                           f"{self.conv_blocks}")
        if self.image_size >> self.conv_blocks < 1:
            raise FpaError(
                f"image size {self.image_size} is too small for {self.conv_blocks} conv blocks (each halves "
                f"it); use at least {2 ** self.conv_blocks} or fewer blocks"
            )
        self.deltanet.validate()

    def to_dict(self) -> dict:
        """Plain-value dict (for checkpoints); ``FewShotModelConfig(**d)`` rebuilds it."""
        return asdict(self)


class FewShotDeltaNet(nn.Module):
    """Sequences of (image, label) pairs -> logits of the last step's label.

    forward(images (B, T, C, S, S) in [-1, 1], labels (B, T) long in 0..n_way, where n_way marks
    the unknown label of the query) -> logits (B, n_way), plus the per-layer fast weight steps
    (list of RuleSteps with (B, heads, T, d, d) tensors) when ``return_steps``.
    """

    def __init__(self, cfg: FewShotModelConfig) -> None:
        super().__init__()
        cfg.validate()
        self.config = cfg
        blocks, width = [], cfg.channels
        for _ in range(cfg.conv_blocks):
            blocks += [
                nn.Conv2d(width, cfg.conv_channels, 3, padding=1),
                nn.BatchNorm2d(cfg.conv_channels),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            width = cfg.conv_channels
        side = cfg.image_size >> cfg.conv_blocks
        hidden = cfg.deltanet.hidden
        self.encoder = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(width * side * side, hidden))
        self.label_embedding = nn.Embedding(cfg.n_way + 1, hidden)
        self.deltanet = DeltaNet(cfg.deltanet)
        self.classifier = nn.Linear(hidden, cfg.n_way)

    def set_mode(self, mode: str) -> None:
        """Switch the DeltaNet's rule mode ("parallel" or "loop")."""
        self.deltanet.set_mode(mode)

    def forward(
        self, images: Tensor, labels: Tensor, return_steps: bool = False
    ) -> Tensor | tuple[Tensor, list[RuleSteps]]:
        """Logits of the last step (B, n_way); see the class docstring."""
        logits, all_steps = self.sequence_logits(images, labels, return_steps)
        return (logits[:, -1], all_steps) if return_steps else logits[:, -1]

    def sequence_logits(
        self, images: Tensor, labels: Tensor, return_steps: bool = False
    ) -> tuple[Tensor, list[RuleSteps]]:
        """Logits at every step (B, T, n_way), each from the pairs up to that step, and the per-layer
        steps (an empty list without ``return_steps``). Training reads the steps whose label was hidden."""
        if images.dim() != 5 or labels.shape != images.shape[:2]:
            raise FpaError(
                f"images must be (batch, steps, C, H, W) and labels (batch, steps); got "
                f"{tuple(images.shape)} and {tuple(labels.shape)}"
            )
        batch, length = labels.shape
        features = self.encoder(images.flatten(0, 1)).view(batch, length, -1)
        hidden, all_steps = self.deltanet(features + self.label_embedding(labels), return_steps)
        return self.classifier(hidden), all_steps
