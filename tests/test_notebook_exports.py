"""What a reader sees of the notebooks outside a running kernel (issue 28).

* One header in every notebook: the title, the navigation line right under it, and a
  ``**Fresh run:**`` line with the time of a fresh run.
* ``jupyter nbconvert --to html`` of a notebook, written to another folder, shows a picture
  (an ``<img>``) wherever the notebook shows a widget, a GIF or an SVG, and no relative path that
  leaves the export folder (a broken picture once the HTML is opened elsewhere).
* Committed figures are drawn at the size they are shown: a PNG that a notebook or the README
  shows is shown at its natural width or an integer multiple of it, and the figure code that draws
  matplotlib figures into the notebooks uses a dpi that keeps 10-point labels at least 10 px tall.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
HEADER_PENDING: set[str] = set()
"""Notebooks whose header is being rewritten elsewhere (none now)."""


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _text(cell: dict) -> str:
    return "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_has_one_header_format(path: Path):
    if path.name[:2] in HEADER_PENDING:
        pytest.skip(f"{path.name}: header being rewritten")
    first = _text(next(cell for cell in _cells(path) if cell["cell_type"] == "markdown"))
    lines = first.splitlines()
    number = int(path.name[:2])
    assert re.fullmatch(rf"# {number:02d} · \S.*", lines[0]), f"{path.name}: the title is not the first line"
    assert lines[1] == "", f"{path.name}: no blank line under the title"
    navigation = lines[2]
    links = re.findall(r"\[([^\]]+)\]\((\d\d_[a-z0-9_]+\.ipynb)\)", navigation)
    assert links and re.fullmatch(r"(\[[^\]]+\]\(\d\d_[a-z0-9_]+\.ipynb\)( · )?)+", navigation), \
        f"{path.name}: the line under the title is not the navigation line: {navigation!r}"
    targets = [target for _, target in links]
    for target in targets:
        assert (NOTEBOOK_DIR / target).is_file(), f"{path.name} links to a missing notebook {target}"
    neighbours = {f"{number - 1:02d}", f"{number + 1:02d}"} & {p.name[:2] for p in NOTEBOOKS}
    assert neighbours <= {target[:2] for target in targets}, f"{path.name}: the navigation misses a neighbour"
    if number > 1:
        assert "00_index.ipynb" in targets, f"{path.name}: the navigation does not link the index"
    assert re.search(r"^\*\*Fresh run:\*\* (about |under )?\d+(\.\d+)?\s*(s|min)\b", first, re.M), \
        f"{path.name}: no '**Fresh run:** <time>' line in the header"


# --- HTML export ---------------------------------------------------------------------------------

WIDGET = "application/vnd.jupyter.widget-view+json"
PICTURE_IN_MARKDOWN = re.compile(r"!\[[^\]]*\]\(([^)\s]+)|<img[^>]*\ssrc=\"([^\"]+)\"", re.I)


def _shows_moving_or_vector_picture(cell: dict) -> bool:
    """Whether a cell shows a widget, a GIF or an SVG (the pictures an export tends to lose)."""
    if cell["cell_type"] == "markdown":
        targets = [a or b for a, b in PICTURE_IN_MARKDOWN.findall(_text(cell))]
        attached = [mime for bundle in cell.get("attachments", {}).values() for mime in bundle]
        return any(t.lower().split("?")[0].endswith((".svg", ".gif")) for t in targets) or \
            any(mime in ("image/svg+xml", "image/gif") for mime in attached)
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        html = "".join(data.get("text/html", ""))
        if WIDGET in data or "image/gif" in data or "image/svg+xml" in data or "image/gif" in html:
            return True
    return False


@pytest.fixture(scope="module")
def html_exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every notebook exported with ``jupyter nbconvert --to html`` into a folder outside notebooks/."""
    pytest.importorskip("nbconvert")
    folder = tmp_path_factory.mktemp("export")
    completed = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output-dir", str(folder),
         *map(str, NOTEBOOKS)], capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return folder


def _cell_html(html: str) -> dict[str, str]:
    """The exported HTML of each cell, by cell id (nbconvert writes ``id="cell-id=<id>"``)."""
    parts = re.split(r'id="cell-id=([^"]+)"', html)
    return dict(zip(parts[1::2], parts[2::2]))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_html_export_shows_a_picture_for_every_widget_gif_and_svg(path: Path, html_exports: Path):
    html = (html_exports / f"{path.stem}.html").read_text()
    by_cell = _cell_html(html)
    for index, cell in enumerate(_cells(path)):
        if not _shows_moving_or_vector_picture(cell):
            continue
        exported = by_cell.get(cell["id"])
        assert exported is not None, f"{path.name} cell {index}: not found in the export"
        sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', exported)
        assert sources, (f"{path.name} cell {index}: no <img> in the export where the notebook shows a widget, "
                         f"GIF or SVG (a saved widget view wins over its PNG fallback in nbconvert: commit the "
                         f"output without '{WIDGET}')")
        assert WIDGET not in exported, f"{path.name} cell {index}: the export carries a widget view it cannot load offline"
    for source in re.findall(r'<img[^>]*\ssrc="([^"]*)"', html):
        if re.match(r"[a-z][a-z0-9+.-]*:", source, re.I):
            assert source.startswith("data:"), f"{path.name}: a picture from the network: {source[:80]}"
            continue
        inside = (html_exports / source).resolve()
        assert inside.is_relative_to(html_exports.resolve()) and inside.is_file(), \
            f"{path.name}: a picture at a relative path outside the export folder: {source}"


# --- figure sizes --------------------------------------------------------------------------------

README_COLUMN_PX = 880
"""Width of the README's column on GitHub (issue 28): a wider picture is shrunk and blurred there."""
NOTEBOOK_COLUMN_PX = 953
"""Width of a notebook's output area in JupyterLab at 1280 px (issue 28): wider outputs are shrunk."""
MIN_LABEL_PX = 10
MARKDOWN_PICTURE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.png)\)|<img[^>]*\ssrc=\"([^\"]+\.png)\"([^>]*)>", re.I)


def _shown_pngs() -> list[tuple[str, Path, int | None]]:
    """(page, PNG file, width attribute or None) for every committed PNG the README, docs/ or a
    notebook's markdown shows."""
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    texts = [(page, page.read_text()) for page in pages if page.is_file()]
    texts += [(path, "\n".join(_text(c) for c in _cells(path) if c["cell_type"] == "markdown")) for path in NOTEBOOKS]
    shown = []
    for page, text in texts:
        for markdown_target, img_target, attributes in MARKDOWN_PICTURE.findall(text):
            target = markdown_target or img_target
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
                continue
            width = re.search(r"\swidth=\"?(\d+)", attributes or "")
            shown.append((page.name, (page.parent / target).resolve(), int(width.group(1)) if width else None))
    return shown


SHOWN_TOO_WIDE: set[tuple[str, str]] = set()
"""Known exceptions, still to fix (none now)."""


def test_every_png_the_readme_docs_and_notebooks_show_is_drawn_at_its_natural_size_or_an_integer_multiple():
    from PIL import Image

    shown = [(page, path, width) for page, path, width in _shown_pngs() if (page, path.name) not in SHOWN_TOO_WIDE]
    assert any(page == "README.md" for page, _, _ in shown), "the README shows no PNG"
    for page, path, width in shown:
        assert path.is_file(), f"{page} shows a missing picture {path}"
        with Image.open(path) as picture:
            natural = picture.width
        if width is None:
            column = README_COLUMN_PX if page.endswith(".md") else NOTEBOOK_COLUMN_PX
            assert natural <= column, (f"{page}: {path.name} is {natural} px wide, wider than the {column} px column, "
                                       f"so it is shown shrunk")
        else:
            assert width % natural == 0, f"{page}: {path.name} ({natural} px) is shown at {width} px, not an integer multiple"


def test_the_notebooks_figure_defaults_draw_labels_at_least_10_px_tall():
    import matplotlib

    from fpalib import tutorial

    saved = matplotlib.rcParams.copy()
    try:
        tutorial._matplotlib_defaults()
        size = matplotlib.rcParams["font.size"]
        for dpi_name in ("figure.dpi", "savefig.dpi"):   # inline display, saved PNGs
            dpi = matplotlib.rcParams[dpi_name]
            assert size * dpi / 72 >= MIN_LABEL_PX, f"{size} pt at {dpi_name} {dpi} is under {MIN_LABEL_PX} px"
    finally:
        matplotlib.rcParams.update(saved)


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] not in HEADER_PENDING],
                         ids=[p.stem for p in NOTEBOOKS if p.name[:2] not in HEADER_PENDING])
def test_notebook_outputs_fit_the_column_and_set_no_label_under_10_px(path: Path):
    import base64
    import io

    from PIL import Image

    from fpalib.tutorial import FIGURE_DPI

    for index, cell in enumerate(_cells(path)):
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                with Image.open(io.BytesIO(base64.b64decode("".join(png)))) as picture:
                    assert picture.width <= NOTEBOOK_COLUMN_PX, \
                        f"{path.name} cell {index}: a {picture.width} px wide picture in a {NOTEBOOK_COLUMN_PX} px column"
        if cell["cell_type"] == "code":
            for points in re.findall(r"fontsize=(\d+(?:\.\d+)?)", _text(cell)):
                assert float(points) * FIGURE_DPI / 72 >= MIN_LABEL_PX, \
                    f"{path.name} cell {index}: fontsize={points} is under {MIN_LABEL_PX} px at {FIGURE_DPI} dpi"


def test_papermill_parses_every_parameters_cell_without_a_warning(caplog: pytest.LogCaptureFixture):
    """papermill reads ``name = value  # comment`` lines; an ``=`` inside the comment makes it give up
    on the line (a warning, and that parameter cannot be overridden with ``-p``)."""
    import logging

    pytest.importorskip("papermill")
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node

    with caplog.at_level(logging.WARNING, logger="papermill"):
        for path in NOTEBOOKS:
            _infer_parameters(load_notebook_node(str(path)))
    assert not caplog.records, "\n".join(record.getMessage() for record in caplog.records)
