"""The tutorial's ``NeuralNetwork``: a list of layers, a data layer and a loss."""

from .base import Phase
from .dtypes import float_dtype


class NeuralNetwork:
    """Stack of layers trained by calling ``forward`` and ``backward`` in turn.

    Parameters
    ----------
    weights_initializer, bias_initializer : Initializer
        Applied by :meth:`append_trainable_layer`.
    dtype : float32 or float64, optional
        When given, every appended layer with parameters is converted to it,
        the simple way to run a whole network in float32.

    Attributes
    ----------
    layers : list
        The layers, without the loss layer.
    data_layer
        Object whose ``forward()`` returns ``(input, one_hot_labels)``.
    loss_layer
        Object with ``forward(x, labels)``, ``backward(labels)`` and
        ``predict(x)``, e.g. :class:`~fastlayers.SoftMaxCrossEntropyLoss`.
    loss : list of float
        The loss of every training iteration.
    """

    def __init__(self, weights_initializer, bias_initializer, *, dtype=None):
        self.loss = []
        self.data_layer = None
        self.loss_layer = None
        self.layers = []
        self.weights_initializer = weights_initializer
        self.bias_initializer = bias_initializer
        self.label_tensor = None
        self.dtype = None if dtype is None else float_dtype(dtype, "NeuralNetwork")

    def _adopt(self, layer):
        if self.dtype is not None and hasattr(layer, "astype"):
            layer.astype(self.dtype)
        self.layers.append(layer)

    def append_fixed_layer(self, layer):
        """Add a layer without trainable parameters."""
        self._adopt(layer)

    def append_trainable_layer(self, layer):
        """Initialize ``layer`` with the network's initializers and add it."""
        layer.initialize(self.weights_initializer, self.bias_initializer)
        self._adopt(layer)

    def forward(self):
        """Fetch a batch from the data layer and return its loss."""
        input_tensor, self.label_tensor = self.data_layer.forward()
        activation = self._forward_input(input_tensor)
        return self.loss_layer.forward(activation, self.label_tensor)

    def _forward_input(self, input_tensor):
        activation = input_tensor
        for layer in self.layers:
            activation = layer.forward(activation)
        return activation

    def backward(self):
        """Propagate the error of the last batch down and update every layer.

        The first layer's error with respect to the network input is never
        used, so a first layer that offers ``backward_parameters`` (as
        :class:`~fastlayers.ConvolutionalLayer` does) skips computing it.
        """
        error = self.loss_layer.backward(self.label_tensor)
        for layer in reversed(self.layers[1:]):
            error = layer.backward(error)
        if self.layers:
            first = self.layers[0]
            getattr(first, "backward_parameters", first.backward)(error)

    def train(self, iterations):
        """Run ``iterations`` training steps, appending each loss to ``loss``."""
        for layer in self.layers:
            layer.phase = Phase.train
        for _ in range(iterations):
            loss = self.forward()
            self.loss.append(loss)
            self.backward()

    def test(self, input_tensor):
        """Return the loss layer's prediction for ``input_tensor`` (test phase)."""
        for layer in self.layers:
            layer.phase = Phase.test
        return self.loss_layer.predict(self._forward_input(input_tensor))
