"""Tests of the LightGAN discriminator: shapes, heads, reconstruction loss, validation."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fpalib.errors import FpaError
from fpalib.models.discriminator import Discriminator, DiscriminatorConfig, DiscriminatorOutput

SIZES = [16, 32, 64, 128, 256]


def small_config(image_size: int, channels: int = 3, **overrides: object) -> DiscriminatorConfig:
    """A narrow discriminator that runs in milliseconds on a CPU."""
    fields = dict(image_size=image_size, channels=channels, fmap_max=16, head_32_channels=8)
    fields.update(overrides)
    return DiscriminatorConfig(**fields)


class ConstantDecoder(nn.Module):
    """Stands in for a decoder: records its input, returns a fixed reconstruction."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = output
        self.seen: torch.Tensor | None = None

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.seen = features
        return self.output


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("image_size", SIZES)
def test_output_shapes_at_every_size(image_size: int, channels: int) -> None:
    torch.manual_seed(0)
    disc = Discriminator(small_config(image_size, channels))
    images = torch.randn(2, channels, image_size, image_size)

    plain = disc(images)
    assert isinstance(plain, DiscriminatorOutput)
    assert plain.logits.shape == (2,) and plain.logits_32.shape == (2,)
    assert plain.aux_loss is None

    with_aux = disc(images, aux=True)
    assert with_aux.aux_loss.dim() == 0 and torch.isfinite(with_aux.aux_loss)
    assert torch.allclose(with_aux.logits, plain.logits)
    assert (disc.quadrant_decoder is not None) == (image_size >= 128)


@pytest.mark.parametrize("image_size", SIZES)
def test_decoder_resolution_is_min_of_image_size_and_64(image_size: int) -> None:
    disc = Discriminator(small_config(image_size))
    features = torch.zeros(1, disc.config.width(8), 8, 8)
    assert disc.decoder(features).shape == (1, 3, min(image_size, 64), min(image_size, 64))


def test_channel_schedule_halves_with_resolution_up_to_fmap_max() -> None:
    config = DiscriminatorConfig(image_size=256, fmap_max=300, fmap_inverse_coef=12)
    assert [config.width(r) for r in (8, 16, 32, 64, 128)] == [300, 256, 128, 64, 32]


def test_patch_logits_are_averaged_to_one_per_image() -> None:
    torch.manual_seed(0)
    disc = Discriminator(small_config(32, disc_output_size=5))
    images = torch.randn(3, 3, 32, 32)
    features = images
    for block in disc.body:
        features = block(features)
    patches = disc.to_logits(features)
    assert patches.shape == (3, 1, 5, 5)
    assert torch.allclose(disc(images).logits, patches.mean(dim=(1, 2, 3)))


def test_images_in_a_batch_are_scored_independently() -> None:
    torch.manual_seed(0)
    disc = Discriminator(small_config(32))
    images = torch.randn(4, 3, 32, 32)
    together = disc(images)
    alone = disc(images[1:2])
    assert torch.allclose(together.logits[1], alone.logits[0], atol=1e-5)
    assert torch.allclose(together.logits_32[1], alone.logits_32[0], atol=1e-5)


def test_logits_32_head_reads_the_image_averaged_down_to_32x32() -> None:
    torch.manual_seed(0)
    disc = Discriminator(small_config(64))
    small = torch.randn(2, 3, 32, 32)
    blocky = small.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # area-downsamples to `small`
    expected = disc.head_32(small).flatten(1).mean(dim=1)
    assert torch.allclose(disc(blocky).logits_32, expected, atol=1e-5)


def test_gradients_of_both_heads_reach_the_input() -> None:
    torch.manual_seed(0)
    disc = Discriminator(small_config(16))
    for head in ("logits", "logits_32"):
        images = torch.randn(2, 3, 16, 16, requires_grad=True)
        getattr(disc(images), head).sum().backward()
        assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


@pytest.mark.parametrize("image_size", [16, 64, 128])
def test_aux_loss_is_mse_against_the_downscaled_input(image_size: int) -> None:
    torch.manual_seed(0)
    disc = Discriminator(small_config(image_size))
    images = torch.rand(2, 3, image_size, image_size) * 2 - 1
    decoder_size = min(image_size, 64)
    target = F.avg_pool2d(images, image_size // decoder_size)
    disc.quadrant_decoder = None
    disc.decoder = ConstantDecoder(target)
    assert disc(images, aux=True).aux_loss.item() == pytest.approx(0.0, abs=1e-10)
    disc.decoder = ConstantDecoder(torch.zeros_like(target))
    assert disc(images, aux=True).aux_loss.item() == pytest.approx(target.pow(2).mean().item(), rel=1e-5)


def test_decoder_reads_the_8x8_feature_map() -> None:
    torch.manual_seed(0)
    disc = Discriminator(small_config(64))
    images = torch.randn(2, 3, 64, 64)
    recorder = ConstantDecoder(torch.zeros(2, 3, 64, 64))
    disc.decoder = recorder
    disc(images, aux=True)
    features = images
    for block in disc.body:
        features = block(features)
    assert features.shape[-1] == 8 and torch.allclose(recorder.seen, features)


def test_quadrant_decoder_reconstructs_the_matching_quadrant() -> None:
    torch.manual_seed(0)
    disc = Discriminator(small_config(128))
    images = torch.zeros(2, 3, 128, 128)
    quadrant_values = {(0, 0): 0.1, (0, 1): 0.2, (1, 0): 0.3, (1, 1): 0.4}
    for (row, col), value in quadrant_values.items():
        images[..., row * 64 : (row + 1) * 64, col * 64 : (col + 1) * 64] = value
    disc.decoder = ConstantDecoder(torch.zeros(2, 3, 64, 64))
    recorder = ConstantDecoder(torch.zeros(2, 3, 64, 64))
    disc.quadrant_decoder = recorder
    map_16 = disc.body[2](disc.body[1](disc.body[0](images)))
    assert map_16.shape[-1] == 16

    for seed in range(4):
        torch.manual_seed(seed)
        row, col = divmod(int(torch.randint(4, (1,)).item()), 2)
        torch.manual_seed(seed)
        aux_loss = disc(images, aux=True).aux_loss
        expected = images.pow(2).mean() + quadrant_values[(row, col)] ** 2
        assert aux_loss.item() == pytest.approx(expected.item(), rel=1e-5)
        expected_features = map_16[..., row * 8 : (row + 1) * 8, col * 8 : (col + 1) * 8]
        assert torch.allclose(recorder.seen, expected_features)


def test_training_on_the_aux_loss_reconstructs_a_fixed_image() -> None:
    torch.manual_seed(0)
    disc = Discriminator(small_config(16))
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing="ij")
    image = torch.stack([torch.sin(3 * xs), torch.cos(2 * ys), xs * ys]).unsqueeze(0)
    optimizer = torch.optim.Adam([*disc.body.parameters(), *disc.decoder.parameters()], lr=3e-3)
    losses = []
    for _ in range(30):
        loss = disc(image, aux=True).aux_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(image_size=8), "image_size"),
        (dict(image_size=48), "image_size"),
        (dict(image_size=512), "image_size"),
        (dict(channels=2), "channels"),
        (dict(channels=True), "channels"),
        (dict(fmap_max=0), "fmap_max"),
        (dict(image_size=256, fmap_inverse_coef=6), "fmap_inverse_coef"),
        (dict(disc_output_size=3), "disc_output_size"),
        (dict(attention="yes"), "attention"),
        (dict(head_32_channels=7), "head_32_channels"),
    ],
)
def test_construction_and_validate_reject_bad_configs(overrides: dict, message: str) -> None:
    with pytest.raises(FpaError, match=message):
        DiscriminatorConfig(**overrides)
    config = DiscriminatorConfig()
    for name, value in overrides.items():  # set in place: validate() and the model check again
        setattr(config, name, value)
    with pytest.raises(FpaError, match=message):
        config.validate()
    with pytest.raises(FpaError, match=message):
        Discriminator(config)


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 1, 16, 16), (3, 16, 16)])
def test_forward_rejects_images_of_the_wrong_shape(shape: tuple[int, ...]) -> None:
    disc = Discriminator(small_config(16))
    with pytest.raises(FpaError, match=r"\(batch, 3, 16, 16\)"):
        disc(torch.zeros(shape))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_runs_on_cuda_under_autocast(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    disc = Discriminator(small_config(128)).cuda()
    images = torch.randn(2, 3, 128, 128, device="cuda")
    with torch.autocast(device_type="cuda", dtype=dtype):
        out = disc(images, aux=True)
    assert out.logits.device.type == "cuda" and out.logits.shape == (2,)
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.logits_32).all() and torch.isfinite(out.aux_loss)
    reference = disc(images, aux=False)
    assert torch.allclose(out.logits.float(), reference.logits, atol=0.1, rtol=0.05)


def test_minibatch_std_channel_is_the_spread_of_each_group():
    from fpalib.models.discriminator import MinibatchStd

    features = torch.randn(8, 3, 2, 2, dtype=torch.float64)
    out = MinibatchStd(4)(features)
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], features)
    for i in range(8):
        group = features[[j for j in range(8) if j % 2 == i % 2]]  # 4 groups of 2 -> images i, i+2, i+4, i+6
        expected = group.std(dim=0, unbiased=False).mean()
        torch.testing.assert_close(out[i, 3], expected.expand(2, 2), atol=1e-6, rtol=1e-6)
    same = MinibatchStd(4)(torch.ones(6, 3, 2, 2))  # 6 images: groups of 3
    assert same[:, 3].abs().max() < 1e-3


def test_minibatch_std_is_off_in_the_paper_setting_and_tells_collapse_apart():
    assert DiscriminatorConfig().minibatch_std_group == 0
    assert Discriminator(DiscriminatorConfig(image_size=16)).minibatch_std is None
    torch.manual_seed(0)
    disc = Discriminator(DiscriminatorConfig(image_size=16, fmap_max=32, head_32_channels=8, minibatch_std_group=4))
    varied = torch.rand(8, 3, 16, 16) * 2 - 1
    collapsed = varied[:1].expand(8, -1, -1, -1)
    # same first image, different company: its score changes only through the batch statistic
    assert not torch.allclose(disc(varied).logits[0], disc(collapsed).logits[0])
    with pytest.raises(FpaError, match="minibatch_std_group"):
        DiscriminatorConfig(minibatch_std_group=-1).validate()
