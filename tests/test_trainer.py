"""The training loop on the smoke preset: every generator variant, resumption (also from an
older checkpoint), stop on non-finite losses, time budget, Ctrl-C, evaluation hook, --new,
and DDP with two CPU processes."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

import fpalib.train.step as step_module
import fpalib.train.trainer as trainer_module
from fpalib.data.arrays import save_arrays
from fpalib.errors import FpaError
from fpalib.train.checkpoint import load_checkpoint
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.run_log import read_metrics
from fpalib.train.step import GanStep
from fpalib.train.trainer import Trainer

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def images(noise_images: Path) -> Path:
    return noise_images


pytestmark = pytest.mark.usefixtures("one_thread")


def smoke_config(images: Path, out: Path, *overrides: str):
    return apply_overrides(get_preset("smoke"), [f"data.path={images}", f"loop.out={out}", *overrides])


def train(cfg, **kwargs):
    return Trainer(cfg, progress=False, **kwargs).train()


def losses_by_step(run_dir: Path) -> dict[int, tuple]:
    return {
        r["step"]: (r["d_loss"], r["g_loss"], r["aux_loss"], r.get("gp"))
        for r in read_metrics(run_dir / "metrics.jsonl")
        if "d_loss" in r
    }


VARIANTS = {
    "fpa-v1": ["painter.input_version=v1"],
    "fpa-v2": [],
    "fpa-additive-rate": ["painter.rule=additive-rate"],
    "fpa-oja": ["painter.rule=oja"],
    "lightgan": ["generator=lightgan"],
    "fpa-mode-seeking": ["loss.mode_seeking_weight=1.0"],
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_two_steps_train_every_generator_with_all_losses(images, tmp_path, variant):
    cfg = smoke_config(images, tmp_path / "run", "loop.steps=2", "loss.gp_every=1", *VARIANTS[variant])
    trainer = Trainer(cfg, progress=False)
    before = {name: p.detach().clone() for name, p in trainer.generator.named_parameters()}
    d_before = {name: p.detach().clone() for name, p in trainer.discriminator.named_parameters()}
    summary = trainer.train()

    assert (summary["step"], summary["stopped"]) == (2, "finished")
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        assert {"d_loss", "g_loss", "images_per_s", "elapsed_s", "lr"} <= set(record)
        assert record["aux_loss"] > 0 and record["gp"] > 0  # gp_every=1: a penalty at every step
    assert all(not torch.equal(before[n], p) for n, p in trainer.generator.named_parameters())
    d_changed = {name: not torch.equal(d_before[name], p) for name, p in trainer.discriminator.named_parameters()}
    assert all(changed for name, changed in d_changed.items() if "decoder" in name)  # the aux loss trains
    assert sum(d_changed.values()) >= 0.9 * len(d_changed)  # (a final bias can get zero hinge gradient)
    run = tmp_path / "run"
    assert load_checkpoint(run)["step"] == 2
    assert json.loads((run / "config.json").read_text())["generator"] == cfg.generator
    for name in ("step_000002_raw.png", "step_000002_ema.png"):
        assert Image.open(run / "samples" / name).size[0] > 16
    assert (run / "loss_curve.png").is_file()
    assert not (run / "checkpoints" / "best.pt").exists()


def test_mode_seeking_weight_adds_a_positive_term_to_the_generator_loss_only(images, tmp_path):
    plain = smoke_config(images, tmp_path / "plain", "loop.steps=1")
    seeking = smoke_config(images, tmp_path / "seeking", "loop.steps=1", "loss.mode_seeking_weight=2.0")
    train(plain), train(seeking)
    (d_plain, g_plain, *_), (d_seeking, g_seeking, *_) = (
        losses_by_step(tmp_path / name)[1] for name in ("plain", "seeking")
    )
    assert d_seeking == pytest.approx(d_plain, rel=1e-6)  # same seed, same discriminator step
    assert g_seeking > g_plain + 2.0 * 1.0  # the untrained smoke painter gives near-equal images


def make_it_an_old_checkpoint(run_dir: Path) -> None:
    """Give latest.pt what older versions stored: Python's and NumPy's random states."""
    path = run_dir / "checkpoints" / "latest.pt"
    state = torch.load(path, weights_only=True)
    state["rng"]["python"] = {"version": 3, "internal": torch.arange(625), "gauss_next": None}
    state["rng"]["numpy"] = {"keys": torch.arange(624), "position": 624, "has_gauss": 0, "cached_gaussian": 0.0}
    torch.save(state, path)


def test_resumed_run_continues_exactly_like_an_uninterrupted_one(images, tmp_path):
    common = ("loss.gp_every=3", "loop.checkpoint_every=0", "loop.sample_every=0", "optim.grad_accum=2")
    train(smoke_config(images, tmp_path / "whole", "loop.steps=4", *common))
    first = train(smoke_config(images, tmp_path / "split", "loop.steps=2", *common))
    make_it_an_old_checkpoint(tmp_path / "split")  # its extra states are ignored
    second = train(smoke_config(images, tmp_path / "split", "loop.steps=4", *common))

    assert (first["step"], second["start_step"], second["step"]) == (2, 2, 4)
    whole, split = losses_by_step(tmp_path / "whole"), losses_by_step(tmp_path / "split")
    assert sorted(split) == [1, 2, 3, 4]
    assert split[3][:3] == pytest.approx(whole[3][:3], rel=1e-6, abs=1e-7) and split[3][3] is None
    assert split[4] == pytest.approx(whole[4], rel=1e-6, abs=1e-7)  # with the penalty (step index 3)
    final = [load_checkpoint(tmp_path / name)["generator"] for name in ("whole", "split")]
    assert all(torch.allclose(final[0][k], final[1][k], atol=1e-6) for k in final[0])


def test_resuming_with_another_model_configuration_is_refused(images, tmp_path):
    train(smoke_config(images, tmp_path, "loop.steps=1"))
    with pytest.raises(FpaError, match=r"another configuration \(painter.hidden: 16 there, 24 now\).*--new"):
        Trainer(smoke_config(images, tmp_path, "loop.steps=2", "painter.hidden=24"), progress=False)


def test_new_moves_the_old_run_aside(images, tmp_path):
    run = tmp_path / "run"
    train(smoke_config(images, run, "loop.steps=1"))
    summary = train(smoke_config(images, run, "loop.steps=1", "painter.hidden=24"), new=True)
    assert summary["start_step"] == 0
    old = [p for p in tmp_path.iterdir() if p.name.startswith("run-old-")]
    assert len(old) == 1 and load_checkpoint(old[0])["step"] == 1


def test_non_finite_losses_stop_the_run_and_it_resumes_from_the_last_good_checkpoint(images, tmp_path, monkeypatch):
    calls = {"count": 0}
    real_loss = step_module.generator_loss

    def nan_at_the_third_call(fake):
        calls["count"] += 1
        loss = real_loss(fake)
        return loss * float("nan") if calls["count"] == 3 else loss

    monkeypatch.setattr(step_module, "generator_loss", nan_at_the_third_call)
    with pytest.raises(FpaError) as error:  # smoke preset: a checkpoint every 2 steps
        train(smoke_config(images, tmp_path, "loop.steps=4"))
    message = str(error.value)
    assert "\n" not in message and message.startswith("training diverged at step 3: g_loss = nan; nothing was saved")
    assert f"{tmp_path / 'checkpoints' / 'latest.pt'} still holds step 2, the last good one" in message
    assert message.endswith(f"`fpa train --out {tmp_path}` and a lower --optim.lr")  # on a CPU: no autocast
    assert load_checkpoint(tmp_path)["step"] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no damaged line
        assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]

    monkeypatch.setattr(step_module, "generator_loss", real_loss)
    trainer = Trainer(smoke_config(images, tmp_path, "loop.steps=4", "optim.lr=1e-4"), progress=False)  # lock free
    summary = trainer.train()
    assert (summary["start_step"], summary["step"], summary["stopped"]) == (2, 4, "finished")
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["lr"]) for r in records] == [(1, 2e-4), (2, 2e-4), (3, 1e-4), (4, 1e-4)]
    assert all(group["lr"] == 1e-4 for opt in (trainer.optimizer_g, trainer.optimizer_d) for group in opt.param_groups)



def test_zero_minute_budget_stops_cleanly_with_a_checkpoint(images, tmp_path):
    summary = train(smoke_config(images, tmp_path, "loop.max_minutes=0"))
    assert (summary["step"], summary["stopped"]) == (0, "time budget")
    assert load_checkpoint(tmp_path)["step"] == 0


def test_cpu_time_budget_stops_after_the_step_that_spends_it(images, tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 30))  # every reading of the CPU clock: 30 s more
    monkeypatch.setattr(trainer_module.time, "process_time", lambda: float(next(clock)))
    summary = train(smoke_config(images, tmp_path, "loop.steps=10", "loop.max_cpu_minutes=1"))
    assert (summary["step"], summary["stopped"]) == (2, "time budget")
    assert load_checkpoint(tmp_path)["step"] == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C, or a job scheduler
def test_ctrl_c_or_sigterm_finishes_the_step_and_saves_a_checkpoint(images, tmp_path, monkeypatch, signum):
    real_update = GanStep.update_generator

    def update_then_interrupt(self):
        loss = real_update(self)
        os.kill(os.getpid(), signum)
        return loss

    monkeypatch.setattr(GanStep, "update_generator", update_then_interrupt)
    before = signal.getsignal(signum)  # SIG_IGN under nohup or in a background job
    summary = train(smoke_config(images, tmp_path, "loop.steps=4", "loop.checkpoint_every=0"))
    assert (summary["step"], summary["stopped"]) == (1, "interrupted")
    assert load_checkpoint(tmp_path)["step"] == 1
    assert signal.getsignal(signum) is before


def test_evaluation_keeps_the_best_checkpoint(images, tmp_path):
    scores = {1: 5.0, 2: 3.0, 3: 4.0}
    seen = []

    def evaluate(generator, step):
        seen.append((step, generator.training))
        return {"fid": scores[step], "kid": 0.1}

    cfg = smoke_config(images, tmp_path, "loop.steps=3", "loop.eval_every=1", "loop.checkpoint_every=0")
    summary = train(cfg, evaluate_fn=evaluate)
    assert seen == [(1, False), (2, False), (3, False)]
    assert summary["best_metric"] == 3.0
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert (best["step"], best["best_metric"]) == (2, 3.0)
    assert [r["fid"] for r in read_metrics(tmp_path / "metrics.jsonl") if "fid" in r] == [5.0, 3.0, 4.0]
    assert load_checkpoint(tmp_path)["step"] == 3


@pytest.mark.cuda
@pytest.mark.parametrize("amp", ["true", "false"])
def test_training_on_cuda_with_and_without_mixed_precision_resumes(images, tmp_path, amp):
    cfg = smoke_config(images, tmp_path, "loop.steps=2", "loss.gp_every=1", f"loop.amp={amp}")
    assert train(cfg, device="cuda")["step"] == 2
    summary = train(apply_overrides(cfg, ["loop.steps=3"]), device="cuda")
    assert (summary["start_step"], summary["step"]) == (2, 3)
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3]


DDP_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, torch
    from fpalib.train.config import apply_overrides
    from fpalib.train.presets import get_preset
    from fpalib.train.trainer import Trainer
    preset, overrides, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    cfg = apply_overrides(get_preset(preset), [*overrides, f"loop.out={out}/run", "loop.steps=2",
                          "optim.grad_accum=2", "optim.batch_size=2"])
    trainer = Trainer(cfg, progress=False)
    summary = trainer.train()
    nets = {"g": trainer.generator, "d": trainer.discriminator, "vae": trainer.vae}
    torch.save({**{name: net.state_dict() for name, net in nets.items() if net is not None}, "step": summary["step"]},
               f"{out}/rank{os.environ['RANK']}.pt")
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["gan", "vae"])
def test_ddp_with_two_cpu_processes_keeps_the_replicas_identical(images, tmp_path, objective):
    if objective == "gan":
        preset, overrides = "smoke", [f"data.path={images}", "loss.gp_every=1"]
    else:  # 28x28 grey arrays, as fpa data fashion-mnist writes them
        generator = torch.Generator().manual_seed(0)
        for split, count in (("train", 24), ("test", 8)):
            pixels = torch.randint(0, 256, (count, 28, 28), dtype=torch.uint8, generator=generator).numpy()
            save_arrays(tmp_path / split, pixels, (torch.arange(count) % 10).numpy())
        preset, overrides = "smoke-vae", [f"data.path={tmp_path / 'train'}", f"data.test_path={tmp_path / 'test'}"]
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(script), preset, json.dumps(overrides), str(tmp_path)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun and its two workers
        process.communicate()
        pytest.fail("DDP training did not finish within 240 s")
    assert process.returncode == 0, stderr[-2000:]
    states = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    assert states[0]["step"] == states[1]["step"] == 2
    nets = ("g", "d") if objective == "gan" else ("vae",)
    for net in nets:
        assert all(torch.equal(states[0][net][k], states[1][net][k]) for k in states[0][net]), net
    saved = load_checkpoint(tmp_path / "run")
    assert all(torch.equal(saved["generator"][k], states[0]["g"][k]) for k in states[0]["g"])
