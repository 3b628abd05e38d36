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
    "DISPLAY_MODES", "NOTEBOOK_COLUMN_PX", "before_after_figure", "display_steps", "fast_weights_episode_figure",
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


NOTEBOOK_COLUMN_PX = 953
"""Width of a notebook's output column in JupyterLab (at a 1280 px window): wider figures are shrunk there."""
STEP_PANEL_PX = 96
"""About how many pixels a painting's side takes in :func:`painting_steps_figure` (an integer multiple of it)."""
STEP_COLUMNS_PER_ROW = 8
"""Step columns per row of :func:`painting_steps_figure`; more steps wrap to further rows."""


def painting_steps_figure(
    steps: Any, index: int = 0, every: int = 1, max_columns: int = 16, title: str | None = None,
    mode: str = "output", out_tanh: bool = True,
) -> Figure:
    """Two rows over the steps of sample ``index``: rank-one updates (top), images (bottom).

    mode, out_tanh: see :func:`~fpalib.viz.step_display.display_steps`. Shows every ``every``-th
    step (always the last one), at most ``max_columns`` of them evenly spread, numbered from 1
    under each image; when that is not every step, a line under the title says how many are
    shown. At most :data:`STEP_COLUMNS_PER_ROW` steps per row (more wrap onto further
    update/image row pairs). Each painting pixel is an integer number of screen pixels at
    ``figure.dpi`` (about :data:`STEP_PANEL_PX` per side, nearest-neighbour), and the figure
    fits a :data:`NOTEBOOK_COLUMN_PX` notebook column, so it is shown pixel-sharp at its natural size.
    """
    import matplotlib

    shown = display_steps(steps, index, mode, out_tanh=out_tanh)
    steps_count = shown.updates.shape[0]
    columns = _chosen_steps(steps_count, every, max_columns)
    height, width = shown.updates.shape[-2:]
    dpi = float(matplotlib.rcParams["figure.dpi"])
    left, gap, right = 44, 6, 4
    per_row = min(STEP_COLUMNS_PER_ROW, len(columns))
    scale = max(1, STEP_PANEL_PX // max(height, width))
    while scale > 1 and left + per_row * (scale * width + gap) + right > NOTEBOOK_COLUMN_PX:
        scale -= 1
    while per_row > 1 and left + per_row * (scale * width + gap) + right > NOTEBOOK_COLUMN_PX:
        per_row -= 1
    blocks = -(-len(columns) // per_row)
    caption = (None if len(columns) == steps_count else
               f"{len(columns)} of the {steps_count} steps shown (step numbers under the images)")
    figure, axes = _pixel_panel_figure(blocks, 2, per_row, (scale * height, scale * width), dpi=dpi,
                                       left=left, gap=gap, right=right, below=16, title=title, caption=caption)
    if mode == "output":  # index checked by display_steps
        row_labels = (f"update\n\u00b1{update_limit(steps.updates[index]):.2g}", "image")
    else:
        row_labels = ("update\n(paper)", "image\n(paper)")
    for position in range(blocks * per_row):
        block, column = divmod(position, per_row)
        for row, images in enumerate(shown):
            axis = axes[block, row, column]
            axis.set(xticks=[], yticks=[])
            if position >= len(columns):
                axis.set_axis_off()
                continue
            _imshow(axis, images[columns[position]])
            if column == 0:
                axis.set_ylabel(row_labels[row], fontsize=8)
        if position < len(columns):
            axes[block, 1, column].set_xlabel(str(columns[position] + 1), labelpad=2)
    return figure


def _pixel_panel_figure(
    blocks: int, rows: int, columns: int, panel: tuple[int, int], *, dpi: float, left: int, gap: int,
    right: int, below: int, title: str | None = None, caption: str | None = None,
) -> tuple[Figure, np.ndarray]:
    """A Figure of ``blocks`` x ``rows`` x ``columns`` axes (returned in that shape, added to the
    figure in that order), each exactly ``panel`` = (height, width) pixels at ``dpi`` with whole-pixel
    corners, so an image of an integer fraction of that size drawn nearest-neighbour is sharp.
    left/gap/right/below: pixels left of the first column, between panels, right of the last,
    under each block (for its labels); the title (9 pt) and caption (8 pt) take lines on top."""
    from matplotlib.figure import Figure

    panel_height, panel_width = panel
    top = 4 + (16 if title else 0) + (14 if caption else 0)
    block_height = rows * panel_height + (rows - 1) * gap + below
    width = left + columns * panel_width + (columns - 1) * gap + right
    height = top + blocks * block_height + 4
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    axes = np.empty((blocks, rows, columns), dtype=object)
    for block in range(blocks):
        for row in range(rows):
            y = top + block * block_height + row * (panel_height + gap)
            for column in range(columns):
                x = left + column * (panel_width + gap)
                axes[block, row, column] = figure.add_axes(
                    (x / width, 1 - (y + panel_height) / height, panel_width / width, panel_height / height))
    if title:
        figure.suptitle(title, y=1 - 3 / height, va="top", fontsize=9)
    if caption:
        figure.text(0.5, 1 - (top - 2) / height, caption, ha="center", va="bottom", fontsize=8)
    return figure, axes


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
    with factor ``smoothing`` in [0, 1) (0 = raw values). At most four panels per row, together
    at most 10 in wide (a notebook column at 90 dpi)."""
    from matplotlib.figure import Figure

    if not 0.0 <= smoothing < 1.0:
        raise FpaError(f"smoothing must be in [0, 1); got {smoothing}")
    if keys is None:
        from fpalib.train.step import LOSS_NAMES as keys
    series = {key: [(r["step"], float(r[key])) for r in records if key in r and "step" in r] for key in keys}
    series = {key: points for key, points in series.items() if points}
    if not series:
        raise FpaError(f"no records with a step and any of {', '.join(keys)} to plot")
    columns = len(series) if len(series) <= 4 else -(-len(series) // -(-len(series) // 4))
    rows = -(-len(series) // columns)
    panel = min(3.2, 10.0 / columns)       # at most about 10 in wide: it fits a notebook column at 90 dpi
    figure = Figure(figsize=(panel * columns, 2.6 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    for axis in axes[len(series):]:
        axis.set_axis_off()
    for axis, (key, points) in zip(axes, series.items(), strict=False):
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
    side = min(1.25, 4.3 / columns)       # four pairs: about 8.8 in, within a notebook column at 100 dpi
    figure = Figure(figsize=(side * 2 * columns + 0.2, (side + 0.05) * rows + (0.4 if title else 0.2)),
                    layout="constrained")
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
    Steps that do not fit a :data:`NOTEBOOK_COLUMN_PX` notebook column at 0.55 in each wrap onto
    further blocks of these rows (every block titled with its step numbers).
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
    import matplotlib

    columns = _chosen_steps(steps_count, every, max_columns)
    rows = 2 * len(picks) + int(images is not None)
    column_inches, margin_inches = 0.55, 0.9
    fitting = int((NOTEBOOK_COLUMN_PX / float(matplotlib.rcParams["figure.dpi"]) - margin_inches) // column_inches)
    blocks = -(-len(columns) // max(1, fitting))          # wrap onto blocks of rows to fit a notebook column
    per_row = -(-len(columns) // blocks)
    figure = Figure(figsize=(column_inches * per_row + margin_inches, (0.62 * rows + 0.2) * blocks + 0.2),
                    layout="constrained")
    grid = figure.subplots(rows * blocks, per_row, squeeze=False)
    for position in range(blocks * per_row, len(columns), -1):   # no step: empty places of the last block
        for row in range(rows):
            grid[(blocks - 1) * rows + row, (position - 1) % per_row].set_axis_off()
    for block in range(blocks):
        axes = grid[block * rows:(block + 1) * rows]
        block_steps = columns[block * per_row:(block + 1) * per_row]
        for pick, ((layer, head), head_steps) in enumerate(zip(picks, shown, strict=True)):
            for offset, (pictures, what) in enumerate(zip(head_steps, ("update", "W_t"), strict=True)):
                row = 2 * pick + offset
                for column, t in enumerate(block_steps):
                    axes[row, column].imshow(pictures[t, 0].numpy(), cmap=cmap, vmin=0.0, vmax=1.0,
                                             interpolation="nearest")
                axes[row, 0].set_ylabel(f"L{layer + 1} H{head + 1}\n{what}", fontsize=8)
        if images is not None:
            for column, t in enumerate(block_steps):
                _imshow(axes[-1, column], to_unit(images[t].detach().float().cpu()))
                if labels is not None:
                    axes[-1, column].set_xlabel(labels[t], fontsize=8)
            axes[-1, 0].set_ylabel("input", fontsize=8)
        for column, t in enumerate(block_steps):
            axes[0, column].set_title(str(t + 1), fontsize=8)
    for axis in grid.flat:
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
