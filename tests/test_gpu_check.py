"""benchmarks/gpu_check.py: its dry run works end to end, and its targets are judged correctly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import gpu_report  # noqa: E402


@pytest.mark.slow
def test_dry_run_runs_every_part_and_writes_the_report(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--dry", "--out", str(tmp_path)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "report.json").read_text())
    assert {name: part["status"] for name, part in results["parts"].items()} == dict.fromkeys(
        ("tests", "rules", "paint", "train", "timed", "ddp"), "ok")
    data = {name: part["data"] for name, part in results["parts"].items()}
    assert data["tests"]["failed"] == data["tests"]["errors"] == 0 and data["tests"]["skipped"] > 0  # no GPU here
    assert {row["method"] for row in data["rules"]["rows"]} == {"loop", "parallel/autograd", "parallel", "floor"}
    assert data["timed"]["steps"] == 4 and 0 <= data["timed"]["scores"]["precision"] <= 1
    assert data["ddp"]["backend"] == "gloo" and data["ddp"]["wrapped_in_ddp"] and data["ddp"]["finite"]
    assert [t["status"] for t in results["targets"]] == ["not measured"] * 4
    assert (tmp_path / "samples_ema.png").is_file() and (tmp_path / "painting_steps.png").is_file()
    report = (tmp_path / "report.md").read_text()
    assert report in done.stdout and "## Targets" in report and "Dry run" in report


def full_results(rule_speedup: float, batch1: float, fpa_ms: float, total_s: float) -> dict:
    """The parts of a full CUDA run that the targets read, with chosen values."""
    ok = lambda data: {"status": "ok", "data": data, "seconds": 1.0}  # noqa: E731
    rule_row = {"batch": 60, "steps": 64, "method": "parallel", "fwd_bwd_vs_loop": rule_speedup, "fwd_bwd_ms": 1.0}
    paint_rows = [{"preset": "paper-celeba64", "batch": 1, "dtype": "float32", "mode": "eager", "images_per_s": 300.0},
                  {"preset": "paper-celeba64", "batch": 1, "dtype": "bfloat16", "mode": "cuda-graph",
                   "images_per_s": batch1},
                  {"preset": "paper-celeba64", "batch": 1, "dtype": "float32", "mode": "compile", "error": "x"}]
    presets = [{"preset": "paper-celeba64", "ms": {"fpa parallel": {"step": 2 * fpa_ms, "step bf16": fpa_ms}}},
               {"preset": "paper-celeba64-lightgan", "ms": {"lightgan": {"step": 20.0, "step bf16": 10.0}}}]
    parts = {name: ok({}) for name in ("tests", "timed", "ddp")}
    parts.update(rules=ok({"dim": 64, "rows": [rule_row]}), paint=ok({"rows": paint_rows}),
                 train=ok({"presets": presets}))
    return {"environment": {"mode": "full", "total_s": total_s}, "parts": parts}


def test_targets_met_and_gaps_from_the_measured_numbers():
    met = gpu_report.evaluate_targets(full_results(31.0, 600.0, 15.0, 470.0))
    assert [t["status"] for t in met] == ["met"] * 4
    assert "cuda-graph" in met[1]["measured"] and "eager float32 300" in met[1]["measured"]
    gaps = gpu_report.evaluate_targets(full_results(12.5, 400.0, 16.0, 500.0))
    assert [t["status"] for t in gaps] == ["gap"] * 4
    assert [round(t["value"], 2) for t in gaps] == [12.5, 400.0, 1.6, 500.0]


def test_a_failed_part_leaves_its_target_not_measured():
    results = full_results(31.0, 600.0, 15.0, 470.0)
    results["parts"]["paint"] = {"status": "failed", "error": "RuntimeError: x", "where": "a.py:1", "seconds": 1.0}
    statuses = [t["status"] for t in gpu_report.evaluate_targets(results)]
    assert statuses == ["met", "not measured", "met", "met"]
    assert "failed" in gpu_report.evaluate_targets(results)[1]["measured"]


def test_the_report_names_torch_functions_this_torch_lacks(monkeypatch):
    import gpu_check

    monkeypatch.setattr(gpu_check, "TORCH_APIS", (("torch", "Tensor.mT"), ("torch.linalg", "no_such_solver"),
                                                   ("torch.no_such_module", "f")))
    assert gpu_check.missing_torch_apis() == ["torch.linalg.no_such_solver", "torch.no_such_module.f"]
