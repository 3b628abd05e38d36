"""The ablation command (benchmarks/ablation.py, fpalib.ablation) end to end on tiny models."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from fpalib.ablation import VAE_VARIANTS, VARIANTS, format_table, variant_config, variants_for
from fpalib.errors import FpaError
from fpalib.train.config import config_differences
from fpalib.train.presets import get_preset

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "ablation.py"


def load_script():
    spec = importlib.util.spec_from_file_location("ablation_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.usefixtures("one_thread")
def test_dry_run_trains_scores_and_prints_the_table(noise_images, tmp_path, capsys):
    out = tmp_path / "ablation"
    args = ["--dry", "--data", str(noise_images), "--out", str(out), "--variants", "delta,authors-additive",
            "--seeds", "0,1"]
    assert load_script().main(args) == 0
    records = json.loads((out / "results.json").read_text())
    assert [(r["variant"], r["seed"], r["step"]) for r in records] == [
        ("delta", 0, 2), ("delta", 1, 2), ("authors-additive", 0, 2), ("authors-additive", 1, 2)]
    assert all(0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 and r["swd"] > 0 for r in records)
    table = capsys.readouterr().out
    assert "| delta | 2 | 2 |" in table and "| authors-additive | 2 | 2 |" in table
    assert load_script().main(args + ["--variants", "anti-delta"]) == 2
    checkpoint = out / "delta-s0" / "checkpoints" / "latest.pt"
    before = checkpoint.stat().st_mtime_ns
    assert load_script().main(args) == 0  # scored runs are gathered, not trained again
    assert checkpoint.stat().st_mtime_ns == before
    assert json.loads((out / "results.json").read_text()) == records


@pytest.mark.usefixtures("one_thread")
def test_vae_dry_run_scores_bounds_and_logs_curves(tmp_path, capsys):
    out = tmp_path / "ablation-vae"
    args = ["--preset", "fashion28-vae", "--dry", "--out", str(out), "--variants", "delta,conv", "--seeds", "0"]
    assert load_script().main(args) == 0
    records = json.loads((out / "results.json").read_text())
    assert [(r["variant"], r["seed"], r["step"]) for r in records] == [("delta", 0, 2), ("conv", 0, 2)]
    for r in records:
        assert r["test_iw_nll"] <= r["test_nelbo"] + 1.0  # the bound with k samples is at most -ELBO (up to noise)
        assert 0 < r["recon_mse"] < 1 and r["cfd"] > 0 and 0 <= r["class_min"] <= r["class_max"] <= 1
    curve = [json.loads(line) for line in (out / "delta-s0" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["cpu_s"] > 0) for r in curve if "test_nelbo" in r] == [(1, True), (2, True)]
    assert [point[0] for point in records[0]["curve"]] == [1, 2]  # the curve travels in results.json
    table = capsys.readouterr().out
    assert "| variant | seeds | steps | test -ELBO (nats) | IW bound (nats) |" in table and "| conv | 1 | 2 |" in table
    assert load_script().main(["--preset", "fashion28-vae", "--dry", "--out", str(out), "--variants", "delta-T8"]) == 2


def test_variants_change_only_their_fields():
    base = get_preset("emoji32-cpu")
    for name, overrides in VARIANTS.items():
        diff = config_differences(base, variant_config(base, name, 1, Path("runs")))
        changed = {key for key in diff if key not in ("name", "loop.out", "loop.seed")}
        expected = {o.split("=")[0] for o in overrides}
        if name == "authors-additive":  # the variant fixes these fields
            expected |= {"painter.input_version", "painter.rule", "painter.key_norm", "painter.update_bias", "painter.init"}
        assert changed == expected, name
    for preset in ("fashion28-vae", "fashion32-gan"):  # the Fashion-MNIST painter's variants, either objective
        fashion = get_preset(preset)
        assert variants_for(fashion) is VAE_VARIANTS
        for name, overrides in VAE_VARIANTS.items():
            diff = config_differences(fashion, variant_config(fashion, name, 1, Path("runs")))
            changed = {key for key in diff if key not in ("name", "loop.out", "loop.seed")}
            expected = {o.split("=")[0] for o in overrides}
            if name == "authors-additive":
                expected |= {"painter.input_version", "painter.rule", "painter.key_norm", "painter.update_bias",
                             "painter.init"}
            assert changed == expected, (preset, name)


def test_format_table_gives_mean_and_range():
    records = [{"variant": "delta", "seed": s, "step": 10 + s, "swd": 50.0 + 10 * s, "precision": 0.5,
                "recall": 0.1 * s} for s in (0, 1)]
    assert format_table(records).splitlines()[-1] == (
        "| delta | 2 | 10 | 55.0 (50.0-60.0) | 0.500 (0.500-0.500) | 0.050 (0.000-0.100) |")
    with pytest.raises(FpaError, match="unknown gan ablation variant"):
        variant_config(get_preset("smoke"), "hebb", 0, Path("x"))
