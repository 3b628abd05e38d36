"""Writing files so that a failure at any moment never leaves a damaged one behind.

- :func:`write_atomically` (and :func:`write_text_atomically`, :func:`copy_atomically`): the
  bytes go to a temporary file ``.<name>.<random>.tmp`` in the target's folder, are flushed and
  fsync'ed, and the temporary file is renamed onto the target (``os.replace``). A crash, a full
  disk or a file-size limit leaves either the previous file or the new one, never a mix.
- :func:`remove_stale_temporaries` deletes the temporary files that a killed process left.
- :func:`append_line`: one line added to a log; a failed write is cut off again, so the log
  never ends in half a record; a damaged last line (from a crash) is dropped first.
- :func:`write_error`: the :class:`~fpalib.errors.FpaError` for an ``OSError`` while writing.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from fpalib.errors import FpaError

TEMPORARY_SUFFIX = ".tmp"


def write_atomically(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The folder is created when missing. The file keeps the permissions of the one it replaces
    (a new file gets those of ``open``: 0o666 less the umask). On any exception the temporary
    file is removed and the exception propagates; ``path`` is then untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            os.chmod(temporary, _mode_for(path))
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _mode_for(path: Path) -> int:
    """The permission bits of ``path``, or 0o666 less the umask when it does not exist."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_text_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` with :func:`write_atomically`."""
    data = text.encode("utf-8")
    write_atomically(path, lambda file: file.write(data))


def copy_atomically(source: str | Path, target: str | Path) -> None:
    """Copy the bytes of ``source`` to ``target`` with :func:`write_atomically`."""
    data = Path(source).read_bytes()
    write_atomically(target, lambda file: file.write(data))


def remove_stale_temporaries(folder: str | Path, name: str) -> list[Path]:
    """Delete the temporary files of interrupted :func:`write_atomically` calls for ``folder/name``.

    Call it only while no other process writes that file (e.g. holding the run lock).
    Returns the removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for stale in folder.glob(f".{name}.*{TEMPORARY_SUFFIX}"):
        stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


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
        except OSError:
            os.ftruncate(file.fileno(), size)
            raise


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
    where = f" ({error.filename})" if error.filename and str(error.filename) not in what else ""
    advice = hint or "check that the folder exists, is writable and has free space"
    return FpaError(f"cannot write {what}{where}: {reason}; {advice}")


def _fsync_directory(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
