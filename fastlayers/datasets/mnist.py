"""The MNIST handwritten digits: locating, downloading and loading them.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges and is
licensed under CC BY-SA 3.0 (https://creativecommons.org/licenses/by-sa/3.0/).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._files import describe_file_type
from .download import (
    DEFAULT_DEADLINE,
    _check_bool,
    _check_mirrors,
    _check_seconds,
    _check_sha256,
    _prepare_folder,
    _remove_stale_partials,
    download_file,
)
from .idx import IDXFormatError, read_idx

__all__ = [
    "MNIST",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "default_data_dir",
    "images_to_float",
    "load_bundled_mnist",
    "load_mnist",
    "one_hot",
]

#: Stems of the four standard files: training images and labels, then test
#: images and labels. They are looked up with and without a ``.gz`` suffix.
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: Public mirrors of the original files, tried in order.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: SHA-256 of the standard gzipped files. Their MD5s are the published ones
#: (f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d... in the order below).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",  # noqa: E501
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",  # noqa: E501
}

_IMAGE_SHAPE = (28, 28)
_NUM_CLASSES = 10


class MNIST(NamedTuple):
    """The MNIST training and test splits as raw ``uint8`` arrays.

    Unpacks as ``train_images, train_labels, test_images, test_labels``.

    Attributes
    ----------
    train_images : numpy.ndarray
        ``uint8`` array of shape ``(n_train, 28, 28)``, grey levels 0..255
        with 0 as background.
    train_labels : numpy.ndarray
        ``uint8`` array of shape ``(n_train,)`` with digits 0..9.
    test_images : numpy.ndarray
        ``uint8`` array of shape ``(n_test, 28, 28)``.
    test_labels : numpy.ndarray
        ``uint8`` array of shape ``(n_test,)``.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def default_data_dir() -> Path:
    """Return the directory where MNIST is looked for and cached.

    This is ``$FASTLAYERS_DATA/mnist`` if the environment variable
    ``FASTLAYERS_DATA`` is set, otherwise ``fastlayers/mnist`` inside the
    user's cache directory (``$XDG_CACHE_HOME``, or ``~/.cache``).

    Returns
    -------
    pathlib.Path
        The directory; it is not created.
    """
    root = os.environ.get("FASTLAYERS_DATA")
    if root:
        return Path(root).expanduser() / "mnist"
    cache = os.environ.get("XDG_CACHE_HOME")
    # The XDG specification says relative paths in these variables are invalid.
    if not cache or not os.path.isabs(cache):
        cache = Path.home() / ".cache"
    return Path(cache) / "fastlayers" / "mnist"


def _find(directory: Path, stem: str, caller: str) -> Path | None:
    """The MNIST file `stem` in `directory`, gzipped or not, or None.

    The first name that exists decides: a directory, FIFO, device or socket
    under it is an error that says what it is, not a missing file.
    """
    for name in (stem + ".gz", stem):
        path = directory / name
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            if path.is_symlink():
                raise IDXFormatError(
                    f"{caller}: expected a regular file at {path}, got a "
                    f"broken symbolic link to {os.readlink(path)}"
                ) from None
            continue
        except NotADirectoryError:
            return None  # `directory` is a file; reported by the caller
        if not stat.S_ISREG(mode):
            raise IDXFormatError(
                f"{caller}: expected a regular file at {path}, got {describe_file_type(mode)}"
            )
        return path
    return None


def _read_split(images_path, labels_path, caller) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(
            f"{caller}: expected uint8 images of shape (n, 28, 28) in "
            f"{images_path}, got {images.dtype} of shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{caller}: expected uint8 labels of shape (n,) in {labels_path}, "
            f"got {labels.dtype} of shape {labels.shape}"
        )
    if len(labels) != len(images):
        raise ValueError(
            f"{caller}: expected as many labels in {labels_path} as images in "
            f"{images_path} ({len(images)} images), got {len(labels)} labels"
        )
    if labels.size and labels.max() >= _NUM_CLASSES:
        raise ValueError(f"{caller}: expected labels 0..9 in {labels_path}, got {labels.max()}")
    return images, labels


def _read_files(paths: Sequence[Path], caller: str) -> MNIST:
    train_images, train_labels = _read_split(paths[0], paths[1], caller)
    test_images, test_labels = _read_split(paths[2], paths[3], caller)
    return MNIST(train_images, train_labels, test_images, test_labels)


def _missing(directory: Path, stem: str, caller: str) -> FileNotFoundError:
    try:
        mode = directory.stat().st_mode
    except OSError:
        found = "no such folder"
    else:
        if stat.S_ISDIR(mode):
            found = "neither name there"
        else:
            found = f"{describe_file_type(mode)} instead of a folder"
    return FileNotFoundError(
        f"{caller}: expected the MNIST file {stem}.gz (or {stem}) in "
        f"{directory}, got {found}; pass download=True to fetch it"
    )


def _load_directory(
    directory: Path,
    *,
    caller: str,
    download: bool = False,
    checksums: Mapping[str, str] = MNIST_SHA256,
    **transfer,
) -> MNIST:
    """:func:`load_mnist` for checked arguments, naming `caller` in errors.

    ``transfer`` holds what :func:`load_mnist` passes on to
    :func:`download_file`: ``mirrors``, ``progress``, ``timeout`` and
    ``deadline``; it is needed only with ``download=True``.
    """
    # Partial files of downloads that were killed are removed on every load
    # (those of live downloads are kept), whether or not anything is missing.
    for stem in MNIST_FILES:
        _remove_stale_partials(directory, stem + ".gz")
    found = {stem: _find(directory, stem, caller) for stem in MNIST_FILES}
    missing = [stem for stem, path in found.items() if path is None]
    if missing and not download:
        raise _missing(directory, missing[0], caller)
    if missing:
        for stem in missing:
            name = stem + ".gz"
            if name not in checksums:
                raise ValueError(
                    f"{caller}: expected checksums to give the SHA-256 of "
                    f"{name!r} to download it, got entries for "
                    f"{sorted(checksums)}"
                )
            _check_sha256(checksums[name], caller, f"checksums[{name!r}]")
        # Before any transfer, so a read-only cache fails at once and says
        # how to choose another folder.
        _prepare_folder(
            directory,
            caller=caller,
            hint=(
                "choose another folder with the data_dir argument, or for the "
                "default folder with the FASTLAYERS_DATA environment variable"
            ),
        )
        for stem in missing:
            name = stem + ".gz"
            found[stem] = download_file(name, directory, sha256=checksums[name], **transfer)
    return _read_files([found[stem] for stem in MNIST_FILES], caller)


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    checksums: Mapping[str, str] = MNIST_SHA256,
    progress: bool = True,
    timeout: float = 30.0,
    deadline: float | None = DEFAULT_DEADLINE,
) -> MNIST:
    """Load the full MNIST data set, downloading missing files.

    The four standard files are looked up in `data_dir`, each either gzipped
    (``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``).
    Missing files are downloaded in gzipped form, verified against
    `checksums` and stored atomically. Files already present are used as they
    are, without checksum verification, but are fully validated as IDX files.
    Hidden partial files (``.<name>.<random>.part``) left in `data_dir` by a
    download that was killed are removed; those of a download still running
    in another process are kept (see :mod:`fastlayers.datasets.download`).

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Directory holding (or to receive) the files. Defaults to
        :func:`default_data_dir`, which honours ``FASTLAYERS_DATA``.
    download : bool, default True
        Whether to download missing files; if False they raise
        :class:`FileNotFoundError` instead.
    mirrors : sequence of str, default MNIST_MIRRORS
        Base URLs to download from, tried in order.
    checksums : mapping of str to str, default MNIST_SHA256
        Expected SHA-256 of each gzipped file, keyed by file name.
    progress : bool, default True
        Show a progress bar while downloading (if ``tqdm`` is installed).
    timeout : float, default 30.0
        Network timeout in seconds for each connection or read.
    deadline : float or None, default 600.0
        Seconds that downloading one file from one mirror may take in all;
        a slower transfer is cut and the next mirror tried. None sets no
        limit.

    Returns
    -------
    MNIST
        ``uint8`` images of shape ``(n, 28, 28)`` and labels of shape
        ``(n,)`` for the training (60,000) and test (10,000) splits.

    Raises
    ------
    FileNotFoundError
        If a file is missing and `download` is False.
    DownloadError
        If a missing file could not be fetched intact from any mirror within
        the deadline; or, before any transfer, if the folder cannot be
        created or written (a read-only cache): the message names the folder
        and how to choose another.
    IDXFormatError
        If a file is not a well-formed IDX file, or an MNIST file name holds
        a directory, a FIFO, a device or a socket (the message says which).
    ValueError
        If the files do not hold MNIST-shaped images and matching labels, or
        `checksums` lacks a file that has to be downloaded.
    TypeError
        If an argument has the wrong type.

    See Also
    --------
    load_bundled_mnist : A small subset that ships with the package.

    Examples
    --------
    >>> mnist = load_mnist()  # doctest: +SKIP
    >>> mnist.train_images.shape  # doctest: +SKIP
    (60000, 28, 28)
    """
    caller = "load_mnist"
    if data_dir is None:
        directory = default_data_dir()
    elif isinstance(data_dir, (str, os.PathLike)):
        directory = Path(data_dir).expanduser()
    else:
        raise TypeError(
            f"{caller}: expected data_dir as None, a str or os.PathLike, "
            f"got {type(data_dir).__name__}"
        )
    if not isinstance(checksums, Mapping):
        raise TypeError(
            f"{caller}: expected checksums as a mapping of file name to "
            f"SHA-256, got {type(checksums).__name__}"
        )
    return _load_directory(
        directory,
        caller=caller,
        download=_check_bool(download, "download", caller),
        mirrors=_check_mirrors(mirrors, caller),
        checksums=checksums,
        progress=_check_bool(progress, "progress", caller),
        timeout=_check_seconds(timeout, "timeout", caller, allow_none=False),
        deadline=_check_seconds(deadline, "deadline", caller, allow_none=True),
    )


def load_bundled_mnist() -> MNIST:
    """Load the MNIST subset that ships with the package.

    The subset is stratified and needs no download: 6,000 training images
    (600 per digit) and 1,000 test images (100 per digit), drawn
    reproducibly from the standard training and test splits.

    Returns
    -------
    MNIST
        ``uint8`` images of shape ``(n, 28, 28)`` and labels of shape ``(n,)``.
    """
    bundled = importlib.resources.files(__package__) / "bundled"
    paths = []
    with contextlib.ExitStack() as stack:
        for stem in MNIST_FILES:
            resource = bundled / (stem + ".gz")
            path = stack.enter_context(importlib.resources.as_file(resource))
            paths.append(path)
        return _read_files(paths, "load_bundled_mnist")


def images_to_float(images, *, dtype=np.float64) -> np.ndarray:
    """Scale ``uint8`` images to ``[0, 1]`` and add a channel axis.

    Parameters
    ----------
    images : numpy.ndarray
        ``uint8`` array of shape ``(n, height, width)``.
    dtype : data-type, default numpy.float64
        Floating-point type of the result.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(n, 1, height, width)`` with values ``images / 255``.

    Raises
    ------
    TypeError
        If `images` is not a ``uint8`` array or `dtype` is not floating.
    ValueError
        If `images` is not three-dimensional.
    """
    caller = "images_to_float"
    if not isinstance(images, np.ndarray):
        raise TypeError(
            f"{caller}: expected images as a uint8 numpy array, got {type(images).__name__}"
        )
    if images.dtype != np.uint8:
        raise TypeError(f"{caller}: expected images of dtype uint8, got {images.dtype}")
    if images.ndim != 3:
        raise ValueError(
            f"{caller}: expected images of shape (n, height, width), got shape {images.shape}"
        )
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"{caller}: expected dtype as a floating-point type, got {dtype!r}"
        ) from None
    if dtype.kind != "f":
        raise TypeError(f"{caller}: expected dtype as a floating-point type, got {dtype}")
    scaled = images.astype(dtype)
    scaled /= 255
    return scaled[:, np.newaxis]


def one_hot(labels, num_classes: int = _NUM_CLASSES, *, dtype=np.float64):
    """Encode integer class labels as one-hot rows.

    Parameters
    ----------
    labels : array_like of int
        One-dimensional labels in ``0 .. num_classes - 1``.
    num_classes : int, default 10
        Number of classes, i.e. columns of the result.
    dtype : data-type, default numpy.float64
        Type of the result.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(len(labels), num_classes)`` with a single 1 per row.

    Raises
    ------
    TypeError
        If `labels` or `num_classes` are not integers.
    ValueError
        If `labels` are not one-dimensional or lie outside the class range,
        or `num_classes` is less than 1.
    """
    caller = "one_hot"
    if isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(
            f"{caller}: expected num_classes as an int, got {type(num_classes).__name__}"
        )
    if num_classes < 1:
        raise ValueError(f"{caller}: expected num_classes of at least 1, got {num_classes}")
    try:
        labels = np.asarray(labels)
    except ValueError as error:  # ragged nested sequences
        raise ValueError(
            f"{caller}: expected labels as a one-dimensional array of ints, "
            f"got a sequence NumPy cannot make an array of ({error})"
        ) from None
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{caller}: expected integer labels, got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"{caller}: expected one-dimensional labels, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{caller}: expected labels in 0..{num_classes - 1}, got values "
            f"from {labels.min()} to {labels.max()}"
        )
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{caller}: expected dtype as a NumPy data type, got {dtype!r}") from None
    encoded = np.zeros((labels.size, int(num_classes)), dtype=dtype)
    encoded[np.arange(labels.size), labels] = 1
    return encoded
