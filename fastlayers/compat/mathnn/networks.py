"""``SequentialNet``: the sheet's network of layers, trained on the cross-entropy."""

import numpy as np

from .._common import as_float, propagate_back
from .layers import Conv2DLayer, DenseLayer, FlattenLayer, Pool2DLayer

__all__ = ["SequentialNet", "cross_entropy"]


def cross_entropy(y_tilde, y):
    """Mean over the batch of ``-sum(y * ln(y_tilde))``."""
    y_tilde = as_float(y_tilde, "cross_entropy", "y_tilde")
    tiny = np.finfo(y_tilde.dtype).tiny
    return float(-np.sum(y * np.log(np.maximum(y_tilde, tiny))) / y_tilde.shape[0])


class SequentialNet:
    """A chain of layers built with ``add_*`` from the input shape on.

    Parameters
    ----------
    tensor : int or (c, h, w)
        Shape of one input: a feature count for dense networks, or
        (channels, height, width) for images.
    """

    def __init__(self, tensor):
        self.tensor = (int(tensor),) if np.ndim(tensor) == 0 else tuple(int(v) for v in tensor)
        self.layers = []
        self._shape = self.tensor

    def add_conv2D(self, fshape, afun=None, optim=None, initializer=None):
        layer = Conv2DLayer(self._shape, fshape, afun, optim, initializer)
        m, fh, fw = layer.fshape
        _, h, w = self._shape
        self._shape = (m, h - fh + 1, w - fw + 1)
        self.layers.append(layer)

    def add_pool2D(self, area, strict=False):
        layer = Pool2DLayer(area, strict)
        c, h, w = self._shape
        ph, pw = layer.area
        self._shape = (c, h // ph, w // pw)
        self.layers.append(layer)

    def add_flatten(self):
        self._shape = (int(np.prod(self._shape)),)
        self.layers.append(FlattenLayer())

    def add_dense(self, n, afun=None, optim=None, initializer=None):
        layer = DenseLayer(int(np.prod(self._shape)), n, afun, optim, initializer)
        self._shape = (layer.n_out,)
        self.layers.append(layer)

    def evaluate(self, x):
        """Output of the network for the batch ``x``."""
        for layer in self.layers:
            x = layer.evaluate(x)
        return x

    def backprop(self, y_tilde, y):
        """Back-propagate the gradient of the mean cross-entropy of ``y_tilde`` against ``y``."""
        tiny = np.finfo(y_tilde.dtype).tiny
        delta = -y / np.maximum(y_tilde, tiny) / y_tilde.shape[0]
        propagate_back(self.layers, delta, "backprop", "_backprop_parameters")

    def update(self):
        for layer in self.layers:
            layer.update()

    def train(self, x, y, bs, ep):
        """``ep`` epochs of mini-batches of ``bs`` samples (shuffled by the global ``np.random``).

        Returns
        -------
        list of float
            The mean cross-entropy of every mini-batch.
        """
        x = as_float(x, "SequentialNet", "x")
        y = as_float(y, "SequentialNet", "y")
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"SequentialNet: expected as many labels as samples, "
                f"got {y.shape[0]} and {x.shape[0]}"
            )
        losses = []
        n = x.shape[0]
        for _ in range(int(ep)):
            order = np.random.permutation(n)
            for start in range(0, n, int(bs)):
                batch = order[start : start + int(bs)]
                y_tilde = self.evaluate(x[batch])
                losses.append(cross_entropy(y_tilde, y[batch]))
                self.backprop(y_tilde, y[batch])
                self.update()
        return losses
