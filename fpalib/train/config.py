"""Configuration of a GAN training run: one dataclass per concern, nested in ExperimentConfig.

    ExperimentConfig
      name, objective ("gan" | "vae"), generator ("fpa" | "lightgan" | "fpa-unet" | "conv")
      painter: PainterConfig        (used when generator is "fpa" or "fpa-unet")
      lightgan: LightGANConfig      (used when generator == "lightgan")
      unet: UNetConfig              (used when generator == "fpa-unet": frozen painter + U-Net)
      conv: ConvDecoderConfig       (used when generator == "conv": the VAE's baseline decoder)
      vae: VAEConfig                (the encoder and likelihood when objective == "vae"; disc is then unused)
      refine: RefineConfig          (where an "fpa-unet" run takes its pre-trained painter from)
      disc: DiscriminatorConfig
      data: DataConfig     optim: OptimConfig     ema: EMAConfig
      loss: LossConfig     augment: AugmentConfig (DiffAugment, off in the paper)     loop: LoopConfig
      eval: EvalConfig     (fpa evaluate, and the trainer every loop.eval_every steps)

Every dataclass checks its fields in ``__post_init__`` (FpaError); the ranges and choices are in
the annotations (``PositiveInt``, ``Literal[...]``; see :class:`fpalib.errors.Checked`), which the
parser checks too. ``validate()`` checks again after fields were set in place. jsonargparse reads
and type-checks plain JSON (``from_dict``), ``--section.field VALUE`` arguments
(``parse_config_args``) and ``"section.field=value"`` overrides (``apply_overrides``) against the
dataclasses' fields. Image size and channels live in
three places (data, generator, discriminator); ExperimentConfig insists they agree and
:func:`with_image_size` changes them together.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import functools
import json
import math
import re
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser, Namespace
from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from fpalib.data import DataConfig
from fpalib.errors import Checked, FpaError, HalfOpenUnitInterval
from fpalib.models import ConvDecoderConfig, FPAWithUNetConfig, LightGANConfig, PainterConfig, UNetConfig
from fpalib.models.discriminator import DiscriminatorConfig
from fpalib.models.refined import RefineConfig
from fpalib.models.vae import VAEConfig
from fpalib.train.augment import AugmentConfig
from fpalib.train.ema import EMAConfig
from fpalib.train.eval_config import EvalConfig
from fpalib.train.losses import LossConfig
from fpalib.train.run_folder import write_atomically

GENERATOR_KINDS = ("fpa", "lightgan", "fpa-unet", "conv")
OBJECTIVES = ("gan", "vae")


@dataclass
class OptimConfig(Checked):
    """Adam for both networks (paper App. B: lr 2e-4, betas (0.5, 0.9), batch size 20).

    Attributes:
        lr: Adam's learning rate (both networks).
        betas: Adam's (beta1, beta2), e.g. --optim.betas 0.5,0.9.
        batch_size: images per micro-batch and process; one optimiser step sees
            batch_size * grad_accum * world_size images.
        grad_accum: micro-batches whose gradients are summed before each optimiser step.
    """

    lr: PositiveFloat = 2e-4
    betas: tuple[HalfOpenUnitInterval, HalfOpenUnitInterval] = (0.5, 0.9)
    batch_size: PositiveInt = 20
    grad_accum: PositiveInt = 1


@dataclass
class LoopConfig(Checked):
    """The training loop: length, periodic work, budget and output folder.

    Attributes:
        steps: total optimiser steps (a resumed run continues up to this number).
        sample_every: period in steps of the sample grids (0 disables).
        checkpoint_every: period in steps of latest.pt (0 disables).
        eval_every: period in steps of evaluations (0 disables).
        seed: seed of the weights, the data order and the sample latents.
        log_every: period of metrics.jsonl records and progress-bar updates.
        max_minutes: wall-clock budget of this invocation; when spent, checkpoint and stop.
        max_cpu_minutes: CPU-time budget of this invocation (all threads of this process), the
            fair budget for runs that share a machine; when spent, checkpoint and stop.
        amp: mixed precision (autocast + GradScaler) on CUDA; ignored on CPU.
        out: the run folder; null (None) means runs/<name>.
        eval_metric: the key of evaluate_fn's result that selects best.pt (lower is better).
        num_sample_latents: fixed latents rendered into the sample grids.
    """

    steps: NonNegativeInt = 10_000
    sample_every: NonNegativeInt = 500
    checkpoint_every: NonNegativeInt = 500
    eval_every: NonNegativeInt = 0
    log_every: PositiveInt = 10
    max_minutes: NonNegativeFloat | None = None
    max_cpu_minutes: NonNegativeFloat | None = None
    seed: int = 0
    amp: bool = True
    out: str | None = None
    eval_metric: str = "fid"
    num_sample_latents: PositiveInt = 64


@dataclass
class ExperimentConfig(Checked):
    """Everything that defines a training run; the checkpoint stores it as a dict.

    Attributes:
        name: the run's name; its folder is runs/<name> unless loop.out is set.
        objective: "gan" (the paper's: against the discriminator of section disc) or "vae" (the
            generator as the decoder of a VAE, section vae; beyond the paper).
        generator: "fpa" (the painter, section painter), "lightgan", "fpa-unet" (a frozen
            painter refined by the U-Net of section unet) or "conv" (the VAE's baseline decoder).
    """

    name: str = "experiment"
    objective: str = "gan"
    generator: str = "fpa"
    painter: PainterConfig = field(default_factory=PainterConfig)
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
    conv: ConvDecoderConfig = field(default_factory=ConvDecoderConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def generator_config(self) -> PainterConfig | LightGANConfig | FPAWithUNetConfig | ConvDecoderConfig:
        """The config of the generator: ``painter``, ``lightgan``, ``conv`` or both ``painter`` and ``unet``."""
        if self.generator == "fpa-unet":
            return FPAWithUNetConfig(self.painter, self.unet)
        return getattr(self, self.generator_section)

    @property
    def generator_section(self) -> str:
        """Name of the section that configures the trained generator (the U-Net of "fpa-unet")."""
        return {"fpa": "painter", "fpa-unet": "unet", "conv": "conv"}.get(self.generator, "lightgan")

    @property
    def run_dir(self) -> Path:
        """The run folder: ``loop.out`` or ``runs/<name>``."""
        return Path(self.loop.out) if self.loop.out else Path("runs") / self.name

    def __post_init__(self) -> None:
        """Raise FpaError unless the generator kind is known and data, generator(s) and
        discriminator agree on image size and channels."""
        if self.generator not in GENERATOR_KINDS:
            raise FpaError(f"unknown generator {self.generator!r}; choose one of {', '.join(GENERATOR_KINDS)}")
        if self.objective not in OBJECTIVES:
            raise FpaError(f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if self.objective == "vae" and self.generator == "fpa-unet":
            raise FpaError("objective 'vae' trains a painter ('fpa') or the baseline decoder ('conv'), not 'fpa-unet'")
        _ = self.generator_config  # building an "fpa-unet" FPAWithUNetConfig checks that painter and U-Net agree
        if self.generator in ("fpa", "fpa-unet") and self.painter.image_width not in (None, self.painter.image_size):
            raise FpaError("GAN training needs square images; set painter.image_width to null")
        sized = [(self.generator_section, getattr(self, self.generator_section))]
        if self.objective == "gan":
            sized.append(("disc", self.disc))
        if self.generator == "fpa-unet":
            sized.insert(0, ("painter", self.painter))
        for attribute in ("image_size", "channels"):
            wanted = getattr(self.data, attribute)
            for section, sub in sized:
                if getattr(sub, attribute) != wanted:
                    also = " and disc" if self.objective == "gan" else ""
                    raise FpaError(f"{attribute} mismatch: data.{attribute}={wanted} but {section}.{attribute}="
                                   f"{getattr(sub, attribute)}; set data, {section}{also} to the same value")


def with_image_size(cfg: ExperimentConfig, image_size: int, channels: int | None = None) -> ExperimentConfig:
    """A copy of ``cfg`` whose data, both generators and discriminator share one image size
    (and, if given, one number of channels)."""
    cfg = copy.deepcopy(cfg)
    for sub in (cfg.data, cfg.painter, cfg.lightgan, cfg.disc, cfg.unet, cfg.conv):
        sub.image_size = image_size
        if channels is not None:
            sub.channels = channels
    return cfg


def to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """The config as nested plain dicts of JSON types (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(data: dict[str, Any], base: ExperimentConfig | None = None) -> ExperimentConfig:
    """Build a config from a (possibly partial) nested dict, on top of ``base`` (default:
    ``ExperimentConfig()``). Unknown keys and ill-typed values raise FpaError naming the key."""
    if not isinstance(data, dict):
        raise FpaError(f"a config must be a JSON object of sections; got {type(data).__name__}")
    _check_keys(_flatten(data))
    return _parse(lambda: _parser().parse_object(data, namespace=_namespace(base)))


def parse_config_args(args: Sequence[str], base: ExperimentConfig | None = None) -> ExperimentConfig:
    """``base`` (default ``ExperimentConfig()``) with ``--section.field VALUE`` arguments applied.

    jsonargparse reads the values: ``true``/``false``, ``null``, numbers (``1e-3``, ``450_000``;
    not ``4.5e5`` for an integer) and lists as ``[0.5,0.9]`` or, for tuple fields, ``0.5,0.9``.
    """
    _check_keys([arg[2:].partition("=")[0] for arg in args if arg.startswith("--")])
    return _parse(lambda: _parser().parse_args(_bracket_lists(args), namespace=_namespace(base)))


@functools.cache
def _parser() -> ArgumentParser:
    """The jsonargparse parser of every ExperimentConfig field (built once: building it is slow)."""
    parser = ArgumentParser(prog="fpa train", exit_on_error=False, usage=argparse.SUPPRESS)
    parser.add_class_arguments(ExperimentConfig, default=ExperimentConfig())
    return parser


def _namespace(base: ExperimentConfig | None) -> Namespace | None:
    return None if base is None else Namespace(_flatten(to_dict(base)))  # None: the dataclasses' defaults


def _parse(parse: Callable[[], Any]) -> ExperimentConfig:
    """The ExperimentConfig of ``parse()``'s namespace; jsonargparse's errors as one-line FpaErrors
    (its message on one line, after the key)."""
    try:
        namespace = parse()
    except argparse.ArgumentError as error:
        message = " ".join(str(error).split())
        key = re.match(r'Parser key "([^"]+)": ', message)
        raise FpaError(f"config key '{key[1]}': {message[key.end():]}" if key else message) from None
    for key, value in _flatten(namespace.as_dict()).items():
        for number in value if isinstance(value, (list, tuple)) else [value]:
            if (isinstance(number, float) and not math.isfinite(number)) or (
                    isinstance(number, int) and abs(number) >= 2**63):
                what = "an integer below 2**63" if isinstance(number, int) else "a finite number"
                raise FpaError(f"config key {key!r}: expected {what}; got {number}")
    return ExperimentConfig(**vars(_parser().instantiate(namespace)))


def _bracket_lists(args: list[str]) -> list[str]:
    """Comma-separated values of tuple fields (``--optim.betas 0.5,0.9``, ``--eval.metrics ''``)
    in the brackets jsonargparse reads (``[0.5,0.9]``, ``[]``), and ``none`` for an optional
    field (``--loop.out none``, the spelling of older versions) as ``null``."""
    def rewritten(option: str, value: str) -> str:
        hint = _field_hints().get(option[2:])
        if type(None) in typing.get_args(hint) and value.lower() == "none":
            return "null"
        return f"[{value}]" if typing.get_origin(hint) is tuple and not value.startswith("[") else value

    result = []
    for index, arg in enumerate(args):
        option, separator, value = arg.partition("=")
        if not arg.startswith("--"):  # the value of the option before it
            result.append(rewritten(args[index - 1] if index else "", arg))
        else:  # "--key=value", or "--key" alone with its value next
            result.append(f"{option}={rewritten(option, value)}" if separator else arg)
    return result


@functools.cache
def _field_hints(section: type = ExperimentConfig, prefix: str = "") -> dict[str, Any]:
    """The type of every dotted key, e.g. ``{"optim.betas": tuple[float, float], ...}``."""
    hints = {}
    for name, hint in typing.get_type_hints(section).items():
        if dataclasses.is_dataclass(hint):
            hints.update(_field_hints(hint, f"{prefix}{name}."))
        else:
            hints[f"{prefix}{name}"] = hint
    return hints


def config_help() -> str:
    """Every config field with its type, default and the description from its dataclass docstring."""
    lines = _parser().format_help().splitlines()
    text = "\n".join(line for line in lines if "Path to a configuration file" not in line)  # sections: no files
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", text)  # Sphinx roles (:class:`X`) as plain names


def config_keys() -> list[str]:
    """Every settable dotted key, e.g. ``["name", "generator", "painter.image_size", ...]``."""
    return list(_field_hints())


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
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


def _check_keys(keys: typing.Iterable[str]) -> None:
    """FpaError for the first key that is not a config field, with the closest ones."""
    known = config_keys()
    for key in keys:
        if key in known:
            continue
        if any(k.startswith(f"{key}.") for k in known):
            raise FpaError(f"config key {key!r} is a section; set its fields, e.g. {key}.<field>")
        matches = difflib.get_close_matches(key, known, n=4, cutoff=0.6)
        matches = matches or [k for k in known if k.startswith(f"{key.split('.')[0]}.")][:8]
        hint = f"; did you mean: {', '.join(matches)}?" if matches else ""
        raise FpaError(f"unknown config key {key!r}{hint} (`fpa train --help` lists them all)")


def apply_overrides(cfg: ExperimentConfig, overrides: Sequence[str]) -> ExperimentConfig:
    """A copy of ``cfg`` with ``"section.field=value"`` overrides applied (values as in
    :func:`parse_config_args`), e.g. ``apply_overrides(cfg, ["painter.hidden=1024", "optim.betas=0.5,0.9"])``.
    Unknown keys raise FpaError listing close matches.
    """
    args = []
    for override in overrides:
        key, separator, value = override.partition("=")
        if not separator or not key.strip():
            raise FpaError(f"override {override!r} must look like section.field=value, e.g. loop.steps=100")
        args.append(f"--{key.strip()}={value}")
    return parse_config_args(args, base=cfg)


def load_config_file(path: str | Path, base: ExperimentConfig | None = None) -> ExperimentConfig:
    """Read a JSON config file (complete or partial) on top of ``base``."""
    path = Path(path)
    if path.is_dir():
        raise FpaError(f"config file {path} is a folder; give the JSON file (e.g. {path / 'config.json'})")
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
    write_atomically(path, json.dumps(to_dict(cfg), indent=2) + "\n")
