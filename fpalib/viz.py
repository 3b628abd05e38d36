"""Pictures of generators and of their painting steps.

- :func:`to_unit`, :func:`save_grid`: images in [-1, 1] (B, C, H, W) -> [0, 1] and a PNG grid.
- :func:`normalise_steps`: the paper's display normalisation of painting steps (Fig. 5-7).
- :func:`painting_steps_figure`, :func:`save_painting_gif`, :func:`steps_slider`: the rank-one
  update of each step beside the cumulative image, as a figure, a GIF and a notebook widget.
- :func:`loss_curve_figure`: losses from a JSONL metrics log.

``steps`` arguments are a :class:`fpalib.models.PaintingSteps` (or any pair with ``.updates``
and ``.cumulative``) of shape (B, T, C, H, W); a (B, T, H, W) pair, such as the
:class:`fpalib.rules.RuleSteps` of one attention head, is shown as one grey channel.
matplotlib and ipywidgets are imported inside the functions that need them; figures are
``matplotlib.figure.Figure`` objects, never pyplot state.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .errors import FpaError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LOSS_KEYS = ("d_loss", "g_loss", "aux_loss", "gp")


class DisplaySteps(NamedTuple):
    """Painting steps of one sample ready to show: updates, cumulative (T, C, H, W) in [0, 1]."""

    updates: Tensor
    cumulative: Tensor


def to_unit(images: Tensor) -> Tensor:
    """Map images from [-1, 1] to [0, 1], clamping anything outside."""
    return ((images + 1) / 2).clamp(0, 1)


def save_grid(images: Tensor, path: str | Path, nrow: int = 8, padding: int = 2) -> Path:
    """Save images (B, C, H, W) in [-1, 1] as one grid (``nrow`` per row); return the path."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(to_unit(images.detach().float().cpu()), path, nrow=nrow, padding=padding)
    return path


def normalise_steps(steps: Any, index: int = 0) -> DisplaySteps:
    """Display normalisation of the paper (Sec. 4, Fig. 5 caption) for sample ``index``.

    Each step's image (update or cumulative) is divided by the Frobenius norm of the final
    image W_T and passed through tanh. As in the paper, the colour scale is then specific to
    each picture: every (C, H, W) image is min-max scaled to [0, 1] on its own (a constant
    image becomes 0.5). A small update can therefore look as vivid as the whole image.
    Returns a :class:`DisplaySteps` with (T, C, H, W) tensors in [0, 1].
    """
    updates, cumulative = (_sample(x, index) for x in (steps.updates, steps.cumulative))
    scale = cumulative[-1].norm().clamp_min(1e-12)
    return DisplaySteps(*(_per_image_unit(torch.tanh(x / scale)) for x in (updates, cumulative)))


def painting_steps_figure(
    steps: Any, index: int = 0, every: int = 1, max_columns: int = 16, title: str | None = None
) -> Figure:
    """Two rows over the steps of sample ``index``: rank-one updates (top), images W_t (bottom).

    Shows every ``every``-th step (always the last one), at most ``max_columns`` of them evenly
    spread; step numbers (1-based) under the images; 1-channel images in grey.
    """
    from matplotlib.figure import Figure

    shown = normalise_steps(steps, index)
    columns = _chosen_steps(shown.updates.shape[0], every, max_columns)
    figure = Figure(figsize=(1.1 * len(columns) + 0.6, 2.6), layout="constrained")
    axes = figure.subplots(2, len(columns), squeeze=False)
    for column, t in enumerate(columns):
        for row, images in enumerate(shown):
            axis = axes[row, column]
            _imshow(axis, images[t])
            axis.set_xticks([])
            axis.set_yticks([])
        axes[1, column].set_xlabel(str(t + 1))
    axes[0, 0].set_ylabel("update")
    axes[1, 0].set_ylabel("image")
    if title:
        figure.suptitle(title)
    return figure


def save_painting_gif(
    steps: Any, path: str | Path, index: int = 0, duration_ms: int = 120, scale: int = 4
) -> Path:
    """Write an animated GIF of sample ``index``: one frame per step, update | image side by side.

    Frames are upscaled ``scale`` times with nearest-neighbour; the last frame stays 10x longer.
    """
    if duration_ms < 1 or scale < 1:
        raise FpaError(f"GIF duration_ms and scale must be at least 1; got {duration_ms}, {scale}")
    shown = normalise_steps(steps, index)
    frames = [_pair_frame(shown, t, scale) for t in range(shown.updates.shape[0])]
    durations = [duration_ms] * (len(frames) - 1) + [10 * duration_ms]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(
        path, save_all=True, append_images=frames[1:], duration=durations, loop=0, disposal=1
    )
    return path


def steps_slider(steps: Any, scale: int = 4) -> Any:
    """An ipywidgets box: a step slider (and a sample slider when B > 1) over update | image.

    Moving a slider redraws the pair of the chosen step as a PNG in an ``ipywidgets.Image``
    and updates a caption ("sample s: step t of T"). Returns the ``ipywidgets.VBox``
    ``[HBox(sliders), Image, Label]``; display it in a notebook. Setting a slider's ``.value``
    from code redraws as well, so the widget can be driven (and tested) without a browser.
    """
    import ipywidgets as widgets

    batch, steps_count = steps.updates.shape[:2]
    step = widgets.IntSlider(value=steps_count, min=1, max=steps_count, description="step")
    sample = widgets.IntSlider(value=0, min=0, max=batch - 1, description="sample")
    picture = widgets.Image(format="png")
    caption = widgets.Label()
    cache: dict[int, DisplaySteps] = {}

    def redraw(_change: Any = None) -> None:
        if sample.value not in cache:
            cache[sample.value] = normalise_steps(steps, sample.value)
        picture.value = painting_step_png(cache[sample.value], step.value, scale)
        caption.value = f"sample {sample.value}: step {step.value} of {steps_count} (update | image)"

    step.observe(redraw, names="value")
    sample.observe(redraw, names="value")
    redraw()
    sliders = [step, sample] if batch > 1 else [step]
    return widgets.VBox([widgets.HBox(sliders), picture, caption])


def painting_step_png(shown: DisplaySteps, step: int, scale: int = 4) -> bytes:
    """PNG bytes of update | image at 1-based ``step`` of normalised steps (what the slider shows)."""
    if not 1 <= step <= shown.updates.shape[0]:
        raise FpaError(f"step {step} is out of range 1..{shown.updates.shape[0]}")
    buffer = io.BytesIO()
    _pair_frame(shown, step - 1, scale).save(buffer, format="PNG")
    return buffer.getvalue()


def loss_curve_figure(
    records: Sequence[dict], keys: Sequence[str] = LOSS_KEYS, smoothing: float = 0.0
) -> Figure:
    """One panel per loss in ``keys`` found in ``records`` (dicts with a "step"), value vs step.

    smoothing: exponential moving average factor in [0, 1) (0 = raw values). Records without a
    key (e.g. the gradient penalty, logged every 4th step) are skipped for that key.
    """
    from matplotlib.figure import Figure

    if not 0.0 <= smoothing < 1.0:
        raise FpaError(f"smoothing must be in [0, 1); got {smoothing}")
    series = {
        key: [(r["step"], float(r[key])) for r in records if key in r and "step" in r]
        for key in keys
    }
    series = {key: points for key, points in series.items() if points}
    if not series:
        raise FpaError(f"no records with a step and any of {', '.join(keys)} to plot")
    figure = Figure(figsize=(3.2 * len(series), 2.6), layout="constrained")
    axes = figure.subplots(1, len(series), squeeze=False)[0]
    for axis, (key, points) in zip(axes, series.items(), strict=True):
        x, y = zip(*sorted(points), strict=True)
        axis.plot(x, _smooth(list(y), smoothing), label=key)
        axis.set_title(key)
        axis.set_xlabel("step")
    return figure


def _sample(x: Tensor, index: int) -> Tensor:
    """(B, T, C, H, W) or (B, T, H, W) -> (T, C, H, W) float32 on the CPU for sample ``index``."""
    if x.dim() not in (4, 5):
        raise FpaError(
            f"painting steps must be (B, T, C, H, W) or (B, T, H, W); got {tuple(x.shape)}"
        )
    if not -x.shape[0] <= index < x.shape[0]:
        raise FpaError(f"sample index {index} is out of range for a batch of {x.shape[0]}")
    x = x[index].detach().float().cpu()
    return x.unsqueeze(1) if x.dim() == 3 else x


def _per_image_unit(images: Tensor) -> Tensor:
    """Min-max scale each image of (T, C, H, W) to [0, 1]; constant images -> 0.5."""
    flat = images.flatten(1)
    low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = high - low
    scaled = torch.where(span > 0, (flat - low) / span.clamp_min(1e-12), torch.full_like(flat, 0.5))
    return scaled.view_as(images)


def _chosen_steps(steps_count: int, every: int, max_columns: int) -> list[int]:
    """0-based steps to show: every ``every``-th and the last, thinned to ``max_columns``."""
    if every < 1 or max_columns < 1:
        raise FpaError(f"every and max_columns must be at least 1; got {every}, {max_columns}")
    chosen = list(range(every - 1, steps_count, every))
    if not chosen or chosen[-1] != steps_count - 1:
        chosen.append(steps_count - 1)
    if len(chosen) > max_columns:
        picks = np.linspace(0, len(chosen) - 1, max_columns).round().astype(int)
        chosen = [chosen[i] for i in picks]
    return chosen


def _imshow(axis: Any, image: Tensor) -> None:
    """Show one (C, H, W) image in [0, 1]; one channel in grey."""
    if image.shape[0] == 1:
        axis.imshow(image[0].numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axis.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")


def _pair_frame(shown: DisplaySteps, t: int, scale: int) -> Image.Image:
    """PIL image of step t: update | gap | cumulative image, upscaled ``scale`` times."""
    update, image = shown.updates[t], shown.cumulative[t]
    gap = torch.ones(image.shape[0], image.shape[1], max(1, image.shape[2] // 16))
    pair = torch.cat([update, gap, image], dim=2)  # (C, H, 2W + gap)
    pixels = (pair * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    frame = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    return frame.resize((frame.width * scale, frame.height * scale), Image.NEAREST)


def _smooth(values: list[float], factor: float) -> list[float]:
    """Exponential moving average with weight ``factor`` on the past (0 = no smoothing)."""
    smoothed, average = [], values[0]
    for value in values:
        average = factor * average + (1 - factor) * value
        smoothed.append(average)
    return smoothed


def before_after_figure(
    before: Tensor, after: Tensor, pairs_per_row: int = 4, title: str | None = None,
    labels: tuple[str, str] = ("FPA", "+ U-Net"),
) -> Figure:
    """Pairs of images, each ``before`` | ``after`` side by side (the paper's Fig. 9 layout).

    before, after: (B, C, H, W) in [-1, 1], e.g. a painter's images and their U-Net refinement.
    The B pairs fill rows of ``pairs_per_row``; the first row's columns are titled ``labels``.
    """
    from matplotlib.figure import Figure

    if before.shape != after.shape or before.dim() != 4:
        raise FpaError(f"before and after must be (B, C, H, W) of one shape; got {tuple(before.shape)} "
                       f"and {tuple(after.shape)}")
    if pairs_per_row < 1:
        raise FpaError(f"pairs_per_row must be at least 1; got {pairs_per_row}")
    count = before.shape[0]
    columns = min(pairs_per_row, count)
    rows = -(-count // columns)
    figure = Figure(figsize=(1.25 * 2 * columns + 0.2, 1.3 * rows + (0.4 if title else 0.2)), layout="constrained")
    grid = figure.add_gridspec(rows, columns, wspace=0.25)
    for index in range(rows * columns):
        pair = grid[index // columns, index % columns].subgridspec(1, 2, wspace=0.02)
        for side, images in enumerate((before, after)):
            axis = figure.add_subplot(pair[0, side])
            axis.set_axis_off()
            if index < count:
                _imshow(axis, to_unit(images[index].detach().float().cpu()))
                if index < columns:
                    axis.set_title(labels[side], fontsize=8)
    if title:
        figure.suptitle(title)
    return figure


def fast_weights_figure(
    layer_steps: Sequence[Any],
    picks: Sequence[tuple[int, int]] = ((0, 0),),
    index: int = 0,
    images: Tensor | None = None,
    labels: Sequence[str] | None = None,
    every: int = 1,
    max_columns: int = 32,
    cmap: str = "viridis",
    title: str | None = None,
) -> Figure:
    """The paper's Figure 1: fast weights of chosen DeltaNet heads over the steps of one sequence.

    layer_steps: one entry per layer with ``.updates`` and ``.cumulative`` of shape
    (B, heads, T, d_value, d_key), as returned by ``FewShotDeltaNet(..., return_steps=True)``.
    picks: (layer, head) pairs, 0-based; each gives two rows, the rank-one update of every step
    (top) and the fast weight matrix W_t (bottom), shown with :func:`normalise_steps` (tanh of
    W / |W_T|, then per-picture colour scale) in colour map ``cmap``. Rows are labelled 1-based,
    as in the paper ("L1 H16"). images (T, C, H, W) in [-1, 1] and labels (T strings): an optional
    bottom row with the input of each step, its label as the caption. Sample ``index`` of the batch.
    """
    from matplotlib.figure import Figure

    if not picks:
        raise FpaError("pick at least one (layer, head) pair to show")
    steps_count = layer_steps[0].updates.shape[2] if layer_steps else 0
    shown = []
    for layer, head in picks:
        if not 0 <= layer < len(layer_steps) or not 0 <= head < layer_steps[layer].updates.shape[1]:
            heads = layer_steps[0].updates.shape[1] if layer_steps else 0
            raise FpaError(
                f"(layer {layer}, head {head}) is out of range: {len(layer_steps)} layers of {heads} heads (0-based)"
            )
        steps = layer_steps[layer]
        shown.append(normalise_steps(_HeadSteps(steps.updates[:, head], steps.cumulative[:, head]), index))
    if images is not None and (images.shape[0] != steps_count or (labels is not None and len(labels) != steps_count)):
        raise FpaError(f"images and labels must have one entry per step ({steps_count}); got {images.shape[0]}")
    columns = _chosen_steps(steps_count, every, max_columns)
    rows = 2 * len(picks) + int(images is not None)
    figure = Figure(figsize=(0.55 * len(columns) + 0.9, 0.62 * rows + 0.4), layout="constrained")
    axes = figure.subplots(rows, len(columns), squeeze=False)
    for pick, ((layer, head), head_steps) in enumerate(zip(picks, shown, strict=True)):
        for offset, (pictures, what) in enumerate(zip(head_steps, ("update", "W_t"), strict=True)):
            row = 2 * pick + offset
            for column, t in enumerate(columns):
                axes[row, column].imshow(pictures[t, 0].numpy(), cmap=cmap, vmin=0.0, vmax=1.0)
            axes[row, 0].set_ylabel(f"L{layer + 1} H{head + 1}\n{what}", fontsize=7)
    if images is not None:
        for column, t in enumerate(columns):
            _imshow(axes[-1, column], to_unit(images[t].detach().float().cpu()))
            if labels is not None:
                axes[-1, column].set_xlabel(labels[t], fontsize=7)
        axes[-1, 0].set_ylabel("input", fontsize=7)
    for column, t in enumerate(columns):
        axes[0, column].set_title(str(t + 1), fontsize=7)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    if title:
        figure.suptitle(title, fontsize=9)
    return figure


class _HeadSteps(NamedTuple):
    """The steps of one head, (B, T, d_value, d_key), in the shape :func:`normalise_steps` takes."""

    updates: Tensor
    cumulative: Tensor
