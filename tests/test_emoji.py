"""`fpa data emoji` logic on a small synthetic npm package; a fake `npm` script stands in for npm."""

from __future__ import annotations

import csv
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from fpalib.data import emoji
from fpalib.data.emoji import EmojiOptions, category_folder, file_stem, prepare_emoji
from fpalib.errors import FpaError

PREFIX = "package/img/google/64/"
ENTRIES = [
    {"short_name": "grinning", "name": "GRINNING FACE", "category": "Smileys & Emotion",
     "subcategory": "face-smiling", "image": "1f600.png", "has_img_google": True, "sort_order": 1},
    {"short_name": "wave", "name": "WAVING HAND SIGN", "category": "People & Body",
     "subcategory": "hand-fingers-open", "image": "1f44b.png", "has_img_google": True, "sort_order": 2,
     "skin_variations": {
         "1F3FF": {"image": "1f44b-1f3ff.png", "has_img_google": True},
         "1F3FB": {"image": "1f44b-1f3fb.png", "has_img_google": True},
     }},
    {"short_name": "flag-fr", "name": "FRANCE", "category": "Flags", "subcategory": "country-flag",
     "image": "1f1eb-1f1f7.png", "has_img_google": True, "sort_order": 3},
    {"short_name": "skin-tone-2", "name": "EMOJI MODIFIER FITZPATRICK TYPE-1-2", "category": "Component",
     "subcategory": "skin-tone", "image": "1f3fb.png", "has_img_google": True, "sort_order": 4},
    {"short_name": "+1", "name": "THUMBS UP SIGN", "category": "People & Body", "subcategory": "hand-fingers-closed",
     "image": "1f44d.png", "has_img_google": True, "sort_order": 0},
    {"short_name": "no_google", "name": "NOT DRAWN BY GOOGLE", "category": "Objects", "subcategory": "other",
     "image": "1f9ff.png", "has_img_google": False, "sort_order": 6},
    {"short_name": "ghost_image", "name": "LISTED BUT ABSENT", "category": "Objects", "subcategory": "other",
     "image": "absent.png", "has_img_google": True, "sort_order": 7},
]
BASE_FILES = {"people-and-body/plus1.png", "smileys-and-emotion/grinning.png", "people-and-body/wave.png"}


def _transparent_with_red_centre(mode: str = "RGBA") -> bytes:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (16, 16, 48, 48))
    buffer = io.BytesIO()
    (image if mode == "RGBA" else image.convert("LA")).save(buffer, format="PNG")
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    archive.addfile(info, io.BytesIO(content))


@pytest.fixture
def package_tarball(tmp_path: Path) -> Path:
    """A miniature emoji-datasource-google tarball, with two hostile members that must be ignored."""
    path = tmp_path / "source" / "emoji-datasource-google-16.0.0.tgz"
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as archive:
        _add(archive, "package/emoji.json", json.dumps(ENTRIES).encode())
        _add(archive, "package/LICENSE", b"The MIT License (MIT)\nCopyright (c) 2013 Cal Henderson\n")
        for name in ["1f600.png", "1f44b.png", "1f44b-1f3fb.png", "1f44b-1f3ff.png", "1f1eb-1f1f7.png",
                     "1f3fb.png", "1f9ff.png"]:
            _add(archive, PREFIX + name, _transparent_with_red_centre())
        _add(archive, PREFIX + "1f44d.png", _transparent_with_red_centre(mode="LA"))
        _add(archive, PREFIX + "../../../../escaped.png", _transparent_with_red_centre())
        link = tarfile.TarInfo(PREFIX + "link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    return path


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package_tarball: Path) -> Path:
    """Put an `npm` on PATH whose `pack` copies the synthetic tarball; it logs each call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> "{bin_dir}/calls.log"\n'
        'if [ "$2" != "emoji-datasource-google@16.0.0" ]; then\n'
        '  echo "npm error code ETARGET" >&2\n'
        '  echo "npm error notarget No matching version found for $2." >&2\n'
        "  exit 1\n"
        "fi\n"
        f'cp "{package_tarball}" "$4/"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir / "calls.log"


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metadata.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _pngs(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*.png")}


def test_names_are_shell_friendly():
    assert file_stem("+1") == "plus1" and file_stem("-1") == "minus1" and file_stem("flag-fr") == "flag-fr"
    assert category_folder("Smileys & Emotion") == "smileys-and-emotion"


def test_default_set_is_base_emoji_without_flags_or_components(tmp_path, fake_npm):
    messages = []
    result = prepare_emoji(tmp_path / "emoji", log=messages.append)
    out = tmp_path / "emoji"
    assert _pngs(out) == BASE_FILES and result.count == 3 and not result.already_present
    assert [row["file"] for row in _rows(out)] == [
        "people-and-body/plus1.png", "smileys-and-emotion/grinning.png", "people-and-body/wave.png"
    ]
    assert _rows(out)[1] == {
        "file": "smileys-and-emotion/grinning.png", "name": "grinning face", "category": "Smileys & Emotion",
        "subcategory": "face-smiling", "skin_tone": "",
    }
    assert "wrote 3 emoji images" in messages[-1] and "1 listed image(s) missing" in messages[-1]
    attribution = (out / "ATTRIBUTION.md").read_text()
    assert "Noto Emoji" in attribution and "Apache License 2.0" in attribution
    assert "emoji-datasource-google@16.0.0" in attribution and "Cal Henderson" in attribution


def test_transparency_is_composited_on_white_at_64_pixels(tmp_path, fake_npm):
    prepare_emoji(tmp_path / "emoji", log=lambda _: None)
    red_as_grey = (76, 76, 76)  # the LA source stores red as luminance 76
    for name, centre in [("smileys-and-emotion/grinning.png", (255, 0, 0)), ("people-and-body/plus1.png", red_as_grey)]:
        image = Image.open(tmp_path / "emoji" / name)
        assert image.mode == "RGB" and image.size == (64, 64)
        assert image.getpixel((2, 2)) == (255, 255, 255) and image.getpixel((32, 32)) == centre


def test_options_add_skin_tones_flags_and_components(tmp_path, fake_npm):
    options = EmojiOptions(skin_tones=True, flags=True, components=True)
    prepare_emoji(tmp_path / "emoji", options, log=lambda _: None)
    extra = {"people-and-body/wave_1f3fb.png", "people-and-body/wave_1f3ff.png", "flags/flag-fr.png",
             "component/skin-tone-2.png"}
    assert _pngs(tmp_path / "emoji") == BASE_FILES | extra
    tones = {row["file"]: row["skin_tone"] for row in _rows(tmp_path / "emoji")}
    assert tones["people-and-body/wave_1f3fb.png"] == "light" and tones["people-and-body/wave_1f3ff.png"] == "dark"
    assert tones["people-and-body/wave.png"] == ""


def test_hostile_archive_members_are_never_written(tmp_path, fake_npm):
    prepare_emoji(tmp_path / "data" / "emoji", log=lambda _: None)
    assert not list(tmp_path.rglob("escaped.png")) and not list(tmp_path.rglob("link.png"))


def test_second_run_checks_the_set_and_does_nothing(tmp_path, fake_npm):
    out = tmp_path / "emoji"
    prepare_emoji(out, log=lambda _: None)
    messages = []
    result = prepare_emoji(out, log=messages.append)
    assert result.already_present and result.count == 3
    assert "nothing to do" in messages[0] and len(fake_npm.read_text().splitlines()) == 1


def test_an_incomplete_set_is_rebuilt(tmp_path, fake_npm):
    out = tmp_path / "emoji"
    prepare_emoji(out, log=lambda _: None)
    (out / "people-and-body" / "wave.png").unlink()
    result = prepare_emoji(out, log=lambda _: None)
    assert not result.already_present and _pngs(out) == BASE_FILES
    assert len(fake_npm.read_text().splitlines()) == 2


def test_a_set_made_with_other_options_needs_force(tmp_path, fake_npm):
    out = tmp_path / "emoji"
    prepare_emoji(out, log=lambda _: None)
    with pytest.raises(FpaError, match="--force"):
        prepare_emoji(out, EmojiOptions(flags=True), log=lambda _: None)
    prepare_emoji(out, EmojiOptions(flags=True), force=True, log=lambda _: None)
    assert "flags/flag-fr.png" in _pngs(out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".emoji")], "no temporary folder is left"


def test_a_foreign_folder_is_never_overwritten(tmp_path, fake_npm):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    for force in (False, True):
        with pytest.raises(FpaError, match="not made by `fpa data emoji`"):
            prepare_emoji(out, force=force, log=lambda _: None)
    assert (out / "holiday.jpg").read_bytes() == b"precious"


def test_without_npm_the_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FpaError) as error:
        prepare_emoji(tmp_path / "emoji", log=lambda _: None)
    message = str(error.value)
    assert "npm was not found" in message and "apt-get install npm" in message and "--data" in message
    assert "\n" not in message and not (tmp_path / "emoji").exists()


def test_npm_pack_failure_is_one_clear_line(tmp_path, fake_npm):
    with pytest.raises(FpaError) as error:
        prepare_emoji(tmp_path / "emoji", EmojiOptions(version="99.0.0"), log=lambda _: None)
    assert str(error.value) == (
        "`npm pack emoji-datasource-google@99.0.0` failed: "
        "notarget No matching version found for emoji-datasource-google@99.0.0."
    )
    assert not (tmp_path / "emoji").exists()


def test_a_broken_tarball_leaves_no_half_data_set(tmp_path, fake_npm, package_tarball):
    package_tarball.write_bytes(package_tarball.read_bytes()[:300])
    with pytest.raises(FpaError, match="cannot read the package tarball"):
        prepare_emoji(tmp_path / "emoji", log=lambda _: None)
    assert not (tmp_path / "emoji").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".emoji")]


@pytest.mark.parametrize("version", ["", "1.0 && rm -rf /", "--registry=x"])
def test_version_must_look_like_a_version(version):
    with pytest.raises(FpaError, match="not a package version"):
        EmojiOptions(version=version)


def test_the_emoji_set_loads_as_an_image_folder(tmp_path, fake_npm):
    from fpalib.data import ImageFolder

    prepare_emoji(tmp_path / "emoji", log=lambda _: None)
    dataset = ImageFolder(tmp_path / "emoji", 16)
    assert len(dataset) == 3 and dataset[0].shape == (3, 16, 16)
    assert emoji.DEFAULT_OUT.as_posix() == "data/emoji"
