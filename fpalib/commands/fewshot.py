"""``fpa fewshot``: train a DeltaNet on N-way K-shot emoji episodes and draw its fast weights.

    fpa fewshot [--data data/emoji] [--out runs/fewshot-delta] [--rule delta|additive]
                [--max-minutes 6] [--figure figures/deltanet_fast_weights.png] [--show 1:1,4:1]

Training and held-out classes are disjoint (:mod:`fpalib.fewshot`); prints the held-out accuracy
against chance (1/N). ``--figure`` draws the paper's Figure 1 for one held-out episode: per chosen
layer:head (1-based) the rank-one update of every step and the fast weight matrix W_t. A run
folder with a checkpoint of the same settings is resumed (or only evaluated); ``--fresh`` starts
over. ``--rule additive`` is the linear Transformer.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from fpalib.commands import add_field_options
from fpalib.errors import FpaError
from fpalib.fewshot import EpisodeConfig, FewShotTrainConfig, run_fewshot
from fpalib.models.deltanet import DeltaNetConfig, FewShotModelConfig
from fpalib.viz import fast_weights_episode_figure, save_figure

HELP = "train a DeltaNet few-shot classifier on emoji episodes; print held-out accuracy; draw Figure 1"

EPISODE_OPTIONS = ("n_way", "k_shot", "class_column", "image_size")
MODEL_OPTIONS = ("rule", "mode", "layers", "heads", "hidden")
TRAIN_OPTIONS = ("steps", "batch_size", "lr", "max_minutes", "eval_episodes", "seed")
SMALL_MODEL = {"heads": 8, "hidden": 128}
"""The CPU-sized model (FewShotModelConfig.small) instead of the paper's Figure 1 DeltaNet."""
CPU_TRAINING = {"max_minutes": 6.0, "eval_episodes": 1000}
"""A few CPU minutes of training, measured on twice the held-out episodes of the default."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/emoji"), help="labelled images (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/fewshot-<rule>)")
    parser.add_argument("--fresh", action="store_true", help="ignore a checkpoint in the run folder; start over")
    add_field_options(parser.add_argument_group("episodes"), EpisodeConfig, EPISODE_OPTIONS, defaults={})
    add_field_options(parser.add_argument_group("the DeltaNet (ff width 2 * hidden, as FewShotModelConfig.small)"),
                      DeltaNetConfig, MODEL_OPTIONS, defaults=SMALL_MODEL)
    add_field_options(parser.add_argument_group("training"), FewShotTrainConfig, TRAIN_OPTIONS, defaults=CPU_TRAINING)
    parser.add_argument("--figure", type=Path, metavar="PNG", help="write the Figure 1 style fast weight figure here")
    parser.add_argument("--show", default=None, metavar="L:H,...",
                        help="layer:head pairs (1-based) for --figure (default: head 1 of first and last layer)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default: 1; this small model gains little from more, and on a "
                        "busy machine more threads can be many times slower)")


def parse_picks(text: str | None) -> list[tuple[int, int]] | None:
    """``"1:16,4:12"`` -> [(0, 15), (3, 11)] (0-based); None stays None."""
    if text is None:
        return None
    try:
        pairs = [tuple(int(part) for part in item.split(":")) for item in text.split(",")]
    except ValueError:
        pairs = []
    if not pairs or any(len(pair) != 2 or min(pair) < 1 for pair in pairs):
        raise FpaError(f"--show {text!r} is not a list of LAYER:HEAD pairs counted from 1, e.g. 1:16,4:12")
    return [(layer - 1, head - 1) for layer, head in pairs]


def run(args: argparse.Namespace) -> int:
    picks = parse_picks(args.show)
    if args.threads < 1:
        raise FpaError(f"--threads must be at least 1; got {args.threads}")
    torch.set_num_threads(args.threads)
    episodes = EpisodeConfig(**{name: getattr(args, name) for name in EPISODE_OPTIONS})
    model_cfg = FewShotModelConfig.small(n_way=episodes.n_way, image_size=episodes.image_size,
                                         **{name: getattr(args, name) for name in MODEL_OPTIONS})
    train_cfg = FewShotTrainConfig(**{name: getattr(args, name) for name in TRAIN_OPTIONS})
    out = args.out or Path("runs") / f"fewshot-{args.rule}"
    started = time.perf_counter()
    model, task, result = run_fewshot(args.data, out, episodes, model_cfg, train_cfg, fresh=args.fresh,
                                      device=args.device)
    print(f"held-out accuracy {result.held_out_accuracy:.3f} on {result.eval_episodes} episodes "
          f"(chance {result.chance:.3f}, {result.held_out_accuracy / result.chance:.2f}x) after {result.step} steps, "
          f"{result.minutes:.1f} min of training ({(time.perf_counter() - started) / 60:.1f} min in this call); "
          f"run folder {out}")
    if args.figure is not None:
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        save_figure(fast_weights_episode_figure(model, task.held_out, picks, seed=args.seed), args.figure, dpi=100)
        print(f"wrote {args.figure}")
    return 0
