"""Few-shot episodes (label bookkeeping, class split), training, checkpoints, the command and Figure 1."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fpalib import cli
from fpalib.errors import FpaError
from fpalib.fewshot import (
    CHECKPOINT_FILE,
    EpisodeConfig,
    EpisodeSampler,
    FewShotTask,
    FewShotTrainConfig,
    evaluate,
    hide_support_labels,
    load_fewshot_model,
    load_labelled_images,
    split_classes,
    train_fewshot,
)
from fpalib.models.deltanet import DeltaNetConfig, FewShotDeltaNet, FewShotModelConfig
from fpalib.viz import fast_weights_episode_figure, fast_weights_figure

CLASSES, PER_CLASS = 12, 7


def write_class_folder(folder: Path, classes: int = CLASSES, per_class: int = PER_CLASS) -> Path:
    """classes x per_class 8x8 PNGs, one base colour per class plus noise, and a metadata.csv."""
    rng = np.random.default_rng(0)
    rows = []
    for c in range(classes):
        base = rng.integers(0, 256, size=3)
        for i in range(per_class):
            pixels = np.clip(base + rng.integers(-20, 21, size=(8, 8, 3)), 0, 255).astype(np.uint8)
            relative = f"group{c % 3}/c{c}_{i}.png"
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / relative)
            rows.append({"file": relative, "subcategory": f"class{c}", "category": f"group{c % 3}"})
    with (folder / "metadata.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["file", "subcategory", "category"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_class_folder(tmp_path_factory.mktemp("classes"))


def small_episodes(**changes) -> EpisodeConfig:
    return EpisodeConfig(**{"n_way": 3, "k_shot": 2, "image_size": 8, "held_out_fraction": 0.34, **changes})


def tiny_model(n_way: int = 3, rule: str = "delta", layers: int = 1) -> FewShotDeltaNet:
    deltanet = DeltaNetConfig(hidden=32, layers=layers, heads=2, ff_dim=32, rule=rule)
    return FewShotDeltaNet(FewShotModelConfig(n_way=n_way, image_size=8, conv_channels=8, conv_blocks=1,
                                              deltanet=deltanet))


def test_classes_come_from_the_metadata_column_or_the_folders(class_folder: Path, tmp_path: Path):
    data = load_labelled_images(class_folder, 8, class_column="subcategory")
    assert data.images.shape == (CLASSES * PER_CLASS, 3, 8, 8)
    assert len(data.class_names) == CLASSES and torch.bincount(data.classes).tolist() == [PER_CLASS] * CLASSES
    assert len(load_labelled_images(class_folder, 8, class_column="category").class_names) == 3
    without = write_class_folder(tmp_path / "plain", classes=2, per_class=2)
    (without / "metadata.csv").unlink()
    assert load_labelled_images(without, 8).class_names == ["group0", "group1"]
    with pytest.raises(FpaError, match="colour"):
        load_labelled_images(class_folder, 8, class_column="colour")


def test_split_is_disjoint_seeded_and_leaves_out_small_classes(class_folder: Path):
    data = load_labelled_images(class_folder, 8)
    split = split_classes(data, small_episodes())
    assert not set(split.train) & set(split.held_out) and len(split.held_out) == 4
    assert sorted(split.train + split.held_out) == list(range(CLASSES)) and split.too_small == []
    assert split_classes(data, small_episodes()) == split
    assert split_classes(data, small_episodes(split_seed=1)) != split
    assert len(split_classes(data, small_episodes(k_shot=6)).too_small) == 0
    with pytest.raises(FpaError, match="at least 8 images"):
        split_classes(data, small_episodes(k_shot=7))


def test_episode_label_bookkeeping(class_folder: Path):
    data = load_labelled_images(class_folder, 8)
    allowed = [0, 2, 3, 5, 7, 11]
    sampler = EpisodeSampler(data, allowed, n_way=3, k_shot=2)
    batch = sampler.sample(40, torch.Generator().manual_seed(0))
    assert batch.images.shape == (40, 7, 3, 8, 8) and batch.labels.shape == batch.indices.shape == (40, 7)
    torch.testing.assert_close(batch.images, data.images[batch.indices])
    for b in range(40):
        classes = batch.classes[b].tolist()
        assert len(set(classes)) == 3 and set(classes) <= set(allowed)
        support, labels = batch.indices[b, :-1], batch.labels[b, :-1]
        assert sorted(labels.tolist()) == [0, 0, 1, 1, 2, 2]
        assert all(data.classes[i] == classes[label] for i, label in zip(support.tolist(), labels.tolist()))
        assert batch.labels[b, -1] == 3  # the "unknown" label of the query
        query = int(batch.indices[b, -1])
        assert data.classes[query] == classes[int(batch.targets[b])] and query not in support.tolist()
        assert len(set(support.tolist())) == 6
    # labels are re-drawn per episode: the same class gets different labels across episodes
    assert len({(int(c), j) for row in batch.classes for j, c in enumerate(row)}) > len(allowed)
    again = sampler.sample(40, torch.Generator().manual_seed(0))
    assert torch.equal(again.indices, batch.indices) and torch.equal(again.targets, batch.targets)


def test_hidden_support_labels_and_their_loss_mask(class_folder: Path):
    data = load_labelled_images(class_folder, 8)
    batch = EpisodeSampler(data, range(CLASSES), 3, 2).sample(30, torch.Generator().manual_seed(1))
    labels, truth, mask = hide_support_labels(batch, 3, 0.5, torch.Generator().manual_seed(2))
    assert torch.equal(truth[:, :-1], batch.labels[:, :-1]) and torch.equal(truth[:, -1], batch.targets)
    assert (labels[:, -1] == 3).all() and mask[:, -1].all()
    hidden = labels == 3
    assert torch.equal(labels[~hidden], truth[~hidden]) and hidden[:, :-1].any()
    for b, t in zip(*torch.nonzero(mask[:, :-1], as_tuple=True), strict=True):
        assert hidden[b, t] and (truth[b, :t][~hidden[b, :t]] == truth[b, t]).any()
    assert not mask[:, :-1].all()  # some hidden steps cannot be known: their class was not shown yet
    labels0, _, mask0 = hide_support_labels(batch, 3, 0.0, torch.Generator())
    assert torch.equal(labels0, batch.labels) and mask0.sum() == 30


def test_task_rejects_bad_settings(class_folder: Path, tmp_path: Path):
    with pytest.raises(FpaError, match="n_way"):
        FewShotTask(class_folder, small_episodes(n_way=1))
    with pytest.raises(FpaError, match="does not exist"):
        FewShotTask(tmp_path / "missing", small_episodes())
    with pytest.raises(FpaError, match="hide_prob"):
        FewShotTrainConfig(hide_prob=1.0).validate()


@pytest.mark.slow
def test_short_training_beats_chance_on_held_out_classes(class_folder: Path):
    task = FewShotTask(class_folder, small_episodes(n_way=2, k_shot=2, held_out_fraction=0.25))
    model = tiny_model(n_way=2)
    before = evaluate(model, task.held_out, 300)
    result = train_fewshot(model, task, FewShotTrainConfig(steps=300, batch_size=16, lr=3e-3, eval_every=300,
                                                           eval_episodes=300), progress=False)
    assert result.chance == 0.5 and result.step == 300 and result.stopped == "steps"
    assert result.held_out_accuracy == evaluate(model, task.held_out, 300)
    assert result.held_out_accuracy > 0.7 > before + 0.1, (before, result)


def test_run_folder_is_resumed_finished_runs_are_returned_and_models_reload(class_folder: Path, tmp_path: Path):
    task = FewShotTask(class_folder, small_episodes())
    cfg = FewShotTrainConfig(steps=4, batch_size=4, eval_every=2, eval_episodes=20, log_every=1)
    first = train_fewshot(tiny_model(), task, cfg, tmp_path, progress=False)
    assert (tmp_path / CHECKPOINT_FILE).is_file() and (tmp_path / "metrics.jsonl").is_file()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4 + 2
    again = train_fewshot(tiny_model(), task, cfg, tmp_path, progress=False)
    assert again == first
    model, episodes = load_fewshot_model(tmp_path)
    assert episodes == task.config and evaluate(model, task.held_out, 20) == first.held_out_accuracy
    with pytest.raises(FpaError, match="another configuration"):
        train_fewshot(tiny_model(), task, FewShotTrainConfig(steps=5, batch_size=4), tmp_path, progress=False)


def test_fast_weights_figure_has_two_rows_per_head_and_an_input_row(class_folder: Path):
    task = FewShotTask(class_folder, small_episodes())
    model = tiny_model(layers=2)
    figure = fast_weights_episode_figure(model, task.held_out, picks=[(0, 1), (1, 0)])
    assert figure.axes[0].get_subplotspec().get_gridspec().get_geometry() == (5, 7)
    assert "query predicted" in figure._suptitle.get_text()
    batch = task.held_out.sample(1, torch.Generator().manual_seed(0))
    _, steps = model(batch.images, batch.labels, return_steps=True)
    assert fast_weights_figure(steps, [(1, 1)]).axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 7)
    with pytest.raises(FpaError, match="out of range"):
        fast_weights_figure(steps, [(2, 0)])
    with pytest.raises(FpaError, match="one entry per step"):
        fast_weights_figure(steps, [(0, 0)], images=batch.images[0, :3])


def test_fewshot_command_trains_prints_accuracy_and_writes_the_figure(class_folder: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture):
    figure = tmp_path / "figure.png"
    status = cli.main(["fewshot", "--data", str(class_folder), "--out", str(tmp_path / "run"), "--n-way", "3",
                       "--k-shot", "2", "--image-size", "8", "--layers", "2", "--heads", "2", "--hidden", "16",
                       "--steps", "3", "--batch-size", "4", "--eval-episodes", "10", "--figure", str(figure),
                       "--show", "2:1", "--device", "cpu"])
    out = capsys.readouterr().out
    assert status == 0 and figure.is_file() and "held-out accuracy" in out and "chance 0.333" in out
    assert cli.main(["fewshot", "--data", str(class_folder), "--show", "0:1"]) == 2
    assert "LAYER:HEAD" in capsys.readouterr().err
