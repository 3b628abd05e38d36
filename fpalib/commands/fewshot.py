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

from fpalib.errors import FpaError
from fpalib.fewshot import EpisodeConfig, FewShotTrainConfig, run_fewshot
from fpalib.models.deltanet import FewShotModelConfig
from fpalib.rules import MODES
from fpalib.rules.readout import READOUTS
from fpalib.viz import fast_weights_episode_figure, save_figure

HELP = "train a DeltaNet few-shot classifier on emoji episodes; print held-out accuracy; draw Figure 1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/emoji"), help="labelled images (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/fewshot-<rule>)")
    parser.add_argument("--fresh", action="store_true", help="ignore a checkpoint in the run folder; start over")
    parser.add_argument("--rule", choices=sorted(READOUTS), default="delta",
                        help="fast weight rule (default: %(default)s)")
    parser.add_argument("--mode", choices=MODES, default="parallel", help="parallel form or loop (same result)")
    parser.add_argument("--n-way", type=int, default=5, help="classes per episode (default: %(default)s)")
    parser.add_argument("--k-shot", type=int, default=5, help="examples per class (default: %(default)s)")
    parser.add_argument("--class-column", default="subcategory", help="metadata.csv class column (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=16, help="image side (default: %(default)s)")
    parser.add_argument("--layers", type=int, default=4, help="DeltaNet layers (default: %(default)s)")
    parser.add_argument("--heads", type=int, default=8, help="heads per layer (default: %(default)s)")
    parser.add_argument("--hidden", type=int, default=128, help="hidden size; head size = hidden / heads (default: 128)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="episodes per step (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--max-minutes", type=float, default=6.0, help="training time budget (default: %(default)s)")
    parser.add_argument("--eval-episodes", type=int, default=1000, help="held-out episodes (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation and episodes (default: 0)")
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
    rule = args.rule
    episodes = EpisodeConfig(n_way=args.n_way, k_shot=args.k_shot, image_size=args.image_size,
                             class_column=args.class_column)
    model_cfg = FewShotModelConfig.small(n_way=args.n_way, image_size=args.image_size, hidden=args.hidden,
                                         layers=args.layers, heads=args.heads, rule=rule, mode=args.mode)
    train_cfg = FewShotTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                   max_minutes=args.max_minutes, eval_episodes=args.eval_episodes, seed=args.seed)
    out = args.out or Path("runs") / f"fewshot-{rule}"
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
