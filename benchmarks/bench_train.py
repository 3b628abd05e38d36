"""Training-step cost by component, and generation speed, for the painter and LightGAN.

Usage:
    python benchmarks/bench_train.py                          # both presets, CPU (+ CUDA)
    python benchmarks/bench_train.py --presets emoji32-cpu --device cpu --min-run-time 1

For each preset (``paper-celeba64``: the paper's 64x64 CelebA setting, batch 20;
``emoji32-cpu``: the small CPU painter, batch 32) three generators are compared in the same
run: the FPA with the parallel delta rule (fpalib's default), the same FPA with the sequential
loop rule (the authors' formulation), and the LightGAN generator. Real images are random
tensors, so data loading is not part of the numbers.

Table 1, ms per training step. "step" is a complete GanStep (D update then G update), the
mean over 4 consecutive steps so that the gradient penalty (every 4th step) is amortised as
in training. The component rows are each timed alone, with the shapes and the calls of one
step: the generator runs once without gradients (fakes for D) and once with forward+backward
(G update), so each generator component row is (no-grad forward) + (forward+backward):

    input gen    InputGenerator (z -> x_1..T)
    LSTM         SequenceProcessor (the LSTM)
    rule         UpdateNet: projection to keys/values/learning rates + the learning rule
    generator    the whole LightGAN generator (no painter components there)
    disc         D forward+backward on reals (with the auxiliary decoder) and fakes (D update)
                 + D forward+backward to the fakes (G update)
    loss+gp      the gradient penalty's extra cost (double backward), amortised over 4 steps
    optim+EMA    both Adam steps and one EMA update
    other        step minus the sum of the rows (autograd glue, losses, zero_grad, ...)

With ``--amp`` (on CUDA) one more row times the complete step under bfloat16 autocast, as
``fpa train`` runs it on a GPU. A preset whose generator is LightGAN
(``paper-celeba64-lightgan``) has the LightGAN column only.

Table 2, generated images per second (inference, EMA-style ``no_grad``) at batch 1 and 256.
The paper reports about 55 images/s at batch 1 on a V100 for its FPA and about 160 for
LightGAN (Irie & Schmidhuber, 2023, App. C.2).
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn

from fpalib.models import build_generator
from fpalib.models.discriminator import Discriminator
from fpalib.profiling import median_seconds
from fpalib.train.ema import EMA, EMAConfig
from fpalib.train.losses import discriminator_hinge_loss, generator_loss, gradient_penalty
from fpalib.train.presets import get_preset
from fpalib.train.step import GanStep

VARIANTS = ("fpa parallel", "fpa loop", "lightgan")


def build_variant(preset: str, variant: str, device: torch.device):
    """(config, generator, discriminator) of one benchmark column, on ``device``."""
    cfg = get_preset(preset)
    if variant == "lightgan":
        cfg.generator = "lightgan"
    else:
        cfg.painter.rule_mode = "parallel" if variant == "fpa parallel" else "loop"
    torch.manual_seed(0)
    generator = build_generator(cfg.generator, cfg.generator_config).to(device)
    discriminator = Discriminator(cfg.disc).to(device)
    return cfg, generator, discriminator


def gen_and_grad(fn, *inputs: torch.Tensor):
    """The cost a generator component has in one step: a no-grad forward + a forward+backward."""
    def call():
        with torch.no_grad():
            fn(*inputs)
        out = fn(*inputs)
        out.backward(torch.ones_like(out))
    return call


def component_times(cfg, generator: nn.Module, disc: Discriminator, device, min_run_time: float) -> dict:
    """Seconds per step of each component (see the module docstring)."""
    batch = cfg.optim.batch_size
    z = torch.randn(batch, generator.latent_dim, device=device)
    real = torch.rand(batch, cfg.data.channels, cfg.data.image_size, cfg.data.image_size, device=device) * 2 - 1
    times = {}
    if cfg.generator == "fpa":
        x = generator.input_generator(z).detach()
        hidden = generator.sequence_processor(x, z).detach().requires_grad_()
        x.requires_grad_()
        times["input gen"] = median_seconds(gen_and_grad(generator.input_generator, z), min_run_time=min_run_time)
        times["LSTM"] = median_seconds(
            gen_and_grad(generator.sequence_processor, x, z), min_run_time=min_run_time
        )
        times["rule"] = median_seconds(gen_and_grad(generator.update_net, hidden), min_run_time=min_run_time)
    else:
        times["generator"] = median_seconds(gen_and_grad(generator, z), min_run_time=min_run_time)
    with torch.no_grad():
        fake = generator(z)

    def disc_call():
        real_out, fake_out = disc(real, aux=True), disc(fake, aux=False)
        (discriminator_hinge_loss(real_out, fake_out) + real_out.aux_loss).backward()
        generator_loss(disc(fake.detach().requires_grad_(), aux=False)).backward()

    def penalty_call():
        images = real.detach().requires_grad_()
        out = disc(images, aux=True)
        (discriminator_hinge_loss(out, out) + 10 * gradient_penalty(images, out)).backward()

    def no_penalty_call():
        out = disc(real, aux=True)
        discriminator_hinge_loss(out, out).backward()

    times["disc"] = median_seconds(disc_call, min_run_time=min_run_time)
    penalty = median_seconds(penalty_call, min_run_time=min_run_time)
    times["loss+gp"] = max(penalty - median_seconds(no_penalty_call, min_run_time=min_run_time), 0.0) / 4
    times["optim+EMA"] = optimiser_and_ema_time(generator, disc, cfg, min_run_time)
    return times


def optimiser_and_ema_time(generator: nn.Module, disc: nn.Module, cfg, min_run_time: float) -> float:
    """Both Adam steps and an EMA update with gradients present."""
    for module in (generator, disc):
        for p in module.parameters():
            p.grad = torch.zeros_like(p)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas)
    ema = EMA(generator, EMAConfig(start_step=0, update_every=1, reset_until=-1))

    def call():
        opt_g.step()
        opt_d.step()
        ema.update(generator, 10)

    seconds = median_seconds(call, min_run_time=min_run_time)
    generator.zero_grad(set_to_none=True)
    disc.zero_grad(set_to_none=True)
    return seconds


def variants_of(preset: str) -> tuple[str, ...]:
    """The benchmark columns of a preset: all three, or "lightgan" alone for a LightGAN preset."""
    return ("lightgan",) if get_preset(preset).generator == "lightgan" else VARIANTS


def step_time(
    cfg, generator: nn.Module, disc: nn.Module, device, min_run_time: float, amp_dtype: torch.dtype | None = None
) -> float:
    """Mean seconds of one GanStep over 4 consecutive steps (one with the gradient penalty).

    amp_dtype: autocast dtype of the step (None: float32), as the trainer's ``loop.amp`` uses it.
    """
    batch = cfg.optim.batch_size
    real = torch.rand(batch, cfg.data.channels, cfg.data.image_size, cfg.data.image_size, device=device) * 2 - 1
    generator, disc = copy.deepcopy(generator), copy.deepcopy(disc)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    gan_step = GanStep(generator, disc, opt_g, opt_d, scaler, cfg.loss, batch_size=batch, amp_dtype=amp_dtype,
                       augment=cfg.augment)
    ema = EMA(generator, EMAConfig(start_step=0, update_every=1, reset_until=-1))

    def four_steps():
        for step in range(4):
            gan_step.run(lambda: real.clone(), step)
            ema.update(generator, 10)

    return median_seconds(four_steps, min_run_time=min_run_time) / 4


def images_per_second(generator: nn.Module, batch: int, device, min_run_time: float) -> float:
    z = torch.randn(batch, generator.latent_dim, device=device)

    @torch.no_grad()
    def call():
        generator(z)

    return batch / median_seconds(call, min_run_time=min_run_time)


def measure_preset(
    preset: str, device: torch.device, min_run_time: float, batches: list[int], amp: bool = False
) -> dict:
    """Table 1 and 2 of one preset: ``{"ms": {variant: {row: ms}}, "images_per_s": {variant: {batch: n}}}``.

    amp: also time the step under bfloat16 autocast (row "step bf16"; CUDA only).
    """
    rows: dict[str, dict[str, float]] = {}
    speed: dict[str, dict[int, float]] = {}
    for variant in variants_of(preset):
        cfg, generator, disc = build_variant(preset, variant, device)
        times = component_times(cfg, generator, disc, device, min_run_time)
        times["step"] = step_time(cfg, generator, disc, device, min_run_time)
        times["other"] = times["step"] - sum(v for k, v in times.items() if k != "step")
        if amp and device.type == "cuda":
            times["step bf16"] = step_time(cfg, generator, disc, device, min_run_time, torch.bfloat16)
        rows[variant] = {name: seconds * 1e3 for name, seconds in times.items()}
        generator.eval()
        speed[variant] = {b: images_per_second(generator, b, device, min_run_time) for b in batches}
    return {"preset": preset, "device": device_name(device), "ms": rows, "images_per_s": speed}


ROW_NAMES = ["input gen", "LSTM", "rule", "generator", "disc", "loss+gp", "optim+EMA", "other", "step", "step bf16"]


def format_preset(result: dict) -> str:
    """The two Markdown tables of a :func:`measure_preset` result."""
    preset, rows, speed = result["preset"], result["ms"], result["images_per_s"]
    variants = list(rows)
    cfg = get_preset(preset)
    compare = "fpa parallel" in rows and "fpa loop" in rows
    lines = [f"### {preset} on {result['device']}: batch {cfg.optim.batch_size}, "
             f"{cfg.data.image_size}x{cfg.data.image_size}, T={cfg.painter.num_steps}, hidden {cfg.painter.hidden}", ""]
    lines.append("| ms per training step | " + " | ".join(variants) + (" | loop / parallel |" if compare else " |"))
    lines.append("|---|" + "---:|" * (len(variants) + compare))
    for name in ROW_NAMES:
        if not any(name in rows[v] for v in variants):
            continue
        cells = [f"{rows[v][name]:.1f}" if name in rows[v] else "-" for v in variants]
        ratio = ""
        if compare:
            ok = name in rows["fpa parallel"] and rows["fpa parallel"][name] > 0
            ratio = f" {rows['fpa loop'][name] / rows['fpa parallel'][name]:.2f}x |" if ok else " - |"
        label = f"**{name}**" if name.startswith("step") else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |" + ratio)
    lines += ["", "| generated images/s | " + " | ".join(variants) + (" | parallel / loop |" if compare else " |")]
    lines.append("|---|" + "---:|" * (len(variants) + compare))
    for b in next(iter(speed.values())):
        cells = [f"{speed[v][b]:.1f}" for v in variants]
        ratio = f" {speed['fpa parallel'][b] / speed['fpa loop'][b]:.2f}x |" if compare else ""
        lines.append(f"| batch {b} | " + " | ".join(cells) + " |" + ratio)
    return "\n".join(lines)


def run_preset(preset: str, device: torch.device, min_run_time: float, batches: list[int], amp: bool = False) -> None:
    """Measure one preset and print its tables."""
    print("\n" + format_preset(measure_preset(preset, device, min_run_time, batches, amp)), flush=True)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="emoji32-cpu,paper-celeba64")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--batches", default="1,256", help="generation batch sizes")
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--amp", action="store_true", help="on CUDA, also time the step under bfloat16 autocast")
    args = parser.parse_args()
    devices = [torch.device("cpu")] if args.device != "cuda" else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    torch.backends.cudnn.benchmark = True
    for device in devices:
        for preset in args.presets.split(","):
            run_preset(preset, device, args.min_run_time, [int(b) for b in args.batches.split(",")], args.amp)


if __name__ == "__main__":
    main()
