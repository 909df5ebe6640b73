"""``NeuralNetwork``: the exercise's container of layers, with ``save`` and ``load``."""

import copy
import pickle

from .. import _common

__all__ = ["NeuralNetwork", "save", "load"]


class NeuralNetwork:
    """Layers, a data layer and a loss layer, trained with one optimizer.

    Parameters
    ----------
    optimizer : object with ``calculate_update``
        Every trainable layer appended gets its own deep copy.
    weights_initializer, bias_initializer : optional
        When given (exercises 2 and 3), ``append_layer`` calls
        ``layer.initialize(weights_initializer, bias_initializer)`` on
        trainable layers; exercise 1 constructs with the optimizer only.

    Attributes
    ----------
    layers : list
    loss : list
        The loss of every training iteration.
    data_layer : object with ``next()`` returning (input, labels)
    loss_layer : object with ``forward(prediction, labels)`` and ``backward(labels)``
    """

    def __init__(self, optimizer, weights_initializer=None, bias_initializer=None):
        self.optimizer = optimizer
        self.weights_initializer = weights_initializer
        self.bias_initializer = bias_initializer
        self.loss = []
        self.layers = []
        self.data_layer = None
        self.loss_layer = None
        self._label_tensor = None
        self._phase = False

    def __getstate__(self):
        # The data layer holds a generator (not picklable) and the data set:
        # neither belongs in a saved network.
        state = self.__dict__.copy()
        state["data_layer"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    @property
    def phase(self):
        """True in the testing phase; setting it sets every layer's ``testing_phase``."""
        return self._phase

    @phase.setter
    def phase(self, value):
        self._phase = bool(value)
        for layer in self.layers:
            layer.testing_phase = self._phase

    def append_layer(self, layer):
        """Append ``layer``; a trainable one gets a copy of the optimizer and is initialized."""
        if getattr(layer, "trainable", False):
            layer.optimizer = copy.deepcopy(self.optimizer)
            if self.weights_initializer is not None and self.bias_initializer is not None:
                layer.initialize(self.weights_initializer, self.bias_initializer)
        self.layers.append(layer)

    def _regularization_loss(self):
        total = 0.0
        for layer in self.layers:
            if not getattr(layer, "trainable", False):
                continue
            if hasattr(layer, "calculate_regularization_loss"):
                total += layer.calculate_regularization_loss()
                continue
            regularizer = getattr(getattr(layer, "optimizer", None), "regularizer", None)
            if regularizer is not None:
                total += regularizer.norm(layer.weights)
        return total

    def forward(self):
        """Run the next batch of ``data_layer`` through the layers; return loss + regularization."""
        if self.data_layer is None or self.loss_layer is None:
            raise RuntimeError(
                "NeuralNetwork: expected data_layer and loss_layer to be set before forward"
            )
        input_tensor, self._label_tensor = self.data_layer.next()
        for layer in self.layers:
            input_tensor = layer.forward(input_tensor)
        return (
            self.loss_layer.forward(input_tensor, self._label_tensor) + self._regularization_loss()
        )

    def backward(self):
        """Propagate the loss of the last ``forward`` back through the layers."""
        if self._label_tensor is None:
            raise RuntimeError("NeuralNetwork: backward called before forward")
        error = self.loss_layer.backward(self._label_tensor)
        _common.propagate_back(self.layers, error, "backward", "_backward_parameters")

    def train(self, iterations):
        """``iterations`` times forward and backward in the training phase; append each loss."""
        self.phase = False
        for _ in range(int(iterations)):
            self.loss.append(self.forward())
            self.backward()

    def test(self, input_tensor):
        """Run ``input_tensor`` through the layers in the testing phase; return the last output."""
        self.phase = True
        for layer in self.layers:
            input_tensor = layer.forward(input_tensor)
        return input_tensor


def save(filename, net):
    """Pickle ``net`` (without its data layer) to ``filename``."""
    with open(filename, "wb") as f:
        pickle.dump(net, f)


def load(filename, data_layer):
    """Unpickle a network saved by :func:`save` and give it ``data_layer``."""
    with open(filename, "rb") as f:
        net = pickle.load(f)
    net.data_layer = data_layer
    return net
