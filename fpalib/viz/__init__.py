"""Pictures of generators and of their painting steps (matplotlib ``Figure`` objects, PIL GIFs).

``steps`` arguments are a :class:`fpalib.models.PaintingSteps` (or any pair with ``.updates``
and ``.cumulative``) of shape (B, T, C, H, W); a (B, T, H, W) pair, such as the
:class:`fpalib.rules.RuleSteps` of one attention head, is shown as one grey channel. The
display modes and the notebook widgets are in :mod:`fpalib.viz.step_display`. matplotlib and
ipywidgets are imported inside the functions that need them. Every picture of painted pixels is drawn pixel-sharp (nearest-neighbour).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from fpalib.errors import FpaError
from fpalib.rules import RuleSteps
from fpalib.viz.step_display import (
    DISPLAY_MODES,
    display_steps,
    gif_display,
    normalise_steps,
    painting_step_png,
    sharp_png,
    step_pair_image,
    steps_slider,
    steps_rows_png,
    steps_strip_png,
    to_unit,
    unit_to_uint8,
    update_limit,
    upscale,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fpalib.fewshot.episodes import EpisodeSampler
    from fpalib.models.deltanet import FewShotDeltaNet

__all__ = [
    "DISPLAY_MODES", "before_after_figure", "display_steps", "fast_weights_episode_figure",
    "fast_weights_figure", "gif_display", "loss_curve_figure", "normalise_steps", "painting_step_png",
    "painting_steps_figure", "save_figure", "save_grid", "save_interpolation_gif", "save_painting_gif", "sharp_png",
    "side_by_side_figure", "steps_rows_png", "steps_slider", "steps_strip_png", "to_unit", "unit_to_uint8", "write_gif",
    "write_image_file",
]


def write_image_file(path: str | Path, write: Callable[[io.BytesIO, str], None]) -> Path:
    """Write an image file the way checkpoints are written: ``write(buffer, format)`` renders it in
    memory (format from the suffix, e.g. "png"), then :func:`~fpalib.train.run_folder.write_atomically`
    replaces ``path`` in one step, so a failed write (a full disk) leaves an earlier file intact.
    Raises FpaError naming the file when the write fails. Returns the path."""
    from fpalib.train.run_folder import write_atomically, write_error

    path = Path(path)
    buffer = io.BytesIO()
    kind = path.suffix.lower().lstrip(".") or "png"
    write(buffer, {"jpg": "jpeg", "tif": "tiff"}.get(kind, kind))
    try:
        write_atomically(path, buffer.getvalue())
    except OSError as error:
        raise write_error(error, f"the image {path}", "an earlier file of that name is unchanged; free space or "
                          "choose a writable folder") from None
    return path


def save_grid(images: Tensor, path: str | Path, nrow: int = 8, padding: int = 2) -> Path:
    """Save images (B, C, H, W) in [-1, 1] as one grid (``nrow`` per row), atomically; return the path."""
    from torchvision.utils import save_image

    pictures = to_unit(images.detach().float().cpu())
    return write_image_file(path, lambda buffer, kind: save_image(pictures, buffer, format=kind, nrow=nrow,
                                                                   padding=padding))


def save_figure(figure: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure at ``dpi`` (its folder made if missing), atomically; return the path."""
    return write_image_file(path, lambda buffer, kind: figure.savefig(buffer, format=kind, dpi=dpi))


def painting_steps_figure(
    steps: Any, index: int = 0, every: int = 1, max_columns: int = 16, title: str | None = None,
    mode: str = "output", out_tanh: bool = True,
) -> Figure:
    """Two rows over the steps of sample ``index``: rank-one updates (top), images (bottom).

    mode, out_tanh: see :func:`~fpalib.viz.step_display.display_steps`. Shows every ``every``-th
    step (always the last one), at most ``max_columns`` of them evenly spread, numbered from 1.
    """
    from matplotlib.figure import Figure

    shown = display_steps(steps, index, mode, out_tanh=out_tanh)
    columns = _chosen_steps(shown.updates.shape[0], every, max_columns)
    figure = Figure(figsize=(1.1 * len(columns) + 0.6, 2.6), layout="constrained")
    axes = figure.subplots(2, len(columns), squeeze=False)
    for column, t in enumerate(columns):
        for row, images in enumerate(shown):
            _imshow(axes[row, column], images[t])
            axes[row, column].set(xticks=[], yticks=[])
        axes[1, column].set_xlabel(str(t + 1))
    if mode == "output":  # index checked by display_steps
        row_labels = (f"update\n\u00b1{update_limit(steps.updates[index]):.2g}", "image")
    else:
        row_labels = ("update\n(paper)", "image\n(paper)")
    for row, label in enumerate(row_labels):
        axes[row, 0].set_ylabel(label, fontsize=8)
    if title:
        figure.suptitle(title)
    return figure


def save_painting_gif(
    steps: Any, path: str | Path, index: int = 0, duration_ms: int = 120, scale: int = 4,
    mode: str = "output", out_tanh: bool = True,
) -> Path:
    """An animated GIF of sample ``index``, one frame (update | image, enlarged ``scale`` times) per
    step, the last one 10x longer. GIF frames hold at most 256 colours, so colours may be rounded."""
    if duration_ms < 1 or scale < 1:
        raise FpaError(f"GIF duration_ms and scale must be at least 1; got {duration_ms}, {scale}")
    shown = display_steps(steps, index, mode, out_tanh=out_tanh)
    frames = [step_pair_image(shown, t, scale) for t in range(shown.updates.shape[0])]
    return write_gif(frames, path, [duration_ms] * (len(frames) - 1) + [10 * duration_ms])


def save_interpolation_gif(images: Tensor, path: str | Path, duration_ms: int = 150, min_side: int = 128) -> Path:
    """Frames (N, C, H, W) in [-1, 1] as a looping GIF that goes there and back, each frame enlarged
    (nearest neighbour) to at least ``min_side`` pixels."""
    scale = max(1, -(-min_side // images.shape[-1]))
    frames = [upscale(frame, scale) for frame in unit_to_uint8(to_unit(images))]
    return write_gif(frames + frames[-2:0:-1], path, duration_ms)


def write_gif(frames: Sequence[Any], path: str | Path, durations: int | Sequence[int]) -> Path:
    """Write PIL images ``frames`` as a looping animated GIF (``durations`` in ms, one or per frame)."""
    return write_image_file(path, lambda buffer, kind: frames[0].save(
        buffer, format="GIF", save_all=True, append_images=list(frames[1:]), duration=durations, loop=0, disposal=1))


def loss_curve_figure(
    records: Sequence[dict], keys: Sequence[str] | None = None, smoothing: float = 0.0
) -> Figure:
    """One panel per loss in ``keys`` (default: :data:`fpalib.train.step.LOSS_NAMES`) found in
    ``records`` (dicts with a "step"), value vs step, smoothed by an exponential moving average
    with factor ``smoothing`` in [0, 1) (0 = raw values)."""
    from matplotlib.figure import Figure

    if not 0.0 <= smoothing < 1.0:
        raise FpaError(f"smoothing must be in [0, 1); got {smoothing}")
    if keys is None:
        from fpalib.train.step import LOSS_NAMES as keys
    series = {key: [(r["step"], float(r[key])) for r in records if key in r and "step" in r] for key in keys}
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
    """Pairs ``before`` | ``after`` (B, C, H, W) in [-1, 1], ``pairs_per_row`` per row, the first row
    titled ``labels`` (the paper's Fig. 9 layout: a painter's images and their U-Net refinement)."""
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

    layer_steps: per layer ``.updates`` and ``.cumulative`` (B, heads, T, d_value, d_key), from
    ``FewShotDeltaNet(..., return_steps=True)``. picks: 0-based (layer, head) pairs, each two rows
    (the update of every step, then W_t) shown with :func:`normalise_steps` in ``cmap`` and
    labelled 1-based as in the paper ("L1 H16"). images (T, C, H, W) in [-1, 1] and labels (T
    strings): an optional bottom row with the input of each step. Sample ``index`` of the batch.
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
        shown.append(normalise_steps(RuleSteps(steps.updates[:, head], steps.cumulative[:, head]), index))
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
        axis.set(xticks=[], yticks=[])
    if title:
        figure.suptitle(title, fontsize=9)
    return figure


def fast_weights_episode_figure(model: FewShotDeltaNet, sampler: EpisodeSampler,
                                picks: Sequence[tuple[int, int]] | None = None, seed: int = 0) -> Figure:
    """The paper's Figure 1 for one episode drawn with ``seed``: per (layer, head) pick (0-based;
    default head 1 of the first and the last layer) the update and W_t of every step, the inputs
    with their labels below, the query's prediction in the title. Uses the model in eval mode."""
    device = next(model.parameters()).device
    batch = sampler.sample(1, torch.Generator().manual_seed(seed)).to(device)
    model.eval()
    with torch.no_grad():
        logits, steps = model(batch.images, batch.labels, return_steps=True)
    layers = model.config.deltanet.layers
    picks = picks if picks is not None else [(0, 0)] + ([(layers - 1, 0)] if layers > 1 else [])
    predicted, target = int(logits.argmax(-1)), int(batch.targets)
    captions = [str(label) for label in batch.labels[0, :-1].tolist()] + [f"? -> {predicted}"]
    title = (f"{model.config.deltanet.rule} rule, {sampler.n_way}-way {sampler.k_shot}-shot episode: "
             f"query predicted {predicted}, true label {target}")
    return fast_weights_figure(steps, picks, images=batch.images[0], labels=captions, title=title)


def side_by_side_figure(
    image_sets: Mapping[str, Tensor], nrow: int = 8, panel_inches: float = 2.6
) -> Figure:
    """One panel per entry of ``image_sets`` (caption -> images (N, C, H, W) in [-1, 1]), each a grid
    of ``nrow`` images per row, side by side."""
    if not image_sets:
        raise FpaError("side_by_side_figure needs at least one set of images")
    for caption, images in image_sets.items():
        if not isinstance(images, Tensor) or images.dim() != 4:
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise FpaError(f"images of {caption!r} must be a (N, C, H, W) tensor; got {shape}")
    from matplotlib.figure import Figure
    from torchvision.utils import make_grid

    figure = Figure(figsize=(panel_inches * len(image_sets), panel_inches + 0.4), layout="constrained")
    axes = figure.subplots(1, len(image_sets), squeeze=False)[0]
    for axis, (caption, images) in zip(axes, image_sets.items(), strict=True):
        grid = make_grid(to_unit(images.detach().float().cpu()), nrow=nrow, padding=1, pad_value=1.0)
        axis.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        axis.set_title(caption)
        axis.set_axis_off()
    return figure
