"""``nn_convolutional_layer`` and ``nn_max_pooling_layer`` (alias ``nn_maxpool_layer``)."""

import numpy as np

from ... import functional as F
from .._common import as_float, check_ndim, positive_int

__all__ = ["nn_convolutional_layer", "nn_max_pooling_layer", "nn_maxpool_layer"]


class nn_convolutional_layer:
    """Valid cross-correlation, stride 1, with a bias per filter.

    Parameters
    ----------
    filter_width, filter_height : int
    input_size : int
        Width (and height) of the input maps; kept for reference.
    in_ch_size : int
        Input channels.
    num_filters : int
    std : float, default 1.0
        The weights are normal with standard deviation
        ``std / sqrt(in_ch_size * filter_width * filter_height / 2)``
        (drawn from NumPy's global random state); the bias is 0.01.

    Attributes
    ----------
    W : ndarray, shape (num_filters, in_ch_size, filter_width, filter_height)
    b : ndarray, shape (1, num_filters, 1, 1)
    """

    def __init__(self, filter_width, filter_height, input_size, in_ch_size, num_filters, std=1e0):
        owner = "nn_convolutional_layer"
        fw = positive_int(filter_width, owner, "filter_width")
        fh = positive_int(filter_height, owner, "filter_height")
        self.input_size = input_size
        c = positive_int(in_ch_size, owner, "in_ch_size")
        k = positive_int(num_filters, owner, "num_filters")
        self.W = np.random.normal(0, std / np.sqrt(c * fw * fh / 2), (k, c, fw, fh))
        self.b = 0.01 + np.zeros((1, k, 1, 1))

    def update_weights(self, dW, db):
        """Add ``dW`` and ``db`` to the parameters (the caller scales and signs the step)."""
        self.W += dW
        self.b += db

    def get_weights(self):
        return self.W, self.b

    def set_weights(self, W, b):
        self.W = W
        self.b = b

    def _check(self, x):
        owner = "nn_convolutional_layer"
        x = as_float(x, owner, "x")
        check_ndim(x, 4, owner, "x", "(batch_size, in_ch_size, in_width, in_height)")
        W = np.asarray(self.W)
        if x.shape[1] != W.shape[1]:
            raise ValueError(f"{owner}: expected x with {W.shape[1]} channels, got shape {x.shape}")
        if np.size(self.b) != W.shape[0]:
            raise ValueError(
                f"{owner}: expected b with {W.shape[0]} entries, got shape {np.shape(self.b)}"
            )
        return x, W, np.reshape(self.b, -1)

    def forward(self, x):
        """(batch, in_ch, w, h) to (batch, num_filters, w - fw + 1, h - fh + 1)."""
        x, W, b = self._check(x)
        return F.conv2d(x, W, b, padding="valid", caller="nn_convolutional_layer")

    def backprop(self, x, dLdy):
        """Return ``(dLdx, dLdW, dLdb)``; ``dLdb`` is shaped like ``b``: (1, num_filters, 1, 1)."""
        x, W, b = self._check(x)
        # The input is given again rather than kept from forward: recompute
        # the forward record from it, so that a caller who changed x in
        # between gets the gradient at the x it passes.
        y, saved = F.conv2d(
            x, W, b, padding="valid", return_saved=True, caller="nn_convolutional_layer"
        )
        if np.shape(dLdy) != y.shape:
            raise ValueError(
                f"nn_convolutional_layer: expected dLdy of shape {y.shape}, "
                f"got shape {np.shape(dLdy)}"
            )
        dLdx, dLdW, dLdb = F.conv2d_backward(dLdy, saved, caller="nn_convolutional_layer")
        return dLdx, dLdW, dLdb.reshape(np.shape(self.b))


class nn_max_pooling_layer:
    """Max pooling over ``pool_size`` windows every ``stride``, without padding.

    The error of a window goes to its first maximum (row-major).
    """

    def __init__(self, stride, pool_size):
        self.stride = positive_int(stride, "nn_max_pooling_layer", "stride")
        self.pool_size = positive_int(pool_size, "nn_max_pooling_layer", "pool_size")

    def _pool(self, x):
        x = as_float(x, "nn_max_pooling_layer", "x")
        check_ndim(
            x,
            4,
            "nn_max_pooling_layer",
            "x",
            "(batch_size, input_channel_size, in_width, in_height)",
        )
        return x, F.max_pool2d(x, self.pool_size, self.stride, caller="nn_max_pooling_layer")

    def forward(self, x):
        """(batch, c, w, h) to (batch, c, (w - p) // s + 1, (h - p) // s + 1)."""
        return self._pool(x)[1][0]

    def backprop(self, x, dLdy):
        """Return ``dLdx`` of the shape of ``x``."""
        x, (y, indices) = self._pool(x)
        if np.shape(dLdy) != y.shape:
            raise ValueError(
                f"nn_max_pooling_layer: expected dLdy of shape {y.shape}, "
                f"got shape {np.shape(dLdy)}"
            )
        return F.max_pool2d_backward(dLdy, indices, x.shape, caller="nn_max_pooling_layer")


nn_maxpool_layer = nn_max_pooling_layer
