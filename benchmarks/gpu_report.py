"""The Markdown report of ``benchmarks/gpu_check.py`` and its targets, from the results dict.

The targets (issue 18) are judged only on numbers measured on CUDA in a full run; each comes
out "met", "gap" (with the measured value) or "not measured" (with the reason).
"""

from __future__ import annotations

import bench_paint
import bench_rules
import bench_train

RULE_TARGET = 30.0
"""Parallel delta rule forward+backward at the paper shape: at least this many times the loop."""
PAINT_TARGET = 10 * bench_paint.PAPER_IMAGES_PER_S
"""Batch-1 painting: at least ten times the paper's 55 images/s."""
STEP_TARGET = 1.5
"""A paper-celeba64 training step: at most this many times the LightGAN generator's step."""
TOTAL_TARGET_S = 8 * 60
"""The whole check on one H100/H200."""
PARTS = ("tests", "rules", "paint", "train", "timed", "ddp")
"""The parts of the check, in the order they run."""


def _part(results: dict, name: str) -> dict | None:
    """The data of part ``name`` when it ran on CUDA in a full run, else None."""
    part = results["parts"].get(name)
    if results["environment"]["mode"] != "full" or part is None or part["status"] != "ok":
        return None
    return part["data"]


def _why_not(results: dict, name: str) -> str:
    part = results["parts"].get(name)
    if results["environment"]["mode"] != "full":
        return "dry run on the CPU"
    if part is None:
        return f"part {name} not run"
    return f"part {name} failed"


def _target(name: str, wanted: str, value: float | None, met: bool, shown: str, reason: str) -> dict:
    status = "not measured" if value is None else ("met" if met else "gap")
    return {"target": name, "wanted": wanted, "value": value, "status": status,
            "measured": shown if value is not None else reason}


def evaluate_targets(results: dict) -> list[dict]:
    """The four targets with their measured values (see the module docstring)."""
    targets = []
    rules = _part(results, "rules")
    row = next((r for r in (rules or {}).get("rows", []) if rules["dim"] == 64 and r["batch"] == 60
                and r["steps"] == 64 and r["method"] == "parallel"), None)
    value = row["fwd_bwd_vs_loop"] if row else None
    targets.append(_target(
        "parallel delta rule fwd+bwd vs loop (batch 60, T=64, d=64)", f">= {RULE_TARGET:.0f}x", value,
        value is not None and value >= RULE_TARGET,
        f"{value:.1f}x ({row['fwd_bwd_ms']:.3f} ms)" if row else "", _why_not(results, "rules") if not rules
        else "no batch-60 T=64 row"))

    paint = _part(results, "paint")
    rows = [r for r in (paint or {}).get("rows", []) if r["batch"] == 1 and "error" not in r
            and r["preset"] == "paper-celeba64"]
    best = max(rows, key=lambda r: r["images_per_s"], default=None)
    value = best["images_per_s"] if best else None
    eager = next((r for r in rows if r["mode"] == "eager" and r["dtype"] == "float32"), None)
    shown = (f"{value:.0f} images/s = {value / bench_paint.PAPER_IMAGES_PER_S:.1f}x ({best['dtype']}, {best['mode']})"
             + (f"; eager float32 {eager['images_per_s']:.0f}" if eager else "")) if best else ""
    targets.append(_target("batch-1 painting, paper-celeba64 painter", f">= {PAINT_TARGET:.0f} images/s", value,
                           value is not None and value >= PAINT_TARGET, shown,
                           _why_not(results, "paint") if not paint else "no batch-1 row ran"))

    train = _part(results, "train")
    by_name = {p["preset"]: p["ms"] for p in (train or {}).get("presets", [])}
    fpa, lightgan = by_name.get("paper-celeba64", {}).get("fpa parallel"), by_name.get(
        "paper-celeba64-lightgan", {}).get("lightgan")
    value, shown = None, ""
    if fpa and lightgan:
        key = "step bf16" if "step bf16" in fpa and "step bf16" in lightgan else "step"
        value = fpa[key] / lightgan[key]
        shown = f"{value:.2f}x ({key}: {fpa[key]:.1f} vs {lightgan[key]:.1f} ms)"
        if key != "step":
            shown += f"; float32 {fpa['step'] / lightgan['step']:.2f}x"
    targets.append(_target("paper-celeba64 step / LightGAN step", f"<= {STEP_TARGET}x", value,
                           value is not None and value <= STEP_TARGET, shown,
                           _why_not(results, "train") if not train else "a preset is missing"))

    environment = results["environment"]
    full = environment["mode"] == "full" and all(p in results["parts"] for p in PARTS)
    value = environment.get("total_s") if full else None
    targets.append(_target("the whole check (all parts)", f"<= {TOTAL_TARGET_S / 60:.0f} min", value,
                           value is not None and value <= TOTAL_TARGET_S,
                           f"{value / 60:.1f} min" if value else "", "not a full run of every part"))
    return targets


# ---------------------------------------------------------------------------------------- Markdown
def markdown(results: dict) -> str:
    """The whole report."""
    env = results["environment"]
    lines = ["# fpalib GPU check", "",
             f"{env['date_utc']} · {env['device']} · torch {env['torch']} · CUDA {env['cuda']} "
             f"· cuDNN {env['cudnn']}"
             f" · Python {env['python']} · {env['mode']} run · {env.get('total_s', 0):.0f} s in all", "",
             "Missing modules: " + (", ".join(env["missing_modules"]) or "none") + ". Torch functions fpalib uses "
             "that this torch lacks: " + (", ".join(env.get("missing_torch_apis", [])) or "none") + ".", ""]
    if env["mode"] == "dry":
        lines += ["**Dry run**: every part at tiny sizes on the CPU; its numbers measure nothing.", ""]
    lines += ["## Targets", "", "| target | wanted | measured | status |", "|---|---|---|---|"]
    lines += [f"| {t['target']} | {t['wanted']} | {t['measured']} | **{t['status']}** |" for t in results["targets"]]
    lines += ["", "## Parts", "", "| part | status | seconds |", "|---|---|---:|"]
    for name, part in results["parts"].items():
        status = part["status"] if part["status"] == "ok" else f"failed: {part['error']} ({part['where']})"
        lines.append(f"| {name} | {status.replace('|', '/')} | {part['seconds']:.1f} |")
    for name, part in results["parts"].items():
        if part["status"] == "ok":
            lines += ["", f"## {name}", "", SECTIONS[name](part["data"])]
    return "\n".join(lines) + "\n"


def _tests(data: dict) -> str:
    text = (f"`{data['command']}`: {data['passed']} passed, {data['failed']} failed, {data['errors']} errors, "
            f"{data['skipped']} skipped (exit status {data['returncode']}).")
    if data["failures"]:
        text += "\n\nFailed: " + ", ".join(f"`{name}`" for name in data["failures"][:20])
    if data.get("not_collected"):
        text += "\n\nTest modules that could not be imported here (their tests did not run): " + "; ".join(
            f"`{line}`" for line in data["not_collected"])
    return text


def _rules(data: dict) -> str:
    rows = "\n".join(bench_rules.format_row(row) for row in data["rows"])
    return f"d_key = d_value = {data['dim']}, float32.\n\n{bench_rules.TABLE_HEADER}\n{rows}"


def _paint(data: dict) -> str:
    return (f"`{data['preset']}` painter, no gradients; the paper: {data['paper_images_per_s']:.0f} images/s at "
            f"batch 1 on a V100 (App. C.2).\n\n{bench_paint.format_rows(data['rows'])}")


def _train(data: dict) -> str:
    return "\n\n".join(bench_train.format_preset(result) for result in data["presets"])


def _timed(data: dict) -> str:
    losses = ", ".join(f"{k} {v:.3f}" for k, v in (data["last_losses"] or {}).items())
    scores = data["scores"]
    if "error" in scores:
        scored = scores["error"]
    else:
        scored = (f"SWD x1e3 {scores['swd']:.1f}, precision {scores['precision']:.3f}, recall {scores['recall']:.3f} "
                  f"({scores['images']} EMA samples against {scores['images']} real images, "
                  f"{data['image_size']}x{data['image_size']})")
    budget = f"for {data['minutes']:g} min" if data["minutes"] else "for a fixed number of steps"
    return (f"`{data['preset']}` (its painter and the authors' discriminator) {budget}: "
            f"{data['steps']} steps in {data['elapsed_s']:.0f} s, {data['images_per_s']:.0f} images/s, autocast "
            f"{data['autocast']}. Last logged losses: {losses or '-'}.\n\n{scored}.\n\n"
            f"The EMA follows the paper's schedule (averaging starts after step {data['ema_start_step']}; "
            f"before, it is the generator at the last multiple of {data['ema_reset_every']} steps).\n\n"
            f"![EMA samples]({data['figures']['samples']})\n\n![painting steps]({data['figures']['painting_steps']})")


def _ddp(data: dict) -> str:
    losses = "finite" if data.get("finite") else "NOT finite"
    return (f"`{data['command']}`: backend {data['backend']}, world size {data['world_size']}, device "
            f"{data['device']}, G and D wrapped in DistributedDataParallel: {data['wrapped_in_ddp']}; "
            f"{data['steps']} steps in {data['elapsed_s']:.1f} s of training ({data['wall_s']:.0f} s with start-up), "
            f"losses {losses}." + (f" Note: {data['note']}." if data.get("note") else ""))


SECTIONS = {"tests": _tests, "rules": _rules, "paint": _paint, "train": _train, "timed": _timed, "ddp": _ddp}
