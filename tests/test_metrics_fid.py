"""FID: the Frechet distance, streaming statistics, the JPEG/PNG protocol and the Inception weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import ImagePathDataset, calculate_activation_statistics
from torchvision.transforms import functional as TF

from fpalib.errors import FpaError
from fpalib.metrics import inception
from fpalib.metrics.features import FeatureAccumulator, accumulate_features
from fpalib.metrics.fid import GaussianStats, frechet_distance, frechet_distance_reference
from fpalib.metrics.image_format import ImageFormat, _pil, through_format, to_uint8


pytestmark = pytest.mark.usefixtures("one_thread")


def write_images(images: torch.Tensor, folder: Path, image_format: ImageFormat) -> list[Path]:
    """Save uint8 (N, C, H, W) as ``<folder>/000000.jpg ...``, as files for pytorch-fid."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{index:06d}.{'jpg' if image_format.name == 'jpeg' else 'png'}" for index in range(len(images))]
    for image, path in zip(images, paths, strict=True):
        image_format.save(_pil(image), path)
    return paths


def random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ----------------------------------------------------------------------------- Frechet distance
def test_frechet_distance_of_diagonal_gaussians_has_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    var1, var2 = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)
    known = np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2))
    ours = frechet_distance(GaussianStats(mu1, np.diag(var1), 0), GaussianStats(mu2, np.diag(var2), 0))
    assert ours == pytest.approx(known, rel=1e-9)
    assert frechet_distance_reference(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(known, rel=1e-12)


@pytest.mark.parametrize("d", [3, 32, 128])
def test_pytorch_fid_agrees_with_the_independent_float64_computation(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    sigma1, sigma2 = random_spd(rng, d), random_spd(rng, d)
    expected = frechet_distance_reference(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(GaussianStats(mu1, sigma1, 0), GaussianStats(mu2, sigma2, 0)) == pytest.approx(
        expected, rel=1e-8)
    assert frechet_distance_reference(mu1, sigma1, mu1, sigma1) == pytest.approx(0, abs=1e-9)


def test_fid_of_samples_approaches_the_distance_of_their_gaussians():
    rng = np.random.default_rng(0)
    d = 4
    mu1, mu2, sigma1, sigma2 = np.zeros(d), np.full(d, 0.5), random_spd(rng, d), random_spd(rng, d)
    known = frechet_distance_reference(mu1, sigma1, mu2, sigma2)
    x = rng.multivariate_normal(mu1, sigma1, 200_000)
    y = rng.multivariate_normal(mu2, sigma2, 200_000)
    assert frechet_distance(GaussianStats.of(x), GaussianStats.of(y)) == pytest.approx(known, rel=0.02, abs=0.01)


def test_feature_accumulator_matches_numpy_statistics_and_keeps_the_first_rows():
    rng = np.random.default_rng(2)
    features = 50 + 3 * rng.standard_normal((300, 7))  # a large offset: the shifted sums avoid cancellation
    accumulator = FeatureAccumulator(keep=40)
    for chunk in np.array_split(features, 7):
        accumulator.add(chunk)
    stats = accumulator.stats()
    np.testing.assert_allclose(stats.mu, features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.sigma, np.cov(features, rowvar=False), rtol=1e-9, atol=1e-11)
    assert stats.count == 300
    np.testing.assert_array_equal(accumulator.kept, features[:40].astype(np.float32))


# ----------------------------------------------------------------------------- image protocol
@pytest.mark.parametrize("image_format", [ImageFormat("jpeg", 75), ImageFormat("jpeg", 95), ImageFormat("png")])
def test_in_memory_format_equals_files_read_by_pytorch_fid(tmp_path, image_format):
    images = torch.rand(5, 3, 16, 16) * 2 - 1
    pixels = to_uint8(images)
    files = write_images(pixels, tmp_path, image_format)
    from_files = torch.stack([ImagePathDataset(files, transforms=TF.to_tensor)[i] for i in range(len(files))])
    torch.testing.assert_close(through_format(pixels, image_format), from_files, rtol=0, atol=0)
    if image_format.name == "png":
        torch.testing.assert_close(from_files, pixels.float() / 255, rtol=0, atol=0)
    else:
        assert not torch.equal(from_files, pixels.float() / 255)  # JPEG is lossy: the format matters


def test_to_uint8_rounds_like_save_image():
    values = torch.tensor([-1.0, -0.999, 0.0, 0.5, 1.0, 1.5]).view(1, 1, 1, 6)
    expected = ((values + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    assert torch.equal(to_uint8(values), expected)


def test_greyscale_images_enter_inception_as_rgb():
    grey = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    rgb = through_format(grey, ImageFormat("png"))
    assert rgb.shape == (2, 3, 8, 8)
    torch.testing.assert_close(rgb, grey.float().div(255).expand(2, 3, 8, 8), rtol=0, atol=0)


# ----------------------------------------------------------------------------- weights
@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)

    def no_network(url, destination):
        raise OSError("network is unreachable")

    monkeypatch.setattr(inception, "_download", no_network)
    return Path(torch.hub.get_dir()) / "checkpoints"


def test_weights_are_found_in_the_documented_order(tmp_path, monkeypatch, empty_hub):
    explicit, from_env, cached = tmp_path / "explicit.pth", tmp_path / "env.pth", empty_hub / inception.WEIGHTS_FILE
    for path in (explicit, from_env, cached):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    monkeypatch.setenv(inception.WEIGHTS_ENV, str(from_env))
    assert inception.resolve_weights(explicit) == explicit
    assert inception.resolve_weights(None) == from_env
    monkeypatch.delenv(inception.WEIGHTS_ENV)
    assert inception.resolve_weights(None) == cached
    cached.unlink()
    downloaded = []
    monkeypatch.setattr(inception, "_download", lambda url, path: (downloaded.append(url), path.write_bytes(b"x")))
    assert inception.resolve_weights(None) == cached and downloaded == [inception.WEIGHTS_URL]


def test_missing_weights_give_one_line_naming_the_file_url_and_folder(empty_hub):
    with pytest.raises(FpaError) as error:
        inception.resolve_weights(None)
    message = str(error.value)
    assert "\n" not in message
    for expected in (inception.WEIGHTS_FILE, inception.WEIGHTS_URL, str(empty_hub), "--fid-weights", "network"):
        assert expected in message
    with pytest.raises(FpaError, match="not a file"):
        inception.resolve_weights(empty_hub / "nothing.pth")


def test_the_expected_hash_comes_from_the_file_name_and_is_checked(random_weights):
    assert inception.expected_hash_prefix() == "6726825d"
    assert inception.WEIGHTS_FILE == "pt_inception-2015-12-05-6726825d.pth"
    sha = inception.file_sha256(random_weights)
    assert inception.check_weights_hash(random_weights, sha[:8]) == sha
    with pytest.raises(FpaError, match="SHA-256 starts with"):
        inception.load_fid_inception(random_weights, dims=64)  # the random file is not pytorch-fid's


def test_a_file_of_the_wrong_shape_is_refused(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(FpaError, match="does not fit"):
        inception.load_fid_inception(path, dims=64, hash_prefix=None)


def test_random_weights_load_into_pytorch_fid_and_match_its_statistics(random_weights, tmp_path):
    model = inception.load_fid_inception(random_weights, dims=64, hash_prefix=None)
    pixels = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    files = [str(path) for path in write_images(pixels, tmp_path / "png", ImageFormat("png"))]
    mu, sigma = calculate_activation_statistics(files, model, batch_size=3, dims=64, device="cpu", num_workers=0)
    ours = accumulate_features(model, [through_format(pixels[:3], ImageFormat("png")),
                                       through_format(pixels[3:], ImageFormat("png"))], progress=False).stats()
    np.testing.assert_allclose(ours.mu, mu, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.sigma, sigma, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_full_2048_d_inception_runs_with_random_weights(random_weights):
    model = inception.load_fid_inception(random_weights, dims=2048, hash_prefix=None)
    from fpalib.metrics.features import image_features

    features = image_features(model, torch.rand(2, 3, 32, 32))
    assert features.shape == (2, 2048) and np.isfinite(features).all() and features.std() > 0
