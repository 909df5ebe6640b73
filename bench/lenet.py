"""The tutorial's LeNet, its parameters and a fixed batch: shared by every benchmark.

Only NumPy is imported at module level, so that the compile-time and
memory measurements start a process that imports what a user's script
would: NumPy and fastlayers.
"""

import math

import numpy as np

LENET_SHAPES = [
    # (weights shape, bias length) of conv1, conv2, fc1, fc2, fc3; fully
    # connected weights as (inputs, outputs).
    ((6, 1, 5, 5), 6),
    ((10, 6, 5, 5), 10),
    ((490, 120), 120),
    ((120, 84), 84),
    ((84, 10), 10),
]


def lenet_params(seed=0):
    """He-initialised parameters (float64) with biases 0.1, like the tutorial's ``He(), Const(0.1)``."""
    rng = np.random.default_rng(seed)
    params = []
    for shape, n_out in LENET_SHAPES:
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
        params.append((rng.normal(0.0, math.sqrt(2.0 / fan_in), shape), np.full(n_out, 0.1)))
    return params


def lenet_batch(batch, seed=0):
    """A fixed batch: images (batch, 1, 28, 28) in [0, 1) and one-hot labels (batch, 10)."""
    rng = np.random.default_rng(seed + 1)
    x = rng.random((batch, 1, 28, 28))
    labels = np.zeros((batch, 10))
    labels[np.arange(batch), rng.integers(0, 10, batch)] = 1.0
    return x, labels


def lenet_learning_rate(batch):
    """Step size for the loss summed over the batch: 0.01 per sample on average."""
    return 0.01 / batch


class FixedBatch:
    """The tutorial's data layer: ``forward()`` returns the same batch every time."""

    def __init__(self, x, labels):
        self.x = x
        self.labels = labels

    def forward(self):
        return self.x, self.labels


def tutorial_lenet(module, params, x, labels, learning_rate, dtype):
    """LeNet from the tutorial's classes in ``module`` (fastlayers or fastlayers.reference).

    conv 5x5 -> 6 "same", ReLU, max pool 2x2, conv 5x5 -> 10 "same", ReLU,
    max pool 2x2, flatten, FC 490 -> 120, ReLU, FC 120 -> 84, ReLU,
    FC 84 -> 10, softmax cross-entropy; the data layer returns ``x`` and
    ``labels`` in ``dtype``.

    Returns
    -------
    net : module.NeuralNetwork
    trainable : tuple
        conv1, conv2, fc1, fc2, fc3.
    """
    dtype = np.dtype(dtype)
    net = module.NeuralNetwork(module.He(), module.Const(0.1), dtype=dtype)
    lr = learning_rate
    conv1 = module.ConvolutionalLayer((1, 1), (1, 5, 5), 6, lr)
    conv2 = module.ConvolutionalLayer((1, 1), (6, 5, 5), 10, lr)
    fcs = [
        module.FullyConnectedLayer(490, 120, lr),
        module.FullyConnectedLayer(120, 84, lr),
        module.FullyConnectedLayer(84, 10, lr),
    ]
    net.append_trainable_layer(conv1)
    net.append_fixed_layer(module.ReLU())
    net.append_fixed_layer(module.MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2)))
    net.append_trainable_layer(conv2)
    net.append_fixed_layer(module.ReLU())
    net.append_fixed_layer(module.MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2)))
    net.append_fixed_layer(module.FlattenLayer())
    net.append_trainable_layer(fcs[0])
    net.append_fixed_layer(module.ReLU())
    net.append_trainable_layer(fcs[1])
    net.append_fixed_layer(module.ReLU())
    net.append_trainable_layer(fcs[2])
    net.loss_layer = module.SoftMaxCrossEntropyLoss()
    for layer, (w, b) in zip((conv1, conv2), params[:2]):
        layer.weights = w
        layer.bias = b
    for layer, (w, b) in zip(fcs, params[2:]):
        layer.weights = np.vstack([w, b[None]])
    net.data_layer = FixedBatch(np.ascontiguousarray(x, dtype), np.ascontiguousarray(labels, dtype))
    return net, (conv1, conv2, *fcs)


def fastlayers_lenet(batch, dtype, seed=0):
    """A fastlayers LeNet with the shared parameters and batch of ``seed``."""
    import fastlayers

    x, labels = lenet_batch(batch, seed)
    net, _ = tutorial_lenet(fastlayers, lenet_params(seed), x, labels, lenet_learning_rate(batch), dtype)
    return net


def train_step(net):
    """One training step of a tutorial ``NeuralNetwork``; returns the loss.

    ``net.forward(); net.backward()`` rather than ``net.train(1)``, which
    also appends the loss to ``net.loss`` (a list that grows every step).
    """
    loss = net.forward()
    net.backward()
    return loss
