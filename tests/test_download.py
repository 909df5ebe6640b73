"""Tests for downloading MNIST, against an HTTP server on 127.0.0.1."""

import gzip
import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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

CHECKSUM_NAMES = [stem + ".gz" for stem in MNIST_FILES]


@pytest.fixture(autouse=True)
def no_proxy(tmp_path, monkeypatch):
    """Talk to the local server directly and keep away from the real cache."""
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                     "all_proxy", "ALL_PROXY"):
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
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if behaviour == "truncate":
            # Promise the whole body but hang up halfway, like a dying server.
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(body)

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
    assert sorted(server.requests) == sorted(
        f"/mnist/{name}" for name in CHECKSUM_NAMES[1:3]
    )


def test_checksum_mismatch_raises_and_leaves_no_file(server, tiny, tmp_path):
    _, files, checksums = tiny
    name = CHECKSUM_NAMES[0]
    corrupted = bytearray(files[name])
    corrupted[len(corrupted) // 2] ^= 0xFF
    mirror = serve(server, "mnist", {name: bytes(corrupted)})
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        download_file(name, cache, mirrors=[mirror], sha256=checksums[name],
                      progress=False)
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
        download_file(name, cache, mirrors=[mirror], sha256=checksums[name],
                      progress=False)
    size = len(files[name])
    assert f"incomplete transfer: expected {size} bytes, received {size // 2}" in str(
        info.value
    )
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


def test_all_mirrors_failing_names_file_and_mirrors(server, tiny, tmp_path,
                                                    closed_port_url):
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
        download_file(name, tmp_path, mirrors=[mirror], sha256=checksums[name],
                      progress=False, timeout=0.2)
    assert_only(tmp_path, ["source"])


def test_interrupted_download_removes_temporary_file(tmp_path, monkeypatch):
    def interrupted_fetch(url, file, sha256, **kwargs):
        file.write(b"partial data")
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "_fetch", interrupted_fetch)
    with pytest.raises(KeyboardInterrupt):
        download_file("x.gz", tmp_path, mirrors=["http://127.0.0.1:9/"],
                      sha256="0" * 64, progress=False)
    assert_only(tmp_path, [])


@pytest.mark.parametrize(
    "mirrors, sha256, error, match",
    [
        ("http://127.0.0.1/", "0" * 64, TypeError, "sequence of base URLs"),
        ([], "0" * 64, ValueError, "non-empty"),
        ([""], "0" * 64, ValueError, "non-empty"),
        (["http://127.0.0.1/"], "abc", ValueError, "64 hexadecimal digits"),
        (["http://127.0.0.1/"], None, TypeError, "hex string"),
    ],
)
def test_download_file_rejects_bad_arguments(tmp_path, mirrors, sha256, error, match):
    with pytest.raises(error, match=match):
        download_file("x.gz", tmp_path, mirrors=mirrors, sha256=sha256)


def test_load_mnist_needs_a_checksum_for_each_download(tmp_path):
    with pytest.raises(ValueError, match="SHA-256 of 'train-images-idx3-ubyte.gz'"):
        load_mnist(tmp_path, mirrors=["http://127.0.0.1:9/"], checksums={})
