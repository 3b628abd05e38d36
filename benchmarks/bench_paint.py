"""Painting throughput: generated images per second of a preset's painter, eager, CUDA graph, compiled.

Usage:
    python benchmarks/bench_paint.py                              # paper-celeba64, CUDA when present
    python benchmarks/bench_paint.py --device cpu --batches 1,16 --modes eager

The paper reports about 55 images/s at batch 1 on a V100 for its 64x64, T = 64 painter
(Irie & Schmidhuber, 2023, App. C.2). Every row paints ``batch`` images from fixed latents
without gradients (as sampling from a trained painter does), in one of:

    eager        the plain module
    cuda-graph   one forward captured into a ``torch.cuda.CUDAGraph`` and replayed (CUDA only):
                 removes the kernel-launch overhead that dominates at batch 1
    compile      ``torch.compile(painter)`` (default mode, fixed shapes); the first call's
                 compilation time is reported separately

and in float32 or under bfloat16 autocast (the learning rule itself always runs in float32).
Each captured or compiled row also reports the largest difference to the eager images.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from torch import nn

from bench_train import build_variant, device_name
from fpalib.profiling import median_seconds

PAPER_IMAGES_PER_S = 55.0
"""The paper's FPA sampling speed at batch 1 on a V100 (App. C.2)."""
MODES = ("eager", "cuda-graph", "compile")
DTYPES = {"float32": None, "bfloat16": torch.bfloat16}


def autocast(device: torch.device, dtype: torch.dtype | None):
    """bfloat16 autocast on ``device``, or nothing for float32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def painting_call(generator: nn.Module, z: torch.Tensor, mode: str, dtype: torch.dtype | None):
    """(call, images of one call, setup seconds) for ``mode``; ``call()`` paints z again."""
    device = z.device
    started = time.perf_counter()

    @torch.no_grad()
    def eager():
        with autocast(device, dtype):
            return generator(z)

    if mode == "eager":
        return eager, eager(), 0.0
    if mode == "compile":
        compiled = torch.compile(generator)

        @torch.no_grad()
        def call():
            with autocast(device, dtype):
                return compiled(z)

        out = call()
        _sync(device)
        return call, out, time.perf_counter() - started
    if mode != "cuda-graph":
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if device.type != "cuda":
        raise RuntimeError("CUDA graphs need a CUDA device")
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up outside the capture (cuDNN/cuBLAS workspaces, lazy init)
            eager()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        with autocast(device, dtype):
            static_out = generator(z)
    graph.replay()
    _sync(device)
    return graph.replay, static_out, time.perf_counter() - started


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_painting(
    preset: str,
    device: torch.device,
    batches: list[int],
    modes: tuple[str, ...] = MODES,
    dtypes: tuple[str, ...] = tuple(DTYPES),
    min_run_time: float = 0.5,
) -> list[dict]:
    """One dict per (batch, dtype, mode): images_per_s, vs_paper (images_per_s / 55), setup_s
    (capture or compilation seconds), max_abs_diff (to the eager images of the same dtype), or
    ``error`` (one line) when the mode cannot run here."""
    _, generator, _ = build_variant(preset, "fpa parallel", device)
    generator.eval()
    rows = []
    for batch in batches:
        z = torch.randn(batch, generator.latent_dim, generator=torch.Generator().manual_seed(0)).to(device)
        for dtype_name in dtypes:
            dtype = DTYPES[dtype_name]
            reference = None
            for mode in modes:
                row = {"preset": preset, "device": device.type, "batch": batch, "dtype": dtype_name, "mode": mode}
                try:
                    call, out, setup = painting_call(generator, z, mode, dtype)
                    seconds = median_seconds(call, min_run_time=min_run_time)
                except Exception as error:  # a mode that this torch/device cannot run is a finding, not a crash
                    row["error"] = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}"
                    rows.append(row)
                    continue
                out = out.float()
                reference = out.clone() if mode == "eager" else reference
                row.update(images_per_s=batch / seconds, vs_paper=batch / seconds / PAPER_IMAGES_PER_S, setup_s=setup,
                           max_abs_diff=(out - reference).abs().max().item() if reference is not None else None)
                rows.append(row)
    return rows


def format_rows(rows: list[dict]) -> str:
    """A Markdown table of :func:`measure_painting` rows."""
    lines = ["| batch | dtype | mode | images/s | x paper's 55/s | setup s | max diff to eager |",
             "|---:|---|---|---:|---:|---:|---:|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['batch']} | {row['dtype']} | {row['mode']} | not run: {row['error']} | | | |")
            continue
        diff = f"{row['max_abs_diff']:.1e}" if row["max_abs_diff"] is not None else "-"
        lines.append(f"| {row['batch']} | {row['dtype']} | {row['mode']} | {row['images_per_s']:.1f} "
                     f"| {row['vs_paper']:.1f}x | {row['setup_s']:.1f} | {diff} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper-celeba64")
    parser.add_argument("--device", default="auto", help="cpu, cuda, or auto (CUDA when present)")
    parser.add_argument("--batches", default="1,256")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated among {', '.join(MODES)}")
    parser.add_argument("--min-run-time", type=float, default=0.5, help="seconds per measurement")
    args = parser.parse_args()
    name = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    device = torch.device(name)
    torch.backends.cudnn.benchmark = True
    rows = measure_painting(args.preset, device, [int(b) for b in args.batches.split(",")],
                            tuple(args.modes.split(",")), min_run_time=args.min_run_time)
    print(f"### {args.preset} painting on {device_name(device)}, torch {torch.__version__}\n")
    print(format_rows(rows))


if __name__ == "__main__":
    main()
