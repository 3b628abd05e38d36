"""Configuration of a GAN training run: one dataclass per concern, nested in ExperimentConfig.

    ExperimentConfig
      name, generator ("fpa" | "lightgan" | "fpa-unet")
      model: PainterConfig          (used when generator is "fpa" or "fpa-unet")
      lightgan: LightGANConfig      (used when generator == "lightgan")
      unet: UNetConfig              (used when generator == "fpa-unet": frozen painter + U-Net)
      refine: RefineConfig          (where an "fpa-unet" run takes its pre-trained painter from)
      disc: DiscriminatorConfig
      data: DataConfig     optim: OptimConfig     ema: EMAConfig
      loss: LossConfig     augment: AugmentConfig (DiffAugment, off in the paper)     loop: LoopConfig
      eval: EvalConfig     (fpa evaluate, and the trainer every loop.eval_every steps)

A config round-trips through plain JSON (``to_dict`` / ``from_dict``) and takes command-line
style overrides ``"section.field=value"`` (``apply_overrides``); values are coerced to the
field's declared type. Image size and channels live in three places (data, generator,
discriminator); :meth:`ExperimentConfig.validate` insists they agree and
:func:`with_image_size` changes them together.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpalib.errors import FpaError
from fpalib.models import LightGANConfig, PainterConfig, RefinedConfig, UNetConfig
from fpalib.models.refined import RefineConfig
from fpalib.models.discriminator import DiscriminatorConfig
from fpalib.train.ema import EMAConfig
from fpalib.train.eval_config import EvalConfig
from fpalib.train.config_values import coerce
from fpalib.train.files import write_text_atomically
from fpalib.train.augment import AugmentConfig
from fpalib.train.losses import LossConfig

GENERATOR_KINDS = ("fpa", "lightgan", "fpa-unet")


@dataclass
class DataConfig:
    """The training images: a folder of images, resized to image_size x image_size.

    hflip: random horizontal flips (the paper uses no augmentation).
    num_workers: DataLoader worker processes (0 loads in the training process).
    """

    path: str = "data/emoji"
    image_size: int = 64
    channels: int = 3
    hflip: bool = False
    num_workers: int = 0


@dataclass
class OptimConfig:
    """Adam for both networks (paper App. B: lr 2e-4, betas (0.5, 0.9), batch size 20).

    batch_size: images per micro-batch and process; one optimiser step sees
        batch_size * grad_accum * world_size images.
    grad_accum: micro-batches whose gradients are summed before each optimiser step.
    """

    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    batch_size: int = 20
    grad_accum: int = 1


@dataclass
class LoopConfig:
    """The training loop: length, periodic work, budget and output folder.

    steps: total optimiser steps (a resumed run continues up to this number).
    sample_every / checkpoint_every / eval_every: period in steps (0 disables).
    log_every: period of metrics.jsonl records and progress-bar updates.
    max_minutes: wall-clock budget of this invocation; when spent, checkpoint and stop.
    max_cpu_minutes: CPU-time budget of this invocation (all threads of this process), the
        fair budget for runs that share a machine; when spent, checkpoint and stop.
    amp: mixed precision (autocast + GradScaler) on CUDA; ignored on CPU.
    out: the run folder; None means runs/<name>.
    eval_metric: the key of evaluate_fn's result that selects best.pt (lower is better).
    num_sample_latents: fixed latents rendered into the sample grids.
    """

    steps: int = 10_000
    sample_every: int = 500
    checkpoint_every: int = 500
    eval_every: int = 0
    log_every: int = 10
    max_minutes: float | None = None
    max_cpu_minutes: float | None = None
    seed: int = 0
    amp: bool = True
    out: str | None = None
    eval_metric: str = "fid"
    num_sample_latents: int = 64


RETIRED_KEYS = ("loop.nan_retries",)
"""Keys that configs of older versions hold: read without error and ignored (the trainer no
longer reloads a checkpoint after non-finite losses; it stops)."""


@dataclass
class ExperimentConfig:
    """Everything that defines a training run; the checkpoint stores it as a dict."""

    name: str = "experiment"
    generator: str = "fpa"
    model: PainterConfig = field(default_factory=PainterConfig)
    lightgan: LightGANConfig = field(default_factory=LightGANConfig)
    disc: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def generator_config(self) -> PainterConfig | LightGANConfig | RefinedConfig:
        """The config of the generator: ``model``, ``lightgan`` or both ``model`` and ``unet``."""
        if self.generator == "fpa-unet":
            return RefinedConfig(self.model, self.unet)
        return self.model if self.generator == "fpa" else self.lightgan

    @property
    def generator_section(self) -> str:
        """Name of the section that configures the trained generator (the U-Net of "fpa-unet")."""
        return {"fpa": "model", "fpa-unet": "unet"}.get(self.generator, "lightgan")

    @property
    def run_dir(self) -> Path:
        """The run folder: ``loop.out`` or ``runs/<name>``."""
        return Path(self.loop.out) if self.loop.out else Path("runs") / self.name

    def validate(self) -> ExperimentConfig:
        """Raise FpaError for the first inconsistent or out-of-range value; return self."""
        if self.generator not in GENERATOR_KINDS:
            raise FpaError(f"unknown generator {self.generator!r}; choose one of {', '.join(GENERATOR_KINDS)}")
        self.generator_config.validate()
        self.disc.validate()
        self.ema.validate()
        self.loss.validate()
        self.augment.validate()
        self.eval.validate()
        if self.generator != "lightgan" and self.model.image_width not in (None, self.model.image_size):
            raise FpaError("GAN training needs square images; set model.image_width to none")
        sized = [(self.generator_section, getattr(self, self.generator_section)), ("disc", self.disc)]
        if self.generator == "fpa-unet":
            sized.insert(0, ("model", self.model))
        for attribute in ("image_size", "channels"):
            wanted = getattr(self.data, attribute)
            for section, sub in sized:
                if getattr(sub, attribute) != wanted:
                    raise FpaError(
                        f"{attribute} mismatch: data.{attribute}={wanted} but {section}.{attribute}="
                        f"{getattr(sub, attribute)}; set all of data, {section} and disc to the same value"
                    )
        _check_ranges(self)
        return self


def _check_ranges(cfg: ExperimentConfig) -> None:
    """Raise FpaError for a non-positive size, rate or period in data/optim/loop."""
    minimums = {
        "data.num_workers": (cfg.data.num_workers, 0),
        "optim.batch_size": (cfg.optim.batch_size, 1),
        "optim.grad_accum": (cfg.optim.grad_accum, 1),
        "loop.steps": (cfg.loop.steps, 0),
        "loop.sample_every": (cfg.loop.sample_every, 0),
        "loop.checkpoint_every": (cfg.loop.checkpoint_every, 0),
        "loop.eval_every": (cfg.loop.eval_every, 0),
        "loop.log_every": (cfg.loop.log_every, 1),
        "loop.num_sample_latents": (cfg.loop.num_sample_latents, 1),
        "loop.max_minutes": (0 if cfg.loop.max_minutes is None else cfg.loop.max_minutes, 0),
        "loop.max_cpu_minutes": (0 if cfg.loop.max_cpu_minutes is None else cfg.loop.max_cpu_minutes, 0),
    }
    for key, (value, minimum) in minimums.items():
        if value < minimum:
            raise FpaError(f"{key} must be at least {minimum}; got {value}")
    if not cfg.optim.lr > 0:
        raise FpaError(f"optim.lr must be positive; got {cfg.optim.lr}")
    if not all(0 <= beta < 1 for beta in cfg.optim.betas):
        raise FpaError(f"optim.betas must lie in [0, 1); got {cfg.optim.betas}")


def with_image_size(cfg: ExperimentConfig, image_size: int, channels: int | None = None) -> ExperimentConfig:
    """A copy of ``cfg`` whose data, both generators and discriminator share one image size
    (and, if given, one number of channels)."""
    cfg = copy.deepcopy(cfg)
    for sub in (cfg.data, cfg.model, cfg.lightgan, cfg.disc, cfg.unet):
        sub.image_size = image_size
        if channels is not None:
            sub.channels = channels
    return cfg


# ----------------------------------------------------------------------------- dict round trip
def to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """The config as nested plain dicts of JSON types (tuples become lists)."""
    return _jsonable(dataclasses.asdict(cfg))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def from_dict(data: dict[str, Any], base: ExperimentConfig | None = None) -> ExperimentConfig:
    """Build a config from a (possibly partial) nested dict, on top of ``base`` (default:
    ``ExperimentConfig()``). Unknown keys and ill-typed values raise FpaError naming the key."""
    if not isinstance(data, dict):
        raise FpaError(f"a config must be a JSON object of sections; got {type(data).__name__}")
    for key in RETIRED_KEYS:
        section, _, name = key.partition(".")
        if isinstance(data.get(section), dict) and name in data[section]:
            data = {**data, section: {k: v for k, v in data[section].items() if k != name}}
    return _merge(base if base is not None else ExperimentConfig(), data, prefix="")


def _merge(instance: Any, data: dict[str, Any], prefix: str) -> Any:
    """A copy of the dataclass ``instance`` with the values in ``data`` (recursively) set."""
    hints = typing.get_type_hints(type(instance))
    names = {f.name for f in dataclasses.fields(instance) if f.init}
    changes = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if name not in names:
            raise FpaError(f"unknown config key {key!r}{_suggestions(key)}")
        current = getattr(instance, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise FpaError(f"config key {key!r} is a section; set its fields, e.g. {key}.<field>")
            changes[name] = _merge(current, value, prefix=f"{key}.")
        else:
            changes[name] = coerce(value, hints[name], key)
    return dataclasses.replace(instance, **changes)


def config_keys(cfg: ExperimentConfig | None = None) -> list[str]:
    """Every settable dotted key, e.g. ``["name", "generator", "model.image_size", ...]``."""
    return list(_flatten(to_dict(cfg if cfg is not None else ExperimentConfig())))


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_differences(a: ExperimentConfig, b: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """The dotted keys whose values differ between two configs: key -> (value in a, value in b)."""
    flat_a, flat_b = _flatten(to_dict(a)), _flatten(to_dict(b))
    return {key: (flat_a[key], flat_b[key]) for key in flat_a if flat_a[key] != flat_b[key]}


def _suggestions(key: str) -> str:
    matches = difflib.get_close_matches(key, config_keys(), n=4, cutoff=0.6)
    if not matches:
        section = key.split(".")[0]
        matches = [k for k in config_keys() if k.startswith(f"{section}.")][:8]
    return f"; did you mean: {', '.join(matches)}?" if matches else ""


# ----------------------------------------------------------------------------- overrides, files
def apply_overrides(cfg: ExperimentConfig, overrides: typing.Sequence[str]) -> ExperimentConfig:
    """A copy of ``cfg`` with ``"section.field=value"`` overrides applied in order.

    Example: ``apply_overrides(cfg, ["model.hidden=1024", "optim.betas=0.5,0.9"])``.
    Unknown keys raise FpaError listing close matches.
    """
    for override in overrides:
        key, separator, value = override.partition("=")
        key = key.strip()
        if not separator or not key:
            raise FpaError(f"override {override!r} must look like section.field=value, e.g. loop.steps=100")
        nested: dict[str, Any] = {}
        node = nested
        *sections, leaf = key.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
        cfg = from_dict(nested, base=cfg)
    return cfg


def load_config_file(path: str | Path, base: ExperimentConfig | None = None) -> ExperimentConfig:
    """Read a JSON config file (complete or partial) on top of ``base``."""
    path = Path(path)
    if not path.is_file():
        raise FpaError(f"config file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise FpaError(f"config file {path} is not UTF-8 text (byte {error.start}); save it as UTF-8 JSON") from None
    except json.JSONDecodeError as error:
        raise FpaError(f"config file {path} is not valid JSON: {error}") from None
    return from_dict(data, base=base)


def save_config_file(cfg: ExperimentConfig, path: str | Path) -> None:
    """Write the config as indented JSON (readable by :func:`load_config_file`), atomically."""
    write_text_atomically(path, json.dumps(to_dict(cfg), indent=2) + "\n")
