"""The download-free metrics in a project-trained Fashion-MNIST classifier: cfd and class coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fpalib.data.arrays import ArrayImages
from fpalib.data.fashion_mnist import subset_folder
from fpalib.errors import FpaError
from fpalib.metrics.classifier import (
    FashionClassifier,
    class_coverage,
    classifier_distance,
    classify,
    load_classifier,
    shipped_classifier_path,
)


def test_class_coverage_of_a_known_histogram():
    real = np.repeat(np.arange(10), 10)                      # uniform
    fake = np.array([0] * 50 + [1] * 45 + [2] * 5)           # three classes, one of them rare
    result = class_coverage(fake, real)
    assert result["classes_covered"] == 3 and result["class_min"] == 0 and result["class_max"] == 0.5
    expected = sum(p * math.log(p / 0.1) for p in (0.5, 0.45, 0.05))
    assert result["class_kl"] == pytest.approx(expected)
    assert class_coverage(real, real)["class_kl"] == pytest.approx(0.0)


def test_the_distance_of_a_set_to_itself_is_zero_and_grows_with_a_shift():
    features = np.random.default_rng(0).normal(size=(500, 8))
    assert classifier_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    assert classifier_distance(features, features + 1.0) == pytest.approx(8.0, rel=1e-6)   # |mean shift|^2


def test_the_classifier_reads_28_and_padded_32_pixel_images_alike():
    model = FashionClassifier().eval()
    images = torch.rand(3, 1, 28, 28) * 2 - 1
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2), value=-1.0)
    with torch.no_grad():
        assert torch.equal(model.features(images), model.features(padded))
    with pytest.raises(FpaError, match="grey images"):
        model.features(torch.rand(2, 3, 28, 28))


def test_the_shipped_classifier_labels_the_shipped_test_subset_well():
    assert shipped_classifier_path().stat().st_size < 2**20    # under 1 MB
    model = load_classifier()
    test_set = ArrayImages(subset_folder() / "test")
    _, predicted = classify(model, test_set.tensors())
    assert (predicted == test_set.labels.numpy()).mean() > 0.85


def test_a_missing_or_foreign_classifier_file_is_one_line(tmp_path):
    with pytest.raises(FpaError, match="train them with"):
        load_classifier(tmp_path / "none.pt")
    torch.save({"kind": "something else"}, tmp_path / "other.pt")
    with pytest.raises(FpaError, match="not an fpalib Fashion-MNIST classifier"):
        load_classifier(tmp_path / "other.pt")
