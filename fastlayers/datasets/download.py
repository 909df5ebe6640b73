"""Checksum-verified, atomic file downloads using only the standard library.

A download goes to a hidden partial file next to its destination
(``.<name>.<random>.part``) and is moved into place with :func:`os.replace`
only once its length and SHA-256 are verified, so an interrupted or corrupt
transfer never leaves a file at the final path.

Partial files left by a process that was killed (SIGKILL, a power cut) are
removed by the next download of the same file, and by every
:func:`~fastlayers.datasets.load_mnist`. A partial file is stale when no
process holds its lock: a download keeps an exclusive ``flock`` on its
partial file for as long as it writes it, and the operating system releases
that lock when the process ends, however it ends. So two processes may load
into the same folder at once: neither removes the other's live partial file,
and there is no process id to be recycled nor an age to guess. (Where
``fcntl`` is missing, on Windows, a file another process still has open
cannot be deleted, which gives the same rule.)
"""

from __future__ import annotations

import hashlib
import http.client
import math
import numbers
import os
import re
import socket
import stat
import tempfile
import threading
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ._files import describe_file_type

try:
    import fcntl
except ImportError:  # Windows: see the module docstring
    fcntl = None

__all__ = ["DownloadError", "download_file", "sha256sum"]

_CHUNK_SIZE = 1 << 16
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
# What tempfile.mkstemp puts between prefix and suffix.
_PARTIAL_MIDDLE = r"[A-Za-z0-9_]+"

#: Default for the ``deadline`` of :func:`download_file` and ``load_mnist``,
#: in seconds: ten minutes, enough for the 9.9 MB of MNIST's largest file at
#: about 16 kB/s.
DEFAULT_DEADLINE = 600.0


class DownloadError(OSError):
    """Raised when a file could not be fetched and verified from any mirror.

    The message names the file and lists every URL tried with its failure.
    It is also raised, before any transfer, when the destination folder
    cannot be written; the message then names the folder.
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


# --------------------------------------------------------------------------
# Argument checks


def _check_sha256(sha256, caller: str, name: str = "sha256") -> str:
    if not isinstance(sha256, str):
        raise TypeError(
            f"{caller}: expected {name} as a hex string of 64 digits, got {type(sha256).__name__}"
        )
    normalized = sha256.strip().lower()
    if not _SHA256_PATTERN.fullmatch(normalized):
        raise ValueError(f"{caller}: expected {name} as 64 hexadecimal digits, got {sha256!r}")
    return normalized


def _check_mirrors(mirrors, caller: str) -> tuple[str, ...]:
    if isinstance(mirrors, str) or not isinstance(mirrors, Sequence):
        raise TypeError(
            f"{caller}: expected mirrors as a sequence of base URLs (e.g. a "
            f"list of str), got {type(mirrors).__name__}"
        )
    if not mirrors or not all(isinstance(m, str) and m for m in mirrors):
        raise ValueError(
            f"{caller}: expected mirrors as a non-empty sequence of non-empty str, got {mirrors!r}"
        )
    return tuple(mirrors)


def _check_seconds(value, name: str, caller: str, *, allow_none: bool) -> float | None:
    """Return `value` as a positive finite float (or None when allowed)."""
    if value is None and allow_none:
        return None
    expected = "a positive number of seconds" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{caller}: expected {name} as {expected}, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{caller}: expected {name} as {expected}, got {value!r}")
    return float(value)


def _check_filename(filename, caller: str) -> str:
    if not isinstance(filename, str):
        raise TypeError(f"{caller}: expected filename as a str, got {type(filename).__name__}")
    # The name is joined to the folder, so it must not leave it.
    if (
        filename in ("", ".", "..")
        or "/" in filename
        or os.sep in filename
        or (os.altsep and os.altsep in filename)
    ):
        raise ValueError(
            f"{caller}: expected filename as a plain file name without a folder, got {filename!r}"
        )
    return filename


def _check_bool(value, name: str, caller: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{caller}: expected {name} as True or False, got {type(value).__name__}")
    return value


# --------------------------------------------------------------------------
# Files in the destination folder


def _unwritable_folder(caller: str, directory: Path, error: OSError, hint: str):
    reason = error.strerror or str(error)
    # Name the part of the path at fault when it is not the folder itself:
    # an ancestor that is a file, say, rather than a temporary name inside.
    for ancestor in directory.parents:
        try:
            mode = ancestor.stat().st_mode
        except OSError:
            continue
        if not stat.S_ISDIR(mode):
            reason += f": {ancestor} is {describe_file_type(mode)}"
        break
    return DownloadError(
        f"{caller}: expected a folder where files can be written, got "
        f"{directory} ({reason}); {hint}"
    )


def _prepare_folder(directory: Path, *, caller: str, hint: str) -> None:
    """Create `directory` if needed and check that files can be created in it.

    Raises
    ------
    DownloadError
        Naming the folder, the reason and `hint` (how to choose another).
    """
    try:
        mode = directory.stat().st_mode
    except OSError:
        mode = None  # missing (created below) or unreachable (reported below)
    if mode is not None and not stat.S_ISDIR(mode):
        raise DownloadError(
            f"{caller}: expected a folder where files can be written, got "
            f"{directory}, which is {describe_file_type(mode)}; {hint}"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Creating a file is the only reliable test: permission bits say
        # nothing about read-only mounts, and nothing at all for root.
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise _unwritable_folder(caller, directory, error, hint) from error


def _partial_pattern(filename: str) -> re.Pattern:
    return re.compile(re.escape(f".{filename}.") + _PARTIAL_MIDDLE + r"\.part")


def _create_partial(directory: Path, filename: str) -> tuple[int, str]:
    """Create and lock a new partial file; return its descriptor and path."""
    while True:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{filename}.", suffix=".part")
        if fcntl is None:
            return handle, temporary
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:
            # No locks on this file system: cleaners cannot take the lock
            # either, so they keep the file.
            return handle, temporary
        # Another process cleaning the folder may have found this file in the
        # instant between its creation and the lock, judged it stale and
        # removed it: then start again with a new one.
        try:
            if os.path.samestat(os.stat(temporary), os.fstat(handle)):
                return handle, temporary
        except FileNotFoundError:
            pass
        os.close(handle)


def _open_for_lock(path: str) -> int:
    flags = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        # NFS turns flock into POSIX locks, whose exclusive kind needs a
        # descriptor open for writing.
        return os.open(path, os.O_RDWR | flags)
    except PermissionError:
        return os.open(path, os.O_RDONLY | flags)


def _remove_stale_partials(directory: str | os.PathLike, filename: str) -> list[Path]:
    """Remove the partial files of `filename` that no live download writes.

    Only names of the form ``.<filename>.<random>.part`` that are regular
    files are considered. Failures (a read-only folder, a file that vanished)
    are ignored: cleaning is best effort.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    pattern = _partial_pattern(filename)
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if fcntl is None:
                # Windows refuses to delete a file that a download has open.
                os.unlink(entry.path)
                removed.append(Path(entry.path))
                continue
            handle = _open_for_lock(entry.path)
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Still the same file as the one locked: names are random, but a
            # check costs nothing and makes the removal exact.
            if os.path.samestat(os.stat(entry.path, follow_symlinks=False), os.fstat(handle)):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass  # locked by a live download, or gone, or not ours to delete
        finally:
            os.close(handle)
    return removed


# --------------------------------------------------------------------------
# The transfer


class _Deadline:
    """Ends a transfer that runs longer than its deadline.

    A socket timeout only bounds each single read, so a server that sends a
    byte every few tenths of a second would never time out. A timer shuts the
    connection down when the deadline passes, which ends any read blocked on
    it, in the headers, the TLS handshake or the body alike.
    """

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.expired = False
        self._sockets = []
        self._lock = threading.Lock()
        self._timer = None
        if seconds is not None:
            self._timer = threading.Timer(seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def create_connection(self, *args, **kwargs):
        sock = socket.create_connection(*args, **kwargs)
        # A duplicate descriptor, because wrapping the socket in TLS detaches
        # the original object; shutting the duplicate down ends the shared
        # connection all the same.
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            if self.expired:
                self._shutdown(duplicate)
        return sock

    @staticmethod
    def _shutdown(sock):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the other side

    def _expire(self):
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shutdown(sock)

    def close(self):
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


def _watched(connection_class, deadline: _Deadline):
    class WatchedConnection(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = deadline.create_connection

    return WatchedConnection


def _opener(deadline: _Deadline):
    """An opener like urlopen's whose HTTP(S) connections obey `deadline`."""

    class HTTPHandler(urllib.request.HTTPHandler):
        def do_open(self, http_class, req, **kwargs):
            return super().do_open(_watched(http_class, deadline), req, **kwargs)

    handlers = [HTTPHandler()]
    if hasattr(urllib.request, "HTTPSHandler"):  # Python built with ssl

        class HTTPSHandler(urllib.request.HTTPSHandler):
            def do_open(self, http_class, req, **kwargs):
                return super().do_open(_watched(http_class, deadline), req, **kwargs)

        handlers.append(HTTPSHandler())
    return urllib.request.build_opener(*handlers)


def _progress_bar_class():
    # Imported here, not with the module: tqdm.auto warns in a notebook
    # without ipywidgets, which should happen only when a bar is shown.
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the progress bar is optional
        return None
    return tqdm


def _fetch(
    url: str, file, sha256: str, *, progress: bool, timeout: float, deadline: float | None = None
) -> None:
    """Stream `url` into the open binary `file`, verifying length and hash."""
    digest = hashlib.sha256()
    received = 0
    expected = None
    watch = _Deadline(deadline)
    try:
        with _opener(watch).open(url, timeout=timeout) as response:
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
    except (OSError, http.client.HTTPException) as error:
        if not watch.expired:
            raise
        # Whatever the cut connection surfaced as, the cause is the deadline.
        raise _deadline_error(deadline, received, expected) from error
    finally:
        watch.close()
    complete = expected is None or received == expected
    if watch.expired and not (complete and digest.hexdigest() == sha256):
        # The cut connection may have looked like a quiet end of the stream.
        raise _deadline_error(deadline, received, expected)
    # http.client ends the stream quietly when a server closes the connection
    # early, so a short transfer has to be detected here.
    if not complete:
        raise DownloadError(f"incomplete transfer: expected {expected} bytes, received {received}")
    if digest.hexdigest() != sha256:
        raise DownloadError(
            f"checksum mismatch: expected SHA-256 {sha256}, "
            f"got {digest.hexdigest()} ({received} bytes)"
        )


def _deadline_error(deadline, received, expected) -> DownloadError:
    of = f" of {expected}" if expected is not None else ""
    return DownloadError(
        f"exceeded the download deadline of {deadline:g} s after receiving "
        f"{received}{of} bytes; pass a larger deadline= for a slow connection"
    )


def download_file(
    filename: str,
    directory: str | os.PathLike,
    *,
    mirrors: Sequence[str],
    sha256: str,
    progress: bool = True,
    timeout: float = 30.0,
    deadline: float | None = DEFAULT_DEADLINE,
) -> Path:
    """Download a file from the first mirror that serves it intact.

    Each mirror is tried in order with the URL ``base + "/" + filename``.
    The data is written to a hidden partial file in `directory`, checked
    against the ``Content-Length`` and `sha256`, and only then renamed to its
    final name. Failed attempts leave no file behind, and partial files left
    by killed downloads of the same file are removed first (see
    :mod:`fastlayers.datasets.download`).

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
    deadline : float or None, default 600.0
        Seconds that the whole download from one mirror may take, from
        connecting to the last byte (HTTP and HTTPS). `timeout` alone cannot
        stop a server that sends a byte now and then; when the deadline
        passes the transfer is cut and the next mirror is tried. None sets
        no limit. Resolving the server's name is not covered.

    Returns
    -------
    pathlib.Path
        The verified file at ``directory / filename``.

    Raises
    ------
    DownloadError
        If no mirror delivered the file with the expected length and
        checksum in time (the message lists each URL with the reason it
        failed, e.g. the deadline it exceeded); or if `directory` cannot be
        created or written, or ``directory / filename`` is something other
        than a regular file (the message names it).
    TypeError, ValueError
        If an argument is malformed.

    Examples
    --------
    >>> download_file("train-labels-idx1-ubyte.gz", "data",
    ...               mirrors=["https://example.org/mnist/"],
    ...               sha256="3552534a...")  # doctest: +SKIP
    PosixPath('data/train-labels-idx1-ubyte.gz')
    """
    caller = "download_file"
    filename = _check_filename(filename, caller)
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(
            f"{caller}: expected directory as a str or os.PathLike, got {type(directory).__name__}"
        )
    mirrors = _check_mirrors(mirrors, caller)
    sha256 = _check_sha256(sha256, caller)
    progress = _check_bool(progress, "progress", caller)
    timeout = _check_seconds(timeout, "timeout", caller, allow_none=False)
    deadline = _check_seconds(deadline, "deadline", caller, allow_none=True)
    directory = Path(directory)
    target = directory / filename
    try:
        mode = target.lstat().st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISLNK(mode):
        raise DownloadError(
            f"{caller}: expected {target} to be absent or a regular file, "
            f"got {describe_file_type(mode)}"
        )
    hint = "pass another directory"
    _prepare_folder(directory, caller=caller, hint=hint)
    _remove_stale_partials(directory, filename)

    failures = []
    for base in mirrors:
        url = f"{base.rstrip('/')}/{filename}"
        # Same directory as the target, so os.replace is an atomic rename.
        try:
            handle, temporary = _create_partial(directory, filename)
        except OSError as error:
            raise _unwritable_folder(caller, directory, error, hint) from error
        try:
            # Closing the file releases its lock only after the rename.
            with os.fdopen(handle, "wb") as file:
                _fetch(url, file, sha256, progress=progress, timeout=timeout, deadline=deadline)
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
        f"{caller}: expected a verified {filename!r} from one of "
        f"{len(mirrors)} mirror(s) into {directory}, got none; tried:\n" + "\n".join(failures)
    )
