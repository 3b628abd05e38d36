"""``fpa doctor``: check the installation and say how to fix what is broken.

Prints one line per check: versions of python, torch, torchvision, numpy and pytorch-fid; the
compute device; whether torchvision's compiled operators load (``torchvision.ops.nms`` is
called); whether the training images and FID's Inception weights are where they are looked
for. Missing data or weights are warnings; a broken install is a failure, with a one-line fix,
and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import NamedTuple

from fpalib import __version__

HELP = "check the installation (versions, device, torchvision ops, data, FID weights)"

REINSTALL_TORCH = "pip install --force-reinstall torch torchvision"


class Check(NamedTuple):
    """One line of the report; ``status`` is 'ok', 'warn' or 'fail'; ``fix`` says what to do."""

    label: str
    status: str
    detail: str
    fix: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data/emoji"), help="image folder to look for "
                        "(default: %(default)s)")


def check_module(label: str, module: str, distribution: str, fix: str = "") -> Check:
    """Import ``module`` and report the installed version of ``distribution``."""
    try:
        importlib.import_module(module)
        return Check(label, "ok", importlib.metadata.version(distribution))
    except Exception as exc:
        return Check(label, "fail", _reason(exc), fix or f"pip install --force-reinstall {distribution}")


def check_torchvision() -> Check:
    """Run ``torchvision.ops.nms``: a torchvision built for another torch fails here."""
    try:
        import torch
        import torchvision
        from torchvision.ops import nms

        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
        kept = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5).tolist()
    except Exception as exc:
        fix = f"torch and torchvision do not match; reinstall them together, unpinned: {REINSTALL_TORCH}"
        return Check("torchvision", "fail", _reason(exc), fix)
    if kept != [0, 2]:
        return Check("torchvision", "fail", f"ops.nms returned {kept}, expected [0, 2]", REINSTALL_TORCH)
    return Check("torchvision", "ok", f"{torchvision.__version__} (compiled ops load: nms ok)")


def check_device() -> Check:
    try:
        import torch
    except Exception:
        return Check("device", "fail", "unknown: torch does not import", REINSTALL_TORCH)
    if torch.cuda.is_available():
        names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
        return Check("device", "ok", f"cuda: {torch.cuda.device_count()} x {', '.join(names)}")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return Check("device", "ok", "mps (Apple GPU)")
    return Check("device", "ok", "cpu (no CUDA GPU visible; training works, only slower)")


def check_data(root: Path) -> Check:
    fix = "run `fpa data emoji` (or `make data`), or pass --data with any folder of images"
    try:
        from fpalib.data import find_images

        count = len(find_images(root)) if root.is_dir() else None
    except Exception as exc:
        return Check("data", "warn", f"{root}: cannot scan ({_reason(exc)})", REINSTALL_TORCH)
    if not count:
        return Check("data", "warn", f"{root}: {'not found' if count is None else 'no images'}", fix)
    return Check("data", "ok", f"{root}: {count} images")


def check_fid_weights() -> Check:
    """FID's Inception weights where :func:`fpalib.metrics.inception.resolve_weights` looks:
    $FPA_FID_WEIGHTS, else torch hub's checkpoints."""
    try:
        from fpalib.metrics.inception import WEIGHTS_ENV, WEIGHTS_FILE, hub_cache_path
    except Exception as exc:  # a broken torch or pytorch-fid is reported by its own check
        return Check("FID weights", "warn", f"not checked: fpalib.metrics does not import ({_reason(exc)})", "")
    locations = [Path(os.environ[WEIGHTS_ENV]).expanduser()] if os.environ.get(WEIGHTS_ENV) else []
    locations.append(hub_cache_path())
    found = next((path for path in locations if path.is_file()), None)
    if found is not None:
        return Check("FID weights", "ok", str(found))
    fix = (f"pytorch-fid downloads {WEIGHTS_FILE} on first use; offline, copy the file to the last path "
           f"above or set {WEIGHTS_ENV} to its path")
    looked = ", ".join(str(path) for path in locations)
    return Check("FID weights", "warn", f"not found; looked in {looked}", fix)


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def run_checks(data_root: Path) -> list[Check]:
    """All checks, in report order."""
    python = Check("python", "ok", f"{platform.python_version()} ({sys.executable})")
    if sys.version_info < (3, 10):
        python = Check("python", "fail", platform.python_version(), "fpalib needs Python >= 3.10; create the venv "
                       "with a newer python3")
    return [
        python,
        check_module("torch", "torch", "torch", REINSTALL_TORCH),
        check_torchvision(),
        check_module("numpy", "numpy", "numpy"),
        check_module("pytorch-fid", "pytorch_fid", "pytorch-fid"),
        check_device(),
        check_data(data_root),
        check_fid_weights(),
    ]


def run(args: argparse.Namespace) -> int:
    checks = run_checks(args.data)
    print(f"fpalib {__version__}")
    width = max(len(check.label) for check in checks)
    for check in checks:
        print(f"  {check.status.upper() if check.status != 'ok' else 'ok  '} {check.label:<{width}}  {check.detail}")
        if check.fix and check.status != "ok":
            print(f"       {'':<{width}}  fix: {check.fix}")
    failures = [check.label for check in checks if check.status == "fail"]
    if failures:
        print(f"broken: {', '.join(failures)}; apply the fix above and run `fpa doctor` again")
        return 1
    warned = sum(check.status == "warn" for check in checks)
    print(f"all good ({warned} warning(s))" if warned else "all good")
    return 0
