"""Build hook: the wheel carries the shipped checkpoints and model cards as package data.

All metadata is in pyproject.toml. ``data/pretrained/`` (small float16 painters and the few-shot
DeltaNets of notebook 02, with their cards; see fpalib/pretrained.py) is copied into
``fpalib/_pretrained/`` of the built package and ``data/emoji-atlas/`` (the 32x32 emoji set for
machines without Node.js, fpalib/data/emoji_atlas.py) into ``fpalib/_emoji_atlas/`` and
``data/fashion-mnist-subset/`` (6,000 Fashion-MNIST images, the course's data set without a
download) into ``fpalib/_fashion_mnist_subset/``, so a non-editable
``pip install .`` finds them from any working directory. Editable installs read ``data/`` in
place and copy nothing.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA = Path(__file__).resolve().parent / "data"
SHIPPED = {  # source folder -> (folder inside the built package, file patterns, searched recursively)
    DATA / "pretrained": (Path("fpalib") / "_pretrained", ("*.pt", "*.md")),
    DATA / "emoji-atlas": (Path("fpalib") / "_emoji_atlas", ("*.png", "*.csv", "*.md")),
    DATA / "fashion-mnist-subset": (Path("fpalib") / "_fashion_mnist_subset", ("*.npz", "*.json", "*.md")),
}


class BuildPyWithShippedFiles(build_py):
    """``build_py`` that also copies the shipped checkpoints into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source_dir, (packaged_dir, patterns) in SHIPPED.items():
            for pattern in patterns:
                for source in sorted(source_dir.rglob(pattern)):
                    target = Path(self.build_lib) / packaged_dir / source.relative_to(source_dir)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)


setup(cmdclass={"build_py": BuildPyWithShippedFiles})
