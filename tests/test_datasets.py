"""Tests for the IDX reader/writer, MNIST loading, the bundled subset and the
tutorial data layer. Downloads are covered in ``test_download.py``."""

import gzip
import hashlib
import importlib.util
import os
import re
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

import fastlayers.datasets
from fastlayers.datasets import (
    MNIST,
    MNIST_FILES,
    MNIST_SHA256,
    IDXFormatError,
    MNISTData,
    default_data_dir,
    images_to_float,
    load_bundled_mnist,
    load_mnist,
    one_hot,
    read_idx,
    write_idx,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_DIR = Path(fastlayers.datasets.__file__).parent / "bundled"
REAL_MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
requires_real_mnist = pytest.mark.skipif(
    not REAL_MNIST_DIR.is_dir(),
    reason=f"the full MNIST files are not available at {REAL_MNIST_DIR}",
)

PUBLISHED_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Keep every test away from the user's real cache directory."""
    monkeypatch.setenv("FASTLAYERS_DATA", str(tmp_path / "fastlayers-data"))


def make_tiny_mnist(n_train=30, n_test=20, seed=0):
    """MNIST-shaped arrays where image i of each split is filled with i."""
    rng = np.random.default_rng(seed)
    train_images = np.repeat(np.arange(n_train, dtype=np.uint8), 28 * 28)
    test_images = np.repeat(np.arange(n_test, dtype=np.uint8), 28 * 28)
    return MNIST(
        train_images.reshape(n_train, 28, 28),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        test_images.reshape(n_test, 28, 28),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    )


def write_mnist(directory, mnist, suffixes=(".gz",) * 4):
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array, suffix in zip(MNIST_FILES, mnist, suffixes, strict=True):
        write_idx(directory / (stem + suffix), array)
    return directory


def assert_mnist_equal(actual, expected):
    assert isinstance(actual, MNIST)
    for got, want in zip(actual, expected, strict=True):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


# --- IDX reader and writer ---------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "int8", ">i2", "<i2", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["array.idx", "array.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    array = (np.arange(60).reshape(3, 4, 5) - 7).astype(dtype)
    result = read_idx(write_idx(tmp_path / name, array))
    assert result.dtype == array.dtype.newbyteorder("=")
    assert result.dtype.isnative
    assert result.flags.writeable
    np.testing.assert_array_equal(result, array)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    compressed = write_idx(tmp_path / "compressed.idx", array, compress=True)
    raw = write_idx(tmp_path / "raw.gz", array, compress=False)
    assert compressed.read_bytes()[:2] == b"\x1f\x8b"
    assert raw.read_bytes()[:4] == b"\x00\x00\x08\x01"
    np.testing.assert_array_equal(read_idx(compressed), array)
    np.testing.assert_array_equal(read_idx(raw), array)


def test_write_idx_header_layout(tmp_path):
    path = write_idx(tmp_path / "a.idx", np.zeros((2, 3), dtype=">i4"))
    assert path.read_bytes()[:12] == bytes.fromhex("00000c02 00000002 00000003")
    assert len(path.read_bytes()) == 12 + 2 * 3 * 4


def test_write_idx_gzip_is_deterministic(tmp_path):
    array = np.arange(1000, dtype=np.uint8).reshape(10, 100)
    first = write_idx(tmp_path / "first.gz", array).read_bytes()
    second = write_idx(tmp_path / "second.gz", array).read_bytes()
    assert first == second


def write_bytes(tmp_path, data, name="bad.idx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


HEADER_U8_2x3 = bytes.fromhex("00000802 00000002 00000003")


@pytest.mark.parametrize(
    "data, fragments",
    [
        (b"\x00\x00", ["too short", "expected at least 4 bytes", "got 2"]),
        (b"\x01\x00\x08\x01" + bytes(5), ["magic", "0x00 0x00", "got 0x01 0x00"]),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", ["type code", "got unknown type code 0x07"]),
        (b"\x00\x00\x08\x00", ["got 0 dimensions"]),
        (b"\x00\x00\x08\x02\x00\x00\x00\x02", ["truncated IDX header", "8 bytes", "got 4"]),
        (HEADER_U8_2x3 + bytes(5), ["truncated data", "expected 6 bytes", "got only 5"]),
        (HEADER_U8_2x3 + bytes(9), ["trailing data", "expected 6 bytes", "got 3 extra bytes"]),
    ],
    ids=["short", "magic", "type-code", "no-dims", "short-dims", "truncated", "extra"],
)
@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gzip"])
def test_read_idx_rejects_malformed_files(tmp_path, data, fragments, compressed):
    if compressed:
        data = gzip.compress(data)
    path = write_bytes(tmp_path, data)
    with pytest.raises(IDXFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert message.startswith("read_idx: expected ")
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_idx_format_error_is_a_value_error():
    assert issubclass(IDXFormatError, ValueError)


def test_huge_declared_shape_fails_cleanly(tmp_path):
    header = bytes.fromhex("00000803 ffffffff ffffffff ffffffff")
    with pytest.raises(IDXFormatError, match="truncated data"):
        read_idx(write_bytes(tmp_path, header + bytes(100)))


def valid_gzip_bytes():
    return gzip.compress(HEADER_U8_2x3 + bytes(range(6)) * 500, mtime=0)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # stream ends early
        lambda data: data[:20] + bytes(len(data) - 20),  # deflate data destroyed
        lambda data: data[:-8] + bytes(8),  # CRC and length trailer wrong
        lambda data: data[:3] + b"\xff" + data[4:],  # invalid header flags
    ],
    ids=["truncated", "zeroed", "bad-crc", "bad-flags"],
)
def test_corrupt_gzip_gives_idx_format_error(tmp_path, damage):
    path = write_bytes(tmp_path, damage(valid_gzip_bytes()), name="bad.gz")
    with pytest.raises(IDXFormatError, match="^read_idx: .*got a corrupt gzip stream") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_argument_errors(tmp_path):
    with pytest.raises(
        TypeError, match="^read_idx: expected path as a str or os.PathLike, got int"
    ):
        read_idx(42)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing.idx")


@pytest.mark.parametrize(
    "array, error, match",
    [
        (np.zeros(3, dtype=np.int64), TypeError, "got int64"),
        (np.zeros(3, dtype=bool), TypeError, "got bool"),
        (np.uint8(3), ValueError, "1 to 255 dimensions, got 0"),
    ],
)
def test_write_idx_rejects_unstorable_arrays(tmp_path, array, error, match):
    with pytest.raises(error, match="^write_idx: expected .*" + match):
        write_idx(tmp_path / "x.idx", array)


@pytest.mark.parametrize(
    "path, compress, match",
    [
        (42, None, "expected path as a str or os.PathLike, got int"),
        ("x.idx", "yes", "expected compress as True, False or None, got str"),
    ],
)
def test_write_idx_argument_errors(tmp_path, monkeypatch, path, compress, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match="^write_idx: " + match):
        write_idx(path, np.zeros(3, np.uint8), compress=compress)
    assert list(tmp_path.iterdir()) == []


# --- load_mnist and its helpers --------------------------------------------------


def test_load_mnist_from_directory_argument(tmp_path):
    expected = make_tiny_mnist()
    directory = write_mnist(tmp_path / "mnist", expected)
    assert_mnist_equal(load_mnist(directory, download=False), expected)
    assert_mnist_equal(load_mnist(str(directory), download=False), expected)


def test_load_mnist_accepts_uncompressed_names(tmp_path):
    expected = make_tiny_mnist()
    directory = write_mnist(tmp_path / "mnist", expected, ("", ".gz", "", ""))
    assert (directory / "train-images-idx3-ubyte").is_file()
    assert_mnist_equal(load_mnist(directory, download=False), expected)


def test_load_mnist_uses_fastlayers_data(tmp_path, monkeypatch):
    expected = make_tiny_mnist()
    write_mnist(tmp_path / "root" / "mnist", expected)
    monkeypatch.setenv("FASTLAYERS_DATA", str(tmp_path / "root"))
    assert default_data_dir() == tmp_path / "root" / "mnist"
    assert_mnist_equal(load_mnist(download=False), expected)


def test_default_data_dir_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTLAYERS_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "fastlayers" / "mnist"


@pytest.mark.parametrize("xdg", [None, "", "relative/cache"])
def test_default_data_dir_falls_back_to_home_cache(tmp_path, monkeypatch, xdg):
    monkeypatch.delenv("FASTLAYERS_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    assert default_data_dir() == tmp_path / ".cache" / "fastlayers" / "mnist"


def test_load_mnist_missing_file_without_download(tmp_path):
    directory = write_mnist(tmp_path / "mnist", make_tiny_mnist())
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte") as info:
        load_mnist(directory, download=False)
    message = str(info.value)
    assert message.startswith("load_mnist: expected the MNIST file t10k-labels")
    assert str(directory) in message and "got neither name there" in message


@pytest.mark.parametrize(
    "index, replacement, match",
    [
        (1, np.zeros(29, dtype=np.uint8), r"as many labels .* \(30 images\), got 29 labels"),
        (
            2,
            np.zeros((20, 28, 27), dtype=np.uint8),
            r"shape \(n, 28, 28\) .* of shape \(20, 28, 27\)",
        ),
        (0, np.zeros((30, 28, 28), dtype=np.float32), "uint8 images .*, got float32"),
        (3, np.full(20, 10, dtype=np.uint8), "labels 0..9 .*, got 10"),
        (1, np.zeros((30, 1), dtype=np.uint8), r"labels of shape \(n,\) .* of shape \(30, 1\)"),
    ],
)
def test_load_mnist_rejects_inconsistent_files(tmp_path, index, replacement, match):
    arrays = list(make_tiny_mnist())
    arrays[index] = replacement
    directory = write_mnist(tmp_path / "mnist", arrays)
    with pytest.raises(ValueError, match="^load_mnist: expected .*" + match):
        load_mnist(directory, download=False)


def test_images_to_float():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    result = images_to_float(images)
    assert result.shape == (1, 1, 2, 2) and result.dtype == np.float64
    np.testing.assert_allclose(result[0, 0], [[0, 1], [0.2, 0.4]])
    assert images_to_float(images, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize(
    "images, dtype, error, match",
    [
        ([[[0]]], np.float64, TypeError, "got list"),
        (np.zeros((1, 2, 2), dtype=np.int64), np.float64, TypeError, "got int64"),
        (np.zeros((2, 2), dtype=np.uint8), np.float64, ValueError, r"got shape \(2, 2\)"),
        (np.zeros((1, 2, 2), dtype=np.uint8), np.int32, TypeError, "got int32"),
        (np.zeros((1, 2, 2), dtype=np.uint8), "no such type", TypeError, "got 'no such type'"),
    ],
)
def test_images_to_float_rejects_bad_input(images, dtype, error, match):
    with pytest.raises(error, match="^images_to_float: expected .*" + match):
        images_to_float(images, dtype=dtype)


def test_one_hot():
    result = one_hot(np.array([3, 0, 9], dtype=np.uint8))
    assert result.shape == (3, 10) and result.dtype == np.float64
    np.testing.assert_array_equal(result.argmax(axis=1), [3, 0, 9])
    np.testing.assert_array_equal(result.sum(axis=1), 1)
    assert one_hot([1], 2, dtype=np.int8).tolist() == [[0, 1]]


@pytest.mark.parametrize(
    "labels, num_classes, error, match",
    [
        ([0.5], 10, TypeError, "integer labels, got dtype float64"),
        ([[1]], 10, ValueError, r"one-dimensional labels, got shape \(1, 1\)"),
        ([10], 10, ValueError, "0..9, got values from 10 to 10"),
        ([-1], 10, ValueError, "0..9, got values from -1 to -1"),
        ([[1], [1, 2]], 10, ValueError, "one-dimensional array of ints"),
        ([0], True, TypeError, "num_classes as an int, got bool"),
        ([0], 2.0, TypeError, "num_classes as an int, got float"),
        ([0], 0, ValueError, "at least 1, got 0"),
    ],
)
def test_one_hot_rejects_bad_input(labels, num_classes, error, match):
    with pytest.raises(error, match="^one_hot: expected .*" + match):
        one_hot(labels, num_classes)


# --- the bundled subset ------------------------------------------------------


def test_bundled_subset_contents():
    mnist = load_bundled_mnist()
    assert [a.shape for a in mnist] == [(6000, 28, 28), (6000,), (1000, 28, 28), (1000,)]
    assert all(a.dtype == np.uint8 for a in mnist)
    np.testing.assert_array_equal(np.bincount(mnist.train_labels), [600] * 10)
    np.testing.assert_array_equal(np.bincount(mnist.test_labels), [100] * 10)
    for images in (mnist.train_images, mnist.test_images):
        assert images.min() == 0 and images.max() == 255
        # Real digits: a dark background with a modest fraction of ink.
        assert 0.10 < images.mean() / 255 < 0.16


def test_bundled_files_are_small_and_documented():
    sizes = [(BUNDLED_DIR / f"{stem}.gz").stat().st_size for stem in MNIST_FILES]
    assert sum(sizes) <= 3_000_000
    readme = (BUNDLED_DIR / "README.md").read_text(encoding="utf-8")
    for fragment in ["Yann LeCun", "Corinna Cortes", "Burges", "CC BY-SA 3.0"]:
        assert fragment in readme


@requires_real_mnist
def test_real_files_match_published_checksums():
    for name, md5 in PUBLISHED_MD5.items():
        data = (REAL_MNIST_DIR / name).read_bytes()
        assert hashlib.md5(data).hexdigest() == md5
        assert hashlib.sha256(data).hexdigest() == MNIST_SHA256[name]


@requires_real_mnist
def test_load_real_mnist():
    mnist = load_mnist(REAL_MNIST_DIR, download=False)
    assert [a.shape for a in mnist] == [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]
    assert mnist.train_images.mean() / 255 == pytest.approx(0.1307, abs=1e-4)


def load_builder():
    path = REPO_ROOT / "scripts" / "build_bundled_mnist.py"
    spec = importlib.util.spec_from_file_location("build_bundled_mnist", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@requires_real_mnist
def test_builder_reproduces_bundled_subset(tmp_path):
    # Contents are compared, not bytes: another zlib version may compress the
    # same data differently (write_idx's own determinism is tested above).
    load_builder().build(REAL_MNIST_DIR, tmp_path)
    assert_mnist_equal(load_mnist(tmp_path, download=False), load_bundled_mnist())


@requires_real_mnist
def test_bundled_subset_comes_from_matching_real_splits():
    full = load_mnist(REAL_MNIST_DIR, download=False)
    subset = load_bundled_mnist()
    for split in ("train", "test"):
        full_images = getattr(full, f"{split}_images").reshape(-1, 784)
        full_labels = getattr(full, f"{split}_labels")
        label_of = dict(zip(map(bytes, full_images), full_labels, strict=True))
        images = getattr(subset, f"{split}_images").reshape(-1, 784)
        labels = getattr(subset, f"{split}_labels")
        assert len(set(map(bytes, images))) == len(images)  # no duplicates
        assert [label_of[bytes(image)] for image in images] == list(labels)


@requires_real_mnist
def test_builder_rejects_non_standard_source(tmp_path):
    write_mnist(tmp_path / "fake", make_tiny_mnist())
    with pytest.raises(
        ValueError, match="^build_bundled_mnist.build: expected the standard MNIST file"
    ):
        load_builder().build(tmp_path / "fake", tmp_path / "out")


# --- the tutorial data layer -------------------------------------------------


@pytest.fixture
def restore_global_random_state():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def sample_ids(images):
    """Recover the sample indices of make_tiny_mnist images (pixel i / 255)."""
    return np.rint(images.reshape(len(images), -1)[:, 0] * 255).astype(int)


def test_mnist_data_defaults_to_bundled_subset():
    data = MNISTData(20)
    assert data.batch_size == 20
    assert data.train.shape == (6000, 784) and data.labels.shape == (6000, 10)
    assert data.test.shape == (1000, 784) and data.testLabels.shape == (1000, 10)
    for array in (data.train, data.labels, data.test, data.testLabels):
        assert array.dtype == np.float64
        assert array.min() == 0 and array.max() == 1
    bundled = load_bundled_mnist()
    np.testing.assert_array_equal(data.labels.argmax(axis=1), bundled.train_labels)
    np.testing.assert_allclose(data.test[5] * 255, bundled.test_images[5].ravel())


def test_mnist_data_forward_and_test_set_shapes():
    data = MNISTData(16, seed=0)
    images, labels = data.forward()
    assert images.shape == (16, 1, 28, 28) and images.dtype == np.float64
    assert labels.shape == (16, 10)
    np.testing.assert_array_equal(labels.sum(axis=1), 1)
    test_images, test_labels = data.get_test_set()
    assert test_images.shape == (1000, 784) and test_labels.shape == (1000, 10)
    image, label = data.get_random_test_sample()
    assert image.shape == (1, 1, 28, 28) and label.shape == (10,)
    matches = np.flatnonzero((test_images == image.reshape(1, 784)).all(axis=1))
    assert any((test_labels[i] == label).all() for i in matches)


def test_mnist_data_epochs_are_permutations_without_remainder():
    tiny = make_tiny_mnist(n_train=30)
    data = MNISTData(7, data=tiny, seed=1)
    batches = [data.forward() for _ in range(8)]  # two epochs of 4 batches
    for images, labels in batches:
        assert images.shape == (7, 1, 28, 28)
        ids = sample_ids(images)
        np.testing.assert_array_equal(labels.argmax(axis=1), tiny.train_labels[ids])
    for epoch in (batches[:4], batches[4:]):
        ids = np.concatenate([sample_ids(images) for images, _ in epoch])
        assert len(set(ids)) == 28  # 30 // 7 batches; 2 samples skipped
    first = [sample_ids(images) for images, _ in batches[:4]]
    second = [sample_ids(images) for images, _ in batches[4:]]
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_mnist_data_seed_makes_batches_repeatable():
    tiny = make_tiny_mnist()
    runs = [MNISTData(5, data=tiny, seed=seed) for seed in (3, 3, 4)]
    ids = [[sample_ids(run.forward()[0]) for _ in range(10)] for run in runs]
    np.testing.assert_array_equal(ids[0], ids[1])
    assert not np.array_equal(ids[0], ids[2])
    generator = MNISTData(5, data=tiny, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(sample_ids(generator.forward()[0]), ids[0][0])


def test_mnist_data_unseeded_follows_numpy_global_state(restore_global_random_state):
    tiny = make_tiny_mnist(n_train=30)
    np.random.seed(11)
    data = MNISTData(6, data=tiny)
    ids = np.concatenate([sample_ids(data.forward()[0]) for _ in range(5)])
    np.random.seed(11)
    # The tutorial draws each epoch with np.random.choice(idx, n, replace=False).
    expected = np.random.choice(np.arange(30), 30, replace=False)
    np.testing.assert_array_equal(ids, expected)


def test_mnist_data_accepts_directory_and_plain_tuple(tmp_path):
    tiny = make_tiny_mnist()
    directory = write_mnist(tmp_path / "mnist", tiny)
    for source in (directory, str(directory), tuple(tiny)):
        data = MNISTData(4, data=source)
        assert data.train.shape == (30, 784) and data.test.shape == (20, 784)


@pytest.mark.parametrize(
    "batch_size, data, error, match",
    [
        (0, None, ValueError, "between 1 and the number of training samples"),
        (31, make_tiny_mnist(), ValueError, r"\(30\), got 31"),
        (2.0, None, TypeError, "batch_size as an int, got float"),
        (True, None, TypeError, "got bool"),
        (4, [1, 2, 3, 4], TypeError, "got list"),
        (4, make_tiny_mnist()[:3], TypeError, "got tuple"),
        (
            4,
            make_tiny_mnist()._replace(test_labels=np.zeros(3, np.uint8)),
            ValueError,
            r"test_images .*, got shape \(20, 28, 28\) and 3 labels",
        ),
    ],
)
def test_mnist_data_rejects_bad_arguments(batch_size, data, error, match):
    with pytest.raises(error, match="^MNISTData: expected .*" + match):
        MNISTData(batch_size, data=data)


@pytest.mark.parametrize("seed, error", [("abc", TypeError), (1.5, TypeError), (-1, ValueError)])
def test_mnist_data_rejects_bad_seed(seed, error):
    with pytest.raises(error, match=f"^MNISTData: expected seed as .*, got {seed!r}$"):
        MNISTData(4, data=make_tiny_mnist(), seed=seed)


def test_mnist_data_names_itself_for_a_missing_directory_file(tmp_path):
    directory = write_mnist(tmp_path / "mnist", make_tiny_mnist())
    (directory / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="^MNISTData: expected the MNIST file train-labels"):
        MNISTData(4, data=directory)


def test_mnist_data_show_image(monkeypatch):
    plt = pytest.importorskip("matplotlib.pyplot")

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gca().images[-1]))
    data = MNISTData(4, data=make_tiny_mnist(), seed=0)
    data.show_image(3)
    data.show_image(5, test=False)
    data.show_random_training_image()
    plt.close("all")
    assert [image.get_array().shape for image in shown] == [(28, 28)] * 3
    assert shown[0].get_array()[0, 0] == pytest.approx(3 / 255)


# --- something other than a regular file under an MNIST name ---------------------


def make_entry(path, kind):
    """Put a `kind` of file system entry at `path`; return how it is described."""
    if kind == "directory":
        path.mkdir()
        return "a directory"
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs os.mkfifo")
        os.mkfifo(path)
        return r"a FIFO \(named pipe\)"
    if kind == "device":
        if not Path(os.devnull).exists() or os.name != "posix":
            pytest.skip("needs /dev/null")
        path.symlink_to(os.devnull)
        return "a character device"
    if kind == "broken-link":
        path.symlink_to(path.parent / "nowhere")
        return "a broken symbolic link to .*nowhere"
    raise AssertionError(kind)


def run_briefly(function, *args, **kwargs):
    """Call `function` in a thread; fail, not hang, if it blocks (e.g. on a FIFO)."""
    outcome = {}

    def target():
        try:
            outcome["result"] = function(*args, **kwargs)
        except BaseException as error:  # re-examined by the test
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(10)
    return thread.is_alive(), outcome


def unblock_fifos(directory):
    """Open every FIFO in `directory` for writing, freeing a blocked reader."""
    for path in directory.iterdir():
        if stat.S_ISFIFO(path.lstat().st_mode):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass


def idx_error_without_blocking(directory, function, *args, **kwargs):
    """The ``IDXFormatError`` that ``function`` raises, checked not to block on a FIFO.

    FIFOs in ``directory`` are opened for writing if it blocks, so that the
    thread left behind ends.
    """
    hung, outcome = run_briefly(function, *args, **kwargs)
    if hung:
        unblock_fifos(directory)
    assert not hung, f"{function.__name__} blocked"
    error = outcome.get("error")
    assert isinstance(error, IDXFormatError), repr(error)
    return error


KINDS = ["directory", "fifo", "device", "broken-link"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", [".gz", ""], ids=["gz", "plain"])
@pytest.mark.parametrize("download", [False, True])
def test_load_mnist_says_what_is_under_an_mnist_name(tmp_path, kind, suffix, download):
    directory = write_mnist(
        tmp_path / "mnist", make_tiny_mnist(), suffixes=(".gz", ".gz", "", ".gz")
    )
    stem = MNIST_FILES[2]
    (directory / stem).unlink()
    path = directory / (stem + suffix)
    described = make_entry(path, kind)
    # Nothing listens on port 9: a download attempt would fail with another message.
    error = idx_error_without_blocking(
        directory,
        load_mnist,
        directory,
        download=download,
        mirrors=["http://127.0.0.1:9/"],
        progress=False,
    )
    assert re.fullmatch(
        f"load_mnist: expected a regular file at {re.escape(str(path))}, got {described}",
        str(error),
    )


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_read_idx_rejects_non_regular_files_without_blocking(tmp_path, kind):
    path = tmp_path / "data.idx"
    described = make_entry(path, kind)
    error = idx_error_without_blocking(tmp_path, read_idx, path)
    assert re.fullmatch(
        f"read_idx: expected a regular file holding IDX data at "
        f"{re.escape(str(path))}, got {described}",
        str(error),
    )


def test_read_idx_follows_links_to_regular_files(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    target = write_idx(tmp_path / "real.idx.gz", array)
    (tmp_path / "link.idx.gz").symlink_to(target)
    np.testing.assert_array_equal(read_idx(tmp_path / "link.idx.gz"), array)


def test_mnist_data_says_what_is_under_an_mnist_name(tmp_path):
    directory = write_mnist(tmp_path / "mnist", make_tiny_mnist())
    path = directory / (MNIST_FILES[0] + ".gz")
    path.unlink()
    path.mkdir()
    with pytest.raises(
        IDXFormatError, match="^MNISTData: expected a regular file at .*, got a directory$"
    ):
        MNISTData(4, data=directory)


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "a-file"])
def test_load_mnist_says_when_the_folder_is_missing_or_a_file(tmp_path, exists):
    folder = tmp_path / "mnist"
    if exists:
        folder.write_bytes(b"")
    found = "a regular file instead of a folder" if exists else "no such folder"
    with pytest.raises(FileNotFoundError, match=f"^load_mnist: expected .*, got {found};"):
        load_mnist(folder, download=False)


@pytest.mark.parametrize(
    "keyword, value, error, match",
    [
        ("data_dir", 5, TypeError, "data_dir as None, a str or os.PathLike, got int"),
        ("download", "yes", TypeError, "download as True or False, got str"),
        ("checksums", [("a", "b")], TypeError, "checksums as a mapping .*, got list"),
        ("mirrors", "http://127.0.0.1/", TypeError, "mirrors as a sequence of base URLs"),
        ("timeout", -1, ValueError, "timeout as a positive number of seconds, got -1"),
        ("deadline", "1", TypeError, "deadline as a positive number of seconds or None"),
    ],
)
def test_load_mnist_rejects_bad_arguments(tmp_path, keyword, value, error, match):
    arguments = {"data_dir": tmp_path, keyword: value}
    with pytest.raises(error, match="^load_mnist: expected " + match):
        load_mnist(**arguments)


def test_load_mnist_checks_checksums_before_downloading(tmp_path):
    bad = dict(MNIST_SHA256, **{"t10k-images-idx3-ubyte.gz": "xyz"})
    with pytest.raises(
        ValueError,
        match=(
            r"^load_mnist: expected checksums\['t10k-images-idx3-ubyte.gz'\] as "
            "64 hexadecimal digits, got 'xyz'"
        ),
    ):
        load_mnist(tmp_path / "cache", mirrors=["http://127.0.0.1:9/"], checksums=bad)
    assert not (tmp_path / "cache").exists()
