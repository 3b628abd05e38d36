"""ImageFolder and check_batch_size on small images made by the tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from fpalib.data import ImageFolder, check_batch_size, find_images
from fpalib.errors import FpaError
from tests.conftest import write_solid_image

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _only_item(folder: Path, image_size: int = 8, **kwargs) -> torch.Tensor:
    dataset = ImageFolder(folder, image_size, **kwargs)
    assert len(dataset) == 1
    return dataset[0]


def _recorded_warnings(action) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
    return [w for w in caught if issubclass(w.category, UserWarning)]


def test_find_images_is_recursive_case_insensitive_sorted_and_skips_hidden(tmp_path):
    for name in ["b/z.PNG", "a.JPG", "b/a/c.jpeg", "d.webp", "e.Bmp", ".hidden/x.png", "b/.y.png"]:
        write_solid_image(tmp_path / name, (4, 4), RED)
    (tmp_path / "notes.txt").write_text("not an image")
    found = [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)]
    assert found == ["a.JPG", "b/a/c.jpeg", "b/z.PNG", "d.webp", "e.Bmp"]


def test_items_are_float_tensors_of_the_requested_shape_in_range(tiny_image_folder):
    dataset = ImageFolder(tiny_image_folder, 8)
    assert len(dataset) == 8
    item = dataset[3]
    assert item.shape == (3, 8, 8) and item.dtype == torch.float32
    assert item.min() >= -1 and item.max() <= 1 and item.std() > 0.1


def test_black_maps_to_minus_one_and_white_to_plus_one(tmp_path):
    write_solid_image(tmp_path / "black.png", (10, 10), (0, 0, 0))
    write_solid_image(tmp_path / "white.png", (10, 10), (255, 255, 255))
    black, white = ImageFolder(tmp_path, 8)
    assert torch.all(black == -1) and torch.all(white == 1)


@pytest.mark.parametrize("size", [(48, 16), (16, 48)])
def test_centre_crop_keeps_exactly_the_centred_square(tmp_path, size):
    width, height = size
    image = Image.new("RGB", size, BLUE)
    side = min(size)
    image.paste(RED, ((width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2))
    image.save(tmp_path / "framed.png")
    item = _only_item(tmp_path, 8)
    expected = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1).expand(3, 8, 8)
    assert torch.equal(item, expected)


def test_rgba_la_and_palette_transparency_are_composited_on_white(tmp_path):
    write_solid_image(tmp_path / "a_rgba.png", (8, 8), (255, 0, 0, 0), mode="RGBA")
    write_solid_image(tmp_path / "b_la.png", (8, 8), (0, 0), mode="LA")
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] * 256)
    palette.save(tmp_path / "c_palette.png", transparency=0)
    for item in ImageFolder(tmp_path, 8):
        assert torch.all(item == 1), "fully transparent pixels must become white"


def test_half_transparent_black_becomes_mid_grey(tmp_path):
    write_solid_image(tmp_path / "half.png", (8, 8), (0, 0, 0, 128), mode="RGBA")
    item = _only_item(tmp_path)
    assert torch.allclose(item, torch.full_like(item, 127 / 127.5 - 1), atol=1 / 127.5)


def test_greyscale_is_expanded_to_three_equal_channels(tmp_path):
    write_solid_image(tmp_path / "grey.png", (8, 8), 51, mode="L")
    item = _only_item(tmp_path)
    assert item.shape == (3, 8, 8)
    assert torch.allclose(item, torch.full_like(item, 51 / 127.5 - 1), atol=1e-6)


def test_channels_one_gives_greyscale_tensors(tmp_path):
    write_solid_image(tmp_path / "red.png", (8, 8), RED)
    item = _only_item(tmp_path, channels=1)
    luminance = round(255 * 299 / 1000)  # PIL's ITU-R 601-2 conversion of pure red
    assert item.shape == (1, 8, 8)
    assert torch.allclose(item, torch.full_like(item, luminance / 127.5 - 1), atol=1 / 127.5)


def test_sixteen_bit_greyscale_is_rescaled_not_clipped(tmp_path):
    Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(tmp_path / "deep.png")
    item = _only_item(tmp_path)
    assert torch.allclose(item, torch.full_like(item, 128 / 127.5 - 1), atol=1e-6)


def test_hflip_mirrors_about_half_of_the_draws(tmp_path):
    image = Image.new("RGB", (8, 8), BLUE)
    image.paste(RED, (0, 0, 4, 8))
    image.save(tmp_path / "halves.png")
    plain = _only_item(tmp_path)
    flipping = ImageFolder(tmp_path, 8, hflip=True)
    draws = [flipping[0] for _ in range(40)]
    flipped = sum(torch.equal(d, plain.flip(-1)) for d in draws)
    unflipped = sum(torch.equal(d, plain) for d in draws)
    assert flipped + unflipped == 40 and 8 <= flipped <= 32
    assert torch.equal(ImageFolder(tmp_path, 8)[0], plain), "no flip unless asked"


def test_unreadable_files_are_left_out_with_one_counting_warning(tmp_path):
    write_solid_image(tmp_path / "good.png", (8, 8), RED)
    (tmp_path / "text.png").write_text("this is not a PNG")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "empty.jpg").write_bytes(b"")
    datasets = []
    caught = _recorded_warnings(lambda: datasets.append(ImageFolder(tmp_path, 8)))
    assert len(caught) == 1 and "2 file(s)" in str(caught[0].message)
    dataset = datasets[0]
    assert [p.name for p in dataset.paths] == ["good.png"]
    assert sorted(p.name for p in dataset.skipped) == ["empty.jpg", "text.png"]


def test_truncated_file_is_replaced_by_the_next_image_not_a_crash(tmp_path):
    write_solid_image(tmp_path / "a_good.png", (8, 8), RED)
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "b_truncated.png")
    content = (tmp_path / "b_truncated.png").read_bytes()
    (tmp_path / "b_truncated.png").write_bytes(content[: len(content) // 2])
    dataset = ImageFolder(tmp_path, 8)
    assert len(dataset) == 2, "the header is fine, so the scan keeps it"
    items = []
    caught = _recorded_warnings(lambda: items.extend([dataset[1], dataset[1], dataset[0]]))
    assert len(caught) == 1 and "b_truncated.png" in str(caught[0].message)
    assert all(torch.equal(item, items[2]) for item in items)
    assert [p.name for p in dataset.skipped] == ["b_truncated.png"]


def test_a_folder_where_nothing_decodes_raises_fpa_error(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "broken.png")
    (tmp_path / "broken.png").write_bytes((tmp_path / "broken.png").read_bytes()[:200])
    dataset = ImageFolder(tmp_path, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FpaError, match="could be decoded"):
            dataset[0]


def test_missing_folder_raises_one_line_fpa_error(tmp_path):
    with pytest.raises(FpaError, match="does not exist") as error:
        ImageFolder(tmp_path / "nowhere", 32)
    assert "\n" not in str(error.value) and "fpa data emoji" in str(error.value)


def test_folder_without_images_raises(tmp_path):
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(FpaError, match="no readable images"):
        ImageFolder(tmp_path, 32)
    (tmp_path / "fake.png").write_text("still no pictures")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FpaError, match="no readable images"):
            ImageFolder(tmp_path, 32)


@pytest.mark.parametrize("image_size", [0, 4, 7, 12, 48, 512, 32.0])
def test_image_size_must_be_a_power_of_two_from_8_to_256(tiny_image_folder, image_size):
    with pytest.raises(FpaError, match="power of two"):
        ImageFolder(tiny_image_folder, image_size)


@pytest.mark.parametrize("image_size", [8, 256])
def test_image_size_bounds_are_accepted(tiny_image_folder, image_size):
    assert ImageFolder(tiny_image_folder, image_size)[0].shape == (3, image_size, image_size)


def test_channels_must_be_one_or_three(tiny_image_folder):
    with pytest.raises(FpaError, match="channels"):
        ImageFolder(tiny_image_folder, 8, channels=2)


def test_check_batch_size(tiny_image_folder):
    dataset = ImageFolder(tiny_image_folder, 8)
    check_batch_size(dataset, 8)
    with pytest.raises(FpaError, match="8 image\\(s\\), fewer than the batch size 9"):
        check_batch_size(dataset, 9)
    with pytest.raises(FpaError, match="at least 1"):
        check_batch_size(dataset, 0)


def test_a_data_loader_batches_the_images_in_index_order(tiny_image_folder):
    dataset = ImageFolder(tiny_image_folder, 8)
    batches = list(DataLoader(dataset, batch_size=3))
    assert [tuple(batch.shape) for batch in batches] == [(3, 3, 8, 8), (3, 3, 8, 8), (2, 3, 8, 8)]
    assert torch.equal(batches[0][0], dataset[0])
