"""The emoji data set: Google's Noto Emoji artwork as 64x64 PNGs on a white background.

``npm pack`` downloads the tarball of ``emoji-datasource-google`` (iamcal's emoji-data, a pinned
version) into a temporary folder; :mod:`tarfile` reads ``emoji.json``, ``LICENSE`` and the 64x64
PNGs straight into memory (no path from the archive is used to write to disk). ``out`` (default
``data/emoji``) gets ``<category>/<short name>.png`` (skin-tone variants, ``--skin-tones``: a
``_<code points>`` suffix), ``metadata.csv``, ``ATTRIBUTION.md`` and ``source.json``. By default
skin-tone variants and the 'Flags' and 'Component' categories are left out. The set is built
in a hidden folder next to ``out`` and renamed into place, so an interrupted run leaves no half
set; a second run with the same options finds the complete set and does nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from fpalib import __version__
from fpalib.data import flatten_onto_white
from fpalib.errors import FpaError

PACKAGE = "emoji-datasource-google"
DEFAULT_VERSION = "16.0.0"
DEFAULT_OUT = Path("data/emoji")
IMAGE_SIZE = 64
METADATA_COLUMNS = ("file", "name", "category", "subcategory", "skin_tone")
SKIN_TONE_NAMES = {"1F3FB": "light", "1F3FC": "medium-light", "1F3FD": "medium", "1F3FE": "medium-dark", "1F3FF": "dark"}
NPM_TIMEOUT_S = 600

_MANIFEST = "package/emoji.json"
_LICENSE = "package/LICENSE"
_IMAGE_PREFIX = f"package/img/google/{IMAGE_SIZE}/"
_MAX_MEMBER_BYTES = 64 * 1024 * 1024
_NPM_MESSAGE = re.compile(r"^\s*npm (?:error|ERR!) +(?!code |syscall |path |errno |A complete log)(\S.*)$", re.MULTILINE)
_VERSION_PATTERN = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]*")


@dataclass(frozen=True)
class EmojiOptions:
    """Which emoji to keep, from which package version."""

    version: str = DEFAULT_VERSION
    skin_tones: bool = False
    flags: bool = False
    components: bool = False

    def __post_init__(self) -> None:
        if not _VERSION_PATTERN.fullmatch(self.version):
            raise FpaError(f"'{self.version}' is not a package version; use one like {DEFAULT_VERSION}")

    def describe(self) -> str:
        """A short description, e.g. 'base emoji only, no flags, no components'."""
        return ", ".join([
            "with skin-tone variants" if self.skin_tones else "base emoji only",
            "with flags" if self.flags else "no flags",
            "with components" if self.components else "no components",
        ])


@dataclass(frozen=True)
class EmojiImage:
    """One image of the set: its metadata.csv row and the archive member it is drawn from."""

    file: str
    name: str
    category: str
    subcategory: str
    skin_tone: str
    source: str


@dataclass(frozen=True)
class PrepareResult:
    """What :func:`prepare_emoji` did: ``count`` images in ``out``, in ``seconds``."""

    out: Path
    count: int
    seconds: float
    already_present: bool


def category_folder(category: str) -> str:
    """'Smileys & Emotion' -> 'smileys-and-emotion'."""
    return re.sub(r"[^a-z0-9]+", "-", category.lower().replace("&", "and")).strip("-")


def file_stem(short_name: str) -> str:
    """A shell-friendly file stem for a short name: '+1' -> 'plus1', '-1' -> 'minus1'."""
    stem = short_name.lower().replace("+", "plus")
    if stem.startswith("-"):
        stem = "minus" + stem[1:]
    return re.sub(r"[^a-z0-9_-]+", "_", stem)


def select_images(entries: list[dict], options: EmojiOptions) -> list[EmojiImage]:
    """The images ``options`` asks for, from the entries of the package's emoji.json, in emoji order."""
    selected: list[EmojiImage] = []
    used_files: set[str] = set()
    for entry in sorted(entries, key=lambda e: e.get("sort_order", 0)):
        category = entry.get("category", "")
        if (category == "Flags" and not options.flags) or (category == "Component" and not options.components):
            continue
        folder, stem = category_folder(category), file_stem(entry["short_name"])
        variants = [("", entry)]
        if options.skin_tones:
            variants += sorted((entry.get("skin_variations") or {}).items())
        for tone_codes, variant in variants:
            if not variant.get("has_img_google", True):
                continue
            suffix = f"_{tone_codes.lower()}" if tone_codes else ""
            file = f"{folder}/{stem}{suffix}.png"
            if file in used_files:
                file = f"{folder}/{stem}{suffix}_{Path(variant['image']).stem}.png"
            used_files.add(file)
            tone = "+".join(SKIN_TONE_NAMES.get(code, code.lower()) for code in tone_codes.split("-") if code)
            name = (entry.get("name") or entry["short_name"]).lower()
            subcategory = entry.get("subcategory", "")
            selected.append(EmojiImage(file, name, category, subcategory, tone, _IMAGE_PREFIX + variant["image"]))
    return selected


def npm_pack(spec: str, destination: Path) -> Path:
    """Download the tarball of the npm package ``spec`` ('name@version') into ``destination``."""
    npm = shutil.which("npm")
    if npm is None:
        raise FpaError(
            "npm was not found on PATH; install Node.js/npm (https://nodejs.org or `apt-get install npm`) "
            "to fetch the emoji set, or train on any folder of images with --data DIR"
        )
    destination = destination.resolve()
    destination.mkdir(parents=True, exist_ok=True)
    command = [npm, "pack", spec, "--pack-destination", str(destination)]
    try:
        result = subprocess.run(
            command, cwd=destination, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise FpaError(
            f"`npm pack {spec}` did not finish in {NPM_TIMEOUT_S} s; check the connection to the npm registry"
        ) from None
    tarballs = sorted(destination.glob("*.tgz"))
    if result.returncode != 0 or not tarballs:
        raise FpaError(f"`npm pack {spec}` failed: {_npm_error(result.stderr, result.returncode)}")
    return tarballs[0]


def _npm_error(stderr: str, returncode: int) -> str:
    """The informative line of npm's error output ('npm error notarget No matching version ...'):
    the first "npm error" line that is not one of its code/syscall/path/errno/log fields."""
    match = _NPM_MESSAGE.search(stderr)
    if match:
        return match.group(1).strip()
    lines = stderr.strip().splitlines()
    return lines[-1].strip() if lines else f"exit status {returncode}"


def read_package(tarball: Path) -> tuple[list[dict], dict[str, bytes], str]:
    """The emoji.json entries, the 64x64 PNGs (member name -> bytes) and the LICENSE text of a tarball."""
    images: dict[str, bytes] = {}
    manifest = license_text = None
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                wanted = member.name in (_MANIFEST, _LICENSE) or (
                    member.name.startswith(_IMAGE_PREFIX) and member.name.endswith(".png")
                )
                if not wanted or not member.isfile() or member.size > _MAX_MEMBER_BYTES:
                    continue
                content = archive.extractfile(member).read()
                if member.name == _MANIFEST:
                    manifest = content
                elif member.name == _LICENSE:
                    license_text = content.decode("utf-8", errors="replace")
                else:
                    images[member.name] = content
        entries = json.loads(manifest) if manifest is not None else None
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError) as exc:
        raise FpaError(f"cannot read the package tarball {tarball.name} ({exc}); run the command again") from None
    if not isinstance(entries, list):
        raise FpaError(f"{tarball.name} has no usable {_MANIFEST}; choose another --version")
    return entries, images, license_text or ""


def render_png(content: bytes) -> Image.Image:
    """A ``IMAGE_SIZE`` square RGB image from PNG bytes, transparency composited onto white."""
    with Image.open(io.BytesIO(content)) as opened:
        opened.load()
        image = flatten_onto_white(opened).convert("RGB")
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return image


def write_dataset(
    folder: Path,
    selection: list[EmojiImage],
    images: dict[str, bytes],
    options: EmojiOptions,
    license_text: str,
) -> list[EmojiImage]:
    """Write the PNGs, metadata.csv, ATTRIBUTION.md and source.json into ``folder``; return what was written."""
    written = []
    for item in selection:
        content = images.get(item.source)
        if content is None:
            continue
        target = folder / item.file
        target.parent.mkdir(parents=True, exist_ok=True)
        render_png(content).save(target, optimize=True)
        written.append(item)
    with open(folder / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METADATA_COLUMNS, extrasaction="ignore")  # not "source"
        writer.writeheader()
        writer.writerows(asdict(item) for item in written)
    (folder / "ATTRIBUTION.md").write_text(_attribution(options, len(written), license_text), encoding="utf-8")
    source = {"package": PACKAGE, "options": asdict(options), "count": len(written), "fpalib": __version__}
    (folder / "source.json").write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
    return written


def _attribution(options: EmojiOptions, count: int, license_text: str) -> str:
    return f"""# Emoji images: attribution

{count} images made by `fpa data emoji` (fpalib {__version__}) from the npm package
`{PACKAGE}@{options.version}` ({options.describe()}), each composited onto a
white background as a {IMAGE_SIZE}x{IMAGE_SIZE} RGB PNG.

- Artwork: **Noto Emoji** by Google, Apache License 2.0
  (https://github.com/googlefonts/noto-emoji).
- Packaging and metadata: **emoji-datasource** (emoji-data) by Cal Henderson (iamcal),
  MIT License (https://github.com/iamcal/emoji-data), whose licence follows.

```
{license_text.strip()}
```
"""


def existing_count(out: Path, options: EmojiOptions, force: bool) -> int | None:
    """The image count of a complete set in ``out`` made with ``options``; None when it must be (re)built.

    Raises FpaError when ``out`` holds something else, or (without ``force``) a set
    made with other options.
    """
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    source_file, metadata_file = out / "source.json", out / "metadata.csv"
    if not out.is_dir() or not source_file.is_file():
        raise FpaError(f"'{out}' exists and was not made by `fpa data emoji`; choose another --out or remove it")
    try:
        recorded = EmojiOptions(**json.loads(source_file.read_text(encoding="utf-8"))["options"])
    except (ValueError, KeyError, TypeError, FpaError):
        return None
    if force:
        return None
    if recorded != options:
        raise FpaError(
            f"'{out}' holds emoji made with other options ({PACKAGE} {recorded.version}, "
            f"{recorded.describe()}); pass --force to rebuild it or choose another --out"
        )
    if not metadata_file.is_file():
        return None
    with open(metadata_file, newline="", encoding="utf-8") as handle:
        files = [row.get("file", "") for row in csv.DictReader(handle)]
    complete = len(files) == len(list(out.rglob("*.png"))) and all((out / file).is_file() for file in files)
    return len(files) if complete else None


def prepare_emoji(
    out: str | Path = DEFAULT_OUT,
    options: EmojiOptions | None = None,
    *,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> PrepareResult:
    """Fetch the emoji package with npm and write the data set into ``out`` (see the module docstring)."""
    options = options or EmojiOptions()
    out = Path(out)
    start = time.perf_counter()
    count = existing_count(out, options, force)
    if count is not None:
        log(f"'{out}' already holds {count} emoji images ({PACKAGE} {options.version}); nothing to do")
        return PrepareResult(out, count, time.perf_counter() - start, already_present=True)
    spec = f"{PACKAGE}@{options.version}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.partial-", dir=out.parent) as work_dir:
        work = Path(work_dir)
        log(f"fetching {spec} with npm ...")
        entries, images, license_text = read_package(npm_pack(spec, work / "npm"))
        selection = select_images(entries, options)
        staged = work / "emoji"
        staged.mkdir()
        written = write_dataset(staged, selection, images, options, license_text)
        if not written:
            raise FpaError(f"{spec} holds none of the selected images; choose another --version")
        if out.exists():
            out.rename(work / "previous")
        staged.rename(out)
    seconds = time.perf_counter() - start
    missing = len(selection) - len(written)
    note = f" ({missing} listed image(s) missing from the package)" if missing else ""
    log(f"wrote {len(written)} emoji images ({options.describe()}) to '{out}' in {seconds:.1f} s{note}")
    return PrepareResult(out, len(written), seconds, already_present=False)
