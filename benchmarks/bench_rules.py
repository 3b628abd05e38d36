"""Delta rule: sequential loop vs parallel form, forward and forward+backward, time and memory.

Usage:
    python benchmarks/bench_rules.py                     # CPU (and CUDA when present)
    python benchmarks/bench_rules.py --steps 64 --device cpu --min-run-time 2
    python benchmarks/bench_rules.py --device cuda --batch 60,1 --steps 16,32,64,128,256

The paper's painting shape is 20 images x 3 channels = 60 matrices of 64 x 64 painted in
T = 64 steps (Irie & Schmidhuber, 2023, App. B). Rows compare, in the same run:
    loop              one torch.bmm step per t, as in the authors' code (the reference)
    parallel/autograd the triangular-solve form differentiated by autograd
    parallel          the triangular-solve form with its hand-written backward (fpalib's default)
    floor             only the matrix products and the two triangular solves that the parallel
                      forward+backward needs, on pre-made tensors: what no implementation of
                      this algorithm can beat
"fwd" is an inference call (no autograd graph); "fwd+bwd" a training call with gradients for
keys, values and learning rates; "graph MiB" the memory the autograd graph keeps for backward;
"peak MiB" (CUDA only) the peak CUDA memory of one forward+backward above what was allocated.
"""

from __future__ import annotations

import argparse

import torch

from fpalib.profiling import median_seconds, peak_cuda_bytes, saved_tensor_bytes
from fpalib.rules.delta import delta_rule_loop, delta_rule_parallel, delta_rule_parallel_autograd

METHODS = {
    "loop": lambda k, v, r: delta_rule_loop(k, v, r, None),
    "parallel/autograd": lambda k, v, r: delta_rule_parallel_autograd(k, v, r, None),
    "parallel": lambda k, v, r: delta_rule_parallel(k, v, r, None),
}


def make_inputs(batch: int, steps: int, dim: int, device: torch.device):
    gen = torch.Generator().manual_seed(0)
    keys = torch.softmax(torch.randn(batch, steps, dim, generator=gen), dim=-1)
    values = torch.randn(batch, steps, dim, generator=gen)
    rates = torch.rand(batch, steps, generator=gen)
    grad = torch.randn(batch, dim, dim, generator=gen)
    return [t.to(device) for t in (keys, values, rates, grad)]


def floor_call(keys, values, rates, grad):
    """The products and solves of one parallel forward+backward, without anything else."""
    gram = keys @ keys.mT
    deltas = torch.linalg.solve_triangular(gram, values, upper=False, unitriangular=True)
    weights = deltas.mT @ keys
    grad_u = keys @ grad.mT
    grad_rhs = torch.linalg.solve_triangular(gram, grad_u.mT, upper=False, left=False, unitriangular=True).mT
    grad_system = grad_rhs @ deltas.mT
    return weights, grad_system @ keys, deltas @ grad


def measure(method, keys, values, rates, grad, min_run_time):
    leaves = [t.detach().requires_grad_() for t in (keys, values, rates)]

    def forward():
        with torch.no_grad():
            return method(keys, values, rates)

    def forward_backward():
        return torch.autograd.grad(method(*leaves), leaves, grad)

    graph = saved_tensor_bytes(lambda: method(*leaves))
    peak = peak_cuda_bytes(forward_backward, keys.device) if keys.device.type == "cuda" else None
    return median_seconds(forward, min_run_time=min_run_time), median_seconds(
        forward_backward, min_run_time=min_run_time
    ), graph, peak


def measure_rows(
    device: torch.device, batch: int, dim: int, steps_list: list[int], min_run_time: float
) -> list[dict]:
    """One dict per (T, method) plus a "floor" row per T; times in ms, memory in MiB.

    Keys: device, batch, steps, method, fwd_ms, fwd_bwd_ms, graph_mib, peak_mib (CUDA only,
    else None), fwd_vs_loop, fwd_bwd_vs_loop, graph_vs_loop (speed-ups and memory ratio against
    the loop; None where they do not apply) and over_floor (fwd+bwd time / floor time).
    """
    rows = []
    for steps in steps_list:
        keys, values, rates, grad = make_inputs(batch, steps, dim, device)
        results = {name: measure(fn, keys, values, rates, grad, min_run_time) for name, fn in METHODS.items()}
        floor = median_seconds(lambda: floor_call(keys, values, rates, grad), min_run_time=min_run_time)
        loop_fwd, loop_fb, loop_graph, _ = results["loop"]
        common = {"device": device.type, "batch": batch, "steps": steps}
        for name, (fwd, fb, graph, peak) in results.items():
            rows.append({
                **common, "method": name, "fwd_ms": fwd * 1e3, "fwd_bwd_ms": fb * 1e3, "graph_mib": graph / 2**20,
                "peak_mib": peak / 2**20 if peak is not None else None, "fwd_vs_loop": loop_fwd / fwd,
                "fwd_bwd_vs_loop": loop_fb / fb, "graph_vs_loop": loop_graph / graph, "over_floor": fb / floor,
            })
        rows.append({
            **common, "method": "floor", "fwd_ms": None, "fwd_bwd_ms": floor * 1e3, "graph_mib": None,
            "peak_mib": None, "fwd_vs_loop": None, "fwd_bwd_vs_loop": loop_fb / floor, "graph_vs_loop": None,
            "over_floor": 1.0,
        })
    return rows


TABLE_HEADER = (
    "| dev  | batch |    T | method            |   fwd ms | fwd+bwd ms | graph MiB | peak MiB "
    "| fwd vs loop | fwd+bwd vs loop | graph vs loop | / floor |\n"
    "|------|------:|-----:|-------------------|---------:|-----------:|----------:|---------:"
    "|------------:|----------------:|--------------:|--------:|"
)


def format_row(row: dict) -> str:
    """One Markdown table row (see TABLE_HEADER) of a :func:`measure_rows` dict; "-" where None."""
    def cell(key: str, fmt: str, width: int) -> str:
        value = row[key]
        return f"{value:{fmt}}".rjust(width) if value is not None else "-".rjust(width)

    return (
        f"| {row['device']:4} | {row['batch']:5} | {row['steps']:4} | {row['method']:17} | {cell('fwd_ms', '.3f', 8)} "
        f"| {cell('fwd_bwd_ms', '.3f', 10)} | {cell('graph_mib', '.2f', 9)} | {cell('peak_mib', '.2f', 8)} "
        f"| {cell('fwd_vs_loop', '.1f', 10)}x | {cell('fwd_bwd_vs_loop', '.1f', 14)}x "
        f"| {cell('graph_vs_loop', '.1f', 12)}x | {cell('over_floor', '.2f', 7)} |"
    ).replace(" -x", " - ")


def run(device: torch.device, batch: int, dim: int, steps_list: list[int], min_run_time: float) -> list[str]:
    """The Markdown rows of :func:`measure_rows`."""
    return [format_row(row) for row in measure_rows(device, batch, dim, steps_list, min_run_time)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="cpu, cuda, or auto (cpu, plus cuda when present)")
    parser.add_argument("--batch", default="60",
                        help="comma-separated numbers of matrices painted at once (60 = 20 images x 3 channels)")
    parser.add_argument("--dim", type=int, default=64, help="d_key = d_value (image side)")
    parser.add_argument("--steps", default="16,32,64,128", help="comma-separated painting steps T")
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds of timing per measurement")
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.device == "auto" else [args.device]
    steps_list = [int(s) for s in args.steps.split(",")]
    batches = [int(b) for b in args.batch.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, d {args.dim}")
    if torch.cuda.is_available():
        print(f"CUDA device: {torch.cuda.get_device_name()}")
    print(TABLE_HEADER)
    for device in devices:
        for batch in batches:
            for row in run(torch.device(device), batch, args.dim, steps_list, args.min_run_time):
                print(row, flush=True)


if __name__ == "__main__":
    main()
