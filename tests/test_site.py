"""``fpa site`` (issue 31): the static page is written safely, holds only its own files, and paints in
headless Chromium what the Python painters paint, within 1/255 at every step.

The browser tests skip (with the reason) where no Chromium, chromedriver or Selenium can be had;
the tests of the written folder run everywhere.
"""

from __future__ import annotations

import contextlib
import json
import re

import numpy as np
import pytest
import site_browser
import torch

from fpalib.cli import main
from fpalib.commands.site import MANIFEST, PAINTERS
from fpalib.data.arrays import ArrayImages
from fpalib.data.fashion_mnist import subset_folder
from fpalib.train.checkpoint import load_checkpoint, load_generator, vae_from_checkpoint
from fpalib.viz.step_display import display_steps, unit_to_uint8

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore:the learning rule 'hebbian' is now called:DeprecationWarning")]
VAE_PAINTER = "fpa-delta-vae-fashion28"
PAGE_BUDGET = 200_000
"""Bytes of the page itself (HTML, JavaScript, manifest, test images): everything but the weights."""
ONE_LEVEL = 1 / 255 + 1e-6


def folder_snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    assert main(["site", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def painters():
    return {name: load_generator(name)[0] for name in PAINTERS}


@pytest.fixture(scope="module")
def page(site):
    """(driver, base URL) of the written site, loaded in headless Chromium; skips without one."""
    reason = site_browser.missing()
    if reason:
        pytest.skip(reason)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(site_browser.serve(site))
        driver = stack.enter_context(site_browser.browser())
        site_browser.open_page(driver, url)
        yield driver, url


def latents(painter, count=2, seed=0):
    return torch.randn(count, painter.latent_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def python_painting(painter, z):
    """PaintingSteps of one latent z (d,), and keys (T, C, W), values (T, C, H), sigmoid rates (T, C) or None."""
    _, steps = painter(z[None], return_steps=True)
    hidden = painter.sequence_processor(painter.input_generator(z[None]), z[None])
    keys, values, rates = painter.update_net.project(hidden)  # (C, T, .) for a batch of one
    return steps, keys.transpose(0, 1), values.transpose(0, 1), None if rates is None else rates.T


def per_step_max(a, b):
    return np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).reshape(len(a), -1).max(1)


# ------------------------------------------------------------------------------------------ the folder
def test_the_site_is_the_page_the_float16_weights_and_a_manifest(site, painters):
    manifest = json.loads((site / MANIFEST).read_text())
    assert manifest["kind"] == "fpa-site" and set(manifest["painters"]) == set(PAINTERS)
    assert sorted(manifest["files"]) == sorted(folder_snapshot(site))
    weights = sum((site / entry["file"]).stat().st_size for entry in manifest["painters"].values())
    parameters = sum(p.numel() for p in painters.values() for p in p.parameters())
    encoder = vae_from_checkpoint(load_checkpoint(VAE_PAINTER)).encoder
    assert weights == 2 * (parameters + sum(p.numel() for p in encoder.parameters()))  # float16, nothing else
    total = sum(len(data) for data in folder_snapshot(site).values())
    assert total - weights < PAGE_BUDGET, f"the page without its weights is {total - weights} bytes"
    for spec in manifest["painters"][VAE_PAINTER]["tensors"].values():
        assert spec["dtype"] == "float16"


def test_the_page_names_nothing_outside_its_folder(site):
    for name in ("index.html", "painter.js", "page.js"):
        text = (site / name).read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|import\s*\(|@import""", text), name
        assert not re.search(r"fetch\(\s*[\"'`](https?:)?//", text), name


def test_a_file_or_a_foreign_folder_is_refused_with_one_line_and_left_alone(tmp_path, capsys):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("<p>my own page</p>")
    other = tmp_path / "other"
    other.mkdir()
    (other / MANIFEST).write_text(json.dumps({"kind": "something-else", "files": ["index.html"]}))
    (other / "index.html").write_text("<p>keep me</p>")
    before = folder_snapshot(tmp_path)
    for out in (afile, mine, other):
        assert main(["site", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and str(out) in err
    assert folder_snapshot(tmp_path) == before


def test_a_site_it_wrote_is_rewritten_and_other_files_there_are_kept(tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["site", "--out", str(out), "--painters", VAE_PAINTER, "fpa-delta-emoji32"]) == 0
    (out / "CNAME").write_text("painters.example.org\n")  # e.g. the user's GitHub Pages domain
    assert main(["site", "--out", str(out), "--painters", VAE_PAINTER]) == 0
    files = folder_snapshot(out)
    assert "weights/fpa-delta-emoji32.bin" not in files  # its own file from before, no longer on the page
    assert files["CNAME"] == b"painters.example.org\n"
    assert sum(len(data) for data in files.values()) < 2_000_000  # the Fashion-MNIST painter alone: under 2 MB
    assert "wrote 7 files" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ in the browser
def test_the_page_paints_what_the_python_painter_paints_at_every_step(page, painters):
    driver, _ = page
    for name, painter in painters.items():
        for z in latents(painter):
            shown = site_browser.paint(driver, name, z.numpy())
            steps, keys, values, rates = python_painting(painter, z)
            shown_steps = display_steps(steps, 0)  # (T, C, H, W) pictures in [0, 1], as fpalib shows them
            images, updates = shown_steps.cumulative.numpy(), shown_steps.updates.numpy()
            assert shown["images"].shape == images.shape
            for key, expected in (("images", images), ("updateDisplay", updates)):
                error = per_step_max(shown[key], expected)
                worst = f"step {error.argmax() + 1} is {error.max() * 255:.2f}/255 off"
                assert error.max() <= ONE_LEVEL, f"{name} {key}: {worst}"
            np.testing.assert_allclose(shown["updates"], steps.updates[0], atol=1e-4)
            np.testing.assert_allclose(shown["keys"], keys, atol=1e-5)
            np.testing.assert_allclose(shown["values"], values, atol=1e-4)
            np.testing.assert_allclose(shown["rate"], rates, atol=1e-5)
            assert (shown["beta"][0] == 1).all() and np.allclose(shown["beta"][1:], rates[1:], atol=1e-5)


def test_the_canvas_shows_the_models_pixels(page, painters):
    driver, _ = page
    for name, painter in painters.items():
        z = latents(painter, 1, seed=1)[0]
        steps = python_painting(painter, z)[0]
        reference = display_steps(steps, 0)
        total = steps.updates.shape[1]
        for step in (1, total // 2, total):
            driver.execute_script("window.fpaShow(arguments[0], arguments[1], arguments[2])", name, z.tolist(), step)
            for canvas, pictures in (("image", reference.cumulative), ("update", reference.updates)):
                expected = unit_to_uint8(pictures[step - 1]).permute(1, 2, 0).expand(-1, -1, 3).numpy()
                pixels = site_browser.canvas_pixels(driver, canvas)
                difference = np.abs(pixels[..., :3].astype(int) - expected.astype(int)).max()
                assert difference <= 1 and (pixels[..., 3] == 255).all(), (name, step, canvas)


def test_the_encoder_runs_in_the_page_and_its_mean_is_painted_as_in_python(page, painters, site):
    driver, _ = page
    vae = vae_from_checkpoint(load_checkpoint(VAE_PAINTER))
    indices = json.loads((site / MANIFEST).read_text())["test_images"]["indices"]
    images = ArrayImages(subset_folder() / "test", channels=1)
    for position in (0, 7):
        with torch.no_grad():
            mu = vae.encoder(images[indices[position]][None])[0][0]
        page_mu = np.array(driver.execute_script("return window.fpaEncode(arguments[0])", position))
        np.testing.assert_allclose(page_mu, mu.numpy(), atol=1e-4)
        shown = site_browser.paint(driver, VAE_PAINTER, page_mu)
        reference = display_steps(python_painting(painters[VAE_PAINTER], mu)[0], 0).cumulative.numpy()
        assert per_step_max(shown["images"], reference).max() <= ONE_LEVEL


def test_the_controls_repaint_and_the_console_stays_clean(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver, url = page
    pixels = lambda canvas: site_browser.canvas_pixels(driver, canvas)  # noqa: E731
    Select(driver.find_element(By.ID, "painter")).select_by_value("fpa-delta-emoji32")
    before = pixels("image")
    driver.find_element(By.ID, "new-sample").click()
    after = pixels("image")
    assert after.shape == (32, 32, 4) and not np.array_equal(before, after)
    driver.find_element(By.ID, "step").send_keys(Keys.HOME)  # step 1 of the new sample
    assert driver.find_element(By.ID, "step").get_attribute("value") == "1"
    assert not np.array_equal(pixels("image"), after)
    middle = pixels("walk-mix")
    driver.find_element(By.ID, "mix").send_keys(Keys.END)  # all the way to latent B
    assert not np.array_equal(pixels("walk-mix"), middle) and np.array_equal(pixels("walk-mix"), pixels("walk-b"))
    last = pixels("pair-fpa-hebbian-emoji32-image")
    driver.find_element(By.ID, "pair-step").send_keys(Keys.HOME)
    assert not np.array_equal(pixels("pair-fpa-hebbian-emoji32-image"), last)
    driver.find_element(By.ID, "thumb-3").click()  # paint this picture
    assert driver.find_element(By.ID, "original-figure").is_displayed()
    assert pixels("image").shape == (28, 28, 4) and "posterior mean" in driver.find_element(By.ID, "source").text
    assert site_browser.console_errors(driver) == []
    assert site_browser.foreign_requests(driver, url) == []
