"""Load state dicts of the authors' modules (IDSIA/fpainter, ``code/painter.py``) into fpalib's.

The authors' generators and discriminator hold the same parameters as fpalib's under other
names; these functions rename them (no values change, except one sign, below):

- :func:`painter_state_from_authors`: their ``lstm_delta_split_v2`` (v2 input), ``lstm_delta``
  (v1 input) and ``lstm_sum`` (the additive baseline) generators -> :class:`FastWeightPainter`
  built with the matching :class:`PainterConfig` (``update_bias=True``; for ``lstm_sum``
  ``variant="authors-additive"``).
- :func:`discriminator_state_from_authors`: their discriminator (blur off, attention at 32x32,
  ``disc_output_size=1``) -> :class:`Discriminator` built with
  :func:`~fpalib.models.discriminator.authors_discriminator_config`. Their discriminator
  scores real images low, fpalib's high, so both output convs are negated.

Their pre-trained checkpoints (``model_*.pt``) keep the generator under ``GAN.G.`` (``GAN.GE.``
for the EMA copy) and the discriminator under ``GAN.D.``; pass the sub-dict without prefix.
"""

from __future__ import annotations

import re

from torch import Tensor

from fpalib.errors import FpaError

_PAINTER_RENAMES = [
    (r"^latent_to_init\.", "sequence_processor.latent_to_init."),
    (r"^decoder_rnn\.", "sequence_processor.lstm."),
    (r"^input_generator\.", "input_generator.sequence."),
    (r"^per_time_linear_input\.", "input_generator.per_step."),
    (r"^kvb_net\.", "update_net.projection."),
    (r"^kv_net\.", "update_net.projection."),
]

_ATTENTION_RENAMES = [  # inside one PreNorm(LinearAttention): authors -> fpalib HybridSelfAttention
    (r"norm\.g$", "norm.gain"),
    (r"norm\.b$", "norm.bias"),
    (r"fn\.to_lin_q\.", "global_query."),
    (r"fn\.to_lin_kv\.net\.", "global_key_value."),
    (r"fn\.to_q\.", "local_query."),
    (r"fn\.to_kv\.", "local_key_value."),
    (r"fn\.to_out\.", "to_out."),
]

_DISC_RENAMES = [
    (r"^residual_layers\.(\d+)\.0\.branches\.0\.", r"body.\1.main."),
    (r"^residual_layers\.(\d+)\.0\.branches\.1\.", r"body.\1.shortcut."),
    (r"^residual_layers\.(\d+)\.1\.", r"body_attention.\1."),
    (r"^to_shape_disc_out\.0\.", "head_32.0."),
    (r"^to_shape_disc_out\.1\.fn\.", "head_32.2."),
    (r"^to_shape_disc_out\.2\.branches\.0\.", "head_32.3.main."),
    (r"^to_shape_disc_out\.2\.branches\.1\.", "head_32.3.shortcut."),
    (r"^to_shape_disc_out\.3\.fn\.", "head_32.4."),
    (r"^to_shape_disc_out\.5\.", "head_32.6."),
    (r"^decoder1\.layers\.(\d+)\.1\.", lambda m: f"decoder.layers.{3 * int(m.group(1)) + 1}."),
    (r"^decoder2\.layers\.(\d+)\.1\.", lambda m: f"quadrant_decoder.layers.{3 * int(m.group(1)) + 1}."),
    (r"^to_logits\.", "to_logits."),
]

_NEGATED = ("to_logits.3.", "head_32.6.")  # the last conv of each score head (disc_output_size=1)


def _rename(key: str, rules: list) -> str | None:
    for pattern, replacement in rules:
        new, count = re.subn(pattern, replacement, key)
        if count:
            return new
    return None


def painter_state_from_authors(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The authors' generator state dict (``lstm_delta_split_v2``, ``lstm_delta``, ``lstm_sum``)
    with fpalib's names; FpaError names the first parameter it does not know."""
    out = {}
    for key, value in state.items():
        new = _rename(key, _PAINTER_RENAMES)
        if new is None:
            raise FpaError(f"unknown parameter {key!r} in the authors' generator state; "
                           "only lstm_delta_split_v2, lstm_delta and lstm_sum without extras are supported")
        out[new] = value
    return out


def discriminator_state_from_authors(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The authors' discriminator state dict with fpalib's names and fpalib's score sign."""
    out = {}
    for key, value in state.items():
        if re.match(r"^(residual_layers\.\d+\.1\.|to_shape_disc_out\.[13]\.fn\.)", key):
            prefix, rest = re.match(r"^(residual_layers\.\d+\.1\.|to_shape_disc_out\.[13]\.fn\.)(.*)$", key).groups()
            inner = _rename(rest, _ATTENTION_RENAMES)
            outer = _rename(prefix + "x", _DISC_RENAMES)
            new = None if inner is None or outer is None else outer[:-1] + inner
        else:
            new = _rename(key, _DISC_RENAMES)
        if new is None:
            raise FpaError(f"unknown parameter {key!r} in the authors' discriminator state; "
                           "only blur-free discriminators with disc_output_size=1 are supported")
        out[new] = -value if new.startswith(_NEGATED) else value
    return out
