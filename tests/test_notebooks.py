"""The tutorial notebooks: structure, committed outputs, and validation with nbval (issues 8, 16).

Each numbered notebook's ``parameters`` cell has ``smoke = False``. The slow test below writes a
copy of the notebook with ``smoke = True`` in that cell (tiny sizes; figures and runs go to a
temporary folder, see ``fpalib.tutorial``) but with the *committed* outputs, and runs
``pytest --nbval-lax`` on the copy: every cell must execute, and the cells tagged
``nbval-check-output`` must print exactly what the committed notebook shows. Those cells print
results that do not depend on ``smoke`` (shapes, parameter counts, equality checks), so a code
change that alters such a printed result fails CI, not only an exception. The notebook's last
cell (the "CI check") asserts its results.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
NUMBERED = [p for p in NOTEBOOKS if not p.name.startswith("00_")]
INDEX = NOTEBOOK_DIR / "00_index.ipynb"
SMOKE_SECONDS = 240
"""Per-cell limit of a smoke run (each notebook aims at < 90 s on 2 CPU cores)."""
CHECK_TAG = "nbval-check-output"
COURSE_NOTEBOOKS = {"01", "02", "03", "04", "05", "06", "07", "08", "09", "10"}
"""Notebooks written as a course (header, exercises, takeaway, links, no local paths)."""
LOCAL_PATH = re.compile(r"(/work/|/tmp/|/home/|/Users/|[A-Z]:\\\\)")


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _text(cell: dict) -> str:
    return "".join(cell["source"])


def _parameters_cell_index(notebook: dict) -> int | None:
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def _output_texts(notebook: dict) -> list[str]:
    texts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if "text" in output:
                texts.append("".join(output["text"]))
            for key, value in output.get("data", {}).items():
                if key.startswith("text/"):
                    texts.append("".join(value))
            if "traceback" in output:
                texts.append("\n".join(output["traceback"]))
    return texts


def write_smoke_copy(path: Path, folder: Path) -> Path:
    """Write ``path`` with ``smoke = True`` in its parameters cell (outputs kept) into ``folder``."""
    notebook = _load(path)
    index = _parameters_cell_index(notebook)
    cell = notebook["cells"][index]
    source = _text(cell)
    assert "smoke = False" in source, f"{path.name}: no 'smoke = False' in the parameters cell"
    cell["source"] = source.replace("smoke = False", "smoke = True", 1)
    copy = folder / path.name
    copy.write_text(json.dumps(notebook))
    return copy


@pytest.mark.parametrize("path", NUMBERED, ids=[p.stem for p in NUMBERED])
def test_notebook_has_a_smoke_parameter_and_committed_outputs(path: Path):
    notebook = _load(path)
    index = _parameters_cell_index(notebook)
    assert index is not None, f"{path.name} has no code cell tagged 'parameters'"
    assert "smoke = False" in _text(notebook["cells"][index])
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert any(cell.get("outputs") for cell in code), f"{path.name} was committed without outputs"
    assert path.stat().st_size < 2 * 1024 * 1024, f"{path.name} is over 2 MB"


CLEAN_NOTEBOOKS = [p for p in NOTEBOOKS if p.name[:2] in COURSE_NOTEBOOKS | {"00"}]


@pytest.mark.parametrize("path", CLEAN_NOTEBOOKS, ids=[p.stem for p in CLEAN_NOTEBOOKS])
def test_no_output_shows_a_local_path(path: Path):
    for text in _output_texts(_load(path)):
        match = LOCAL_PATH.search(text)
        assert match is None, f"{path.name}: an output shows a local path: ...{text[max(0, match.start() - 60):][:160]}"


@pytest.mark.parametrize("path", [p for p in NUMBERED if p.name[:2] in COURSE_NOTEBOOKS],
                         ids=[p.stem for p in NUMBERED if p.name[:2] in COURSE_NOTEBOOKS])
def test_notebook_has_the_course_scaffolding(path: Path):
    notebook = _load(path)
    cells = notebook["cells"]
    markdown = [_text(cell) for cell in cells if cell["cell_type"] == "markdown"]
    header = markdown[0]
    for phrase in [r"you will learn", r"you need", r"fresh[- ]run|run time"]:
        assert re.search(phrase, header, re.I), f"{path.name}: the header lacks '{phrase}'"
    text = "\n".join(markdown)
    assert text.count("<details>") >= 2, f"{path.name}: fewer than two exercises with folded solutions"
    assert re.search(r"\bhint", text, re.I), f"{path.name}: exercises without hints"
    assert "## Takeaway" in text, f"{path.name}: no takeaway cell"
    number = int(path.name[:2])
    links = re.findall(r"\]\(((?:\d\d)_[a-z0-9_]+\.ipynb)(?:#[^)]*)?\)", text)
    assert any(link.startswith(f"{number - 1:02d}_") for link in links), f"{path.name}: no link to the previous notebook"
    if number < len(NUMBERED):
        assert any(link.startswith(f"{number + 1:02d}_") for link in links), f"{path.name}: no link to the next one"
    for link in links:
        assert (NOTEBOOK_DIR / link).is_file(), f"{path.name} links to a missing notebook {link}"
    code = [i for i, cell in enumerate(cells) if cell["cell_type"] == "code"]
    last = code[-1]
    assert "assert" in _text(cells[last]), f"{path.name}: the last code cell asserts nothing"
    assert cells[last - 1]["cell_type"] == "markdown" and "CI check" in _text(cells[last - 1]), \
        f"{path.name}: the final assert cell is not labelled as the CI check"


OUTPUT_CHECKED = [p for p in NOTEBOOKS if p.name[:2] in {"00", "01", "02", "03", "04", "10"}]
"""Notebooks with cells tagged for nbval's output comparison (05-09: add them when they have such cells)."""


@pytest.mark.parametrize("path", OUTPUT_CHECKED, ids=[p.stem for p in OUTPUT_CHECKED])
def test_notebook_has_outputs_checked_by_nbval(path: Path):
    cells = _load(path)["cells"]
    checked = [cell for cell in cells if CHECK_TAG in cell.get("metadata", {}).get("tags", [])]
    assert checked and all(cell.get("outputs") for cell in checked), f"{path.name}: no output checked by nbval"


def test_index_lists_every_notebook_with_its_time_and_the_glossary():
    notebook = _load(INDEX)
    text = "\n".join(_text(cell) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    table = "\n".join(_output_texts(notebook))
    for path in NUMBERED:
        row = next((line for line in table.splitlines() if f"]({path.name})" in line), None)
        assert row is not None, f"00_index's table does not link {path.name}"
        if path.name[:2] in COURSE_NOTEBOOKS:
            assert re.search(r"\d+(\.\d+)?\s*(s|min|minutes?)\b", row), f"00_index gives no run time for {path.name}: {row}"
    for symbol in [r"W_t", r"k_t", r"v_t", r"\beta_t", r"\tilde\beta_t", r"\phi", r"d_{key}", r"d_{value}", "`additive`",
                   "`additive-rate`"]:
        assert symbol in text, f"the glossary lacks {symbol}"
    assert (REPO_ROOT / "figures" / "fpa_architecture.svg").is_file()


@pytest.mark.slow
@pytest.mark.timeout(3 * SMOKE_SECONDS)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_its_smoke_setting_and_nbval_passes(path: Path):
    pytest.importorskip("nbval")
    folder = Path(tempfile.mkdtemp(prefix=".nbval-", dir=NOTEBOOK_DIR))   # inside the repo: setup_notebook finds it
    try:
        # 00_index has no parameters and reads the other notebooks next to it: checked in place
        copy = write_smoke_copy(path, folder) if _parameters_cell_index(_load(path)) is not None else path
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
             f"--nbval-cell-timeout={SMOKE_SECONDS}", "-q", "--no-header", "-o", "addopts=", str(copy)],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=3 * SMOKE_SECONDS,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert completed.returncode == 0, f"nbval failed on {path.name} (smoke = True):\n{completed.stdout[-6000:]}"


def test_all_notebooks_exist():
    names = [p.stem[:2] for p in NOTEBOOKS]
    assert names == [f"{i:02d}" for i in range(0, 11)], names


def _requirement_closure(distribution: str, extras: set[str]) -> set[str]:
    """Names of ``distribution`` and every distribution it requires (with ``extras``), transitively."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen, todo = set(), [(distribution, frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        key = name.lower().replace("_", "-")
        if (key, wanted) in seen:
            continue
        seen.add((key, wanted))
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in wanted or {""}):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in seen}


def test_every_module_the_notebooks_import_comes_with_the_notebooks_extra():
    from importlib import metadata

    modules = set()
    for path in NOTEBOOKS:
        for cell in _load(path)["cells"]:
            if cell["cell_type"] == "code":
                for line in _text(cell).splitlines():
                    match = re.match(r"\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", line)
                    if match:
                        modules.add((match[1] or match[2]).split(".")[0])
    installed = _requirement_closure("fpalib", {"notebooks"})
    providers = metadata.packages_distributions()
    missing = [module for module in sorted(modules - set(sys.stdlib_module_names) - {"fpalib"})
               if not {name.lower().replace("_", "-") for name in providers.get(module, [module])} & installed]
    assert not missing, f"the notebooks import {missing}, which `pip install fpalib[notebooks]` does not bring"
