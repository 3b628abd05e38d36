"""fpalib's GPU path in one command: tests, benchmarks and a timed training, as a report.

Usage (from the repository root; no install needed, torch >= 2.11):
    PYTHONPATH=. python3 benchmarks/gpu_check.py --out gpu-check     # a CUDA machine, about 8 min
    PYTHONPATH=. python3 benchmarks/gpu_check.py --dry --out /tmp/x   # every part tiny, on the CPU
    make gpu-check                                                    # the first line

Writes ``report.md`` (also printed) and ``report.json`` (every measured number) into --out,
with the figures of the timed training. Parts (``--parts``; each runs on its own, and a part
that fails is reported while the others go on):

    tests   ``pytest -m cuda`` in a subprocess: the CUDA tests, including the rule, painter,
            discriminator and LightGAN tests parametrised over the device; pass/fail counts
    rules   bench_rules: loop vs parallel delta rule, forward and forward+backward,
            T = 16..256, batch 60 (the paper's 20 images x 3 channels) and 1, peak memory, floor
    paint   bench_paint: images/s of the paper-celeba64 painter at batch 1 and 256, float32 and
            bfloat16, eager / CUDA graph / torch.compile, against the paper's 55 images/s
    train   bench_train: ms per training step by component and images/s for paper-celeba64,
            paper-celeba64-lightgan and emoji32-cpu (plus the step under bfloat16 autocast)
    timed   ``--minutes`` of training of paper-celeba64 (its painter and the authors'
            discriminator, bfloat16 autocast) on the emoji set at 64x64, then SWD and pixel
            precision/recall of EMA samples, a sample grid and a painting-steps figure
    ddp     a few training steps under ``torchrun --nproc_per_node 1`` (NCCL on CUDA, Gloo on CPU)

``--dry`` runs every part at tiny sizes on the CPU (the smoke preset, a few steps), so CI
keeps this script working; its numbers measure nothing. The targets of the report are
evaluated only on CUDA.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_* next to this file

import bench_paint  # noqa: E402
import bench_rules  # noqa: E402
import bench_train  # noqa: E402
import gpu_report  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTS = gpu_report.PARTS
NEEDED_MODULES = ("torchvision", "numpy", "PIL", "matplotlib", "tqdm", "pytest", "scipy", "pytorch_fid", "jsonargparse",
                  "docstring_parser", "yaml", "triton")
"""Modules fpalib or this check use; the report lists the missing ones (pytorch_fid: SWD/PR, triton: compile)."""
TORCH_APIS = (("torch.amp", "custom_fwd"), ("torch.amp", "custom_bwd"), ("torch.amp", "GradScaler"),
              ("torch", "autocast"), ("torch.linalg", "solve_triangular"), ("torch", "Tensor.mT"),
              ("torch.nn.functional", "scaled_dot_product_attention"), ("torch.autograd.graph", "saved_tensors_hooks"),
              ("torch.utils.benchmark", "Timer.blocked_autorange"), ("torch.cuda", "is_bf16_supported"),
              ("torch.cuda", "CUDAGraph"), ("torch", "compile"), ("torch.hub", "HASH_REGEX"),
              ("torch.distributed.run", "main"), ("torch.nn.parallel", "DistributedDataParallel.no_sync"))
"""The newer torch functions fpalib and this check call (module, attribute path); the report lists missing ones."""


def sizes(dry: bool) -> dict:
    """Every size the parts use: the real check, or tiny ones for ``--dry``."""
    if dry:
        return dict(rule_batches=[4, 1], rule_dim=8, rule_steps=[4, 8], time=0.01, paint_preset="smoke",
                    paint_batches=[1, 4], paint_modes=("eager",), paint_dtypes=("float32",),
                    train_presets=["smoke"], timed_preset="smoke", timed_overrides=["loop.steps=4"],
                    ddp_preset="smoke", ddp_steps=2, test_paths=["tests/test_devices.py"])
    return dict(rule_batches=[60, 1], rule_dim=64, rule_steps=[16, 32, 64, 128, 256], time=0.25,
                paint_preset="paper-celeba64", paint_batches=[1, 256], paint_modes=bench_paint.MODES,
                paint_dtypes=tuple(bench_paint.DTYPES), train_presets=["paper-celeba64", "paper-celeba64-lightgan",
                                                                       "emoji32-cpu"],
                timed_preset="paper-celeba64", timed_overrides=[], ddp_preset="paper-celeba64", ddp_steps=10,
                test_paths=["tests"])


# ---------------------------------------------------------------------------------------- parts
def part_tests(args, device, size) -> dict:
    """``pytest -m cuda`` in a subprocess; counts from its JUnit XML."""
    xml_path = args.out / "cuda_tests.xml"
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider",
               "--continue-on-collection-errors", f"--junitxml={xml_path}", *size["test_paths"]]
    env = subprocess_env()
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures, not_collected = [], []
    if xml_path.is_file():
        for case in ElementTree.parse(xml_path).iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            kinds = {child.tag for child in case}
            if "failure" in kinds:
                counts["failed"] += 1
                failures.append(name)
            elif "error" in kinds and case.find("error").get("message") == "collection failure":
                not_collected.append(f"{name.strip(':')}: {collection_reason(case.find('error').text or '')}")
            elif "error" in kinds:
                counts["errors"] += 1
                failures.append(name)
            elif "skipped" in kinds:
                counts["skipped"] += 1
            else:
                counts["passed"] += 1
    return {"command": "python -m pytest -m cuda " + " ".join(size["test_paths"]), "returncode": done.returncode,
            **counts, "failures": failures, "not_collected": not_collected,
            "tail": done.stdout.strip().splitlines()[-3:]}


def subprocess_env() -> dict[str, str]:
    """This environment with the repository first on PYTHONPATH and every entry absolute (the
    subprocesses run in the repository root; a carried wheel may be on PYTHONPATH)."""
    entries = [str(Path(entry).resolve()) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *entries])}


def collection_reason(text: str) -> str:
    """The last error line of a collection failure (e.g. "E   ModuleNotFoundError: No module named ...")."""
    lines = [line.lstrip("E ").strip() for line in text.splitlines() if line.startswith("E ")]
    return lines[-1] if lines else "collection failed"


def part_rules(args, device, size) -> dict:
    """bench_rules rows on ``device`` for each batch."""
    rows = []
    for batch in size["rule_batches"]:
        rows += bench_rules.measure_rows(device, batch, size["rule_dim"], size["rule_steps"], size["time"])
    return {"dim": size["rule_dim"], "rows": rows}


def part_paint(args, device, size) -> dict:
    """bench_paint rows of the painter; torch.compile at batch 1 only (each compilation takes long)."""
    modes = tuple(m for m in size["paint_modes"] if m != "compile")
    rows = bench_paint.measure_painting(size["paint_preset"], device, size["paint_batches"], modes,
                                        size["paint_dtypes"], min_run_time=size["time"])
    if args.compile and "compile" in size["paint_modes"]:
        rows += bench_paint.measure_painting(size["paint_preset"], device, [1], ("eager", "compile"),
                                             size["paint_dtypes"], min_run_time=size["time"])[1::2]
    return {"preset": size["paint_preset"], "paper_images_per_s": bench_paint.PAPER_IMAGES_PER_S, "rows": rows}


def part_train(args, device, size) -> dict:
    """bench_train tables of each preset."""
    batches = size["paint_batches"]
    return {"presets": [bench_train.measure_preset(name, device, size["time"], batches, amp=True)
                        for name in size["train_presets"]]}


def part_timed(args, device, size) -> dict:
    """Train ``--minutes``, then score and draw the EMA painter."""
    from fpalib.train.config import apply_overrides
    from fpalib.train.presets import get_preset
    from fpalib.train.trainer import Trainer

    data = training_images(args, size)
    run_dir = args.out / "timed-run"
    overrides = [f"data.path={data}", f"loop.out={run_dir}", "loop.amp=true", "loop.sample_every=0",
                 "loop.checkpoint_every=0", "loop.eval_every=0", f"data.num_workers={args.workers}"]
    if not args.dry:
        overrides += [f"loop.max_minutes={args.minutes}", "loop.steps=10000000", "data.image_size=64"]
    cfg = apply_overrides(get_preset(size["timed_preset"]), overrides + size["timed_overrides"])
    trainer = Trainer(cfg, device=device, new=True, progress=False)
    amp = trainer.objective_step.amp_dtype
    summary = trainer.train()
    result = {"preset": size["timed_preset"], "image_size": cfg.data.image_size,
              "minutes": None if args.dry else args.minutes,
              "steps": summary["step"], "elapsed_s": summary["elapsed_s"], "images_per_s": summary["images_per_s"],
              "autocast": str(amp).replace("torch.", "") if amp is not None else "off (float32)",
              "last_losses": summary["last_losses"], "ema_start_step": cfg.ema.start_step,
              "ema_reset_every": cfg.ema.reset_every}
    generator = trainer.ema_generator.eval()
    result["figures"] = draw_samples(generator, args.out, cfg.name, summary["step"])
    try:
        result["scores"] = score(generator, data, cfg)
    except ImportError as error:  # fpalib.metrics imports pytorch-fid
        result["scores"] = {"error": f"not measured: {error} (SWD/PR import fpalib.metrics, which needs it)"}
    return result


def training_images(args, size) -> Path:
    """``--data``; in a dry run 24 random 16x16 images written into the report folder (fast to scan)."""
    if not args.dry:
        if not args.data.is_dir():
            raise FileNotFoundError(f"{args.data} holds no images; fetch them with `fpa data emoji` or pass --data")
        return args.data
    folder = args.out / "dry-images"
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(24):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{index:02d}.png")
    return folder


def draw_samples(generator, out: Path, name: str, step: int) -> dict:
    """A grid of 64 EMA samples and the painting steps of the first one; file names in ``out``."""
    from fpalib.viz import painting_steps_figure, save_grid

    device = next(generator.parameters()).device
    z = torch.randn(64, generator.latent_dim, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        images = generator(z)
        _, steps = generator(z[:1], return_steps=True)
    save_grid(images.float().cpu(), out / "samples_ema.png", nrow=8)
    steps = type(steps)(*(tensor.float().cpu() for tensor in steps))
    every = max(1, steps.updates.shape[1] // 8)
    figure = painting_steps_figure(steps, index=0, every=every, title=f"{name}, step {step}, EMA, seed 0, sample 0")
    figure.savefig(out / "painting_steps.png", dpi=120)
    return {"samples": "samples_ema.png", "painting_steps": "painting_steps.png"}


def score(generator, data: Path, cfg) -> dict:
    """SWD (x1e3) and pixel precision/recall of EMA samples against the real images (all of them)."""
    from fpalib.data import ImageFolder
    from fpalib.metrics.evaluate import Evaluator
    from fpalib.train.eval_config import EvalConfig

    count = len(ImageFolder(data, cfg.data.image_size))
    evaluator = Evaluator(EvalConfig(num_samples=count, swd_images=count), str(data), cfg.data.image_size,
                          metrics=("swd", "pr"), progress=False)
    return {"images": count, **evaluator(generator)}


def part_ddp(args, device, size) -> dict:
    """A few steps under torchrun with one process; the worker writes what it saw."""
    run_dir = args.out / "ddp-run"
    spec = {"preset": size["ddp_preset"], "device": device.type, "result": str(args.out / "ddp.json"),
            "overrides": [f"data.path={training_images(args, size)}", f"loop.out={run_dir}",
                          f"loop.steps={size['ddp_steps']}", "loop.sample_every=0", "loop.checkpoint_every=0",
                          "loop.amp=true"] + ([] if args.dry else ["data.image_size=64"])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
               str(Path(__file__).resolve()), "--ddp-worker", json.dumps(spec)]
    env = subprocess_env()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    result = {"command": "torchrun --standalone --nproc_per_node 1 (torch.distributed.run)",
              "returncode": done.returncode, "wall_s": time.perf_counter() - started}
    seen = json.loads(Path(spec["result"]).read_text()) if Path(spec["result"]).is_file() else {}
    if done.returncode != 0 or "error" in seen or not seen:
        why = seen.get("error") or " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"torchrun exited with {done.returncode}: {why}")
    return {**result, **seen}


def ddp_worker(spec_text: str) -> None:
    """Runs inside torchrun: train a few steps and record the process group and the DDP wrapping."""
    spec = json.loads(spec_text)
    seen = {"error": "the worker was interrupted"}
    try:
        seen = ddp_training(spec)
    except Exception as error:  # the parent reads the reason from the result file
        seen = {"error": f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"}
        raise
    finally:
        if int(os.environ.get("RANK", "0")) == 0:
            Path(spec["result"]).write_text(json.dumps(seen))


def ddp_training(spec: dict) -> dict:
    """Train under torchrun as ``spec`` says; what the process group and the DDP wrapping looked like."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from fpalib.train.config import apply_overrides
    from fpalib.train.presets import get_preset
    from fpalib.train.trainer import Trainer

    cfg = apply_overrides(get_preset(spec["preset"]), spec["overrides"])
    trainer = Trainer(cfg, device=spec["device"], new=True, progress=False)
    seen = {"backend": dist.get_backend() if dist.is_initialized() else None,
            "world_size": trainer.runtime.world_size, "device": str(trainer.runtime.device),
            "wrapped_in_ddp": isinstance(trainer.objective_step.generator, DistributedDataParallel)
            and isinstance(trainer.objective_step.discriminator, DistributedDataParallel)}
    summary = trainer.train()
    losses = summary["last_losses"] or {}
    seen.update(steps=summary["step"], elapsed_s=summary["elapsed_s"], last_losses=losses,
                finite=all(math.isfinite(v) for v in losses.values()))
    if seen["backend"] is None or not seen["wrapped_in_ddp"]:
        seen["note"] = "the trainer did not join a process group under torchrun"
    return seen


# ---------------------------------------------------------------------------------------- driver
def environment(device: torch.device, dry: bool) -> dict:
    """Versions, device and the modules that are missing here."""
    cuda = device.type == "cuda"
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "mode": "dry" if dry else "full",
        "device": bench_train.device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None, "python": platform.python_version(),
        "bf16_supported": torch.cuda.is_bf16_supported() if cuda else None,
        "missing_modules": [name for name in NEEDED_MODULES if importlib.util.find_spec(name) is None],
        "missing_torch_apis": missing_torch_apis(),
    }


def missing_torch_apis() -> list[str]:
    """The entries of TORCH_APIS this torch does not have, plus ``torch.load(weights_only=...)``."""
    missing = []
    for module, path in TORCH_APIS:
        try:
            found = importlib.import_module(module)
            for name in path.split("."):
                found = getattr(found, name)
        except (ImportError, AttributeError):
            missing.append(f"{module}.{path}")
    if "weights_only" not in inspect.signature(torch.load).parameters:
        missing.append("torch.load(weights_only=...)")
    return missing


def run_part(name: str, function, args, device, size) -> dict:
    """Run one part; its data, or its error (one line, the traceback's last frame in ``where``)."""
    print(f"== {name}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        outcome = {"status": "ok", "data": function(args, device, size)}
    except Exception as error:  # every part is reported, failed or not
        frame = traceback.extract_tb(error.__traceback__)[-1]
        outcome = {"status": "failed", "error": f"{type(error).__name__}: {str(error).strip()[:300]}",
                   "where": f"{Path(frame.filename).name}:{frame.lineno}"}
    outcome["seconds"] = time.perf_counter() - started
    if device.type == "cuda":
        torch.cuda.empty_cache()
    print(f"   {outcome['status']} in {outcome['seconds']:.1f} s", file=sys.stderr, flush=True)
    return outcome


def write_report(results: dict, out: Path, seconds: float) -> str:
    """Judge the targets, write report.json and report.md into ``out``; the Markdown."""
    results["environment"]["total_s"] = seconds
    results["targets"] = gpu_report.evaluate_targets(results)
    (out / "report.json").write_text(json.dumps(results, indent=1, default=str))
    report = gpu_report.markdown(results)
    (out / "report.md").write_text(report)
    return report


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check"), help="report folder (created)")
    parser.add_argument("--dry", action="store_true", help="every part at tiny sizes on the CPU (CI)")
    parser.add_argument("--minutes", type=float, default=3.0, help="training time of the timed part")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data" / "emoji", help="training images")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated among {', '.join(PARTS)}")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip the torch.compile rows")
    parser.add_argument("--workers", type=int, default=None, help="data loader workers (default: 4 on CUDA)")
    parser.add_argument("--ddp-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        parser.error(f"--parts takes a comma-separated list among {', '.join(PARTS)}; got {args.parts!r}")
    if args.minutes <= 0:
        parser.error(f"--minutes must be positive; got {args.minutes}")
    args.parts = parts
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.ddp_worker:
        ddp_worker(args.ddp_worker)
        return 0
    if not args.dry and not torch.cuda.is_available():
        print("error: PyTorch sees no CUDA GPU; run on a CUDA machine, or pass --dry for the CPU smoke run",
              file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.dry else "cuda")
    if args.workers is None:
        args.workers = 0 if args.dry else 4
    args.out = args.out.resolve()  # the subprocesses run in the repository root
    args.out.mkdir(parents=True, exist_ok=True)
    torch.backends.cudnn.benchmark = True
    size = sizes(args.dry)
    started = time.perf_counter()
    results = {"environment": environment(device, args.dry), "parts": {}}
    functions = {"tests": part_tests, "rules": part_rules, "paint": part_paint, "train": part_train,
                 "timed": part_timed, "ddp": part_ddp}
    for name in args.parts:  # the report is rewritten after every part: a killed run leaves the parts done
        results["parts"][name] = run_part(name, functions[name], args, device, size)
        report = write_report(results, args.out, time.perf_counter() - started)
    print(report)
    failed = [name for name, part in results["parts"].items() if part["status"] != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
