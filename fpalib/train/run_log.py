"""The metrics log of a run: ``metrics.jsonl`` and its loss-curve figure.

Every ``log_every`` steps the trainer appends one JSON object per line, e.g.
``{"step": 250, "d_loss": 1.91, "g_loss": 0.42, "aux_loss": 0.08, "gp": 0.01, "images_per_s":
131.0, "elapsed_s": 95.2, "lr": 0.0002}``, the losses averaged over the steps since the previous
record (``gp`` over the steps with the penalty; absent when none had it). Evaluations are records
of their own, ``{"step": 5000, "fid": 31.2}``. On resume, records after the checkpoint's step
are dropped (atomically), since those steps are trained again; a damaged line (a crash) is
skipped with a warning and dropped at the next rewrite.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from fpalib.train.run_folder import append_line, write_atomically
from fpalib.train.step import LOSS_NAMES
from fpalib.train.vae_step import VAE_LOSS_NAMES
from fpalib.viz import loss_curve_figure, save_figure

METRICS_FILE = "metrics.jsonl"
LOSS_CURVE_FILE = "loss_curve.png"


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a metrics.jsonl file (an empty list when it does not exist).

    Lines that are not JSON objects (a record cut off by a crash) are skipped with a warning.
    """
    path = Path(path)
    if not path.is_file():
        return []
    lines = [line for line in path.read_bytes().decode("utf-8", errors="replace").splitlines() if line.strip()]
    records, damaged = [], []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            damaged.append(str(number))
    if damaged:
        warnings.warn(f"{path}: skipped damaged line(s) {', '.join(damaged[:5])} (cut off by an earlier crash "
                      "or full disk?)", stacklevel=2)
    return records


class MetricsLog:
    """Appends records to ``metrics.jsonl`` (when ``write``) and keeps them in memory.

    keep_until: on resume, the checkpoint's step; earlier records are kept, later ones
    dropped from the file. None starts an empty log.
    """

    def __init__(self, path: Path, *, keep_until: int | None, write: bool) -> None:
        self.path = path
        self.write = write
        kept = [] if keep_until is None else read_metrics(path)
        self.records = [record for record in kept if record.get("step", 0) <= keep_until]
        if write:
            write_atomically(self.path, "".join(json.dumps(record) + "\n" for record in self.records))

    def append(self, record: dict[str, Any]) -> None:
        """Add one record (a dict of JSON values with a "step")."""
        if self.write:
            append_line(self.path, json.dumps(record))
        self.records.append(record)

    def save_loss_curve(self, path: Path) -> None:
        """Draw the losses logged so far to ``path`` (nothing before the first loss record)."""
        for names in (LOSS_NAMES, VAE_LOSS_NAMES):
            if self.write and any(names[0] in record for record in self.records):
                save_figure(loss_curve_figure(self.records, names), path, dpi=100)


class LossWindow:
    """The losses of the steps since the last :meth:`pop`; ``last`` holds what the latest pop returned."""

    def __init__(self, names: tuple[str, ...] = LOSS_NAMES) -> None:
        self.names = names
        self.pending: list[dict[str, float]] = []
        self.last: dict[str, float] = {}

    def add(self, losses: dict[str, float], with_penalty: bool) -> None:
        """Add the losses of one step (a value for each of :data:`LOSS_NAMES`; gp only counts with_penalty)."""
        self.pending.append({name: losses[name] for name in self.names if name != "gp" or with_penalty})

    def pop(self) -> dict[str, float]:
        """Each loss averaged over the pending steps (gp over those with the penalty, absent when none
        had it); then start afresh."""
        values = {name: [step[name] for step in self.pending if name in step] for name in self.names}
        self.last = {name: sum(series) / len(series) for name, series in values.items() if series}
        self.pending = []
        return self.last
