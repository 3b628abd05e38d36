"""Pixel precision and recall (Kynkäänniemi et al., 2019): fast form vs loops, collapse, wiring."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from fpalib.cli import main
from fpalib.errors import FpaError
from fpalib.metrics.evaluate import format_results, make_evaluate_fn
from fpalib.metrics.precision_recall import (
    kth_neighbour_radii,
    pixel_features,
    precision_recall,
)
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.run_log import read_metrics


def precision_recall_reference(real: Tensor, fake: Tensor, k: int = 3) -> dict[str, float]:
    """The same as precision_recall, one pair of samples at a time (slow)."""

    def radii(points: Tensor) -> list[float]:
        out = []
        for i, point in enumerate(points):
            others = sorted(float((point - other).norm()) for j, other in enumerate(points) if j != i)
            out.append(others[k - 1])
        return out

    def fraction_inside(samples: Tensor, centres: Tensor, centre_radii: list[float]) -> float:
        hits = 0
        for sample in samples:
            hits += any(float((sample - centre).norm()) <= r for centre, r in zip(centres, centre_radii, strict=True))
        return hits / len(samples)

    return {
        "precision": fraction_inside(fake, real, radii(real)),
        "recall": fraction_inside(real, fake, radii(fake)),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chunked_form_matches_the_loops_on_fresh_random_sets(seed):
    generator = torch.Generator().manual_seed(seed)
    real = torch.randn(40, 6, generator=generator, dtype=torch.float64)
    fake = 0.7 * torch.randn(33, 6, generator=generator, dtype=torch.float64) + 0.5
    fast = precision_recall(real, fake, k=3, chunk=7)
    assert fast == precision_recall_reference(real, fake, k=3)
    assert 0 < fast["precision"] < 1 and 0 < fast["recall"] < 1


def test_known_real_radii_give_the_same_result_and_must_fit_the_set():
    generator = torch.Generator().manual_seed(4)
    real = torch.randn(30, 5, generator=generator, dtype=torch.float64)
    fake = torch.randn(25, 5, generator=generator, dtype=torch.float64)
    radii = kth_neighbour_radii(real)
    assert precision_recall(real, fake, real_radii=radii) == precision_recall(real, fake)
    with pytest.raises(FpaError, match="real_radii"):
        precision_recall(real, fake, real_radii=radii[:-1])


def test_a_collapsed_set_has_full_precision_and_little_recall():
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(200, 8, generator=generator, dtype=torch.float64)
    collapsed = real[:1].repeat(200, 1) + 1e-3 * torch.randn(200, 8, generator=generator, dtype=torch.float64)
    result = precision_recall(real, collapsed)
    assert result["precision"] == 1.0 and result["recall"] < 0.05
    same = precision_recall(real, real.clone())
    assert same == {"precision": 1.0, "recall": 1.0}


def test_pixel_features_pool_and_scale_to_unit_range():
    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    images[1, :, :4, :4] = 255  # one pooled pixel of 4x4 is white
    features = pixel_features(images)
    assert features.shape == (2, 3 * 8 * 8) and features.dtype == torch.float64
    assert features[0].max() == 0 and features[1].max() == 1.0 and features[1].sum() == 3.0
    assert pixel_features(torch.zeros(1, 3, 24, 40)).shape == (1, 3 * 8 * 8)
    assert pixel_features(torch.zeros(1, 1, 32, 32), pool=16).shape == (1, 16 * 16)
    with pytest.raises(FpaError, match="at least 8x8"):
        pixel_features(torch.zeros(1, 3, 4, 4))


def test_bad_sets_are_clear_errors():
    with pytest.raises(FpaError, match="more than k=3 generated"):
        precision_recall(torch.randn(10, 4), torch.randn(3, 4))
    with pytest.raises(FpaError, match="differ in size"):
        precision_recall(torch.randn(10, 4), torch.randn(10, 5))


def test_fpa_evaluate_reports_precision_and_recall_with_swd(noise_images, tmp_path, capsys, one_thread):
    run = tmp_path / "smoke"
    assert main(["train", "--preset", "smoke", "--data", str(noise_images), "--out", str(run), "--steps", "1"]) == 0
    assert main(["evaluate", str(run), "--data", str(noise_images), "--metrics", "swd,pr", "--num-samples", "16"]) == 0
    assert "precision" in capsys.readouterr().out
    record = read_metrics(run / "metrics.jsonl")[-1]
    assert 0 <= record["precision"] <= 1 and 0 <= record["recall"] <= 1 and record["swd"] > 0


def test_precision_recall_cannot_choose_the_best_checkpoint(noise_images):
    cfg = apply_overrides(get_preset("smoke"), [f"data.path={noise_images}", "eval.metrics=swd,pr",
                                                "loop.eval_metric=pr"])
    with pytest.raises(FpaError, match="cannot be pr"):
        make_evaluate_fn(cfg)


def test_results_line_shows_precision_and_recall():
    assert format_results({"precision": 0.91234, "recall": 0.1}) == "precision 0.912  recall 0.100"
