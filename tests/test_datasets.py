"""Tests for the IDX reader/writer, MNIST loading, the bundled subset and the
tutorial data layer. Downloads are covered in ``test_download.py``."""

import gzip
import hashlib
import importlib.util
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


@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", ">i2", "<i2", "int32", "float32", "float64"]
)
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
        (b"\x00\x00", ["too short", "at least 4 bytes", "found 2"]),
        (b"\x01\x00\x08\x01" + bytes(5), ["magic", "0x00 0x00", "0x01 0x00"]),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", ["type code", "found 0x07"]),
        (b"\x00\x00\x08\x00", ["0 dimensions"]),
        (b"\x00\x00\x08\x02\x00\x00\x00\x02", ["truncated IDX header", "8 bytes"]),
        (HEADER_U8_2x3 + bytes(5), ["truncated data", "6 bytes", "found only 5"]),
        (HEADER_U8_2x3 + bytes(9), ["trailing data", "6 bytes", "3 extra bytes"]),
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
    with pytest.raises(IDXFormatError, match="corrupt gzip stream") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        read_idx(42)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing.idx")


@pytest.mark.parametrize(
    "array, error, match",
    [
        (np.zeros(3, dtype=np.int64), TypeError, "int64"),
        (np.zeros(3, dtype=bool), TypeError, "bool"),
        (np.uint8(3), ValueError, "got 0"),
    ],
)
def test_write_idx_rejects_unstorable_arrays(tmp_path, array, error, match):
    with pytest.raises(error, match=match):
        write_idx(tmp_path / "x.idx", array)


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
    assert str(directory) in str(info.value)


@pytest.mark.parametrize(
    "index, replacement, match",
    [
        (1, np.zeros(29, dtype=np.uint8), "29 labels but .* 30 images"),
        (2, np.zeros((20, 28, 27), dtype=np.uint8), r"shape \(n, 28, 28\)"),
        (0, np.zeros((30, 28, 28), dtype=np.float32), "uint8 images"),
        (3, np.full(20, 10, dtype=np.uint8), "labels 0..9, found 10"),
        (1, np.zeros((30, 1), dtype=np.uint8), r"labels of shape \(n,\)"),
    ],
)
def test_load_mnist_rejects_inconsistent_files(tmp_path, index, replacement, match):
    arrays = list(make_tiny_mnist())
    arrays[index] = replacement
    directory = write_mnist(tmp_path / "mnist", arrays)
    with pytest.raises(ValueError, match=match):
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
        (np.zeros((1, 2, 2), dtype=np.int64), np.float64, TypeError, "int64"),
        (np.zeros((2, 2), dtype=np.uint8), np.float64, ValueError, r"\(2, 2\)"),
        (np.zeros((1, 2, 2), dtype=np.uint8), np.int32, TypeError, "int32"),
    ],
)
def test_images_to_float_rejects_bad_input(images, dtype, error, match):
    with pytest.raises(error, match=match):
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
        ([0.5], 10, TypeError, "float64"),
        ([[1]], 10, ValueError, "one-dimensional"),
        ([10], 10, ValueError, "0..9"),
        ([-1], 10, ValueError, "0..9"),
        ([0], True, TypeError, "num_classes must be an int"),
        ([0], 0, ValueError, "at least 1"),
    ],
)
def test_one_hot_rejects_bad_input(labels, num_classes, error, match):
    with pytest.raises(error, match=match):
        one_hot(labels, num_classes)


# --- the bundled subset ------------------------------------------------------


def test_bundled_subset_contents():
    mnist = load_bundled_mnist()
    assert [a.shape for a in mnist] == [
        (6000, 28, 28), (6000,), (1000, 28, 28), (1000,)
    ]
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
    assert [a.shape for a in mnist] == [
        (60000, 28, 28), (60000,), (10000, 28, 28), (10000,)
    ]
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
    with pytest.raises(ValueError, match="expected the standard MNIST file"):
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
        (2.0, None, TypeError, "batch_size must be an int, got float"),
        (True, None, TypeError, "got bool"),
        (4, [1, 2, 3, 4], TypeError, "got list"),
        (4, make_tiny_mnist()[:3], TypeError, "got tuple"),
        (4, make_tiny_mnist()._replace(test_labels=np.zeros(3, np.uint8)),
         ValueError, "test_images"),
    ],
)
def test_mnist_data_rejects_bad_arguments(batch_size, data, error, match):
    with pytest.raises(error, match=match):
        MNISTData(batch_size, data=data)


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
