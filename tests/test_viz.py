"""Tests of fpalib.viz: grids, step display, step figures, GIFs, the slider, loss curves."""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from fpalib import viz
from fpalib.errors import FpaError
from fpalib.models import PaintingSteps


def random_steps(
    batch: int = 2, steps: int = 5, channels: int = 3, height: int = 8, width: int = 10
) -> PaintingSteps:
    updates = torch.randn(
        batch, steps, channels, height, width, generator=torch.Generator().manual_seed(0)
    )
    return PaintingSteps(updates, updates.cumsum(1))


def test_to_unit_maps_and_clamps():
    images = torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0])
    torch.testing.assert_close(viz.to_unit(images), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


def test_save_grid_writes_png_of_grid_size(tmp_path):
    images = torch.rand(6, 3, 16, 16) * 2 - 1
    path = viz.save_grid(images, tmp_path / "new" / "grid.png", nrow=3)
    with Image.open(path) as grid:
        assert grid.format == "PNG"
        assert grid.size == (3 * 16 + 4 * 2, 2 * 16 + 3 * 2)  # (width, height) with 2-pixel padding


def test_normalise_steps_divides_by_final_norm_then_tanh_then_per_image_scaling():
    steps = random_steps()
    shown = viz.normalise_steps(steps, index=1)
    assert shown.updates.shape == shown.cumulative.shape == (5, 3, 8, 10)
    for images in shown:
        assert images.min() >= 0 and images.max() <= 1
        torch.testing.assert_close(images.flatten(1).amin(1), torch.zeros(5))
        torch.testing.assert_close(images.flatten(1).amax(1), torch.ones(5))
    expected = torch.tanh(steps.cumulative[1, 2] / steps.cumulative[1, -1].norm())
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    torch.testing.assert_close(shown.cumulative[2], expected)


def test_normalise_steps_accepts_single_channel_rule_steps_and_checks_index():
    steps = random_steps(channels=1)
    rule_like = PaintingSteps(steps.updates[:, :, 0], steps.cumulative[:, :, 0])  # (B, T, H, W)
    torch.testing.assert_close(
        viz.normalise_steps(rule_like, 0).cumulative, viz.normalise_steps(steps, 0).cumulative
    )
    with pytest.raises(FpaError, match="out of range"):
        viz.normalise_steps(steps, index=2)


@pytest.mark.parametrize("channels", [1, 3])
def test_painting_steps_figure_layout(channels):
    steps = random_steps(steps=40, channels=channels)
    figure = viz.painting_steps_figure(steps, index=0, every=2, max_columns=8, title="demo")
    assert len(figure.axes) == 2 * 8
    labels = [axis.get_xlabel() for axis in figure.axes[8:]]
    assert labels[0] == "2" and labels[-1] == "40"
    image = figure.axes[0].get_images()[0]
    assert (image.get_cmap().name == "gray") == (channels == 1)
    assert figure._suptitle.get_text() == "demo"


def test_painting_steps_figure_labels_its_mode_and_draws_nearest():
    steps = random_steps(steps=4)
    output = viz.painting_steps_figure(steps)
    assert output.axes[0].get_ylabel().startswith("update\n\u00b1") and output.axes[4].get_ylabel() == "image"
    assert output.axes[4].get_images()[0].get_interpolation() == "nearest"
    paper = viz.painting_steps_figure(steps, mode="paper")
    assert paper.axes[0].get_ylabel() == "update\n(paper)"
    np.testing.assert_allclose(paper.axes[4].get_images()[0].get_array(),
                               viz.normalise_steps(steps, 0).cumulative[0].permute(1, 2, 0).numpy())
    with pytest.raises(FpaError, match="unknown display mode"):
        viz.painting_steps_figure(steps, mode="vivid")


def test_painting_steps_figure_every_step_when_few():
    figure = viz.painting_steps_figure(random_steps(steps=5), every=1)
    assert [axis.get_xlabel() for axis in figure.axes[5:]] == ["1", "2", "3", "4", "5"]


def _inline_png(figure, dpi: float = 90) -> Image.Image:
    """The figure as the notebooks show it inline: at the tutorial's figure dpi, tight bounding box."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return Image.open(buffer)


@pytest.mark.parametrize(("steps_count", "side", "every"), [(28, 32, 1), (28, 28, 2), (40, 64, 1), (3, 8, 1)])
def test_painting_steps_figure_fits_a_notebook_column_pixel_sharp(steps_count, side, every):
    import matplotlib

    with matplotlib.rc_context({"figure.dpi": 90}):
        steps = random_steps(batch=1, steps=steps_count, height=side, width=side)
        figure = viz.painting_steps_figure(steps, every=every, title="a title as long as a notebook's title")
        shown = [axis for axis in figure.axes if axis.get_images()]
        assert len(shown) == 2 * min(16, -(-steps_count // every))       # every chosen step, none dropped
        width, height = (figure.get_size_inches() * figure.dpi).round()
        for axis in shown:                          # each panel an integer number of pixels per painted pixel
            box = axis.get_position()
            panel = (box.width * width, box.height * height)
            assert panel[0] == pytest.approx(round(panel[0])) and round(panel[0]) % side == 0
            assert panel[1] == pytest.approx(round(panel[1])) and round(panel[1]) % side == 0
        assert _inline_png(figure).width <= viz.NOTEBOOK_COLUMN_PX
    says_subset = any(f"of the {steps_count} steps shown" in text.get_text() for text in figure.texts)
    assert says_subset == (len(shown) // 2 < steps_count)


def test_loss_curves_and_before_after_fit_a_notebook_column():
    records = [{"step": s, **{key: float(s) for key in ("d_loss", "g_loss", "r1", "loss", "kl")}} for s in range(5)]
    for keys in (("d_loss", "g_loss", "r1", "loss"), ("d_loss", "g_loss", "r1", "loss", "kl")):
        figure = viz.loss_curve_figure(records, keys)
        assert [axis.get_title() for axis in figure.axes if axis.get_title()] == list(keys)
        assert _inline_png(figure).width <= viz.NOTEBOOK_COLUMN_PX
    images = torch.rand(12, 3, 32, 32) * 2 - 1
    figure = viz.before_after_figure(images, images, title="a painter and its U-Net refinement, seed 0")
    assert _inline_png(figure, dpi=100).width <= viz.NOTEBOOK_COLUMN_PX      # write_before_after's dpi


def test_gif_has_one_frame_per_step(tmp_path):
    steps = random_steps(steps=6, height=8, width=10)
    path = viz.save_painting_gif(
        steps, tmp_path / "gifs" / "paint.gif", index=1, duration_ms=50, scale=3
    )
    with Image.open(path) as gif:
        assert gif.n_frames == 6
        assert gif.size == (3 * (10 + 1 + 10), 3 * 8)
        gif.seek(5)
        assert gif.info["duration"] == 500


def test_steps_slider_redraws_on_change():
    import ipywidgets

    box = viz.steps_slider(random_steps(batch=2, steps=4), scale=2)
    assert isinstance(box, ipywidgets.VBox)
    step_slider, sample_slider = box.children[0].children
    picture = box.children[1]
    assert step_slider.max == 4 and sample_slider.max == 1
    last = picture.value
    step_slider.value = 1
    first = picture.value
    assert first != last
    sample_slider.value = 1
    assert picture.value != first
    assert len(viz.steps_slider(random_steps(batch=1)).children[0].children) == 1


def test_steps_slider_shows_the_chosen_step_of_the_chosen_sample():
    steps = random_steps(batch=3, steps=6)
    box = viz.steps_slider(steps, scale=2)
    step_slider, sample_slider = box.children[0].children
    picture, caption = box.children[1], box.children[2]
    assert caption.value == "sample 0: step 6 of 6 (update | image)"
    assert picture.value == viz.painting_step_png(viz.display_steps(steps, 0), 6, scale=2)
    sample_slider.value = 2
    step_slider.value = 3
    assert caption.value == "sample 2: step 3 of 6 (update | image)"
    assert picture.value == viz.painting_step_png(viz.display_steps(steps, 2), 3, scale=2)
    assert picture.value != viz.painting_step_png(viz.display_steps(steps, 1), 3, scale=2)
    paper = viz.steps_slider(steps, scale=2, mode="paper")
    assert paper.children[1].value == viz.painting_step_png(viz.normalise_steps(steps, 0), 6, scale=2)
    with pytest.raises(FpaError, match="out of range"):
        viz.painting_step_png(viz.display_steps(steps, 0), 7)


def test_steps_slider_is_pixel_sharp_and_carries_a_png_fallback():
    steps = random_steps(batch=2, steps=3, height=8, width=16)
    box = viz.steps_slider(steps)  # default scale: about 192 pixels per image height
    picture = box.children[1]
    with Image.open(io.BytesIO(bytes(picture.value))) as png:
        assert png.size == (24 * (16 + 1 + 16), 24 * 8)
        assert (picture.layout.width, picture.layout.height) == (f"{png.width}px", f"{png.height}px")
        block = np.asarray(png.convert("RGB"))[:24, :24]
        assert (block == block[0, 0]).all()  # one painted pixel = one sharp 24 x 24 block
    assert "fpa-pixelated" in picture._dom_classes
    assert "image-rendering: pixelated" in box.children[3].value
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == bytes(picture.value)
    box.children[0].children[0].value = 1
    assert base64.b64decode(box._repr_mimebundle_()["image/png"]) == bytes(picture.value)


def test_steps_strip_puts_the_slider_pictures_side_by_side():
    shown = viz.display_steps(random_steps(steps=5), 0)
    with Image.open(io.BytesIO(viz.steps_strip_png(shown, [2, 5], scale=2))) as strip:
        pair_width = 2 * (10 + 1 + 10)
        assert strip.size == (2 * pair_width + 8, 2 * 8)
        pixels = np.asarray(strip.convert("RGB"))
    with Image.open(io.BytesIO(viz.painting_step_png(shown, 5, scale=2))) as last:
        np.testing.assert_array_equal(pixels[:, -pair_width:], np.asarray(last.convert("RGB")))
    assert (pixels[:, pair_width : pair_width + 8] == 255).all()
    with pytest.raises(FpaError, match="at least one step"):
        viz.steps_strip_png(shown, [])


def test_gif_display_embeds_the_gif_with_a_png_of_its_last_frame(tmp_path):
    path = viz.save_painting_gif(random_steps(steps=4), tmp_path / "steps.gif", scale=2)
    bundle = viz.gif_display(path)._repr_mimebundle_()
    assert base64.b64encode(path.read_bytes()).decode() in bundle["text/html"]
    assert "image-rendering: pixelated" in bundle["text/html"]
    with Image.open(io.BytesIO(base64.b64decode(bundle["image/png"]))) as last, Image.open(path) as gif:
        gif.seek(3)
        assert last.size == gif.size and np.array_equal(np.asarray(last), np.asarray(gif.convert("RGB")))
    assert bundle["text/plain"] == "steps.gif: animated GIF, 4 frames, 42x16"
    with pytest.raises(FpaError, match="no GIF at"):
        viz.gif_display(tmp_path / "missing.gif")


def test_sharp_png_enlarges_with_nearest_neighbour(tmp_path):
    path = viz.save_grid(torch.rand(4, 3, 16, 16) * 2 - 1, tmp_path / "grid.png", nrow=2)
    with Image.open(path) as original, Image.open(io.BytesIO(viz.sharp_png(path, 3))) as sharp:
        assert sharp.size == (3 * original.width, 3 * original.height)
        np.testing.assert_array_equal(np.asarray(sharp)[::3, ::3], np.asarray(original.convert("RGB")))
    with pytest.raises(FpaError, match="scale"):
        viz.sharp_png(path, 0)


def test_loss_curve_figure_plots_present_keys():
    records = [{"step": s, "d_loss": 1.0 / (s + 1), "g_loss": float(s)} for s in range(10)]
    records += [{"step": s, "gp": 0.1} for s in range(0, 10, 4)] + [{"note": "no step"}]
    figure = viz.loss_curve_figure(records, smoothing=0.5)
    assert [axis.get_title() for axis in figure.axes] == ["d_loss", "g_loss", "gp"]
    gp_line = figure.axes[2].get_lines()[0]
    assert list(gp_line.get_xdata()) == [0, 4, 8]
    g_line = figure.axes[1].get_lines()[0]
    assert list(g_line.get_ydata())[:3] == [0.0, 0.5, 1.25]  # EMA with factor 0.5
    with pytest.raises(FpaError, match="no records"):
        viz.loss_curve_figure([{"step": 1, "lr": 0.1}])


def test_viz_import_does_not_load_widgets_or_pyplot():
    code = (
        "import sys, fpalib.viz; "
        "print(any(m in sys.modules for m in ('ipywidgets', 'IPython', 'matplotlib.pyplot')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_side_by_side_figure_has_one_captioned_panel_per_set():
    figure = viz.side_by_side_figure({"real": torch.zeros(4, 3, 8, 8), "grey": torch.ones(3, 1, 8, 8)}, nrow=2)
    assert [axis.get_title() for axis in figure.axes] == ["real", "grey"]
    with pytest.raises(FpaError, match="at least one"):
        viz.side_by_side_figure({})
    with pytest.raises(FpaError, match=r"\(N, C, H, W\)"):
        viz.side_by_side_figure({"flat": torch.zeros(3, 8, 8)})
