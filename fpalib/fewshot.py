"""N-way K-shot few-shot classification episodes from a labelled image folder, and a small trainer.

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

Training (:func:`train_fewshot`): Adam on the cross-entropy of the query label, a tqdm bar, a JSONL
metrics log and an atomic checkpoint in the run folder (resumed when the run is unfinished), and a
wall-clock budget (``max_minutes``). Held-out accuracy is measured on a fixed, seeded set of episodes.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .data import check_image_size, find_images, load_image
from .errors import FpaError
from .models.deltanet import FewShotDeltaNet, FewShotModelConfig
from .train.checkpoint import torch_save_atomically
from .train.run_folder import refuse_other_run_kind
from .train.run_log import METRICS_FILE, MetricsLog

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METADATA_FILE = "metadata.csv"
CHECKPOINT_FILE = "fewshot.pt"
CHECKPOINT_KIND = "fpa-fewshot"


@dataclass
class EpisodeConfig:
    """Which episodes to build. Defaults: 5-way 5-shot (Fig. 1) on 16x16 RGB emoji subcategories.

    class_column: the metadata.csv column naming an image's class. held_out_fraction: the share of
    usable classes kept out of training. split_seed: seed of that split.
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

    @property
    def steps(self) -> int:
        """Sequence length: N*K support pairs and the query."""
        return self.n_way * self.k_shot + 1


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


@dataclass
class FewShotTrainConfig:
    """Optimisation of :func:`train_fewshot`.

    steps: optimiser steps (batches of ``batch_size`` episodes). hide_prob: see
    :func:`hide_support_labels` (0: train on the query alone). max_minutes: wall-clock budget
    (None: none). eval_every / eval_episodes: held-out accuracy on a fixed set of episodes.
    """

    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    hide_prob: float = 0.3
    grad_clip: float = 1.0
    max_minutes: float | None = None
    eval_every: int = 250
    eval_episodes: int = 500
    log_every: int = 25
    seed: int = 0

    def validate(self) -> None:
        """Raise FpaError naming the first bad field."""
        for name in ("steps", "batch_size", "eval_every", "eval_episodes", "log_every"):
            if getattr(self, name) < 1:
                raise FpaError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.lr <= 0 or self.grad_clip <= 0:
            raise FpaError(f"lr and grad_clip must be positive; got {self.lr}, {self.grad_clip}")
        if not 0.0 <= self.hide_prob < 1.0:
            raise FpaError(f"hide_prob must be in [0, 1); got {self.hide_prob}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise FpaError(f"max_minutes must be positive; got {self.max_minutes}")


class FewShotTask:
    """The images of ``root``, their class split, and episode samplers for both halves."""

    def __init__(self, root: str | Path, cfg: EpisodeConfig) -> None:
        cfg.validate()
        self.config = cfg
        self.data = load_labelled_images(root, cfg.image_size, cfg.channels, cfg.class_column)
        self.split = split_classes(self.data, cfg)
        self.train = EpisodeSampler(self.data, self.split.train, cfg.n_way, cfg.k_shot)
        self.held_out = EpisodeSampler(self.data, self.split.held_out, cfg.n_way, cfg.k_shot)

    @property
    def chance(self) -> float:
        """Accuracy of guessing: 1 / N."""
        return 1.0 / self.config.n_way


@dataclass
class FewShotResult:
    """Where a run ended: step, minutes trained (all sessions), held-out accuracy, chance, stop reason."""

    step: int
    minutes: float
    held_out_accuracy: float
    chance: float
    stopped: str
    eval_episodes: int


@torch.no_grad()
def evaluate(model: FewShotDeltaNet, sampler: EpisodeSampler, episodes: int, seed: int = 1234,
             batch_size: int = 100) -> float:
    """Query accuracy on ``episodes`` episodes drawn with ``seed`` (the same ones on every call)."""
    device = next(model.parameters()).device
    generator, correct, was_training = torch.Generator().manual_seed(seed), 0, model.training
    model.eval()
    for start in range(0, episodes, batch_size):
        batch = sampler.sample(min(batch_size, episodes - start), generator).to(device)
        correct += int((model(batch.images, batch.labels).argmax(-1) == batch.targets).sum())
    model.train(was_training)
    return correct / episodes


def train_fewshot(model: FewShotDeltaNet, task: FewShotTask, cfg: FewShotTrainConfig, out: str | Path | None = None,
                  *, resume: bool = True, progress: bool = True) -> FewShotResult:
    """Train ``model`` on ``task``'s training classes; return the held-out result.

    With ``out``, writes ``metrics.jsonl`` and ``fewshot.pt`` (atomically, at every evaluation and
    at the end) there. A checkpoint of the same configuration is resumed; one that already finished
    (steps or budget reached) is returned as it is, so notebooks can cache runs.
    """
    cfg.validate()
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(cfg.seed)
    configs = {"model": model.config.to_dict(), "episodes": asdict(task.config), "train": asdict(cfg)}
    step, minutes_before, state = 0, 0.0, None
    path = Path(out) / CHECKPOINT_FILE if out is not None else None
    if resume and path is not None and path.is_file():
        state = load_fewshot_checkpoint(path, device)
        if state["configs"] != configs:
            raise FpaError(f"{path} holds a run with another configuration; pass another run folder or start afresh")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, minutes_before = state["step"], state["minutes"]
        if state["stopped"]:
            return FewShotResult(**state["result"])
    if out is not None:
        refuse_other_run_kind(out, "few-shot")
    log = MetricsLog(Path(out) / METRICS_FILE, keep_until=step if state else None, write=True) if out else None
    started, stopped, window = time.perf_counter(), "", []
    bar = tqdm(total=cfg.steps, initial=step, desc="few-shot", disable=not progress, dynamic_ncols=True)
    model.train()
    while not stopped:
        batch = task.train.sample(cfg.batch_size, generator)
        labels, truth, mask = hide_support_labels(batch, task.config.n_way, cfg.hide_prob, generator)
        logits, _ = model.sequence_logits(batch.images.to(device), labels.to(device))
        mask = mask.to(device)
        loss = nn.functional.cross_entropy(logits[mask], truth.to(device)[mask])
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise FpaError(f"the few-shot loss became {loss_value} at step {step + 1}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        step += 1
        bar.update()
        window.append((loss_value, float((logits[:, -1].argmax(-1).cpu() == batch.targets).float().mean())))
        minutes_now = (time.perf_counter() - started) / 60
        minutes = minutes_before + minutes_now
        if step >= cfg.steps:
            stopped = "steps"
        elif cfg.max_minutes is not None and minutes_now >= cfg.max_minutes:
            stopped = "time"
        if step % cfg.log_every == 0 or stopped:
            losses, accuracies = zip(*window)
            record = {"step": step, "loss": sum(losses) / len(losses), "train_accuracy": sum(accuracies) / len(window),
                      "elapsed_s": round(minutes * 60, 1)}
            window = []
            bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['train_accuracy']:.2f}")
            if log is not None:
                log.append(record)
        if step % cfg.eval_every == 0 or stopped:
            accuracy = evaluate(model, task.held_out, cfg.eval_episodes)
            result = FewShotResult(step, minutes, accuracy, task.chance, stopped, cfg.eval_episodes)
            bar.write(f"step {step}: held-out accuracy {accuracy:.3f} (chance {task.chance:.3f})")
            if log is not None:
                log.append({"step": step, "held_out_accuracy": accuracy})
            if path is not None:
                torch_save_atomically(path, {
                    "kind": CHECKPOINT_KIND, "configs": configs, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "generator": generator.get_state(), "step": step,
                    "minutes": minutes, "stopped": stopped, "result": asdict(result),
                })
    bar.close()
    return result


def load_fewshot_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The dict saved by :func:`train_fewshot` (``path`` a ``fewshot.pt`` or its run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise FpaError(f"no few-shot checkpoint at {path}; train one with `fpa fewshot --out {path.parent}`")
    state = torch.load(path, map_location=device, weights_only=True)
    if state.get("kind") != CHECKPOINT_KIND:
        raise FpaError(f"{path} is not a few-shot checkpoint (kind {state.get('kind')!r})")
    return state


def load_fewshot_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[FewShotDeltaNet, EpisodeConfig]:
    """The trained model (in eval mode) and the episode configuration of a few-shot run."""
    state = load_fewshot_checkpoint(path, device)
    model = FewShotDeltaNet(FewShotModelConfig(**state["configs"]["model"])).to(device)
    model.load_state_dict(state["model"])
    return model.eval(), EpisodeConfig(**state["configs"]["episodes"])


def fast_weights_episode_figure(model: FewShotDeltaNet, sampler: EpisodeSampler,
                                picks: Sequence[tuple[int, int]] | None = None, seed: int = 0) -> Figure:
    """The paper's Figure 1 for one episode drawn with ``seed``: per (layer, head) pick (0-based;
    default head 1 of the first and the last layer) the update and W_t of every step, the inputs
    with their labels below, the query's prediction in the title. Uses the model in eval mode."""
    from .viz import fast_weights_figure

    device = next(model.parameters()).device
    batch = sampler.sample(1, torch.Generator().manual_seed(seed)).to(device)
    model.eval()
    with torch.no_grad():
        logits, steps = model(batch.images, batch.labels, return_steps=True)
    layers = model.config.deltanet.layers
    picks = picks if picks is not None else [(0, 0)] + ([(layers - 1, 0)] if layers > 1 else [])
    predicted, target = int(logits.argmax(-1)), int(batch.targets)
    captions = [str(label) for label in batch.labels[0, :-1].tolist()] + [f"? -> {predicted}"]
    title = (f"{model.config.deltanet.rule} rule, {sampler.n_way}-way {sampler.k_shot}-shot episode: "
             f"query predicted {predicted}, true label {target}")
    return fast_weights_figure(steps, picks, images=batch.images[0], labels=captions, title=title)
