"""The painter as a VAE decoder: likelihood, bounds, the conv baseline, training, export, evaluation."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from fpalib.data.arrays import ArrayImages, save_arrays
from fpalib.errors import FpaError
from fpalib.metrics.evaluate import make_evaluate_fn
from fpalib.models import ConvDecoder, ConvDecoderConfig, FastWeightPainter, count_parameters
from fpalib.models.vae import (
    VAE,
    VAEConfig,
    discretized_logistic_log_prob,
    discretized_logistic_log_prob_reference,
)
from fpalib.train.checkpoint import load_checkpoint, load_generator, vae_from_checkpoint
from fpalib.train.config import apply_overrides
from fpalib.train.presets import get_preset
from fpalib.train.run_log import read_metrics
from fpalib.train.trainer import Trainer
from fpalib.train.vae_step import test_bounds as vae_test_bounds
from tools.export_pretrained import export_pretrained

LEVELS = torch.arange(256, dtype=torch.float64) / 127.5 - 1.0

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("log_scale", [-4.0, -2.0, 0.0])
def test_discretised_logistic_sums_to_one_over_the_256_levels(log_scale):
    mean = torch.rand(5, dtype=torch.float64) * 2.4 - 1.2
    x = LEVELS.view(256, 1).expand(256, 5)
    log_p = discretized_logistic_log_prob(x, mean.expand(256, 5), torch.full((256, 5), log_scale, dtype=torch.float64))
    assert torch.allclose(log_p.exp().sum(0), torch.ones(5, dtype=torch.float64), atol=1e-9)


def test_discretised_logistic_matches_its_plain_reference_in_values_and_gradients():
    # within a few scales of the mean, where the plain difference of two CDFs keeps its digits in float64
    x = LEVELS[torch.randint(0, 256, (64,))]
    log_scale = (torch.rand(64, dtype=torch.float64) * 3 - 4).requires_grad_()
    mean = (x + torch.randn(64, dtype=torch.float64) * 3 * log_scale.detach().exp()).requires_grad_()
    fast = discretized_logistic_log_prob(x, mean, log_scale)
    plain = discretized_logistic_log_prob_reference(x, mean, log_scale)
    assert torch.allclose(fast, plain, rtol=1e-9, atol=1e-9)
    fast_grads = torch.autograd.grad(fast.sum(), (mean, log_scale))
    plain_grads = torch.autograd.grad(plain.sum(), (mean, log_scale))
    for a, b in zip(fast_grads, plain_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-9)


def test_discretised_logistic_is_exact_far_in_the_tails_where_the_plain_form_loses_its_digits():
    mpmath = pytest.importorskip("mpmath")
    x = torch.tensor([0.0, 0.5, -0.3], dtype=torch.float64)
    mean = torch.tensor([0.6, -0.4, 0.8], dtype=torch.float64)
    log_scale = torch.tensor([-4.5, -5.0, -4.5], dtype=torch.float64)
    fast = discretized_logistic_log_prob(x, mean, log_scale)
    for i in range(3):
        mpmath.mp.dps = 300  # the plain difference of two CDFs near 1 needs the digits (reset below)
        s, c = mpmath.e ** mpmath.mpf(log_scale[i].item()), mpmath.mpf(x[i].item()) - mpmath.mpf(mean[i].item())
        def cdf(v):
            return 1 / (1 + mpmath.e ** (-v / s))
        exact = mpmath.log(cdf(c + mpmath.mpf(1) / 255) - cdf(c - mpmath.mpf(1) / 255))
        mpmath.mp.dps = 15
        assert exact < -25
        assert fast[i].item() == pytest.approx(float(exact), rel=1e-12)


def test_discretised_logistic_stays_finite_where_the_bin_mass_underflows():
    x = torch.tensor([0.0, -1.0, 1.0], dtype=torch.float64)
    far = torch.tensor([0.9, 0.9, -0.9], dtype=torch.float64)
    log_p = discretized_logistic_log_prob(x, far, torch.full((3,), -7.0, dtype=torch.float64))
    assert torch.isfinite(log_p).all() and (log_p < -100).all()


def _vae(latent_dim: int = 4) -> VAE:
    decoder = ConvDecoder(ConvDecoderConfig(image_size=8, channels=1, latent_dim=latent_dim, width=4)).double()
    return VAE(decoder, (1, 8, 8), VAEConfig(encoder_width=2)).double()


def test_kl_term_equals_torch_distributions_and_iw_bound_with_one_sample_is_the_single_sample_elbo():
    vae, x = _vae(), LEVELS[torch.randint(0, 256, (3, 1, 8, 8))]
    torch.manual_seed(1)
    nll, kl = vae.elbo_terms(x)
    mu, log_var = vae.encoder(x)
    q = torch.distributions.Normal(mu, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(kl, torch.distributions.kl_divergence(q, p).sum(-1))
    torch.manual_seed(1)  # the same eps: the same z
    bound = vae.importance_weighted_bound(x, 1)
    torch.manual_seed(1)
    z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)
    expected = -nll + p.log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
    assert torch.allclose(bound, expected)


def test_more_importance_samples_give_a_tighter_bound_on_average():
    vae, x = _vae(), LEVELS[torch.randint(0, 256, (16, 1, 8, 8))]
    with torch.no_grad():
        loose = torch.stack([vae.importance_weighted_bound(x, 1) for _ in range(20)]).mean()
        tight = torch.stack([vae.importance_weighted_bound(x, 50) for _ in range(20)]).mean()
    assert tight > loose


def test_every_rule_and_the_authors_variant_work_as_decoder():
    for overrides in (["painter.rule=delta"], ["painter.rule=additive"], ["painter.rule=oja-softmax"],
                      ["painter.variant=authors-additive"], ["painter.num_steps=9"]):
        cfg = apply_overrides(get_preset("smoke-vae"), overrides)
        vae = VAE(FastWeightPainter(cfg.painter), (1, 28, 28), cfg.vae)
        nll, kl = vae.elbo_terms(torch.rand(2, 1, 28, 28) * 2 - 1)
        (nll + kl).mean().backward()
        assert all(p.grad is not None for p in vae.decoder.parameters())


def test_the_presets_decoders_have_about_equal_parameter_counts():
    fpa, conv = get_preset("fashion28-vae"), get_preset("fashion28-vae-conv")
    painter, baseline = FastWeightPainter(fpa.painter), ConvDecoder(conv.conv)
    assert abs(count_parameters(painter) / count_parameters(baseline) - 1) < 0.02
    assert baseline(torch.randn(3, 32)).shape == (3, 1, 28, 28)


def test_vae_objective_refuses_the_refined_painter():
    with pytest.raises(FpaError, match="not 'fpa-unet'"):
        apply_overrides(get_preset("smoke-vae"), ["generator=fpa-unet"])
    with pytest.raises(FpaError, match="unknown objective"):
        apply_overrides(get_preset("smoke-vae"), ["objective=diffusion"])


@pytest.fixture
def fashion(tmp_path):
    """Train (24) and test (8) sets of 28x28 random grey images with labels."""
    generator = torch.Generator().manual_seed(0)
    for split, count in (("train", 24), ("test", 8)):
        images = torch.randint(0, 256, (count, 28, 28), dtype=torch.uint8, generator=generator).numpy()
        save_arrays(tmp_path / split, images, (torch.arange(count) % 10).numpy())
    return tmp_path


def _cfg(fashion, tmp_path, generator="fpa", steps=4):
    return apply_overrides(get_preset("smoke-vae"), [
        f"data.path={fashion / 'train'}", f"data.test_path={fashion / 'test'}", f"loop.out={tmp_path / 'run'}",
        f"loop.steps={steps}", f"generator={generator}"])


@pytest.mark.parametrize("generator", ["fpa", "conv"])
def test_vae_run_logs_bounds_writes_reconstructions_and_resumes_exactly(fashion, tmp_path, generator):
    whole = Trainer(_cfg(fashion, tmp_path / "a", generator), device="cpu", progress=False)
    whole.train()
    Trainer(_cfg(fashion, tmp_path / "b", generator, steps=2), device="cpu", progress=False).train()
    resumed = Trainer(_cfg(fashion, tmp_path / "b", generator), device="cpu", progress=False)
    assert resumed.resumed and resumed.step == 2
    resumed.train()
    losses = [[r["loss"] for r in read_metrics(tmp_path / run / "run" / "metrics.jsonl") if "loss" in r]
              for run in ("a", "b")]
    assert losses[0] == losses[1] and len(losses[0]) == 4
    records = read_metrics(tmp_path / "a" / "run" / "metrics.jsonl")
    assert [r["step"] for r in records if "test_nelbo" in r] == [2, 4]
    assert (tmp_path / "a" / "run" / "samples" / "step_000004_recon.png").is_file()
    assert (tmp_path / "a" / "run" / "checkpoints" / "best.pt").is_file()


def test_export_ships_the_encoder_and_reproduces_the_runs_bounds(fashion, tmp_path):
    Trainer(_cfg(fashion, tmp_path), device="cpu", progress=False).train()
    state = load_checkpoint(tmp_path / "run")
    path = export_pretrained(tmp_path / "run", tmp_path / "out", "tiny-vae", command="test")
    shipped = vae_from_checkpoint(load_checkpoint(path))
    test_set = ArrayImages(fashion / "test", 28)
    trained, exported = (vae_test_bounds(v, test_set) for v in (vae_from_checkpoint(state), shipped))
    assert exported["test_nelbo"] == pytest.approx(trained["test_nelbo"], rel=1e-2)  # float16 weights
    decoder, _ = load_generator(path)
    z = torch.randn(2, decoder.latent_dim)
    assert torch.equal(decoder(z), shipped.decoder(z))
    assert "encoder and likelihood" in (tmp_path / "out" / "tiny-vae.md").read_text()


def test_vae_from_a_gan_checkpoint_is_refused(tmp_path, noise_images):
    cfg = apply_overrides(get_preset("smoke"), [f"data.path={noise_images}", f"loop.out={tmp_path / 'gan'}",
                                                "loop.steps=1"])
    Trainer(cfg, device="cpu", progress=False).train()
    with pytest.raises(FpaError, match="needs a VAE run|need a VAE run"):
        vae_from_checkpoint(load_checkpoint(tmp_path / "gan"))


def test_fpa_evaluate_prints_the_bounds_of_a_vae_run(fashion, tmp_path):
    Trainer(_cfg(fashion, tmp_path), device="cpu", progress=False).train()
    result = subprocess.run([sys.executable, "-m", "fpalib", "evaluate", str(tmp_path / "run"), "--num-samples", "50",
                             "--iw-samples", "3", "--iw-images", "8"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "test -elbo" in result.stdout and "iw bound (k=3)" in result.stdout and "cfd" in result.stdout
    record = read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]
    assert record["iw_images"] == 8 and record["test_images"] == 8 and math.isfinite(record["test_iw_nll"])
    # the same 8 images: the IW bound estimates the same quantity as -ELBO, a little tighter
    assert abs(record["test_iw_nll"] - record["test_nelbo"]) < 0.02 * record["test_nelbo"]
    assert record["test_nelbo_bpd"] == pytest.approx(record["test_nelbo"] / (784 * math.log(2)))


def test_demo_paints_the_reconstruction_of_a_test_image_with_a_vae_painter(fashion, tmp_path, capsys):
    from fpalib.cli import main

    Trainer(_cfg(fashion, tmp_path), device="cpu", progress=False).train()
    export_pretrained(tmp_path / "run", tmp_path / "out", "tiny-vae", command="test")
    figures = tmp_path / "figures"
    assert main(["demo", "--weights", str(tmp_path / "out" / "tiny-vae.pt"), "--refined", "none.pt",
                 "--figures", str(figures), "--test-image", "3"]) == 0
    for name in ("demo_samples.png", "demo_painting_steps.png", "demo_painting.gif"):
        assert (figures / name).stat().st_size > 0
    assert main(["demo", "--weights", str(tmp_path / "out" / "tiny-vae.pt"), "--test-image", "100000",
                 "--figures", str(figures)]) == 2
    assert "--test-image must be in 0.." in capsys.readouterr().err


def test_the_painting_of_a_given_image_ends_on_the_vaes_reconstruction(fashion, tmp_path, monkeypatch):
    import fpalib.viz as viz
    from fpalib.sampling import write_painting

    Trainer(_cfg(fashion, tmp_path), device="cpu", progress=False).train()
    image = ArrayImages(fashion / "test", 28)[2]
    drawn = {}
    monkeypatch.setattr(viz, "save_painting_gif", lambda steps, gif, **kw: drawn.setdefault("steps", steps))
    write_painting(tmp_path / "run", tmp_path / "steps.png", gif=tmp_path / "x.gif", image=image)
    vae = vae_from_checkpoint(load_checkpoint(tmp_path / "run"))
    with torch.no_grad():
        expected = vae.reconstruct(image[None])[0]
    assert torch.allclose(torch.tanh(drawn["steps"].cumulative[0, -1]), expected, atol=1e-6)


def test_a_vae_run_scores_the_sample_metrics_it_names_beside_its_test_bound():
    cfg = apply_overrides(get_preset("fashion28-vae"), ["eval.metrics=cfd,coverage"])  # loop.eval_metric: test_nelbo
    assert make_evaluate_fn(cfg).metrics == ("cfd", "coverage")
