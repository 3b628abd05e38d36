"""Stopping a training run cleanly on Ctrl-C (SIGINT) or SIGTERM.

Job schedulers (Slurm, Kubernetes, systemd) send SIGTERM and wait a grace period before
killing a process, so SIGTERM is treated like a first Ctrl-C: the run finishes its current
step and saves a checkpoint. A second signal of either kind aborts at once (KeyboardInterrupt).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from tqdm.auto import tqdm

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def catch_interrupts() -> Iterator[threading.Event]:
    """While inside, a first SIGINT or SIGTERM sets the yielded event; a second raises KeyboardInterrupt.

    The previous handlers come back on exit. Outside the main thread (where signal handlers
    cannot be installed) the signals behave as usual.
    """
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handle(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        tqdm.write(f"{name}: saving a checkpoint after this step (Ctrl-C again to abort)")

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS}
    try:
        yield event
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
