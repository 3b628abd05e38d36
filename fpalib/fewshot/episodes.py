"""N-way K-shot few-shot classification episodes from a labelled image folder.

The task (the setting of the paper's Figure 1, Irie & Schmidhuber, 2023): an episode is a sequence
of N*K labelled support images of N classes followed by one query image of one of those classes;
the model reads the (image, label) pairs one per step and predicts the label of the last image.
Labels are re-drawn in every episode (class -> label 0..N-1 at random), so the only way to be right
is to learn from the support pairs inside the sequence: a learning rule, not a memorised class.

Data: a folder of images and, optionally, a ``metadata.csv`` with a ``file`` column (paths relative
to the folder) and a class column. Without metadata.csv an image's class is its folder. For the
emoji set (``fpa data emoji``) the class is the ``subcategory`` (95 of them, e.g. "animal-mammal",
"face-smiling", "transport-ground"): a category is too coarse for 5-way episodes (8 categories) and a
single emoji has one image. Only classes with at least K + 1 images can fill an episode (86 of 95 for
5-shot); they are split, with a fixed seed, into disjoint training and held-out classes, so held-out
accuracy measures learning of classes never seen in training. Chance is 1/N.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

from fpalib.data import check_image_size, find_images, load_image
from fpalib.errors import FpaError

METADATA_FILE = "metadata.csv"


@dataclass
class EpisodeConfig:
    """Which episodes to build. Defaults: 5-way 5-shot (Fig. 1) on 16x16 RGB emoji subcategories.

    Attributes:
        n_way: classes per episode.
        k_shot: examples per class.
        image_size: image side.
        channels: 1 (grey) or 3 (RGB).
        class_column: the metadata.csv column naming an image's class.
        held_out_fraction: the share of usable classes kept out of training.
        split_seed: seed of that split.
    """

    n_way: int = 5
    k_shot: int = 5
    image_size: int = 16
    channels: int = 3
    class_column: str = "subcategory"
    held_out_fraction: float = 0.2
    split_seed: int = 0

    def validate(self) -> None:
        """Raise FpaError naming the first bad field."""
        if self.n_way < 2 or self.k_shot < 1:
            raise FpaError(f"episodes need n_way >= 2 and k_shot >= 1; got {self.n_way}-way {self.k_shot}-shot")
        check_image_size(self.image_size)
        if self.channels not in (1, 3):
            raise FpaError(f"channels must be 1 or 3; got {self.channels}")
        if not 0.0 < self.held_out_fraction < 1.0:
            raise FpaError(f"held_out_fraction must be in (0, 1); got {self.held_out_fraction}")


@dataclass
class LabelledImages:
    """All images of a folder in memory. images (M, C, S, S) in [-1, 1]; classes (M,) indices into names."""

    images: Tensor
    classes: Tensor
    class_names: list[str]

    def members(self, class_index: int) -> Tensor:
        """Image indices (long) of one class."""
        return torch.nonzero(self.classes == class_index).flatten()


def load_labelled_images(root: str | Path, image_size: int, channels: int = 3,
                         class_column: str = "subcategory") -> LabelledImages:
    """Read every image under ``root`` with its class (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise FpaError(f"image folder '{root}' does not exist; run `fpa data emoji` or pass --data with a folder")
    metadata = root / METADATA_FILE
    if metadata.is_file():
        with metadata.open(newline="") as file:
            rows = list(csv.DictReader(file))
        if rows and (class_column not in rows[0] or "file" not in rows[0]):
            raise FpaError(f"{metadata} has no 'file' and '{class_column}' columns (it has: {', '.join(rows[0])}); "
                           "pass another class column")
        labelled = [(root / row["file"], row[class_column]) for row in rows if row[class_column]]
    else:
        labelled = [(path, path.parent.relative_to(root).as_posix()) for path in find_images(root)]
    images, names = [], []
    for path, name in labelled:
        try:
            images.append(load_image(path, image_size, channels))
        except (OSError, ValueError, SyntaxError):
            continue  # a missing or unreadable file: leave it out
        names.append(name)
    if not images:
        raise FpaError(f"no readable labelled images under '{root}'; run `fpa data emoji` or pass another --data")
    class_names = sorted(set(names))
    index = {name: i for i, name in enumerate(class_names)}
    return LabelledImages(torch.stack(images), torch.tensor([index[n] for n in names]), class_names)


class ClassSplit(NamedTuple):
    """Class indices for training and for held-out evaluation (disjoint), and those too small to use."""

    train: list[int]
    held_out: list[int]
    too_small: list[int]


def split_classes(data: LabelledImages, cfg: EpisodeConfig) -> ClassSplit:
    """Split the classes with at least K + 1 images into disjoint train / held-out sets (seeded)."""
    counts = torch.bincount(data.classes, minlength=len(data.class_names)).tolist()
    usable = [c for c, count in enumerate(counts) if count >= cfg.k_shot + 1]
    too_small = [c for c, count in enumerate(counts) if count < cfg.k_shot + 1]
    order = torch.randperm(len(usable), generator=torch.Generator().manual_seed(cfg.split_seed)).tolist()
    shuffled = [usable[i] for i in order]
    held = max(cfg.n_way, round(cfg.held_out_fraction * len(shuffled)))
    if len(shuffled) - held < cfg.n_way:
        raise FpaError(
            f"only {len(shuffled)} classes have at least {cfg.k_shot + 1} images; {cfg.n_way}-way episodes need "
            f"{2 * cfg.n_way} (for disjoint training and held-out classes); lower n_way or k_shot"
        )
    return ClassSplit(sorted(shuffled[held:]), sorted(shuffled[:held]), too_small)


class EpisodeBatch(NamedTuple):
    """A batch of B episodes of T = N*K + 1 steps.

    images (B, T, C, S, S); labels (B, T) long: support labels 0..N-1, then N ("unknown") for the
    query; targets (B,) the query's label; classes (B, N) the data set class behind each label;
    indices (B, T) the data set image at each step.
    """

    images: Tensor
    labels: Tensor
    targets: Tensor
    classes: Tensor
    indices: Tensor

    def to(self, device: torch.device | str) -> EpisodeBatch:
        return EpisodeBatch(*(x.to(device) for x in self))


class EpisodeSampler:
    """Draws N-way K-shot episodes from the classes ``classes`` of ``data`` (see the module docstring)."""

    def __init__(self, data: LabelledImages, classes: Sequence[int], n_way: int, k_shot: int) -> None:
        if len(classes) < n_way:
            raise FpaError(f"{n_way}-way episodes need at least {n_way} classes; got {len(classes)}")
        self.data, self.classes, self.n_way, self.k_shot = data, list(classes), n_way, k_shot
        self.members = {c: data.members(c) for c in self.classes}
        small = [data.class_names[c] for c, m in self.members.items() if len(m) < k_shot + 1]
        if small:
            raise FpaError(f"classes {', '.join(small[:3])} have fewer than {k_shot + 1} images")

    def sample(self, batch: int, generator: torch.Generator) -> EpisodeBatch:
        """``batch`` episodes drawn with ``generator`` (the same generator state gives the same episodes)."""
        n, k = self.n_way, self.k_shot
        indices, labels, targets, classes = [], [], [], []
        for _ in range(batch):
            chosen = torch.randperm(len(self.classes), generator=generator)[:n]  # label j <- class chosen[j]
            episode_classes = [self.classes[i] for i in chosen.tolist()]
            query_label = int(torch.randint(n, (), generator=generator))
            support, query = [], -1
            for label, c in enumerate(episode_classes):
                members = self.members[c]
                picks = members[torch.randperm(len(members), generator=generator)[: k + 1]].tolist()
                support += [(index, label) for index in picks[:k]]
                if label == query_label:
                    query = picks[k]
            order = torch.randperm(len(support), generator=generator).tolist()
            indices.append([support[i][0] for i in order] + [query])
            labels.append([support[i][1] for i in order] + [n])
            targets.append(query_label)
            classes.append(episode_classes)
        index_tensor = torch.tensor(indices)
        return EpisodeBatch(self.data.images[index_tensor], torch.tensor(labels), torch.tensor(targets),
                            torch.tensor(classes), index_tensor)


def hide_support_labels(batch: EpisodeBatch, n_way: int, prob: float,
                        generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Training queries beyond the last step: hide each support label with probability ``prob``.

    Returns input labels (B, T) (hidden ones and the query's set to ``n_way``, "unknown"), the true
    label of every step (B, T) and a loss mask (B, T): the query, and every hidden step whose class was
    shown with its label earlier in the sequence (otherwise its label cannot be known). One episode
    then teaches several predictions; evaluation always uses the untouched episode.
    """
    truth = batch.labels.clone()
    truth[:, -1] = batch.targets
    hidden = torch.rand(truth.shape, generator=generator) < prob
    hidden[:, -1] = True
    shown = nn.functional.one_hot(truth, n_way) * (~hidden).unsqueeze(-1)  # (B, T, N)
    shown_before = (shown.cumsum(1) - shown).gather(-1, truth.unsqueeze(-1)).squeeze(-1) > 0
    mask = hidden & shown_before
    mask[:, -1] = True
    return torch.where(hidden, torch.full_like(truth, n_way), truth), truth, mask
