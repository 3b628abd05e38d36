"""The display modes of painting steps: the default shows the painter's real output.

The image after the last step must equal the sample as a sample grid shows it, pixel for pixel,
in every picture that shows steps (the step figure, the slider, the GIF up to its palette).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from fpalib import viz
from fpalib.errors import FpaError
from fpalib.models import FastWeightPainter, PainterConfig, PaintingSteps
from fpalib.rules import RULES
from fpalib.viz.step_display import display_steps, unit_to_uint8, update_limit

PAINTERS = [  # (image_size, image_width, channels, steps, rule)
    *[(16, None, 3, 6, rule) for rule in RULES],
    (24, 16, 3, 9, "delta"),
    (32, None, 1, 12, "delta"),
    (20, 28, 3, 5, next(iter(RULES))),
]


def painted(image_size, image_width, channels, steps, rule, batch=3):
    """A small random painter with vivid outputs (scaled value rows) and its images and steps."""
    config = PainterConfig(image_size=image_size, image_width=image_width, channels=channels, num_steps=steps,
                           latent_dim=16, input_dim=4, input_proj_dim=16, hidden=32, rule=rule,
                           key_init_scale=4.0, value_init_scale=300.0)
    painter = FastWeightPainter(config).eval()
    z = torch.randn(batch, config.latent_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        images, steps = painter(z, return_steps=True)
    return images, steps


def grid_sample(path, index, height, width, nrow, padding=2):
    """Pixels (H, W, C) of sample ``index`` in a grid PNG written by viz.save_grid."""
    with Image.open(path) as grid:
        pixels = np.asarray(grid.convert("RGB"))
    row, column = divmod(index, nrow)
    top, left = padding + row * (height + padding), padding + column * (width + padding)
    return pixels[top : top + height, left : left + width]


def as_rgb(picture: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W, 3) uint8, grey repeated, as a grid PNG stores it."""
    return unit_to_uint8(picture.expand(3, -1, -1)).permute(1, 2, 0).numpy()


@pytest.mark.parametrize(("image_size", "image_width", "channels", "steps_count", "rule"), PAINTERS)
def test_last_image_column_equals_the_sample_grid(tmp_path, image_size, image_width, channels, steps_count, rule):
    images, steps = painted(image_size, image_width, channels, steps_count, rule)
    height, width = images.shape[-2:]
    grid = viz.save_grid(images, tmp_path / "grid.png", nrow=2)
    assert float(images.abs().amax()) > 0.9, "the painter should paint vivid images for this test"
    for index in range(images.shape[0]):
        expected = grid_sample(grid, index, height, width, nrow=2)
        shown = display_steps(steps, index)
        np.testing.assert_array_equal(as_rgb(shown.cumulative[-1]), expected)

        figure = viz.painting_steps_figure(steps, index=index, max_columns=4)
        last_image_axis = figure.axes[2 * 4 - 1]
        drawn = np.asarray(last_image_axis.get_images()[0].get_array())
        drawn = np.repeat(drawn[..., None], 3, axis=2) if drawn.ndim == 2 else drawn
        assert np.abs(drawn * 255 - expected.astype(float)).max() <= 1.0  # to 1/255

        box = viz.steps_slider(steps, scale=3)
        box.children[0].children[-1].value = index if images.shape[0] > 1 else 0
        with Image.open(io.BytesIO(bytes(box.children[1].value))) as png:
            pair = np.asarray(png.convert("RGB"))
        image_half = pair[::3, -3 * width :: 3]
        np.testing.assert_array_equal(image_half, expected)


def test_gif_last_frame_shows_the_sample_up_to_its_palette(tmp_path):
    images, steps = painted(16, None, 3, 6, "delta", batch=2)
    expected = grid_sample(viz.save_grid(images, tmp_path / "grid.png", nrow=2), 0, 16, 16, nrow=2)
    gif = viz.save_painting_gif(steps, tmp_path / "steps.gif", scale=2)
    with Image.open(gif) as frames:
        frames.seek(frames.n_frames - 1)
        last = np.asarray(frames.convert("RGB"))[::2, -32::2].astype(int)
    assert np.abs(last - expected).mean() < 3.0


def test_a_zero_update_is_mid_grey_in_figure_slider_and_gif(tmp_path):
    updates = torch.randn(1, 4, 3, 16, 16)
    updates[:, 2] = 0.0
    steps = PaintingSteps(updates, updates.cumsum(1))
    shown = display_steps(steps, 0)
    assert torch.equal(shown.updates[2], torch.full((3, 16, 16), 0.5))
    assert torch.equal(unit_to_uint8(shown.updates[2]), torch.full((3, 16, 16), 128, dtype=torch.uint8))
    box = viz.steps_slider(steps, scale=1)
    box.children[0].children[0].value = 3
    with Image.open(io.BytesIO(bytes(box.children[1].value))) as png:
        assert (np.asarray(png.convert("RGB"))[:, :16] == 128).all()
    all_zero = PaintingSteps(torch.zeros(1, 3, 1, 16, 16), torch.zeros(1, 3, 1, 16, 16))
    assert torch.equal(display_steps(all_zero, 0).updates, torch.full((3, 1, 16, 16), 0.5))


def test_update_scale_is_symmetric_and_shared_by_all_steps():
    updates = torch.zeros(1, 3, 1, 16, 16)
    updates[0, 0] = 1.0                 # a large early update
    updates[0, 2, 0, 0, 0] = -0.01       # a tiny late one stays tiny (no per-picture stretching)
    shown = display_steps(PaintingSteps(updates, updates.cumsum(1)), 0, percentile=100)
    assert torch.allclose(shown.updates[0], torch.ones(1, 16, 16))
    assert shown.updates[2, 0, 0, 0] == pytest.approx(0.5 - 0.005)
    assert update_limit(updates, 100) == 1.0
    with pytest.raises(FpaError, match="percentile"):
        update_limit(updates, 0)


def test_output_mode_is_not_fooled_by_saturated_corners():
    """The issue's case: a few huge corner values; paper mode turns the rest dark, output mode does not."""
    image = torch.full((1, 1, 3, 16, 16), 0.8)  # a bright image, tanh(0.8) = 0.66 ...
    image[..., :2, :2] = 50.0                  # ... with saturated corner pixels
    steps = PaintingSteps(image, image)
    output = display_steps(steps, 0).cumulative[0]
    paper = display_steps(steps, 0, "paper").cumulative[0]
    assert output[:, 8, 8].tolist() == pytest.approx([(np.tanh(0.8) + 1) / 2] * 3, abs=1e-6)
    assert paper[:, 8, 8].max() < 0.3


def test_out_tanh_off_shows_w_t_itself_and_unknown_modes_are_refused():
    cumulative = torch.linspace(-0.9, 0.9, 16 * 16).view(1, 1, 1, 16, 16)
    shown = display_steps(PaintingSteps(cumulative, cumulative), 0, out_tanh=False)
    torch.testing.assert_close(shown.cumulative[0, 0], (cumulative[0, 0, 0] + 1) / 2)
    with pytest.raises(FpaError, match="unknown display mode 'pretty'; choose one of output, paper"):
        display_steps(PaintingSteps(cumulative, cumulative), 0, "pretty")
    with pytest.raises(FpaError, match="unknown display mode"):
        viz.steps_slider(PaintingSteps(cumulative, cumulative), mode="pretty")


def test_the_two_row_png_is_pixel_sharp_and_shows_the_displayed_steps():
    from fpalib.rules import RuleSteps
    from fpalib.viz import steps_rows_png

    shown = RuleSteps(torch.rand(5, 1, 6, 7), torch.rand(5, 1, 6, 7))
    picture = np.asarray(Image.open(io.BytesIO(steps_rows_png(shown, [2, 5], scale=3))).convert("L"))
    assert picture.shape == (2 * 18 + 6, 2 * 21 + 6)
    assert (picture[:18:3, :21:3] == unit_to_uint8(shown.updates[1, 0]).numpy()).all()
    assert (picture[24::3, 27::3] == unit_to_uint8(shown.cumulative[4, 0]).numpy()).all()
    with pytest.raises(FpaError, match="steps must lie"):
        steps_rows_png(shown, [0])
