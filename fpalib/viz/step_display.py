"""How the painting steps of one sample become pictures: two display modes, pixel-sharp frames, widgets.

A painter's steps are the rank-one updates and the fast weight matrices W_t (t = 1..T) before
the output tanh (:class:`fpalib.models.PaintingSteps`, (B, T, C, H, W)). Two display modes:

``"output"`` (the default everywhere)
    The **image** at step t is tanh(W_t), what the painter would output if it stopped after
    step t (Sec. 3.1), mapped to [0, 1] as sample grids are, so the last one equals the sample in
    a grid pixel for pixel. The **update** of step t (per channel i, for the delta rule
    beta^i_t (v^i_t - W^i_{t-1} phi(k^i_t)) (x) phi(k^i_t), Eq. 9) is shown on one symmetric scale
    for the whole sequence: 0 mid-grey, +-L white/black, L the 99th percentile of |update| over
    the sample, so small late updates stay visible and comparable with early ones.
``"paper"``
    The paper's normalisation (Sec. 4, Fig. 5 caption): each update and W_t divided by ||W_T||_F,
    through tanh, min-max scaled on its own. Each picture's colour range is then set by its own
    extremes: a tiny update looks as vivid as the whole image, and the image row is not what
    the painter outputs.

Frames are enlarged by an integer factor with nearest-neighbour (:func:`upscale`). In a
notebook, :func:`steps_slider`, :func:`steps_strip_png` (its static stand-in: a saved widget
state would make an HTML export depend on a network connection) and :func:`gif_display` show
them with CSS ``image-rendering: pixelated``, each with an ``image/png`` of what it shows for
viewers that cannot run the widget or show ``image/gif`` (GitHub, nbviewer, nbconvert).
"""

from __future__ import annotations

import base64
import functools
import io
import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from fpalib.errors import FpaError
from fpalib.rules import RuleSteps

DISPLAY_MODES = ("output", "paper")
DEFAULT_PERCENTILE = 99.0


def to_unit(images: Tensor) -> Tensor:
    """Map images from [-1, 1] to [0, 1], clamping anything outside."""
    return ((images + 1) / 2).clamp(0, 1)


def unit_to_uint8(pictures: Tensor) -> Tensor:
    """[0, 1] -> uint8 0..255, rounded as ``torchvision.utils.save_image`` does (sample grids)."""
    return (pictures * 255 + 0.5).clamp(0, 255).to(torch.uint8)


def display_steps(
    steps: Any, index: int = 0, mode: str = "output", *, out_tanh: bool = True,
    percentile: float = DEFAULT_PERCENTILE,
) -> RuleSteps:
    """The steps of sample ``index`` as a :class:`~fpalib.rules.RuleSteps` of two (T, C, H, W)
    pictures in [0, 1], in display ``mode`` (module docstring).

    steps: ``.updates`` and ``.cumulative`` (B, T, C, H, W), or (B, T, H, W) shown in grey.
    out_tanh: whether the painter applies tanh to W_T (else the image row is W_t itself).
    percentile: of |update|, in (0, 100], sets the update scale L (``"output"`` mode only).
    """
    check_mode(mode)
    if mode == "paper":
        return normalise_steps(steps, index)
    updates, cumulative = (_sample(x, index) for x in (steps.updates, steps.cumulative))
    images = to_unit(torch.tanh(cumulative) if out_tanh else cumulative)  # the output after step t
    limit = update_limit(updates, percentile)
    return RuleSteps((0.5 + 0.5 * updates / limit).clamp(0, 1), images)


def update_limit(updates: Tensor, percentile: float = DEFAULT_PERCENTILE) -> float:
    """L: the ``percentile`` of |updates| over all entries (1.0 when every update is zero)."""
    if not 0.0 < percentile <= 100.0:
        raise FpaError(f"percentile must be in (0, 100]; got {percentile}")
    magnitudes = updates.detach().abs().flatten().float()
    rank = max(1, math.ceil(percentile / 100.0 * magnitudes.numel()))
    limit = float(magnitudes.kthvalue(rank).values) if magnitudes.numel() else 0.0
    return limit if limit > 0.0 else 1.0


def normalise_steps(steps: Any, index: int = 0) -> RuleSteps:
    """The paper's display normalisation (Sec. 4, Fig. 5 caption) for sample ``index``: each update
    and W_t divided by ||W_T||_F, through tanh, then min-max scaled on its own (constant -> 0.5).
    Returns a :class:`~fpalib.rules.RuleSteps` with (T, C, H, W) tensors in [0, 1]."""
    updates, cumulative = (_sample(x, index) for x in (steps.updates, steps.cumulative))
    scale = cumulative[-1].norm().clamp_min(1e-12)
    return RuleSteps(*(_per_image_unit(torch.tanh(x / scale)) for x in (updates, cumulative)))


def check_mode(mode: str) -> None:
    """Raise :class:`FpaError` unless ``mode`` is one of :data:`DISPLAY_MODES`."""
    if mode not in DISPLAY_MODES:
        raise FpaError(f"unknown display mode {mode!r}; choose one of {', '.join(DISPLAY_MODES)}")


def step_pair_image(shown: RuleSteps, t: int, scale: int) -> Image.Image:
    """PIL image of 0-based step t: update | white gap | image, each pixel a scale x scale block."""
    update, image = shown.updates[t], shown.cumulative[t]
    gap = torch.ones(image.shape[0], image.shape[1], max(1, image.shape[2] // 16))
    pair = torch.cat([update, gap, image], dim=2)  # (C, H, 2W + gap)
    return upscale(unit_to_uint8(pair), scale)


def upscale(pixels: Tensor, scale: int) -> Image.Image:
    """uint8 (C, H, W) -> PIL image scale times larger, nearest-neighbour (grey for C == 1)."""
    array = pixels.permute(1, 2, 0).numpy()
    return enlarge(Image.fromarray(array[..., 0] if array.shape[2] == 1 else array), scale)


def enlarge(picture: Image.Image, scale: int) -> Image.Image:
    """``picture`` ``scale`` times larger with nearest-neighbour: each pixel a sharp block."""
    if scale < 1:
        raise FpaError(f"scale must be at least 1; got {scale}")
    return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)


def _sample(x: Tensor, index: int) -> Tensor:
    """(B, T, C, H, W) or (B, T, H, W) -> (T, C, H, W) float32 on the CPU for sample ``index``."""
    if x.dim() not in (4, 5):
        raise FpaError(f"painting steps must be (B, T, C, H, W) or (B, T, H, W); got {tuple(x.shape)}")
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


PIXELATED_CLASS = "fpa-pixelated"
_PIXELATED_STYLE = f"<style>.{PIXELATED_CLASS}, .{PIXELATED_CLASS} img {{image-rendering: pixelated;}}</style>"


def painting_step_png(shown: RuleSteps, step: int, scale: int = 4) -> bytes:
    """PNG bytes of update | image at 1-based ``step`` of display steps (what the slider shows)."""
    if not 1 <= step <= shown.updates.shape[0]:
        raise FpaError(f"step {step} is out of range 1..{shown.updates.shape[0]}")
    return _png_bytes(step_pair_image(shown, step - 1, scale))


def steps_strip_png(shown: RuleSteps, steps: list[int], scale: int = 4) -> bytes:
    """PNG bytes of update | image at each 1-based step of ``steps``, left to right, white gaps between."""
    if not steps:
        raise FpaError("give at least one step for the strip")
    pairs = [Image.open(io.BytesIO(painting_step_png(shown, step, scale))).convert("RGB") for step in steps]
    gap = 4 * scale
    strip = Image.new("RGB", (sum(p.width for p in pairs) + gap * (len(pairs) - 1), pairs[0].height), "white")
    for position, pair in enumerate(pairs):
        strip.paste(pair, (position * (pair.width + gap), 0))
    return _png_bytes(strip)


def steps_rows_png(shown: RuleSteps, steps: list[int], scale: int = 3) -> bytes:
    """PNG bytes of the paper's two-row step figure, pixel-sharp: the updates of the 1-based
    ``steps`` on top, the images after them below, every pixel a ``scale`` x ``scale`` block, white
    gaps of ``scale`` pixels between columns and rows (no labels: the width is an integer multiple
    of the painting's, so it is shown sharp at its natural size)."""
    if not steps or not all(1 <= step <= shown.updates.shape[0] for step in steps):
        raise FpaError(f"steps must lie in 1..{shown.updates.shape[0]}; got {steps}")
    rows = [[upscale(unit_to_uint8(pictures[step - 1]), scale) for step in steps]
            for pictures in (shown.updates, shown.cumulative)]
    width, height, gap = rows[0][0].width, rows[0][0].height, 2 * scale
    figure = Image.new("RGB", (len(steps) * (width + gap) - gap, 2 * height + gap), "white")
    for row, pictures in enumerate(rows):
        for column, picture in enumerate(pictures):
            figure.paste(picture.convert("RGB"), (column * (width + gap), row * (height + gap)))
    return _png_bytes(figure)


def steps_slider(steps: Any, scale: int | None = None, mode: str = "output", out_tanh: bool = True) -> Any:
    """An ipywidgets box: a step slider (and a sample slider when B > 1) over update | image.

    steps: (B, T, C, H, W) ``.updates`` and ``.cumulative``; mode, out_tanh: as
    :func:`display_steps`; scale: integer enlargement (default: about 192 pixels per image).
    Returns a ``VBox`` of ``[HBox(sliders), Image, Label, HTML(style)]`` whose ``image/png``
    fallback is the current picture. Setting a slider's ``.value`` from code redraws as well.
    """
    import ipywidgets as widgets

    check_mode(mode)
    batch, steps_count = steps.updates.shape[:2]
    if scale is None:  # about 192 pixels per image
        scale = max(1, round(192 / max(1, steps.updates.shape[-2])))
    step = widgets.IntSlider(value=steps_count, min=1, max=steps_count, description="step")
    sample = widgets.IntSlider(value=0, min=0, max=batch - 1, description="sample")
    cache: dict[int, RuleSteps] = {}

    def shown() -> RuleSteps:
        if sample.value not in cache:
            cache[sample.value] = display_steps(steps, sample.value, mode, out_tanh=out_tanh)
        return cache[sample.value]

    first = step_pair_image(shown(), steps_count - 1, scale)
    size = {"width": f"{first.width}px", "height": f"{first.height}px"}
    picture = widgets.Image(format="png", width=first.width, height=first.height,
                            layout=widgets.Layout(**size, object_fit="fill"))
    picture.add_class(PIXELATED_CLASS)
    caption = widgets.Label()

    def redraw(_change: Any = None) -> None:
        picture.value = painting_step_png(shown(), step.value, scale)
        caption.value = f"sample {sample.value}: step {step.value} of {steps_count} (update | image)"

    step.observe(redraw, names="value")
    sample.observe(redraw, names="value")
    redraw()
    sliders = [step, sample] if batch > 1 else [step]
    return _box_with_png()([widgets.HBox(sliders), picture, caption, widgets.HTML(_PIXELATED_STYLE)])


@functools.cache
def _box_with_png() -> type:
    """A ``VBox`` subclass whose display bundle adds its picture (children[1]) as ``image/png``."""
    import ipywidgets as widgets

    class StepsSliderBox(widgets.VBox):
        """The slider box; viewers without a widget manager show the current picture."""

        def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
            bundle = super()._repr_mimebundle_(**kwargs)
            if bundle is not None:
                bundle["image/png"] = base64.b64encode(self.children[1].value).decode("ascii")
            return bundle

    return StepsSliderBox


class GifDisplay:
    """An animated GIF for a notebook: ``text/html`` (the GIF inline, pixel-sharp) plus an
    ``image/png`` of its last frame and a ``text/plain`` line (see :func:`gif_display`)."""

    def __init__(self, data: bytes, name: str) -> None:
        with Image.open(io.BytesIO(data)) as gif:
            self.width, self.height, self.frames = gif.width, gif.height, getattr(gif, "n_frames", 1)
            gif.seek(self.frames - 1)
            self.last_frame = _png_bytes(gif.convert("RGB"))
        self.data, self.name = data, name

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        encoded = base64.b64encode(self.data).decode("ascii")
        html = (f'<img src="data:image/gif;base64,{encoded}" width="{self.width}" height="{self.height}" '
                f'style="image-rendering: pixelated" alt="{self.name}: {self.frames} frames">')
        return {"text/html": html, "image/png": base64.b64encode(self.last_frame).decode("ascii"),
                "text/plain": f"{self.name}: animated GIF, {self.frames} frames, {self.width}x{self.height}"}


def gif_display(path: str | Path) -> GifDisplay:
    """A GIF file ready for ``display(...)``; the file's bytes are embedded (no link to the file)."""
    path = Path(path)
    if not path.is_file():
        raise FpaError(f"no GIF at {path}; write one with fpalib.viz.save_painting_gif")
    return GifDisplay(path.read_bytes(), path.name)


def sharp_png(path: str | Path, scale: int = 2) -> bytes:
    """The PNG at ``path`` enlarged ``scale`` times with nearest-neighbour, as PNG bytes (for
    ``IPython.display.Image(data=...)``: a browser that enlarges a small PNG smooths it)."""
    with Image.open(path) as picture:
        return _png_bytes(enlarge(picture.convert("RGBA" if picture.mode in ("RGBA", "P", "LA") else "RGB"), scale))


def _png_bytes(picture: Image.Image) -> bytes:
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()

