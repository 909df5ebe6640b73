"""Checksum-verified, atomic file downloads using only the standard library.

A download goes to a temporary file next to its destination and is moved into
place with :func:`os.replace` only once its length and SHA-256 are verified,
so an interrupted or corrupt transfer never leaves a file at the final path.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DownloadError", "download_file", "sha256sum"]

_CHUNK_SIZE = 1 << 16
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")


class DownloadError(OSError):
    """Raised when a file could not be fetched and verified from any mirror.

    The message names the file and lists every URL tried with its failure.
    """


def sha256sum(path: str | os.PathLike) -> str:
    """Return the SHA-256 of a file as a lowercase hex string.

    Parameters
    ----------
    path : str or os.PathLike
        The file to hash.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(sha256) -> str:
    if not isinstance(sha256, str):
        raise TypeError(
            f"sha256 must be a hex string, got {type(sha256).__name__}"
        )
    normalized = sha256.strip().lower()
    if not _SHA256_PATTERN.fullmatch(normalized):
        raise ValueError(
            f"sha256 must be 64 hexadecimal digits, got {sha256!r}"
        )
    return normalized


def _check_mirrors(mirrors) -> tuple[str, ...]:
    if isinstance(mirrors, str) or not isinstance(mirrors, Sequence):
        raise TypeError(
            "mirrors must be a sequence of base URLs (e.g. a list of str), "
            f"got {type(mirrors).__name__}"
        )
    if not mirrors or not all(isinstance(m, str) and m for m in mirrors):
        raise ValueError(
            f"mirrors must be a non-empty sequence of non-empty str, got {mirrors!r}"
        )
    return tuple(mirrors)


def _progress_bar_class():
    # Imported here, not with the module: tqdm.auto warns in a notebook
    # without ipywidgets, which should happen only when a bar is shown.
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the progress bar is optional
        return None
    return tqdm


def _fetch(url: str, file, sha256: str, *, progress: bool, timeout: float) -> None:
    """Stream `url` into the open binary `file`, verifying length and hash."""
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        bar = None
        tqdm = _progress_bar_class() if progress else None
        if tqdm is not None:
            bar = tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=url.rsplit("/", 1)[-1],
                leave=False,
            )
        try:
            for chunk in iter(lambda: response.read(_CHUNK_SIZE), b""):
                file.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    # http.client ends the stream quietly when a server closes the connection
    # early, so a short transfer has to be detected here.
    if expected is not None and received != expected:
        raise DownloadError(
            f"incomplete transfer: expected {expected} bytes, received {received}"
        )
    if digest.hexdigest() != sha256:
        raise DownloadError(
            f"checksum mismatch: expected SHA-256 {sha256}, "
            f"got {digest.hexdigest()} ({received} bytes)"
        )


def download_file(
    filename: str,
    directory: str | os.PathLike,
    *,
    mirrors: Sequence[str],
    sha256: str,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download a file from the first mirror that serves it intact.

    Each mirror is tried in order with the URL ``base + "/" + filename``.
    The data is written to a temporary file in `directory`, checked against
    the ``Content-Length`` and `sha256`, and only then renamed to its final
    name. Failed attempts leave no file behind.

    Parameters
    ----------
    filename : str
        Name of the file, both on the mirrors and in `directory`.
    directory : str or os.PathLike
        Destination directory; created if missing.
    mirrors : sequence of str
        Base URLs, tried in order.
    sha256 : str
        Expected SHA-256 of the file, as 64 hexadecimal digits.
    progress : bool, default True
        Show a progress bar (needs the optional ``tqdm`` package; without it
        downloads proceed silently).
    timeout : float, default 30.0
        Seconds to wait for the server on each connection or read.

    Returns
    -------
    pathlib.Path
        The verified file at ``directory / filename``.

    Raises
    ------
    DownloadError
        If no mirror delivered the file with the expected length and
        checksum. The message lists each URL with the reason it failed.
    TypeError, ValueError
        If `mirrors` or `sha256` are malformed.
    """
    mirrors = _check_mirrors(mirrors)
    sha256 = _check_sha256(sha256)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / filename

    failures = []
    for base in mirrors:
        url = f"{base.rstrip('/')}/{filename}"
        # Same directory as the target, so os.replace is an atomic rename.
        handle, temporary = tempfile.mkstemp(
            dir=directory, prefix=f".{filename}.", suffix=".part"
        )
        try:
            with os.fdopen(handle, "wb") as file:
                _fetch(url, file, sha256, progress=progress, timeout=timeout)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
            return target
        except (OSError, http.client.HTTPException, ValueError) as error:
            # URLError, HTTPError, timeouts and DownloadError are all OSError;
            # ValueError covers URLs urllib cannot parse.
            failures.append(f"  {url}: {error}")
        finally:
            Path(temporary).unlink(missing_ok=True)
    raise DownloadError(
        f"could not download {filename!r} into {directory}; tried "
        f"{len(mirrors)} mirror(s):\n" + "\n".join(failures)
    )
