"""fpalib.profiling: timing without the CUDA_HOME warning of torch.utils.benchmark's import."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_timing_works_and_logs_nothing_on_stderr():
    code = (
        "import sys, fpalib.profiling as p; "
        "loaded = 'torch.utils.benchmark' in sys.modules; "
        "seconds = p.median_seconds(lambda: sum(range(100)), min_run_time=0.01); "
        "print(loaded, 0 < seconds < 1)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert result.stdout.split() == ["False", "True"]  # benchmark is imported on first use only
    assert "No CUDA runtime" not in result.stderr and result.stderr == ""
