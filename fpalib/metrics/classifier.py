"""Metrics in the features of a small Fashion-MNIST classifier the project trains itself: no
download, unlike FID's Inception network.

- ``cfd``: the Frechet distance (Heusel et al., 2017, the FID formula) between Gaussians fitted to
  the classifier's penultimate features (64-d) of real and generated images.
- class coverage: the histogram of the classes the classifier assigns to generated images:
  ``classes_covered`` (classes given at least 1% of the samples), ``class_min`` / ``class_max``
  (the smallest and largest class share) and ``class_kl``, KL(generated || real class
  distribution) in nats (0 when every class is as frequent as in the real set).

The network, :class:`FashionClassifier`, and the shipped weights
(``data/pretrained/classifier/fashion-mnist-classifier.pt``, trained by ``tools/train_classifier.py``; its
card is beside it) read 28x28 grey images in [-1, 1]; larger images (Fashion-MNIST padded to 32)
are cropped to their centre.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import LinAlgWarning
from torch import Tensor, nn

from fpalib.errors import FpaError
from fpalib.metrics.fid import GaussianStats, frechet_distance

CLASSIFIER_FILE = "classifier/fashion-mnist-classifier.pt"
CLASSIFIER_KIND = "fpa-fashion-classifier"
INPUT_SIZE = 28
COVERED_SHARE = 0.01


class FashionClassifier(nn.Module):
    """(B, 1, 28, 28) images in [-1, 1] -> class logits (B, 10); ``features`` gives the 64-d
    penultimate activations. Two 3x3 convolutions (32, 64 channels) with max pooling, a 64-unit
    layer, then the 10 classes."""

    def __init__(self, num_classes: int = 10, width: int = 32, feature_dim: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Dropout(0.25), nn.Linear(2 * width * 7 * 7, feature_dim), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(feature_dim, num_classes))

    def features(self, images: Tensor) -> Tensor:
        """(B, 1, H, W) in [-1, 1], H = W >= 28 -> (B, 64); larger images are centre-cropped to 28."""
        if images.dim() != 4 or images.shape[1] != 1 or images.shape[-1] < INPUT_SIZE:
            raise FpaError(f"the Fashion-MNIST classifier reads (B, 1, >=28, >=28) grey images; "
                           f"got {tuple(images.shape)}")
        border = (images.shape[-1] - INPUT_SIZE) // 2
        images = images[..., border:border + INPUT_SIZE, border:border + INPUT_SIZE]
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


def shipped_classifier_path() -> Path:
    """The shipped classifier's weights (beside the shipped painters)."""
    from fpalib.pretrained import shipped_dir

    return shipped_dir() / CLASSIFIER_FILE


def load_classifier(path: str | Path | None = None, device: str | torch.device = "cpu") -> FashionClassifier:
    """The classifier in eval mode, from ``path`` (default: the shipped one)."""
    path = Path(path) if path is not None else shipped_classifier_path()
    if not path.is_file():
        raise FpaError(f"classifier weights {path} not found; train them with `python tools/train_classifier.py`")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("kind") != CLASSIFIER_KIND:
        raise FpaError(f"{path} is not an fpalib Fashion-MNIST classifier")
    model = FashionClassifier(**state["architecture"])
    model.load_state_dict({name: value.float() for name, value in state["weights"].items()})
    return model.to(device).eval()


@torch.no_grad()
def classify(model: FashionClassifier, images: Tensor, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features (N, 64) float64 and predicted classes (N,) of images (N, 1, H, W) in [-1, 1]."""
    device = next(model.parameters()).device
    features, classes = [], []
    for batch in images.split(batch_size):
        feature = model.features(batch.to(device).float())
        features.append(feature.double().cpu())
        classes.append(model.head(feature).argmax(-1).cpu())
    return torch.cat(features).numpy(), torch.cat(classes).numpy()


def classifier_distance(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    """The Frechet distance between Gaussians fitted to two feature sets (N, 64). Samples of a
    collapsed or barely trained model give a singular covariance; pytorch-fid then offsets the
    diagonal and returns a finite distance, and its warning about it is not shown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)
        return frechet_distance(GaussianStats.of(real_features), GaussianStats.of(fake_features))


def classifier_scores(model: FashionClassifier, images: Tensor, real: tuple[np.ndarray, np.ndarray],
                      names: tuple[str, ...] = ("cfd", "coverage")) -> dict[str, float]:
    """``cfd`` and/or the ``coverage`` numbers of images (N, 1, H, W) in [-1, 1] against ``real``,
    the (features, classes) that :func:`classify` gave for real images."""
    features, classes = classify(model, images)
    scores = {"cfd": classifier_distance(real[0], features)} if "cfd" in names else {}
    return {**scores, **(class_coverage(classes, real[1]) if "coverage" in names else {})}


def class_coverage(fake_classes: np.ndarray, real_classes: np.ndarray, num_classes: int = 10) -> dict[str, float]:
    """Class shares of generated images against the real ones: classes_covered, class_min,
    class_max and class_kl (KL(generated || real) in nats); see the module docstring."""
    fake = np.bincount(fake_classes, minlength=num_classes) / len(fake_classes)
    real = np.bincount(real_classes, minlength=num_classes) / len(real_classes)
    shown = fake > 0
    return {
        "classes_covered": float((fake >= COVERED_SHARE).sum()),
        "class_min": float(fake.min()),
        "class_max": float(fake.max()),
        "class_kl": float((fake[shown] * np.log(fake[shown] / real[shown])).sum()),
    }
