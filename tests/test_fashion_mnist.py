"""`fpa data fashion-mnist` from each source, array data sets, and the shipped subset."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fpalib.data import fashion_mnist
from fpalib.data.arrays import ArrayImages, load_arrays, open_images, save_arrays
from fpalib.data.fashion_mnist import CLASSES, prepare_fashion_mnist, read_idx
from fpalib.errors import FpaError

REPO = Path(__file__).resolve().parents[1]


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    """An IDX file of unsigned bytes, as Zalando ships them."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as file:
            file.write(data)
    else:
        path.write_bytes(data)


def idx_folder(folder: Path, gz: bool = True, per_split: tuple[int, int] = (30, 20)) -> dict[str, np.ndarray]:
    """Four small IDX files (3 train and 2 test images of every class); returns what they hold."""
    rng = np.random.default_rng(0)
    written = {}
    for (split, (images_name, labels_name)), count in zip(fashion_mnist.SPLITS.items(), per_split, strict=True):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = np.arange(count) % 10
        write_idx(folder / images_name, images, gz)
        write_idx(folder / labels_name, labels, gz)
        written[split] = images
    return written


@pytest.mark.parametrize("gz", [True, False])
def test_from_a_folder_of_idx_files(tmp_path, gz):
    written = idx_folder(tmp_path / "idx", gz)
    counts = prepare_fashion_mnist(tmp_path / "out", tmp_path / "idx")
    assert counts == {"train": 30, "test": 20}
    images, labels = load_arrays(tmp_path / "out" / "train")
    assert np.array_equal(images[..., 0], written["train"]) and np.array_equal(labels, np.arange(30) % 10)
    assert "MIT" in (tmp_path / "out" / "ATTRIBUTION.md").read_text()
    assert ArrayImages(tmp_path / "out" / "test").labels.tolist() == (np.arange(20) % 10).tolist()


def test_from_debians_package_folder_when_no_folder_is_named(tmp_path, monkeypatch):
    written = idx_folder(tmp_path / "debian")
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FOLDER", tmp_path / "debian")
    prepare_fashion_mnist(tmp_path / "out")
    assert np.array_equal(load_arrays(tmp_path / "out" / "test")[0][..., 0], written["test"])
    assert str(tmp_path / "debian") in (tmp_path / "out" / "ATTRIBUTION.md").read_text()


def test_from_torchvisions_downloader_when_nothing_is_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FOLDER", tmp_path / "none")
    calls = []

    class FakeDownloader:  # writes the files torchvision would (FashionMNIST/raw/*)
        def __init__(self, root, train, download):
            calls.append((train, download))
            idx_folder(Path(root) / "FashionMNIST" / "raw", gz=False)

    monkeypatch.setattr("torchvision.datasets.FashionMNIST", FakeDownloader)
    assert prepare_fashion_mnist(tmp_path / "out") == {"train": 30, "test": 20}
    assert calls == [(True, True), (False, True)]
    assert "torchvision's download" in (tmp_path / "out" / "ATTRIBUTION.md").read_text()


def test_an_offline_machine_without_files_gets_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_FOLDER", tmp_path / "none")

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr("torchvision.datasets.FashionMNIST", offline)
    with pytest.raises(FpaError, match="download failed.*--idx DIR"):
        prepare_fashion_mnist(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_class_balanced_subset(tmp_path):
    idx_folder(tmp_path / "idx")
    assert prepare_fashion_mnist(tmp_path / "out", tmp_path / "idx", per_class=2, test_per_class=1) == \
        {"train": 20, "test": 10}
    assert np.bincount(load_arrays(tmp_path / "out" / "train")[1]).tolist() == [2] * 10


def test_a_foreign_non_empty_folder_is_refused_and_left_alone(tmp_path):
    idx_folder(tmp_path / "idx")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FpaError, match="not empty.*nothing was changed"):
        prepare_fashion_mnist(tmp_path / "mine", tmp_path / "idx")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_a_set_written_here_is_kept_unless_forced(tmp_path, capsys):
    idx_folder(tmp_path / "idx")
    prepare_fashion_mnist(tmp_path / "out", tmp_path / "idx", per_class=1, test_per_class=1)
    assert prepare_fashion_mnist(tmp_path / "out", tmp_path / "idx") == {"train": 10, "test": 10}
    assert "already holds" in capsys.readouterr().out
    assert prepare_fashion_mnist(tmp_path / "out", tmp_path / "idx", force=True) == {"train": 30, "test": 20}


def test_a_damaged_idx_file_is_named_in_one_line(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") * 3 + b"short")
    with pytest.raises(FpaError, match="cut short"):
        read_idx(tmp_path / "bad")
    (tmp_path / "text").write_text("hello world")
    with pytest.raises(FpaError, match="not an IDX file"):
        read_idx(tmp_path / "text")


def test_the_command_prints_one_line_errors_and_succeeds_with_idx(tmp_path):
    def fpa(*args):
        return subprocess.run([sys.executable, "-m", "fpalib", "data", "fashion-mnist", *args],
                              capture_output=True, text=True, timeout=60)

    missing = fpa("--idx", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0 and "--idx" in missing.stderr
    idx_folder(tmp_path / "idx")
    done = fpa("--idx", str(tmp_path / "idx"), "--out", str(tmp_path / "out"))
    assert done.returncode == 0 and "wrote 30 train and 20 test images" in done.stdout


def test_array_images_pad_to_a_power_of_two_with_the_background_and_keep_every_pixel(tmp_path):
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[:, 5:20, 6:9] = 200
    save_arrays(tmp_path, images, np.arange(3))
    native, padded = ArrayImages(tmp_path, 28), ArrayImages(tmp_path, 32)
    assert padded[0].shape == (1, 32, 32) and torch.equal(padded[0][:, 2:30, 2:30], native[0])
    assert (padded[0][:, :2] == -1).all()
    assert open_images(tmp_path, 32, 3)[1].shape == (3, 32, 32)
    with pytest.raises(FpaError, match="even number of padding"):
        ArrayImages(tmp_path, 29)


def test_the_shipped_subset_is_balanced_small_and_labelled():
    folder = REPO / "data" / "fashion-mnist-subset"
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    assert size < 4 * 2**20
    for split, per_class in (("train", 500), ("test", 100)):
        images, labels = load_arrays(folder / split)
        assert images.shape[1:] == (28, 28, 1)
        assert np.bincount(labels).tolist() == [per_class] * len(CLASSES)
    assert "MIT" in (folder / "ATTRIBUTION.md").read_text()
