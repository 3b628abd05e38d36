"""Painting steps in a notebook: a slider widget and a GIF, both with a static PNG inside.

- :func:`steps_slider`: an ipywidgets box with a step slider (and a sample slider) over the
  picture update | image of the chosen step, drawn by :func:`painting_step_png`.
- :func:`steps_strip_png`: the slider's pictures at a few steps side by side, as one PNG, the
  static stand-in for the slider (a notebook saved with its widget state makes an HTML export
  show the widget itself, which needs a network connection to draw).
- :func:`gif_display`: an animated GIF for ``IPython.display.display``.
- :func:`sharp_png`: a PNG file enlarged with nearest-neighbour (e.g. a sample grid).

Pictures are enlarged by an integer factor with nearest-neighbour and shown at their own pixel
size with CSS ``image-rendering: pixelated``, so painted pixels stay sharp squares. Each
display object also carries an ``image/png`` of what it shows: GitHub, nbviewer and
``jupyter nbconvert --to html`` (online or offline) show that picture where they cannot run
the widget or do not know ``image/gif``, while JupyterLab shows the live widget and the GIF.
ipywidgets is imported only when a slider is made.
"""

from __future__ import annotations

import base64
import functools
import io
from pathlib import Path
from typing import Any

from PIL import Image

from fpalib.errors import FpaError
from fpalib.rules import RuleSteps
from fpalib.viz.step_display import auto_scale, check_mode, display_steps, step_pair_image

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


def steps_slider(steps: Any, scale: int | None = None, mode: str = "output", out_tanh: bool = True) -> Any:
    """An ipywidgets box: a step slider (and a sample slider when B > 1) over update | image.

    steps: (B, T, C, H, W) ``.updates`` and ``.cumulative``. mode, out_tanh: the display mode of
    :func:`fpalib.viz.step_display.display_steps` (default ``"output"``: at step T the image is the
    sample exactly as in a sample grid). scale: integer enlargement (default: about 192 pixels
    per image). Moving a slider redraws the chosen step as a PNG in an ``ipywidgets.Image`` and
    updates a caption ("sample s: step t of T"). Returns a ``VBox`` whose children are
    ``[HBox(sliders), Image, Label, HTML(style)]``; its ``image/png`` fallback is the current
    picture. Setting a slider's ``.value`` from code redraws as well, so the widget can be driven
    (and tested) without a browser.
    """
    import ipywidgets as widgets

    check_mode(mode)
    batch, steps_count = steps.updates.shape[:2]
    scale = auto_scale(steps.updates.shape[-2]) if scale is None else scale
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
    """The PNG at ``path`` enlarged ``scale`` times with nearest-neighbour, as PNG bytes.

    For ``IPython.display.Image(data=...)``: a browser that enlarges a small PNG smooths it.
    """
    if scale < 1:
        raise FpaError(f"scale must be at least 1; got {scale}")
    with Image.open(path) as picture:
        picture = picture.convert("RGBA" if picture.mode in ("RGBA", "P", "LA") else "RGB")
        return _png_bytes(picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST))


def _png_bytes(picture: Image.Image) -> bytes:
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


__all__ = ["GifDisplay", "gif_display", "painting_step_png", "sharp_png", "steps_slider", "steps_strip_png"]
