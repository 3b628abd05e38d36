"""Build hook: the wheel carries the shipped checkpoints and model cards as package data.

All metadata is in pyproject.toml. ``data/pretrained/*.pt`` and ``*.md`` (small float16 painters,
see fpalib/pretrained.py) are copied into ``fpalib/_pretrained/`` of the built package, so a
non-editable ``pip install .`` finds them through ``fpalib.pretrained.shipped_dir()`` from any
working directory. Editable installs read ``data/pretrained`` in place and copy nothing.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED_SOURCE = Path(__file__).resolve().parent / "data" / "pretrained"
PACKAGED_DIR = Path("fpalib") / "_pretrained"
SHIPPED_PATTERNS = ("*.pt", "*.md")


class BuildPyWithShippedFiles(build_py):
    """``build_py`` that also copies the shipped checkpoints into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / PACKAGED_DIR
        target.mkdir(parents=True, exist_ok=True)
        for pattern in SHIPPED_PATTERNS:
            for source in sorted(SHIPPED_SOURCE.glob(pattern)):
                shutil.copyfile(source, target / source.name)


setup(cmdclass={"build_py": BuildPyWithShippedFiles})
