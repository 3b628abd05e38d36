"""The run folder on disk: writes that never leave a damaged file, and one writer at a time.

- :func:`write_atomically`: the bytes go to a temporary file ``.<name>.<random>.tmp`` beside the
  target, are fsync'ed and renamed onto it (``os.replace``); a crash, a full disk or a file-size
  limit leaves the old file or the new one, never a mix.
- :func:`append_line`: one log line, all or nothing; a damaged last line (a crash) is dropped first.
- :class:`RunLock`: an exclusive OS lock on ``<run>/.lock`` (``filelock``: ``flock`` on Unix,
  ``msvcrt`` on Windows), held by the trainer (and ``fpa fewshot``) until training ends; a second
  process gets an FpaError naming the holder (pid and command line, written into the lock file).
  The OS releases it however the holder exits (``kill -9`` included); no soft (file-exists)
  fallback, which a killed holder would leave behind.
- :func:`claim_run_folder` takes the lock (moving an old run aside for ``--new``) and removes the
  temporary files a killed writer left; :func:`refuse_other_run_kind` keeps one kind of run from
  replacing another's ``metrics.jsonl``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
import time
import warnings
from itertools import count
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout

from fpalib.errors import FpaError

TEMPORARY_SUFFIX = ".tmp"
LOCK_FILE = ".lock"
RUN_KINDS = {"GAN training": ("checkpoints", "config.json"), "few-shot": ("fewshot.pt",)}
"""The files that mark a folder as a run of each kind (``fpa train``, ``fpa fewshot``)."""


def write_atomically(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` (a str as UTF-8) to a temporary file beside ``path``, then rename it onto ``path``.

    Creates the folder; keeps the permissions of the file it replaces (a new one: 0o666 less the
    umask). On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    if path.is_dir():  # named here, not under the temporary file's name that os.replace would report
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            os.chmod(temporary, _mode_for(path))
            file.write(data.encode("utf-8") if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _naming(error, path) from None
        raise
    with contextlib.suppress(OSError):  # make the rename durable (POSIX; folders cannot be opened on Windows)
        descriptor = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _mode_for(path: Path) -> int:
    """The permission bits of ``path``, or 0o666 less the umask when it does not exist."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def append_line(path: str | Path, line: str) -> None:
    """Append ``line`` plus a newline to ``path`` (created when missing), all or nothing.

    A last line without its newline (left by a crash in the middle of a write) is dropped first,
    with a warning. When the write fails (a full disk, a file-size limit), the file is cut back
    to its previous length and the ``OSError`` propagates.
    """
    if "\n" in line:
        raise ValueError("append_line takes a single line")
    path = Path(path)
    data = (line + "\n").encode("utf-8")
    with path.open("a+b", buffering=0) as file:  # unbuffered: a failed write is seen here, not at close
        size = _drop_damaged_tail(file, file.seek(0, os.SEEK_END), path)
        try:
            written = 0
            while written < len(data):  # a short write is followed by one that raises (ENOSPC, EFBIG)
                written += file.write(data[written:])
        except OSError as error:
            os.ftruncate(file.fileno(), size)
            raise _naming(error, path) from None


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` naming ``path`` (a failed write to an open file names no file; a failed rename names
    the temporary one), of the same type, so callers and the ``fpa`` command can say which file it was."""
    if error.filename and str(error.filename) == str(path):
        return error
    return type(error)(error.errno, error.strerror or str(error), str(path))


def _drop_damaged_tail(file: BinaryIO, size: int, path: Path) -> int:
    """Truncate an unterminated last line; returns the new size."""
    if size == 0:
        return 0
    file.seek(size - 1)
    if file.read(1) == b"\n":
        return size
    file.seek(0)
    keep = file.read().rfind(b"\n") + 1
    file.truncate(keep)
    warnings.warn(f"{path}: dropped a damaged last line ({size - keep} bytes without a newline)", stacklevel=3)
    return keep


def write_error(error: OSError, what: str, hint: str = "") -> FpaError:
    """One line for a failed write: what could not be written, the OS reason, what to do."""
    reason = error.strerror or type(error).__name__
    name = getattr(error, "filename2", None) or error.filename  # os.replace: the target, not the temporary file
    where = f" ({name})" if name and str(name) not in what else ""
    advice = hint or "check that the folder exists, is writable and has free space"
    return FpaError(f"cannot write {what}{where}: {reason}; {advice}")


def _write_holder(descriptor: int) -> None:
    """Write who holds the lock into the lock file (for another process's error message); a full
    disk must not stop the run."""
    with contextlib.suppress(OSError):
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"pid {os.getpid()}: {' '.join(sys.argv)}".encode())


class RunLock:
    """The lock of run folder ``folder`` (created when missing); use :meth:`acquire`/:meth:`release`
    or ``with RunLock(folder):``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._lock: FileLock | None = None
        self._created = False

    def acquire(self) -> RunLock:
        """Take the lock; FpaError when another process holds it or the folder cannot be created."""
        if self._lock is not None:
            return self
        path = self.folder / LOCK_FILE
        if self.folder.exists() and not self.folder.is_dir():
            raise FpaError(f"run folder {self.folder} is a file, not a folder; pass --out with a folder path")
        lock = FileLock(path, timeout=0, thread_local=False, fallback_to_soft=False, on_acquired=_write_holder)
        try:
            self._created = not self.folder.exists()
            self.folder.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            try:
                holder = path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
            except OSError:
                holder = "unknown"
            if holder.startswith(f"pid {os.getpid()}:"):
                raise FpaError(
                    f"run folder {self.folder} is in use by this process: an earlier Trainer (or lock) on it has "
                    "not finished; let its train() finish, or delete it (del trainer) before making another"
                ) from None
            raise FpaError(
                f"run folder {self.folder} is in use by another process ({holder}); wait for it to end or stop "
                "it, or pass --out to use another folder"
            ) from None
        except OSError as error:
            raise write_error(error, f"run folder {self.folder}", "pass --out with a writable folder") from None
        self._lock = lock
        return self

    def release(self) -> None:
        """Let go of the lock. The lock file stays (it is harmless), unless this object created the
        folder and nothing else was written there (a run that failed to start leaves no trace)."""
        if self._lock is None:
            return
        with contextlib.suppress(OSError):
            if self._created and [path.name for path in self.folder.iterdir()] == [LOCK_FILE]:
                (self.folder / LOCK_FILE).unlink()
                self.folder.rmdir()
        self._lock.release()
        self._lock = None

    __del__ = release

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def claim_run_folder(run_dir: Path, *, new: bool = False) -> tuple[RunLock, Path | None, list[Path]]:
    """Lock ``run_dir`` for this process: ``(lock, where an old run was moved or None, removed files)``.

    new: move an existing folder aside to ``<name>-old-<YYYYmmdd-HHMMSS>`` first. Removes the
    temporary files of interrupted atomic writes in the folder and its ``checkpoints/``.
    """
    moved = None
    if new and run_dir.exists():
        stamp = time.strftime("%Y%m%d-%H%M%S")
        candidates = (run_dir.with_name(f"{run_dir.name}-old-{stamp}{f'-{n}' if n > 1 else ''}") for n in count(1))
        moved = next(path for path in candidates if not path.exists())
        with RunLock(run_dir):  # refused while another process holds it
            try:
                run_dir.rename(moved)
            except OSError as error:
                raise write_error(error, f"run folder {run_dir}", "check the permissions of its parent folder") from None
    lock = RunLock(run_dir).acquire()  # held: no other process writes these files now
    removed = [*run_dir.glob(f".*.*{TEMPORARY_SUFFIX}"), *run_dir.glob(f"checkpoints/.*.*{TEMPORARY_SUFFIX}")]
    for path in removed:
        path.unlink(missing_ok=True)
    return lock, moved, removed


def refuse_unfinished_outputs(run_dir: str | Path) -> None:
    """FpaError when ``run_dir`` has no ``checkpoints/latest.pt`` to resume from but holds what an
    earlier run wrote (metrics records, sample images, other checkpoints): a fresh start there would
    overwrite them. ``--new`` moves the folder aside first."""
    run_dir = Path(run_dir)
    if (run_dir / "checkpoints" / "latest.pt").is_file():
        return
    metrics = run_dir / "metrics.jsonl"
    found = [path for path in (metrics,) if path.is_file() and path.stat().st_size > 0]
    found += sorted((run_dir / "samples").glob("*.png"))[:1] + sorted((run_dir / "checkpoints").glob("*.pt"))[:1]
    if found:
        raise FpaError(
            f"{run_dir} holds an earlier run ({found[0].relative_to(run_dir)}) but no checkpoints/latest.pt to resume "
            "from; pass --new to move it aside and start over, or --out to use another folder (nothing was changed)"
        )


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
