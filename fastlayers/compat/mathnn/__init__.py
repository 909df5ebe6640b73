"""The layers of "Mathematics of Neural Networks", sheet 5, on fastlayers.

The sheet's ``layers.py``, ``activations.py``, ``optimizers.py`` and
``networks.py`` become::

    from fastlayers.compat.mathnn import *

and its MNIST CNN runs unchanged::

    net = SequentialNet((1, 28, 28))
    net.add_conv2D((32, 3, 3), afun=ReLU(), optim=Adam(eta))
    net.add_pool2D((2, 2))
    net.add_flatten()
    net.add_dense(100, afun=ReLU(), optim=Adam(eta))
    net.add_dense(10, afun=SoftMax(), optim=Adam(eta))
    net.train(x, y, bs, ep)

Conventions of the sheet: NCHW images, filter banks (m, c, fh, fw), a
"valid" *convolution* in the sense of ``scipy.signal.convolve2d`` (the
kernel is flipped, unlike the cross-correlation of deep-learning
frameworks), every layer with ``evaluate(a)``, ``backprop(delta)`` (which
applies its own activation's derivative first) and ``update()``, and
optimizers that update lists of arrays in place.
"""

from .activations import Identity, ReLU, Sigmoid, SoftMax, TanH
from .initializers import RandnAverage
from .layers import Conv2DLayer, DenseLayer, FlattenLayer, Pool2DLayer
from .networks import SequentialNet, cross_entropy
from .optimizers import SGD, Adam

__all__ = [
    "Adam",
    "Conv2DLayer",
    "DenseLayer",
    "FlattenLayer",
    "Identity",
    "Pool2DLayer",
    "RandnAverage",
    "ReLU",
    "SGD",
    "SequentialNet",
    "Sigmoid",
    "SoftMax",
    "TanH",
    "cross_entropy",
]
