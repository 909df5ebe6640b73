"""Training data as the trainer reads it: checked once, converted batch by batch."""

from __future__ import annotations

import numpy as np

from ..datasets.mnist import one_hot
from ..optimizers import trainable_layers


def network_dtype(net):
    """The dtype batches are converted to: the network's, else its first trainable layer's."""
    dtype = getattr(net, "dtype", None)
    if dtype is not None:
        return np.dtype(dtype)
    for layer in trainable_layers(net):
        layer_dtype = getattr(layer, "dtype", None)
        if layer_dtype is not None:
            return np.dtype(layer_dtype)
    return np.dtype(np.float64)


def infer_classes(net):
    """The output size of the last layer with parameters, or None."""
    for layer in reversed(list(net.layers)):
        size = getattr(layer, "output_size", None)
        if isinstance(size, (int, np.integer)):
            return int(size)
        if hasattr(layer, "weights"):
            break
    return None


class Data:
    """Inputs and labels, converted to the network's dtype batch by batch."""

    def __init__(self, x, y, dtype, n_classes, owner, what="training data"):
        if not isinstance(x, np.ndarray):
            x = np.asarray(x)
        if x.dtype.kind not in "fiu" or x.ndim < 2:
            raise ValueError(
                f"{owner}: expected {what} inputs as a numeric array of shape (n, ...), "
                f"got {x.dtype} of shape {x.shape}"
            )
        y = np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"{owner}: {what} has {len(x)} inputs but {len(y)} labels")
        if len(x) == 0:
            raise ValueError(f"{owner}: {what} is empty")
        if y.ndim == 1:
            if y.dtype.kind not in "iu":
                raise ValueError(
                    f"{owner}: expected {what} labels as integer classes (n,) or one-hot rows "
                    f"(n, classes), got dtype {y.dtype}"
                )
            n_classes = int(y.max()) + 1 if n_classes is None else n_classes
            if y.min() < 0 or y.max() >= n_classes:
                raise ValueError(
                    f"{owner}: {what} labels must lie in 0..{n_classes - 1}, "
                    f"found {y.min()}..{y.max()}"
                )
            self.classes = y.astype(np.int64)
        elif y.ndim == 2:
            if n_classes is not None and y.shape[1] != n_classes:
                raise ValueError(
                    f"{owner}: {what} labels have {y.shape[1]} columns, the network has "
                    f"{n_classes} outputs"
                )
            n_classes = y.shape[1]
            self.classes = np.argmax(y, axis=1)
        else:
            raise ValueError(
                f"{owner}: expected {what} labels of shape (n,) or (n, classes), got {y.shape}"
            )
        self.x, self.y = x, y
        self.dtype = dtype
        self.n_classes = n_classes

    def __len__(self):
        return len(self.x)

    def inputs(self, index):
        xb = self.x[index]
        if xb.dtype == np.uint8:
            # As datasets.images_to_float: convert, then divide by 255.
            xb = xb.astype(self.dtype)
            xb /= 255
        else:
            xb = np.asarray(xb, dtype=self.dtype)
        if xb.ndim == 3:
            xb = xb[:, np.newaxis]
        return np.ascontiguousarray(xb)

    def labels(self, index):
        if self.y.ndim == 1:
            return one_hot(self.classes[index], self.n_classes, dtype=self.dtype)
        return np.ascontiguousarray(self.y[index], dtype=self.dtype)


def check_net(net, owner):
    """Raise unless ``net`` is a tutorial-style network with a loss layer."""
    # The trainer drives the network through the tutorial's own methods.
    methods = ("forward", "backward", "test")
    if not hasattr(net, "layers") or not all(callable(getattr(net, m, None)) for m in methods):
        raise TypeError(
            f"{owner}: expected a NeuralNetwork (with 'layers', 'loss_layer', forward(), "
            f"backward() and test()), got {type(net).__name__}"
        )
    if getattr(net, "loss_layer", None) is None:
        raise ValueError(f"{owner}: the network has no loss_layer; set net.loss_layer first")


def positive_int(value, owner, name):
    """Return ``value`` as an int >= 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: expected {name} as an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{owner}: expected {name} of at least 1, got {value!r}")
    return int(value)
