"""The tutorial's NeuralNetwork: a list of layers, a data layer and a loss layer."""

from ..base import Phase
from ..dtypes import float_dtype


class NeuralNetwork:
    """Chain of layers trained with the layers' own SGD updates.

    Parameters
    ----------
    weights_initializer, bias_initializer : Initializer
        Passed to ``initialize`` of every layer added with
        :meth:`append_trainable_layer`.
    dtype : {None, numpy.float32, numpy.float64}, optional
        If given, every appended layer that has a ``dtype`` is switched to
        it (before ``initialize``, so the parameters are stored in that
        dtype).  Layers compute in the promotion of input and parameter
        dtypes, so feed float32 data (and labels) to compute in float32.

    Attributes
    ----------
    loss : list of float
        Loss of every training iteration.
    layers : list
        The layers, in forward order; the loss layer is not among them.
    data_layer
        Object whose ``forward()`` returns ``(input, one_hot_labels)``.
    loss_layer
        Object with ``forward(x, labels)``, ``backward(labels)`` and ``predict(x)``.
    label_tensor : numpy.ndarray
        Labels of the last :meth:`forward`.
    """

    def __init__(self, weights_initializer, bias_initializer, *, dtype=None):
        self.loss = []
        self.data_layer = None
        self.loss_layer = None
        self.layers = []
        self.weights_initializer = weights_initializer
        self.bias_initializer = bias_initializer
        self.label_tensor = None
        self.dtype = None if dtype is None else float_dtype(dtype, type(self).__name__)

    def append_fixed_layer(self, layer):
        """Append a layer as it is (no initialization)."""
        self._set_dtype(layer)
        self.layers.append(layer)

    def append_trainable_layer(self, layer):
        """Initialize ``layer`` with the network's initializers and append it."""
        # dtype first, so that initialize() creates the parameters in it.
        self._set_dtype(layer)
        layer.initialize(self.weights_initializer, self.bias_initializer)
        self.layers.append(layer)

    def forward(self):
        """Run one batch of the data layer through the network; return the loss."""
        input_tensor, self.label_tensor = self.data_layer.forward()
        activation_tensor = self._forward_input(input_tensor)
        return self.loss_layer.forward(activation_tensor, self.label_tensor)

    def backward(self):
        """Backpropagate the loss of the last :meth:`forward` (layers update themselves)."""
        error_tensor = self.loss_layer.backward(self.label_tensor)
        for layer in reversed(self.layers):
            error_tensor = layer.backward(error_tensor)

    def train(self, iterations):
        """Train for ``iterations`` batches, appending each loss to :attr:`loss`."""
        for layer in self.layers:
            layer.phase = Phase.train
        for _ in range(iterations):
            loss = self.forward()
            self.loss.append(loss)
            self.backward()

    def test(self, input_tensor):
        """Return the loss layer's prediction for ``input_tensor`` in the test phase."""
        for layer in self.layers:
            layer.phase = Phase.test
        activation_tensor = self._forward_input(input_tensor)
        return self.loss_layer.predict(activation_tensor)

    def _forward_input(self, input_tensor):
        activation_tensor = input_tensor
        for layer in self.layers:
            activation_tensor = layer.forward(activation_tensor)
        return activation_tensor

    def _set_dtype(self, layer):
        if self.dtype is not None and hasattr(layer, "dtype"):
            layer.dtype = self.dtype
