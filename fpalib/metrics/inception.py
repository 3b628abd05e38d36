"""pytorch-fid's FID Inception (``InceptionV3``, ``use_fid_inception=True``) from a local weights file.

pytorch-fid can only fetch its weights from :data:`WEIGHTS_URL`; no package registry ships
them. :func:`resolve_weights` looks, in order, at an explicit path (``--fid-weights``,
``eval.fid_weights``), ``$FPA_FID_WEIGHTS``, torch hub's cache (where pytorch-fid keeps the
file), then downloads there when allowed; failing all, it raises one FpaError line naming the
file, its URL and the folder to put it in. The file name carries the first hex digits of its
SHA-256 (torch-hub style), which :func:`check_weights_hash` compares (pytorch-fid does not).
Tests load random weights (:func:`save_random_inception_weights`, ``hash_prefix=None``).
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from unittest import mock

import torch
import torchvision
from pytorch_fid import inception as fid_inception
from torch import nn

from fpalib.errors import FpaError

WEIGHTS_URL: str = fid_inception.FID_WEIGHTS_URL
WEIGHTS_FILE: str = WEIGHTS_URL.rsplit("/", 1)[-1]
"""``pt_inception-2015-12-05-6726825d.pth``, the name pytorch-fid's cache uses."""
WEIGHTS_ENV = "FPA_FID_WEIGHTS"
FEATURE_DIMS: tuple[int, ...] = tuple(fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM)
"""Feature sizes pytorch-fid offers: 64, 192, 768, 2048 (the FID standard: 2048, the final pool)."""
DOWNLOAD_TIMEOUT_S = 30.0


def expected_hash_prefix() -> str:
    """The SHA-256 prefix written into :data:`WEIGHTS_FILE` (``"6726825d"``)."""
    match = torch.hub.HASH_REGEX.search(WEIGHTS_FILE)
    if match is None or not match.group(1):  # pytorch-fid renamed its file: nothing to compare
        raise FpaError(f"cannot read a hash from pytorch-fid's weights file name {WEIGHTS_FILE}; update fpalib")
    return match.group(1)


def hub_cache_path() -> Path:
    """Where torch hub (and so pytorch-fid) keeps the file: ``<torch.hub.get_dir()>/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def missing_weights_message(reason: str) -> str:
    """The one-line explanation printed when no weights file can be had."""
    return (
        f"FID/KID need pytorch-fid's Inception weights {WEIGHTS_FILE} ({reason}); download {WEIGHTS_URL} "
        f"on a machine with internet and put it in {hub_cache_path().parent}/, or pass --fid-weights PATH "
        f"(or set {WEIGHTS_ENV}=PATH); SWD needs no weights (--metrics swd)"
    )


def resolve_weights(path: str | Path | None = None, *, allow_download: bool = True) -> Path:
    """The weights file, found in the order of the module docstring; FpaError when there is none.

    An explicit ``path`` or :data:`WEIGHTS_ENV` that names a missing file is an error (no fallback):
    the user asked for that file.
    """
    for given, origin in ((path, "--fid-weights"), (os.environ.get(WEIGHTS_ENV) or None, WEIGHTS_ENV)):
        if given is not None:
            given = Path(given).expanduser()
            if not given.is_file():
                raise FpaError(f"{origin} names {given}, which is not a file; {missing_weights_message('not found')}")
            return given
    cached = hub_cache_path()
    if cached.is_file():
        return cached
    if not allow_download:
        raise FpaError(missing_weights_message(f"not in {cached.parent} and downloading is off"))
    try:
        _download(WEIGHTS_URL, cached)
    except Exception as error:  # no network, a proxy, a bad hash: all end in the same advice
        reason = f"the download failed: {type(error).__name__}: {error}".splitlines()[0]
        raise FpaError(missing_weights_message(reason)) from None
    return cached


def _download(url: str, destination: Path) -> None:
    """Fetch ``url`` to ``destination`` (hash prefix checked by torch hub), with a socket timeout."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(url, str(destination), hash_prefix=expected_hash_prefix(), progress=True)
    finally:
        socket.setdefaulttimeout(previous)


def file_sha256(path: str | Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks (``hashlib.file_digest`` needs Python 3.11)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_weights_hash(path: str | Path, hash_prefix: str | None) -> str:
    """Return the file's SHA-256; FpaError unless it starts with ``hash_prefix`` (None: no check)."""
    sha = file_sha256(path)
    if hash_prefix is not None and not sha.startswith(hash_prefix):
        raise FpaError(
            f"{path} is not pytorch-fid's Inception weights file (its SHA-256 starts with {sha[:8]}, expected "
            f"{hash_prefix}); {missing_weights_message('wrong file')}"
        )
    return sha


def load_fid_inception(
    weights: str | Path,
    dims: int = 2048,
    device: str | torch.device = "cpu",
    *,
    hash_prefix: str | None = "expected",
) -> nn.Module:
    """pytorch-fid's ``InceptionV3`` (FID mode) with the given weights file, in eval mode on ``device``.

    Input: images (N, 3, H, W) in [0, 1], any H, W (resized to 299 inside); output: a list with
    one feature map (N, dims, h, w) (1x1 for dims=2048).
    hash_prefix: "expected" checks :func:`expected_hash_prefix`; a string checks that prefix;
        None skips the check (tests with random weights only).
    """
    if dims not in FEATURE_DIMS:
        raise FpaError(f"FID feature size {dims} is not one of pytorch-fid's {', '.join(map(str, FEATURE_DIMS))}")
    check_weights_hash(weights, expected_hash_prefix() if hash_prefix == "expected" else hash_prefix)
    try:
        state_dict = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:
        raise FpaError(f"cannot read Inception weights {weights} ({type(error).__name__}); "
                       f"{missing_weights_message('unreadable file')}") from None
    block = fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[dims]
    # pytorch-fid has no argument for a local file: its fid_inception_v3() loads
    # load_state_dict_from_url(FID_WEIGHTS_URL), which returns our state dict while the network is built.
    with mock.patch.object(fid_inception, "load_state_dict_from_url", return_value=state_dict):
        try:
            model = fid_inception.InceptionV3([block], resize_input=True, normalize_input=True)
        except RuntimeError as error:  # load_state_dict: missing or mis-shaped tensors
            reason = str(error).splitlines()[0]
            raise FpaError(f"{weights} does not fit pytorch-fid's FID Inception ({reason})") from None
    return model.to(device).eval()


def save_random_inception_weights(path: str | Path, seed: int = 0) -> Path:
    """Write a random state dict with the FID Inception's names and shapes to ``path`` (tests, demos).

    The FID variant renames no parameter of torchvision's ``inception_v3(num_classes=1008,
    aux_logits=False)``, so that network's state dict fits. He-normal convolutions keep the
    activations O(1) through the eval-mode batch norms; the features mean nothing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
        for module in network.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    torch.save(network.state_dict(), path)
    return path
