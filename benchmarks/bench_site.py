"""The page of ``fpa site`` in headless Chromium: one sample painted with all its steps, timed, beside
the Python painter at batch 1 in the same run; optionally a screenshot of the page.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bench_site.py                  # the painters of the page
    OMP_NUM_THREADS=1 python benchmarks/bench_site.py --runs 50 --screenshot figures/site_screenshot.png
    OMP_NUM_THREADS=1 python benchmarks/bench_site.py --painters fpa-delta-emoji32   # a 32x32 painter

Rows, per painter, each the median over ``--runs`` calls after 5 warm-up calls:
    browser paint     painter.js ``FpaPainter.paint()``: the forward pass and all T steps' keys, values,
                      rates, updates and images (float64 arithmetic on the float16 weights, one
                      thread), timed in the page with performance.now()
    browser + display ``fpaShow``: the same plus the update scale L and drawing the canvases and bars,
                      what the page does for "new sample"
    python            the painter's forward with ``return_steps=True`` at batch 1 (float32, torch's
                      threads as OMP_NUM_THREADS sets them), :func:`fpalib.profiling.median_seconds`
Target: under 50 ms for a 32x32 painter in the browser. The page's painters (``fpa site``'s default,
fpalib.commands.site.PAINTERS) are the 28x28 Fashion-MNIST VAE decoders with T = 28; ``--painters``
takes any shipped painter and times it on a page written with just those (``fpa-delta-emoji32`` is a
32x32, T = 32 painter that is not on the default page). ``--screenshot`` writes a PNG of the page
(880 px wide window, the README column) after "paint this picture" on the first test image, at step ``--shot-step``;
it needs a VAE painter on the page (the default painters).
Needs Chromium, chromedriver and Selenium (see tests/site_browser.py); without them only the
Python rows are measured.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from fpalib.commands.site import PAINTERS, write_site
from fpalib.profiling import median_seconds
from fpalib.train.checkpoint import load_generator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import site_browser  # noqa: E402

WARMUP = 5
TARGET_MS = 50.0

_TIME_IN_PAGE = """
const [name, latent, runs, warmup, display] = arguments;
const painter = window.fpaPainter(name), z = Array.from(latent, Number), times = [];
const call = display ? () => window.fpaShow(name, z) : () => FpaPainter.paint(painter, z);
if (display) window.fpaShow(name, z);
for (let i = 0; i < warmup + runs; i++) {
  const start = performance.now();
  call();
  if (i >= warmup) times.push(performance.now() - start);
}
return times;
"""


def cpu_name() -> str:
    """The CPU's model name (Linux), else what the platform module says."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def python_ms(painter: torch.nn.Module, runs_time: float) -> float:
    """Median milliseconds of the Python painter's forward with all steps at batch 1."""
    z = torch.randn(1, painter.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return 1e3 * median_seconds(lambda: painter(z, return_steps=True), min_run_time=runs_time)


def browser_rows(site: Path, latent_dims: dict[str, int], runs: int, screenshot: Path | None, shot_step: int) -> dict:
    """{(name, "paint" | "display"): median ms} for the painters of ``latent_dims`` in one headless Chromium."""
    rows = {}
    with site_browser.serve(site) as url, site_browser.browser(width=880) as driver:
        site_browser.open_page(driver, url)
        for name, dim in latent_dims.items():
            latent = torch.randn(dim, generator=torch.Generator().manual_seed(0)).tolist()
            for display in (False, True):
                times = driver.execute_script(_TIME_IN_PAGE, name, latent, runs, WARMUP, display)
                rows[name, "display" if display else "paint"] = median(times)
        if screenshot is not None:
            take_screenshot(driver, url, screenshot, shot_step)
        errors = site_browser.console_errors(driver)
        if errors:
            print(f"console errors: {errors}", file=sys.stderr)
    return rows


def take_screenshot(driver, url: str, path: Path, step: int) -> None:
    """The page after "paint this picture" on test image 0, stopped at ``step``."""
    from selenium.webdriver.common.by import By

    site_browser.open_page(driver, url)
    driver.find_element(By.ID, "thumb-0").click()
    deadline = time.time() + 10
    while driver.find_element(By.ID, "play").text != "play" and time.time() < deadline:
        time.sleep(0.1)
    driver.execute_script("const s = document.getElementById('step'); s.value = arguments[0];"
                          "s.dispatchEvent(new Event('input'));", step)
    print(f"wrote {site_browser.screenshot(driver, path)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--painters", nargs="+", default=list(PAINTERS), metavar="NAME",
                        help="shipped painters to time (default: the page's, %(default)s)")
    parser.add_argument("--runs", type=int, default=40, help="timed calls per browser row (default: %(default)s)")
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds per Python measurement")
    parser.add_argument("--site", type=Path, help="an existing folder written by fpa site (default: write one)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG", help="also write a screenshot of the page here")
    parser.add_argument("--shot-step", type=int, default=12, help="step shown in the screenshot (default: 12)")
    args = parser.parse_args()
    painters = {name: load_generator(name)[0] for name in args.painters}
    python = {name: python_ms(painter, args.min_run_time) for name, painter in painters.items()}
    reason = site_browser.missing()
    browser: dict = {}
    if reason is None:
        with contextlib.ExitStack() as stack:
            site = args.site or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fpa-site-")))
            if args.site is None:
                write_site(site, args.painters)
            dims = {name: painter.latent_dim for name, painter in painters.items()}
            browser = browser_rows(site, dims, args.runs, args.screenshot, args.shot_step)
    print(f"### one sample with all its steps: headless Chromium vs PyTorch (batch 1) on {cpu_name()}, "
          f"{os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}\n")
    print("| painter | size | browser paint ms | browser + display ms | python ms (batch 1) |")
    print("|---|---|---:|---:|---:|")
    for name in args.painters:
        cfg = painters[name].config
        shape = f"{cfg.channels}x{cfg.image_size}x{cfg.image_size}, T={cfg.num_steps}"
        cells = [f"{browser[name, kind]:.1f}" if browser else "not run" for kind in ("paint", "display")]
        print(f"| {name} | {shape} | {cells[0]} | {cells[1]} | {python[name]:.1f} |")
    if reason is not None:
        print(f"\nbrowser rows not run: {reason}")
    else:
        worst = max(browser[name, "paint"] for name in args.painters)
        print(f"\nslowest browser paint {worst:.1f} ms; target under {TARGET_MS:.0f} ms: "
              f"{'met' if worst < TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
