"""Owning a run folder: one writer at a time, ``--new`` moving it aside, stale files removed.

:class:`RunLock` is an exclusive ``fcntl.flock`` on ``<run>/.lock``.

The trainer (and ``fpa fewshot``) takes the lock before it decides whether to resume and holds
it until training ends; a second process on the same folder gets an FpaError naming the process that holds it
(its pid and command line, which the holder writes into the lock file). The operating system
releases the lock when the holder exits, however it exits (``kill -9`` included), so a stale
lock file never blocks a later run. Where ``fcntl`` does not exist (Windows) the lock is a no-op.
:func:`claim_run_folder` takes the lock (after moving an old run aside for ``--new``) and removes
the temporary files of checkpoint or log writes that a killed process left behind.
:func:`refuse_other_run_kind` keeps one kind of run from replacing another's ``metrics.jsonl``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from types import TracebackType

from fpalib.errors import FpaError
from fpalib.train.files import remove_stale_temporaries, write_error

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_FILE = ".lock"
RUN_KINDS = {"GAN training": ("checkpoints", "config.json"), "few-shot": ("fewshot.pt",)}
"""The files that mark a folder as a run of each kind (``fpa train``, ``fpa fewshot``)."""


class RunLock:
    """The lock of run folder ``folder`` (created when missing); use :meth:`acquire`/:meth:`release`
    or ``with RunLock(folder):``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._descriptor: int | None = None
        self._created = False

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._descriptor is not None

    def acquire(self) -> RunLock:
        """Take the lock; FpaError when another process holds it or the folder cannot be created."""
        if self.held or fcntl is None:
            return self
        path = self.folder / LOCK_FILE
        if self.folder.exists() and not self.folder.is_dir():
            raise FpaError(f"run folder {self.folder} is a file, not a folder; pass --out with a folder path")
        try:
            self._created = not self.folder.exists()
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise write_error(error, f"run folder {self.folder}", "pass --out with a writable folder") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(descriptor, 4096).decode("utf-8", errors="replace").strip() or "unknown"
            os.close(descriptor)
            if holder.startswith(f"pid {os.getpid()}:"):
                raise FpaError(
                    f"run folder {self.folder} is in use by this process: an earlier Trainer (or lock) on it has "
                    "not finished; let its train() finish, or delete it (del trainer) before making another"
                ) from None
            raise FpaError(
                f"run folder {self.folder} is in use by another process ({holder}); wait for it to end or stop "
                "it, or pass --out to use another folder"
            ) from None
        try:  # who holds it, for the message above (best effort: a full disk must not stop the run here)
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"pid {os.getpid()}: {' '.join(sys.argv)}".encode())
        except OSError:
            pass
        self._descriptor = descriptor
        return self

    def release(self) -> None:
        """Let go of the lock. The lock file stays (it is harmless), unless this object created the
        folder and nothing else was written there (a run that failed to start leaves no trace)."""
        if self._descriptor is None:
            return
        with contextlib.suppress(OSError):
            if self._created and [path.name for path in self.folder.iterdir()] == [LOCK_FILE]:
                (self.folder / LOCK_FILE).unlink()
                self.folder.rmdir()
        os.close(self._descriptor)  # closing the descriptor releases the flock
        self._descriptor = None

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.release()


def move_run_aside(run_dir: Path) -> Path | None:
    """Rename an existing run folder to ``<name>-old-<YYYYmmdd-HHMMSS>``; returns the new path."""
    if not run_dir.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = run_dir.with_name(f"{run_dir.name}-old-{stamp}")
    suffix = 1
    while target.exists():
        suffix += 1
        target = run_dir.with_name(f"{run_dir.name}-old-{stamp}-{suffix}")
    run_dir.rename(target)
    return target


def claim_run_folder(run_dir: Path, *, new: bool = False) -> tuple[RunLock, Path | None, list[Path]]:
    """Lock ``run_dir`` for this process: ``(lock, where an old run was moved or None, removed files)``.

    new: move an existing folder aside first (refused while another process holds its lock).
    Removes the temporary files ``.<name>.*.tmp`` of interrupted atomic writes in the folder and
    its ``checkpoints/`` subfolder.
    """
    moved = None
    if new and run_dir.exists():
        with RunLock(run_dir):
            try:
                moved = move_run_aside(run_dir)
            except OSError as error:
                raise write_error(error, f"run folder {run_dir}", "check the permissions of its parent folder") from None
    lock = RunLock(run_dir).acquire()
    removed = [path for folder in (run_dir, run_dir / "checkpoints") for path in remove_stale_temporaries(folder, "*")]
    return lock, moved, removed


def refuse_other_run_kind(folder: str | Path, kind: str) -> None:
    """FpaError when ``folder`` holds a run of a kind other than ``kind`` (a key of :data:`RUN_KINDS`)."""
    folder = Path(folder)
    for other, markers in RUN_KINDS.items():
        found = [name for name in markers if (folder / name).exists()]
        if other != kind and found:
            raise FpaError(
                f"{folder} holds a {other} run ({found[0]}); a {kind} run there would replace its metrics.jsonl, "
                "so pass another --out folder"
            )
