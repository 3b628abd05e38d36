"""Train the Fashion-MNIST classifier whose features the ``cfd`` and class-coverage metrics use
(fpalib/metrics/classifier.py), and write its weights (float16) and model card.

    python tools/train_classifier.py --data data/fashion-mnist --out data/pretrained/classifier --force

``--data`` holds ``train`` and ``test`` array sets (``fpa data fashion-mnist``). The card lists
the test accuracy and reference values of the metrics: test set against training set, uniform
noise, and a "generator" that paints one test image 10,000 times.
"""

from __future__ import annotations

import argparse
import io
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fpalib.data.arrays import ArrayImages
from fpalib.metrics.classifier import (
    CLASSIFIER_KIND,
    FashionClassifier,
    class_coverage,
    classifier_distance,
    classify,
)
from fpalib.train.run_folder import write_atomically


def train(model: FashionClassifier, images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int) -> None:
    """Adam 1e-3 decayed to 0 by a cosine over the ``epochs`` passes, batch 128, each batch shifted
    by up to 2 pixels."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * math.ceil(len(images) / 128))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for batch in order.split(128):
            x = F.pad(images[batch], (2, 2, 2, 2), value=-1.0)
            dx, dy = torch.randint(0, 5, (2,), generator=generator).tolist()
            x = x[..., dy:dy + 28, dx:dx + 28]
            loss = F.cross_entropy(model(x), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch + 1}: training loss {total / len(images):.4f}", flush=True)
    model.eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/fashion-mnist"))
    parser.add_argument("--out", type=Path, default=Path("data/pretrained/classifier"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an existing classifier in --out")
    args = parser.parse_args()
    if (args.out / "fashion-mnist-classifier.pt").exists() and not args.force:
        parser.exit(2, f"error: {args.out / 'fashion-mnist-classifier.pt'} exists; pass --force to replace it "
                       "(the shipped classifier is what cfd and coverage scores were measured with)\n")
    torch.manual_seed(args.seed)
    train_set, test_set = ArrayImages(args.data / "train"), ArrayImages(args.data / "test")
    started = time.monotonic()
    model = FashionClassifier()
    train(model, train_set.tensors(), train_set.labels, args.epochs, args.seed)
    minutes = (time.monotonic() - started) / 60
    with torch.no_grad():  # every number below is measured with the shipped float16 weights
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())

    test_features, test_classes = classify(model, test_set.tensors())
    accuracy = float((test_classes == test_set.labels.numpy()).mean())
    train_features, train_classes = classify(model, train_set.tensors()[:10_000])
    noise = torch.rand(10_000, 1, 28, 28, generator=torch.Generator().manual_seed(args.seed)) * 2 - 1
    noise_features, noise_classes = classify(model, noise)
    one_features, one_classes = classify(model, test_set.tensors()[:1].expand(10_000, -1, -1, -1))
    one_features = one_features + np.random.default_rng(args.seed).normal(0, 1e-6, one_features.shape)
    rows = []
    for name, features, classes in (("test set (10,000)", test_features, test_classes),
                                    ("uniform noise", noise_features, noise_classes),
                                    ("one test image, 10,000 times", one_features, one_classes)):
        coverage = class_coverage(classes, train_set.labels.numpy())
        rows.append(f"| {name} | {classifier_distance(train_features, features):.2f} | "
                    f"{coverage['classes_covered']:.0f} | {coverage['class_min']:.3f} | {coverage['class_max']:.3f} | "
                    f"{coverage['class_kl']:.3f} |")

    buffer = io.BytesIO()
    weights = {name: value.half() for name, value in model.state_dict().items()}
    torch.save({"kind": CLASSIFIER_KIND, "architecture": {"num_classes": 10, "width": 32, "feature_dim": 64},
                "weights": weights, "test_accuracy": accuracy}, buffer)
    write_atomically(args.out / "fashion-mnist-classifier.pt", buffer.getvalue())
    card = f"""# fashion-mnist-classifier

The classifier whose 64-d penultimate features give fpalib's `cfd` (a Frechet distance that needs no
download) and whose predictions give the class-coverage metrics (`fpalib/metrics/classifier.py`).
Two 3x3 convolutions (32, 64 channels) with max pooling, a 64-unit layer, 10 classes;
{sum(p.numel() for p in model.parameters()):,} parameters, stored in float16.

- data: Fashion-MNIST training set (60,000 images, `fpa data fashion-mnist`), shifted by up to 2 pixels
- training: Adam 1e-3 with cosine decay, batch 128, {args.epochs} epochs, seed {args.seed}; {minutes:.1f} min on {platform.machine()}
  ({torch.get_num_threads()} thread(s))
- **test accuracy: {accuracy:.4f}** (10,000 test images, with the float16 weights as shipped)

Reference values, each against the features of the first 10,000 training images (lower `cfd` is closer;
`class_kl` is KL(sample classes || real classes) in nats; covered: classes with at least 1% of the images):

| images | cfd | classes covered | class min | class max | class_kl |
|---|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

Reproduce it with:

```bash
{' '.join(['python', *sys.argv])}
```
"""
    write_atomically(args.out / "fashion-mnist-classifier.md", card)
    print(card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
