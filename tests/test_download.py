"""Tests for downloading MNIST, against an HTTP server on 127.0.0.1."""

import gzip
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from fastlayers.datasets import (
    MNIST,
    MNIST_FILES,
    DownloadError,
    download_file,
    load_mnist,
    write_idx,
)
from fastlayers.datasets import download as download_module

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

CHECKSUM_NAMES = [stem + ".gz" for stem in MNIST_FILES]
# A dripping server sends one byte per interval, far below any read timeout
# used here, and gives up after the limit so that a download without an
# overall deadline fails fast (with another message) instead of hanging.
DRIP_INTERVAL = 0.05
DRIP_LIMIT = 20.0


@pytest.fixture(autouse=True)
def no_proxy(tmp_path, monkeypatch):
    """Talk to the local server directly and keep away from the real cache."""
    for variable in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("FASTLAYERS_DATA", str(tmp_path / "fastlayers-data"))


class Handler(BaseHTTPRequestHandler):
    """Serves ``server.routes``: path -> (body, behaviour)."""

    def do_GET(self):
        self.server.requests.append(self.path)
        body, behaviour = self.server.routes.get(self.path, (b"", "missing"))
        if behaviour == "missing":
            self.send_error(404)
            return
        if behaviour == "stall":
            self.server.release.wait(10)
            return
        if behaviour == "drip-headers":
            head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n"
            self.drip(head.encode() + body)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if behaviour == "drip":
            self.drip(body)
            return
        if behaviour == "truncate":
            # Promise the whole body but hang up halfway, like a dying server.
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(body)

    def drip(self, data):
        self.close_connection = True
        stop = time.monotonic() + DRIP_LIMIT
        try:
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                if self.server.release.wait(DRIP_INTERVAL) or time.monotonic() > stop:
                    return
        except OSError:
            pass  # the client hung up

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.routes = {}
    httpd.requests = []
    httpd.release = threading.Event()
    # A short poll interval keeps shutdown() from stalling each test.
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens, so connecting fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture
def tiny(tmp_path):
    """Small MNIST-shaped gzipped IDX files: (arrays, {name: bytes}, checksums)."""
    rng = np.random.default_rng(0)
    mnist = MNIST(
        rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 12, dtype=np.uint8),
        rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 8, dtype=np.uint8),
    )
    source = tmp_path / "source"
    source.mkdir()
    files = {
        name: write_idx(source / name, array).read_bytes()
        for name, array in zip(CHECKSUM_NAMES, mnist, strict=True)
    }
    checksums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    return mnist, files, checksums


def serve(server, prefix, files, behaviour="ok"):
    for name, data in files.items():
        server.routes[f"/{prefix}/{name}"] = (data, behaviour)
    return f"{server.url}/{prefix}/"


def assert_only(directory, names):
    """The directory holds exactly `names`: no partial or temporary files."""
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)


def test_download_writes_verified_files(server, tiny, tmp_path):
    mnist, files, checksums = tiny
    mirror = serve(server, "mnist", files)
    cache = tmp_path / "cache" / "nested"
    result = load_mnist(cache, mirrors=[mirror], checksums=checksums, progress=False)
    for got, want in zip(result, mnist, strict=True):
        np.testing.assert_array_equal(got, want)
    assert_only(cache, CHECKSUM_NAMES)
    for name, data in files.items():
        assert (cache / name).read_bytes() == data
    # A second load finds the files and does not touch the network.
    count = len(server.requests)
    load_mnist(cache, mirrors=[mirror], checksums=checksums, progress=False)
    assert len(server.requests) == count == 4


def test_download_with_progress_bar(server, tiny, tmp_path):
    _, files, checksums = tiny
    mirror = serve(server, "mnist", files)
    load_mnist(tmp_path / "cache", mirrors=[mirror], checksums=checksums, progress=True)
    assert_only(tmp_path / "cache", CHECKSUM_NAMES)


def test_only_missing_files_are_downloaded(server, tiny, tmp_path):
    _, files, checksums = tiny
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / CHECKSUM_NAMES[0]).write_bytes(files[CHECKSUM_NAMES[0]])
    # Present uncompressed, which counts as present too.
    (cache / MNIST_FILES[3]).write_bytes(gzip.decompress(files[CHECKSUM_NAMES[3]]))
    mirror = serve(server, "mnist", files)
    load_mnist(cache, mirrors=[mirror], checksums=checksums, progress=False)
    assert sorted(server.requests) == sorted(f"/mnist/{name}" for name in CHECKSUM_NAMES[1:3])


def test_checksum_mismatch_raises_and_leaves_no_file(server, tiny, tmp_path):
    _, files, checksums = tiny
    name = CHECKSUM_NAMES[0]
    corrupted = bytearray(files[name])
    corrupted[len(corrupted) // 2] ^= 0xFF
    mirror = serve(server, "mnist", {name: bytes(corrupted)})
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        download_file(name, cache, mirrors=[mirror], sha256=checksums[name], progress=False)
    message = str(info.value)
    assert "checksum mismatch" in message
    assert name in message and mirror in message
    assert checksums[name] in message
    assert_only(cache, [])


def test_truncated_transfer_leaves_no_partial_file(server, tiny, tmp_path):
    _, files, checksums = tiny
    name = CHECKSUM_NAMES[0]
    mirror = serve(server, "mnist", files, behaviour="truncate")
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        download_file(name, cache, mirrors=[mirror], sha256=checksums[name], progress=False)
    size = len(files[name])
    assert f"incomplete transfer: expected {size} bytes, received {size // 2}" in str(info.value)
    assert_only(cache, [])


def test_failing_mirrors_fall_back_to_the_next(server, tiny, tmp_path, closed_port_url):
    mnist, files, checksums = tiny
    corrupt = {name: data[:-1] + bytes([data[-1] ^ 1]) for name, data in files.items()}
    mirrors = [
        closed_port_url,  # connection refused
        f"{server.url}/nothing-here/",  # 404
        serve(server, "truncated", files, behaviour="truncate"),
        serve(server, "corrupt", corrupt),
        serve(server, "good", files).rstrip("/"),  # base URL without slash
    ]
    cache = tmp_path / "cache"
    result = load_mnist(cache, mirrors=mirrors, checksums=checksums, progress=False)
    np.testing.assert_array_equal(result.train_images, mnist.train_images)
    assert_only(cache, CHECKSUM_NAMES)
    assert sum(path.startswith("/good/") for path in server.requests) == 4


def test_all_mirrors_failing_names_file_and_mirrors(server, tiny, tmp_path, closed_port_url):
    _, _, checksums = tiny
    mirrors = [closed_port_url, f"{server.url}/nothing-here/"]
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        load_mnist(cache, mirrors=mirrors, checksums=checksums, progress=False)
    message = str(info.value)
    assert isinstance(info.value, OSError)
    assert "train-images-idx3-ubyte.gz" in message
    assert "2 mirror(s)" in message
    assert f"{closed_port_url}train-images-idx3-ubyte.gz" in message
    assert "404" in message
    assert_only(cache, [])


def test_stalled_server_times_out(server, tiny, tmp_path):
    _, files, checksums = tiny
    name = CHECKSUM_NAMES[1]
    mirror = serve(server, "stall", files, behaviour="stall")
    with pytest.raises(DownloadError, match="timed out"):
        download_file(
            name, tmp_path, mirrors=[mirror], sha256=checksums[name], progress=False, timeout=0.2
        )
    assert_only(tmp_path, ["source"])


def test_interrupted_download_removes_temporary_file(tmp_path, monkeypatch):
    def interrupted_fetch(url, file, sha256, **kwargs):
        file.write(b"partial data")
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "_fetch", interrupted_fetch)
    with pytest.raises(KeyboardInterrupt):
        download_file(
            "x.gz", tmp_path, mirrors=["http://127.0.0.1:9/"], sha256="0" * 64, progress=False
        )
    assert_only(tmp_path, [])


@pytest.mark.parametrize(
    "mirrors, sha256, error, match",
    [
        (
            "http://127.0.0.1/",
            "0" * 64,
            TypeError,
            "mirrors as a sequence of base URLs .*, got str",
        ),
        ([], "0" * 64, ValueError, "mirrors as a non-empty sequence .*, got \\[\\]"),
        ([""], "0" * 64, ValueError, "non-empty str, got \\[''\\]"),
        (["http://127.0.0.1/"], "abc", ValueError, "sha256 as 64 hexadecimal digits, got 'abc'"),
        (["http://127.0.0.1/"], None, TypeError, "sha256 as a hex string .*, got NoneType"),
    ],
)
def test_download_file_rejects_bad_arguments(tmp_path, mirrors, sha256, error, match):
    with pytest.raises(error, match="^download_file: expected .*" + match):
        download_file("x.gz", tmp_path, mirrors=mirrors, sha256=sha256)
    assert_only(tmp_path, [])


@pytest.mark.parametrize(
    "filename, directory, error, match",
    [
        (b"x.gz", ".", TypeError, "filename as a str, got bytes"),
        (
            "../x.gz",
            ".",
            ValueError,
            "filename as a plain file name without a folder, got '../x.gz'",
        ),
        ("..", ".", ValueError, "got '..'"),
        ("", ".", ValueError, "got ''"),
        ("x.gz", 3, TypeError, "directory as a str or os.PathLike, got int"),
    ],
)
def test_download_file_rejects_bad_names(tmp_path, monkeypatch, filename, directory, error, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match="^download_file: expected .*" + match):
        download_file(filename, directory, mirrors=["http://127.0.0.1:9/"], sha256="0" * 64)
    assert_only(tmp_path, [])


def test_load_mnist_needs_a_checksum_for_each_download(tmp_path):
    with pytest.raises(ValueError, match="SHA-256 of 'train-images-idx3-ubyte.gz'"):
        load_mnist(tmp_path, mirrors=["http://127.0.0.1:9/"], checksums={})


# --- the overall deadline ----------------------------------------------------


@pytest.mark.parametrize("behaviour", ["drip", "drip-headers"])
def test_dripping_server_is_cut_at_the_deadline(server, tiny, tmp_path, behaviour):
    _, files, checksums = tiny
    name = CHECKSUM_NAMES[0]
    mirror = serve(server, "drip", files, behaviour=behaviour)
    cache = tmp_path / "cache"
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        # Every byte arrives well within the read timeout: only the deadline
        # can end this download.
        download_file(
            name,
            cache,
            mirrors=[mirror],
            sha256=checksums[name],
            progress=False,
            timeout=5.0,
            deadline=0.5,
        )
    elapsed = time.monotonic() - start
    assert 0.5 <= elapsed < 2.0
    message = str(info.value)
    assert message.startswith("download_file: expected a verified")
    assert f"{mirror}{name}: exceeded the download deadline of 0.5 s" in message
    assert_only(cache, [])


def test_deadline_applies_to_each_mirror(server, tiny, tmp_path):
    mnist, files, checksums = tiny
    name = CHECKSUM_NAMES[1]
    mirrors = [serve(server, "drip", files, behaviour="drip"), serve(server, "good", files)]
    start = time.monotonic()
    path = download_file(
        name,
        tmp_path / "cache",
        mirrors=mirrors,
        sha256=checksums[name],
        progress=False,
        deadline=0.4,
    )
    assert time.monotonic() - start < 2.0
    assert path.read_bytes() == files[name]
    assert server.requests == [f"/drip/{name}", f"/good/{name}"]
    assert_only(tmp_path / "cache", [name])


def test_load_mnist_passes_the_deadline_on(server, tiny, tmp_path):
    _, files, checksums = tiny
    mirror = serve(server, "drip", files, behaviour="drip")
    with pytest.raises(DownloadError, match="deadline of 0.3 s"):
        load_mnist(
            tmp_path / "cache", mirrors=[mirror], checksums=checksums, progress=False, deadline=0.3
        )


def test_no_deadline_with_none(server, tiny, tmp_path):
    _, files, checksums = tiny
    name = CHECKSUM_NAMES[3]
    mirror = serve(server, "mnist", files)
    path = download_file(
        name, tmp_path, mirrors=[mirror], sha256=checksums[name], progress=False, deadline=None
    )
    assert path.read_bytes() == files[name]


@pytest.mark.parametrize(
    "keyword, value, error, match",
    [
        ("deadline", 0, ValueError, "deadline as a positive number of seconds or None, got 0"),
        ("deadline", -1.0, ValueError, "got -1.0"),
        ("deadline", float("nan"), ValueError, "got nan"),
        ("deadline", float("inf"), ValueError, "got inf"),
        ("deadline", "60", TypeError, "got str"),
        ("deadline", True, TypeError, "got bool"),
        ("timeout", None, TypeError, "timeout as a positive number of seconds, got NoneType"),
        ("timeout", 0.0, ValueError, "got 0.0"),
        ("progress", "no", TypeError, "progress as True or False, got str"),
    ],
)
def test_download_file_rejects_bad_time_limits(tmp_path, keyword, value, error, match):
    with pytest.raises(error, match="^download_file: expected .*" + match):
        download_file(
            "x.gz", tmp_path, mirrors=["http://127.0.0.1:9/"], sha256="0" * 64, **{keyword: value}
        )
    assert_only(tmp_path, [])


# --- partial files of killed downloads ------------------------------------------


def partials(directory, name):
    return sorted(directory.glob(f".{name}.*.part"))


CHILD_DOWNLOAD = """
import sys
from fastlayers.datasets import download_file
name, directory, mirror, sha256 = sys.argv[1:]
download_file(name, directory, mirrors=[mirror], sha256=sha256, progress=False,
              timeout=30.0, deadline=120.0)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_download_leaves_a_partial_file_that_the_next_load_removes(server, tiny, tmp_path):
    mnist, files, checksums = tiny
    name = CHECKSUM_NAMES[0]
    drip = serve(server, "drip", files, behaviour="drip")
    good = serve(server, "good", files)
    cache = tmp_path / "cache"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_DOWNLOAD, name, str(cache), drip, checksums[name]],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not partials(cache, name) and child.poll() is None:
            assert time.monotonic() < deadline, "the child never started its download"
            time.sleep(0.02)
        assert child.poll() is None, child.stderr.read().decode()
        [live] = partials(cache, name)
        # Another process loading into the same folder at the same time,
        # the same file included, must leave the live download alone.
        result = load_mnist(cache, mirrors=[good], checksums=checksums, progress=False)
        np.testing.assert_array_equal(result.train_images, mnist.train_images)
        assert child.poll() is None
        assert partials(cache, name) == [live]
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        child.stderr.close()
    assert partials(cache, name) == [live]  # what a killed download leaves
    count = len(server.requests)
    load_mnist(cache, mirrors=[good], checksums=checksums, progress=False)
    assert len(server.requests) == count  # nothing downloaded
    assert_only(cache, CHECKSUM_NAMES)


def complete_cache(tiny, tmp_path):
    """A cache folder holding every file of the tiny data set."""
    _, files, _ = tiny
    cache = tmp_path / "cache"
    cache.mkdir()
    for name, data in files.items():
        (cache / name).write_bytes(data)
    return cache


def test_unlocked_partial_files_are_removed_and_others_kept(tiny, tmp_path):
    cache = complete_cache(tiny, tmp_path)
    # Left by a process that died: a partial file nobody holds a lock on.
    stale = [
        cache / f".{CHECKSUM_NAMES[0]}.k3j_x9q1.part",
        cache / f".{CHECKSUM_NAMES[3]}.a1b2c3d4.part",
    ]
    for path in stale:
        path.write_bytes(b"partial")
    outside = tmp_path / "outside"
    outside.write_bytes(b"not ours")
    kept = [
        cache / f".{CHECKSUM_NAMES[0]}.part",  # not a name a download uses
        cache / f"{CHECKSUM_NAMES[0]}.k3j_x9q1.part",  # not hidden
        cache / ".unrelated.gz.k3j_x9q1.part",  # another file's
    ]
    for path in kept:
        path.write_bytes(b"keep")
    directory = cache / f".{CHECKSUM_NAMES[1]}.dir.part"
    directory.mkdir()
    link = cache / f".{CHECKSUM_NAMES[2]}.link.part"
    link.symlink_to(outside)
    load_mnist(cache, download=False)
    for path in stale:
        assert not path.exists()
    for path in kept + [directory, link]:
        assert os.path.lexists(path)
    assert outside.read_bytes() == b"not ours"


@pytest.mark.skipif(fcntl is None, reason="needs fcntl.flock")
def test_partial_file_of_a_live_download_is_kept(tiny, tmp_path):
    cache = complete_cache(tiny, tmp_path)
    live = cache / f".{CHECKSUM_NAMES[2]}.live1234.part"
    # A separate open file description holds the lock, exactly as a
    # download in another process or thread does.
    with open(live, "wb") as writer:
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX)
        load_mnist(cache, download=False)
        assert live.exists()
    load_mnist(cache, download=False)
    assert not live.exists()


# --- folders that cannot be written ----------------------------------------------


def _writable(directory):
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def unwritable_folder(kind, tmp_path):
    """(folder to download into, the reason the message must give)."""
    if kind == "parent-is-a-file":
        blocker = tmp_path / "blocker"
        blocker.write_bytes(b"")
        return blocker / "cache" / "mnist", f"(Not a directory: {blocker} is a regular file)"
    if kind == "folder-is-a-file":
        blocker = tmp_path / "blocker"
        blocker.write_bytes(b"")
        return blocker, "which is a regular file"
    if kind == "sysfs":
        # A folder of the kernel's sysfs: even root cannot create files there.
        if not sys.platform.startswith("linux") or not Path("/sys/kernel").is_dir():
            pytest.skip("needs Linux sysfs")
        if _writable("/sys"):
            pytest.skip("/sys is writable here")
        return Path("/sys"), "/sys ("
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if _writable(folder):
        folder.chmod(0o755)
        pytest.skip("permission bits do not stop this user (root) from writing")
    return folder, "Permission denied"


UNWRITABLE = ["parent-is-a-file", "folder-is-a-file", "sysfs", "chmod-read-only"]


def refusal(kind, folder, owner, call):
    """The message of the ``DownloadError`` that ``call`` raises for the unwritable ``folder``.

    It must start by naming ``owner`` and the folder.  A folder made
    read-only is made writable again, so that the test can clean up.
    """
    try:
        with pytest.raises(DownloadError) as info:
            call()
    finally:
        if kind == "chmod-read-only":
            folder.chmod(0o755)
    message = str(info.value)
    assert message.startswith(
        f"{owner}: expected a folder where files can be written, got {folder}"
    )
    return message


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_unwritable_cache_names_the_folder_and_the_way_out(
    server, tiny, tmp_path, monkeypatch, kind
):
    _, files, checksums = tiny
    folder, reason = unwritable_folder(kind, tmp_path)
    mirror = serve(server, "mnist", files)
    if kind == "parent-is-a-file":
        # The default folder, as a user with a bad FASTLAYERS_DATA gets it.
        monkeypatch.setenv("FASTLAYERS_DATA", str(folder.parent))
        call = {}
    else:
        call = {"data_dir": folder}
    message = refusal(
        kind,
        folder,
        "load_mnist",
        lambda: load_mnist(mirrors=[mirror], checksums=checksums, progress=False, **call),
    )
    assert reason in message
    assert "FASTLAYERS_DATA" in message and "data_dir" in message
    assert server.requests == []  # it failed before any transfer


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_download_file_into_unwritable_folder(server, tiny, tmp_path, kind):
    _, files, checksums = tiny
    folder, reason = unwritable_folder(kind, tmp_path)
    name = CHECKSUM_NAMES[1]
    mirror = serve(server, "mnist", files)
    message = refusal(
        kind,
        folder,
        "download_file",
        lambda: download_file(
            name, folder, mirrors=[mirror], sha256=checksums[name], progress=False
        ),
    )
    assert reason in message and "pass another directory" in message
    assert server.requests == []


def test_download_file_refuses_a_non_regular_target(server, tiny, tmp_path):
    _, files, checksums = tiny
    name = CHECKSUM_NAMES[0]
    (tmp_path / name).mkdir()
    mirror = serve(server, "mnist", files)
    with pytest.raises(
        DownloadError,
        match=(
            f"^download_file: expected .*{name} to be absent or a regular file, got a directory"
        ),
    ):
        download_file(name, tmp_path, mirrors=[mirror], sha256=checksums[name], progress=False)
    assert server.requests == []
