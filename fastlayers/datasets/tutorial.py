"""The MNIST data layer of the FAU deep-learning tutorial.

:class:`MNISTData` reproduces the interface and behaviour of
``Tests/Helpers.py``'s ``MNISTData`` in the tutorial repository, so a
network's ``data_layer`` can be swapped for it unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .mnist import MNIST, _load_directory, images_to_float, load_bundled_mnist, one_hot

__all__ = ["MNISTData"]

_PIXELS = 28 * 28


class MNISTData:
    """Mini-batches of MNIST for training, plus the test set.

    Images are ``float64`` in ``[0, 1]`` (grey level / 255) and labels are
    ``float64`` one-hot rows of length 10, as in the tutorial.

    Training batches are drawn without replacement: each epoch is a fresh
    random permutation of the training set, cut into
    ``len(train) // batch_size`` batches of exactly `batch_size` samples;
    the remainder of a permutation is skipped.

    Parameters
    ----------
    batch_size : int
        Number of samples returned by each :meth:`forward` call; at most the
        number of training samples.
    data : MNIST, str or os.PathLike, optional
        Where the samples come from. By default the subset bundled with the
        package (6,000 training and 1,000 test images). An :class:`MNIST`
        tuple, e.g. from :func:`load_mnist`, or any tuple ``(train_images,
        train_labels, test_images, test_labels)`` of ``uint8`` arrays shaped
        like MNIST's is used as given; a path names
        a directory holding the four standard MNIST files (nothing is
        downloaded; pass ``data=load_mnist()`` for that).
    seed : int, numpy.random.Generator or numpy.random.SeedSequence, optional
        Source of randomness for shuffling and random test samples. By
        default NumPy's global random state is used, exactly like the
        tutorial, so ``numpy.random.seed`` makes runs repeatable.

    Attributes
    ----------
    batch_size : int
    train : numpy.ndarray
        Training images, flattened: shape ``(n_train, 784)``.
    labels : numpy.ndarray
        One-hot training labels, shape ``(n_train, 10)``.
    test : numpy.ndarray
        Test images, flattened: shape ``(n_test, 784)``.
    testLabels : numpy.ndarray
        One-hot test labels, shape ``(n_test, 10)``.
    """

    def __init__(self, batch_size: int, data=None, *, seed=None):
        if isinstance(batch_size, (bool, np.bool_)) or not isinstance(
            batch_size, (int, np.integer)
        ):
            raise TypeError(
                f"MNISTData: expected batch_size as an int, got {type(batch_size).__name__}"
            )
        mnist = _resolve(data)
        if not 1 <= batch_size <= len(mnist.train_images):
            raise ValueError(
                "MNISTData: expected batch_size between 1 and the number of "
                f"training samples ({len(mnist.train_images)}), got {batch_size}"
            )
        rng = np.random
        if seed is not None:
            try:
                rng = np.random.default_rng(seed)
            except (TypeError, ValueError) as error:
                # NumPy's own messages do not say which argument was wrong.
                raise type(error)(
                    "MNISTData: expected seed as None, a non-negative int, a "
                    "numpy.random.Generator or a SeedSequence, "
                    f"got {seed!r}"
                ) from None
        self.batch_size = int(batch_size)
        self.train = images_to_float(mnist.train_images).reshape(-1, _PIXELS)
        self.labels = one_hot(mnist.train_labels)
        self.test = images_to_float(mnist.test_images).reshape(-1, _PIXELS)
        self.testLabels = one_hot(mnist.test_labels)
        # The global legacy state (not a Generator) keeps the tutorial's exact
        # sequence of batches under numpy.random.seed.
        self._rng = rng
        self._current_forward_idx_iterator = self._forward_idx_iterator()

    def _forward_idx_iterator(self):
        n_samples = self.train.shape[0]
        num_iterations = n_samples // self.batch_size
        while True:
            order = self._rng.permutation(n_samples)
            for i in range(num_iterations):
                yield order[i * self.batch_size : (i + 1) * self.batch_size]

    def forward(self):
        """Return the next training batch.

        Returns
        -------
        images : numpy.ndarray
            Shape ``(batch_size, 1, 28, 28)``, values in ``[0, 1]``.
        labels : numpy.ndarray
            One-hot labels, shape ``(batch_size, 10)``.
        """
        idx = next(self._current_forward_idx_iterator)
        return self.train[idx].reshape(-1, 1, 28, 28), self.labels[idx]

    def get_test_set(self):
        """Return the whole test set.

        As in the tutorial the images are flat; reshape them with
        ``images.reshape(-1, 1, 28, 28)`` for convolutional networks.

        Returns
        -------
        images : numpy.ndarray
            Shape ``(n_test, 784)``, values in ``[0, 1]``.
        labels : numpy.ndarray
            One-hot labels, shape ``(n_test, 10)``.
        """
        return self.test, self.testLabels

    def get_random_test_sample(self):
        """Return one test sample chosen at random.

        Returns
        -------
        image : numpy.ndarray
            Shape ``(1, 1, 28, 28)``, values in ``[0, 1]``.
        label : numpy.ndarray
            One-hot label, shape ``(10,)``.
        """
        index = self._rng.choice(self.test.shape[0])
        return self.test[index].reshape(-1, 1, 28, 28), self.testLabels[index]

    def show_random_training_image(self):
        """Plot a randomly chosen training image (requires matplotlib)."""
        index = self._rng.choice(self.train.shape[0])
        _show(self.train[index])

    def show_image(self, index: int, test: bool = True):
        """Plot one image (requires matplotlib).

        Parameters
        ----------
        index : int
            Position of the image in its split.
        test : bool, default True
            Take the image from the test set, else from the training set.
        """
        _show((self.test if test else self.train)[index])


def _resolve(data) -> MNIST:
    if data is None:
        return load_bundled_mnist()
    if isinstance(data, (str, os.PathLike)):
        return _load_directory(Path(data).expanduser(), caller="MNISTData")
    if not (isinstance(data, tuple) and len(data) == 4):
        raise TypeError(
            "MNISTData: expected data as None, an MNIST tuple or a directory "
            f"path, got {type(data).__name__}"
        )
    mnist = MNIST(*data)
    for split in ("train", "test"):
        images = getattr(mnist, f"{split}_images")
        labels = getattr(mnist, f"{split}_labels")
        if np.shape(images)[1:] != (28, 28) or len(images) != len(labels):
            raise ValueError(
                f"MNISTData: expected data.{split}_images of shape (n, 28, 28) "
                f"with n equal to len(data.{split}_labels), got shape "
                f"{np.shape(images)} and {len(labels)} labels"
            )
    return mnist


def _show(flat_image):
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("MNISTData: showing images requires matplotlib") from error
    plt.imshow(flat_image.reshape(28, 28), cmap="gray")
    plt.show()
