"""The benchmarked networks (LeNet and a small CIFAR-10 network) on every backend.

An architecture is a list of layer descriptions, so that the PyTorch and
JAX peers are built from the same table as fastlayers:

``("conv", c_in, k, size)``
    ``size`` x ``size`` convolution, "same" padding, stride 1.
``("relu",)``, ``("pool",)`` (2x2 max pooling, stride 2), ``("flatten",)``
``("fc", n_in, n_out)``

The fastlayers LeNet is :func:`fastlayers.models.lenet`; the CIFAR network
is assembled from the tutorial's classes the same way.  Every peer starts
from the parameters of the float64 fastlayers network of the same seed
(:func:`parameters`), so the losses of all backends agree.

Only NumPy is imported at module level: the compile-time and memory
measurements start processes that import what a user's script would.
"""

import functools

import numpy as np


def _conv_block(c_in, k, size):
    """A convolution, its ReLU and 2x2 max pooling: the unit both networks are made of."""
    return [("conv", c_in, k, size), ("relu",), ("pool",)]


def _classifier(*sizes):
    """Flatten, then fully connected layers ``sizes[0] -> sizes[1] -> ...`` with ReLU between."""
    layers = [("flatten",)]
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [("fc", n_in, n_out), ("relu",)]
    return layers[:-1]  # no ReLU after the last: the loss takes the scores


ARCHITECTURES = {
    "lenet": [*_conv_block(1, 6, 5), *_conv_block(6, 10, 5), *_classifier(490, 120, 84, 10)],
    # conv 3->32, 32->64, 64->64 (3x3, "same"), each followed by ReLU and
    # 2x2 max pooling (32x32 -> 16 -> 8 -> 4), then two fully connected layers.
    "cifar": [
        *_conv_block(3, 32, 3),
        *_conv_block(32, 64, 3),
        *_conv_block(64, 64, 3),
        *_classifier(1024, 128, 10),
    ],
}
INPUT_SHAPES = {"lenet": (1, 28, 28), "cifar": (3, 32, 32)}
N_CLASSES = 10


def batch_data(net, batch, seed=0):
    """A fixed batch: images ``(batch, *INPUT_SHAPES[net])`` in [0, 1) and one-hot labels."""
    rng = np.random.default_rng(seed + 1)
    x = rng.random((batch, *INPUT_SHAPES[net]))
    labels = np.zeros((batch, N_CLASSES))
    labels[np.arange(batch), rng.integers(0, N_CLASSES, batch)] = 1.0
    return x, labels


def learning_rate(batch):
    """Step size for the loss summed over the batch: 0.01 per sample on average."""
    return 0.01 / batch


class FixedBatch:
    """The tutorial's data layer: ``forward()`` returns the same batch every time."""

    def __init__(self, x, labels):
        self.x = x
        self.labels = labels

    def forward(self):
        return self.x, self.labels


def build(net, backend="fast", dtype="float64", seed=0, batch=None):
    """A tutorial ``NeuralNetwork`` of ``net`` on the fast or the reference layers.

    With ``batch``, its data layer returns the fixed batch of
    :func:`batch_data` in ``dtype``.
    """
    dtype = np.dtype(dtype)
    lr = learning_rate(batch or 1)
    if net == "lenet":
        from fastlayers.models import lenet

        network = lenet(backend=backend, dtype=dtype, learning_rate=lr, seed=seed)
    else:
        network = _build_sequential(net, backend, dtype, lr, seed)
    if batch is not None:
        x, labels = batch_data(net, batch, seed)
        network.data_layer = FixedBatch(
            np.ascontiguousarray(x, dtype), np.ascontiguousarray(labels, dtype)
        )
    return network


def _build_sequential(net, backend, dtype, lr, seed):
    import importlib

    module = importlib.import_module(
        {"fast": "fastlayers", "reference": "fastlayers.reference"}[backend]
    )
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        network = module.NeuralNetwork(module.He(), module.Const(0.1), dtype=dtype)
        for spec in ARCHITECTURES[net]:
            kind = spec[0]
            if kind == "conv":
                _, c_in, k, size = spec
                network.append_trainable_layer(
                    module.ConvolutionalLayer((1, 1), (c_in, size, size), k, lr, dtype=dtype)
                )
            elif kind == "fc":
                network.append_trainable_layer(
                    module.FullyConnectedLayer(spec[1], spec[2], lr, dtype=dtype)
                )
            elif kind == "relu":
                network.append_fixed_layer(module.ReLU())
            elif kind == "pool":
                network.append_fixed_layer(module.MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2)))
            elif kind == "flatten":
                network.append_fixed_layer(module.FlattenLayer())
        network.loss_layer = module.SoftMaxCrossEntropyLoss()
    finally:
        np.random.set_state(state)
    return network


def trainable_layers(network):
    return [layer for layer in network.layers if hasattr(layer, "get_gradient_weights")]


def layer_parameters(layer):
    """(weights, bias) in float64; fully connected weights as (inputs, outputs)."""
    w = np.asarray(layer.weights, dtype=np.float64)
    if w.ndim == 2:  # the tutorial's fully connected layer keeps its bias as the last row
        return w[:-1], w[-1]
    return w, np.asarray(layer.bias, dtype=np.float64)


def parameters(net, seed=0):
    """Initial parameters of ``net`` for ``seed``: those of the float64 fastlayers network.

    A list of float64 (weights, bias) pairs, one per trainable layer.
    """
    return [(w.copy(), b.copy()) for w, b in _parameters(net, seed)]


@functools.lru_cache(maxsize=8)
def _parameters(net, seed):
    return tuple(
        layer_parameters(layer) for layer in trainable_layers(build(net, "fast", "float64", seed))
    )


def train_step(network):
    """One training step of a tutorial ``NeuralNetwork``; returns the loss.

    ``network.forward(); network.backward()`` rather than ``train(1)``,
    which also appends the loss to ``network.loss`` (a list that grows).
    """
    loss = network.forward()
    network.backward()
    return loss


def tutorial_loop_step(network):
    """One training step as a user's own loop writes it; returns the loss.

    The tutorial's training code calls every layer's ``forward`` and then
    every layer's ``backward`` in reverse, the first layer's included: its
    gradient w.r.t. the network input is computed even though nothing uses
    it (``NeuralNetwork.backward`` of fastlayers skips it).
    """
    x, labels = network.data_layer.forward()
    for layer in network.layers:
        x = layer.forward(x)
    loss = network.loss_layer.forward(x, labels)
    error = network.loss_layer.backward(labels)
    for layer in reversed(network.layers):
        error = layer.backward(error)
    return loss


def infer(network, x):
    """Forward pass only, as a user's inference code writes it: class probabilities."""
    for layer in network.layers:
        x = layer.forward(x)
    return network.loss_layer.predict(x)
