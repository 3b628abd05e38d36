"""Set-up and small helpers shared by the tutorial notebooks (``notebooks/NN_*.ipynb``).

Every notebook starts with ``paths = setup_notebook(smoke=smoke, seed=seed)``: it finds the
repository root (the folder with ``pyproject.toml`` and ``fpalib/``, else the working
directory), seeds python/numpy/torch and sets matplotlib defaults for inline figures.
``paths.figures`` and ``paths.runs`` are the repository's ``figures/`` and ``runs/``, or, in
smoke mode (the notebook tests), a fresh temporary folder, so a test never overwrites committed
figures or cached runs. ``paths.data`` is the ``data`` argument, else ``$FPA_DATA``, else
``<root>/data`` in a clone, else a user cache (``~/.cache/fpalib/data``), so notebooks copied
elsewhere never write data sets beside themselves. Beside the set-up: :mod:`fpalib.tutorial.experiments` (train-or-load runs, real
samples) and :mod:`fpalib.tutorial.fitting` (painting one image directly).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from fpalib.errors import FpaError
from fpalib.train.seeding import seed_everything

DATA_ENV = "FPA_DATA"
EMOJI_FOLDER = "emoji"
PRETRAINED_FOLDER = "pretrained"
FIGURE_DPI = 90
SAVE_DPI = 100


@dataclass(frozen=True)
class NotebookPaths:
    """Folders a notebook reads from and writes to (see the module docstring); smoke: figures and
    runs are temporary folders; shipped: the folder of shipped checkpoints (None: ``data/pretrained``)."""

    root: Path
    figures: Path
    runs: Path
    data: Path
    smoke: bool = False
    shipped: Path | None = None

    @property
    def emoji(self) -> Path:
        """The emoji data set folder, ``data/emoji``."""
        return self.data / EMOJI_FOLDER

    @property
    def pretrained(self) -> Path:
        """The folder of shipped checkpoints: ``shipped``, else ``data/pretrained``."""
        return self.data / PRETRAINED_FOLDER if self.shipped is None else self.shipped


def find_repo_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding pyproject.toml and fpalib/."""
    start = Path.cwd() if start is None else Path(start)
    for folder in [start.resolve(), *start.resolve().parents]:
        if (folder / "pyproject.toml").is_file() and (folder / "fpalib").is_dir():
            return folder
    raise FpaError(
        f"no fpalib repository found at or above {start}; start the notebook from inside the "
        "repository (e.g. its notebooks/ folder)"
    )


def setup_notebook(
    smoke: bool, seed: int = 0, threads: int | None = None, start: str | Path | None = None,
    data: str | Path | None = None,
) -> NotebookPaths:
    """Prepare a notebook run and return its :class:`NotebookPaths` (see the module docstring).

    smoke: figures and runs in a temporary folder (removed when the kernel exits). threads:
    ``torch.set_num_threads`` (None: unchanged). start: where the search for the repository
    root begins (default: the working directory).
    """
    from fpalib.pretrained import shipped_dir

    if threads is not None:
        if threads < 1:
            raise FpaError(f"threads must be at least 1; got {threads}")
        torch.set_num_threads(threads)
    start = Path.cwd() if start is None else Path(start)
    try:
        root = find_repo_root(start)
        default_data = root / "data"
    except FpaError:  # a copy of the notebooks elsewhere: data sets go to a cache, not beside them
        root = start.resolve()
        default_data = user_data_cache()
    data = Path(data or os.environ.get(DATA_ENV) or default_data).resolve()
    if smoke:
        scratch = Path(tempfile.mkdtemp(prefix="fpalib-notebook-smoke-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        figures, runs = scratch / "figures", scratch / "runs"
    else:
        figures, runs = root / "figures", root / "runs"
    figures.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    _matplotlib_defaults()
    return NotebookPaths(root=root, figures=figures, runs=runs, data=data, smoke=smoke, shipped=shipped_dir())


def user_data_cache() -> Path:
    """Where notebooks run outside a clone keep fetched data sets: ``$XDG_CACHE_HOME/fpalib/data``
    (default ``~/.cache/fpalib/data``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fpalib" / "data"


def _matplotlib_defaults() -> None:
    """Small inline figures, PNGs saved at a modest dpi; inline display under IPython."""
    import matplotlib

    matplotlib.rcParams.update({
        "figure.dpi": FIGURE_DPI,
        "savefig.dpi": SAVE_DPI,
        "savefig.bbox": "tight",
        "font.size": 9,
        "axes.titlesize": 9,
        "image.interpolation": "nearest",
    })
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "kernel"):  # a Jupyter kernel, not a terminal IPython
        # Registers the PNG formatter, so a cell ending in a matplotlib Figure displays it.
        shell.run_line_magic("matplotlib", "inline")


def ensure_emoji(paths: NotebookPaths) -> Path:
    """The emoji image folder: ``paths.emoji`` (fetched with ``fpa data emoji``'s code from the
    npm registry when it is missing), or, where that fails (no npm, no network), the shipped
    32x32 atlas unpacked into ``data/emoji-32px`` (see :mod:`fpalib.data.emoji_atlas`)."""
    from fpalib.data.emoji import prepare_emoji
    from fpalib.data.emoji_atlas import UNPACKED_FOLDER, unpack_atlas

    if paths.emoji.is_dir() and (paths.emoji / "metadata.csv").is_file():
        return paths.emoji
    unpacked = paths.data / Path(UNPACKED_FOLDER).name
    if (unpacked / "source.json").is_file():
        return unpack_atlas(unpacked)
    try:
        prepare_emoji(paths.emoji)
    except FpaError as error:
        print(f"{error}\nusing the shipped 32x32 copy of the emoji set instead (data/emoji-atlas; "
              "images larger than 32x32 are upsampled from it)")
        return unpack_atlas(unpacked)
    return paths.emoji


def emoji_image(paths: NotebookPaths, name: str, image_size: int = 64, channels: int = 3) -> torch.Tensor:
    """The emoji called ``name`` (file stem, e.g. "grinning") as a (C, H, W) tensor in [-1, 1]."""
    from fpalib.data import load_image

    folder = ensure_emoji(paths)
    matches = sorted(folder.rglob(f"{name}.png"))
    if not matches:
        raise FpaError(f"no emoji named {name!r} in {folder}; pick a file name from {folder / 'metadata.csv'}")
    return load_image(matches[0], image_size, channels)
