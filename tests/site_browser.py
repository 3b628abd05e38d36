"""Headless Chromium for the page ``fpa site`` writes: a local server, a browser, the page's hooks.

Shared by tests/test_site.py and benchmarks/bench_site.py. Needs Debian's ``chromium`` and
``chromium-driver`` (``apt-get install -y chromium chromium-driver``) and Selenium (the ``dev``
extra). :func:`missing` says in one line what is absent; the callers skip or stop on it.

The browser runs offline: every host name but 127.0.0.1 resolves to nothing
(``--host-resolver-rules``), so a request the page makes beyond its own folder fails and shows as
a console error.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
ARRAYS = ("images", "updates", "cumulative", "updateDisplay", "keys", "values", "beta", "rate")
"""The float32 arrays of the page's ``fpaPaint`` result that :func:`paint` returns."""

_PAINT = """
const result = window.fpaPaint(arguments[0], arguments[1]);
const encode = (array) => {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 32768) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 32768));
  return btoa(text);
};
const out = {shape: result.shape, limit: result.limit};
for (const name of arguments[2]) out[name] = encode(result[name]);
return out;
"""


def found() -> tuple[str | None, str | None]:
    """(browser, driver) executables on the PATH, each None when absent."""
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    return browser, next((path for name in DRIVERS if (path := shutil.which(name))), None)


def missing() -> str | None:
    """Why no headless Chromium can be had here (one line), or None when it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    browser, driver = found()
    if browser is None or driver is None:
        return "no chromium and chromedriver on the PATH (apt-get install -y chromium chromium-driver)"
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def serve(folder: str | Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port) from a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def browser(width: int = 900, height: int = 1200) -> Iterator[Any]:
    """A headless Chromium (Selenium WebDriver) with a fresh profile and the console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    executable, driver_path = found()
    with tempfile.TemporaryDirectory(prefix="fpa-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = executable
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        try:
            driver.set_script_timeout(60)
            yield driver
        finally:
            driver.quit()


def open_page(driver: Any, url: str) -> None:
    """Load the page at ``url`` and wait until its painters are loaded (``window.fpaReady``)."""
    driver.get(url)
    error = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.fpaReady.then(() => done(null), (error) => done(String(error)));")
    if error is not None:
        raise RuntimeError(f"the page did not load: {error}")


def paint(driver: Any, name: str, latent: np.ndarray) -> dict[str, Any]:
    """The page's painting of ``latent`` (d_latent,) with painter ``name``: shape [T, C, H, W], limit,
    and the arrays of :data:`ARRAYS` as float32 NumPy arrays ((T, C, H, W), (T, C, W), (T, C, H), (T, C))."""
    result = driver.execute_script(_PAINT, name, [float(v) for v in latent], list(ARRAYS))
    steps, channels, height, width = result["shape"]
    shapes = {"keys": (steps, channels, width), "values": (steps, channels, height), "beta": (steps, channels),
              "rate": (steps, channels)}
    for key in ARRAYS:
        array = np.frombuffer(base64.b64decode(result[key]), dtype="<f4")
        result[key] = array.reshape(shapes.get(key, (steps, channels, height, width)))
    return result


def canvas_pixels(driver: Any, canvas_id: str) -> np.ndarray:
    """The RGBA bytes (H, W, 4) of canvas ``canvas_id`` at its own resolution."""
    data = driver.execute_script(
        "const c = document.getElementById(arguments[0]);"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height);"
        "return [c.height, c.width, btoa(String.fromCharCode.apply(null, d.data))];", canvas_id)
    height, width, encoded = data
    return np.frombuffer(base64.b64decode(encoded), dtype=np.uint8).reshape(height, width, 4)


def console_errors(driver: Any) -> list[str]:
    """The console's messages of level SEVERE since the last call (errors, failed requests)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def foreign_requests(driver: Any, base_url: str) -> list[str]:
    """URLs the page requested outside ``base_url`` (should be none: the site is self-contained)."""
    urls = driver.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    return [url for url in urls if not url.startswith(base_url)]


def screenshot(driver: Any, path: str | Path) -> Path:
    """A PNG of the whole page (beyond the window's height) at ``path``."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
