"""The papermill engine ``fpalib`` (fpalib/papermill_engine.py, issue 28): the README's command runs
the notebooks from a copy outside the repository with nothing on stderr (no warning about plain TCP
at kernel start, no KeyboardInterrupt logged at shutdown), and writes no data beside them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytest.importorskip("papermill")

from fpalib.papermill_engine import EncryptedNBClientEngine, QuietShutdownKernelManager, _encryption_config  # noqa: E402

QUICK_NOTEBOOK = REPO_ROOT / "notebooks" / "01_fast_weights_and_the_delta_rule.ipynb"
"""The quickest course notebook in its smoke setting (about 10 s on a busy 2-core CPU)."""


def _curve_supported() -> bool:
    import zmq
    from jupyter_client.manager import KernelManager

    return "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve")


def test_the_engine_asks_for_transport_encryption_and_keeps_a_value_already_set():
    from traitlets.config import Config

    if not _curve_supported():
        pytest.skip("this jupyter_client or pyzmq has no CurveZMQ transport encryption")
    assert _encryption_config().KernelManager.transport_encryption == "auto"
    mine = Config({"KernelManager": {"transport_encryption": "required"}})
    assert _encryption_config(mine).KernelManager.transport_encryption == "required"
    empty = Config()
    _encryption_config(empty)
    assert "transport_encryption" not in empty.KernelManager, "the caller's config was changed"


def test_the_kernel_manager_sends_no_interrupt_on_shutdown_but_does_otherwise(monkeypatch: pytest.MonkeyPatch):
    import asyncio

    from jupyter_client.manager import KernelManager

    interrupts = []

    async def record(self):
        interrupts.append(self.shutting_down)

    monkeypatch.setattr(KernelManager, "_async_interrupt_kernel", record)
    manager = QuietShutdownKernelManager()
    asyncio.run(manager._async_interrupt_kernel())
    manager.shutting_down = True
    asyncio.run(manager._async_interrupt_kernel())
    assert interrupts == [False]


def test_the_engine_passes_its_kernel_manager_and_keeps_one_given(monkeypatch: pytest.MonkeyPatch):
    from papermill.engines import NBClientEngine

    seen = []
    monkeypatch.setattr(NBClientEngine, "execute_managed_notebook",
                        classmethod(lambda cls, nb_man, kernel_name, **kwargs: seen.append(kwargs)))
    EncryptedNBClientEngine.execute_managed_notebook(None, "python3")
    EncryptedNBClientEngine.execute_managed_notebook(None, "python3", kernel_manager_class=object)
    assert seen[0]["kernel_manager_class"] is QuietShutdownKernelManager and "config" in seen[0]
    assert seen[1]["kernel_manager_class"] is object


@pytest.mark.parametrize("first", ["fpalib.papermill_engine", "papermill"])
def test_the_engine_module_and_papermill_import_in_either_order(first: str):
    """papermill loads its entry points while it is imported; importing the engine module first must
    not leave papermill with a half-initialised module (an AttributeError at ``import papermill``)."""
    code = (f"import {first}; import papermill, fpalib.papermill_engine as m; "
            "from papermill.engines import papermill_engines as e; "
            "assert e.get_engine('fpalib') is m.EncryptedNBClientEngine, e.get_engine('fpalib')")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_pyproject_registers_the_engine_under_the_name_the_docs_use():
    text = (REPO_ROOT / "pyproject.toml").read_text()
    section = re.search(r'\[project\.entry-points\."papermill\.engine"\]\n(.*?)(?:\n\[|\Z)', text, re.S)
    assert section and 'fpalib = "fpalib.papermill_engine:EncryptedNBClientEngine"' in section[1]
    for doc in ["README.md", "docs/install.md"]:
        assert "papermill --engine fpalib" in (REPO_ROOT / doc).read_text(), f"{doc} does not name the engine"
    assert EncryptedNBClientEngine.execute_managed_notebook


def _papermill(notebook: Path, output: Path, *args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "papermill", "--engine", "fpalib", "--no-progress-bar", "--log-level", "WARNING",
         notebook.name, str(output), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def _stderr_outputs(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(output.get("text", "")) for cell in cells for output in cell.get("outputs", [])
            if output.get("output_type") == "stream" and output.get("name") == "stderr"]


@pytest.mark.slow
def test_a_notebook_copied_out_of_the_repository_runs_with_nothing_on_stderr(tmp_path: Path):
    from importlib import metadata

    if "fpalib" not in {entry.name for entry in metadata.entry_points(group="papermill.engine")}:
        pytest.fail("the papermill engine 'fpalib' is not installed: reinstall fpalib (`make setup` or `pip install -e .`)")
    if not _curve_supported():
        pytest.skip("this jupyter_client or pyzmq has no CurveZMQ transport encryption")
    course, out, cache = tmp_path / "course", tmp_path / "out", tmp_path / "cache"
    course.mkdir(), out.mkdir()
    shutil.copy(QUICK_NOTEBOOK, course)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "OMP_NUM_THREADS": "1"}
    env.pop("FPA_DATA", None)
    completed = _papermill(QUICK_NOTEBOOK, out / QUICK_NOTEBOOK.name, "-p", "smoke", "True", cwd=course, env=env)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert completed.stderr == "", f"papermill or the kernel wrote to stderr:\n{completed.stderr}"
    assert _stderr_outputs(out / QUICK_NOTEBOOK.name) == []
    assert sorted(path.name for path in course.iterdir()) == [QUICK_NOTEBOOK.name], "the run wrote beside the notebook"
