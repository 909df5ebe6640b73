"""The tutorial's NeuralNetwork, with the tutorial's own backward pass."""

from .. import network


class NeuralNetwork(network.NeuralNetwork):
    """:class:`fastlayers.NeuralNetwork` as the tutorial writes ``backward``.

    Building, ``forward``, ``train`` and ``test`` are those of
    :class:`fastlayers.NeuralNetwork` (the network holds no numeric code).
    ``backward`` calls every layer's ``backward``, the first layer's
    included, so the first layer also computes the error with respect to
    the network's input, which nothing uses: the naive side of the
    benchmarks does the tutorial's work.
    """

    def backward(self):
        """Backpropagate the loss of the last :meth:`forward` (layers update themselves)."""
        error_tensor = self.loss_layer.backward(self.label_tensor)
        for layer in reversed(self.layers):
            error_tensor = layer.backward(error_tensor)
