"""MNIST data: an IDX reader, a verified downloader and the tutorial's data layer.

Quick start::

    from fastlayers.datasets import load_mnist, load_bundled_mnist, MNISTData

    mnist = load_bundled_mnist()     # 6,000 + 1,000 images, no download
    mnist = load_mnist()             # the full set, cached after one download
    data_layer = MNISTData(20)       # drop-in for the tutorial's MNISTData

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges and is
licensed under CC BY-SA 3.0.
"""

from .download import DownloadError, download_file, sha256sum
from .idx import IDXFormatError, read_idx, write_idx
from .mnist import (
    MNIST,
    MNIST_FILES,
    MNIST_MIRRORS,
    MNIST_SHA256,
    default_data_dir,
    images_to_float,
    load_bundled_mnist,
    load_mnist,
    one_hot,
)
from .tutorial import MNISTData

__all__ = [
    "MNIST",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "DownloadError",
    "IDXFormatError",
    "MNISTData",
    "default_data_dir",
    "download_file",
    "images_to_float",
    "load_bundled_mnist",
    "load_mnist",
    "one_hot",
    "read_idx",
    "sha256sum",
    "write_idx",
]
