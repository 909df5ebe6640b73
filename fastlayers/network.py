"""The tutorial's ``NeuralNetwork``: a list of layers, a data layer and a loss."""

from ._validation import describe, integer
from .base import Phase
from .dtypes import float_dtype
from .initializers import check_initializer

_OWNER = "NeuralNetwork"


def _check_layer(layer, role):
    """Raise ``TypeError`` unless ``layer`` is a layer instance with forward and backward."""
    if isinstance(layer, type) or not all(
        callable(getattr(layer, method, None)) for method in ("forward", "backward")
    ):
        hint = f" (did you mean {layer.__name__}()?)" if isinstance(layer, type) else ""
        raise TypeError(
            f"{_OWNER}: expected {role} as a layer instance with forward() and backward(), "
            f"got {describe(layer)}{hint}"
        )


class NeuralNetwork:
    """Stack of layers trained by calling ``forward`` and ``backward`` in turn.

    Parameters
    ----------
    weights_initializer, bias_initializer : Initializer or None
        Applied by :meth:`append_trainable_layer`: instances such as
        ``He()`` (or classes whose ``initialize`` is a static method).
        None suits a network of fixed layers only.
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

    Raises
    ------
    TypeError
        If an initializer is not one (an int, a string, ``He`` instead of
        ``He()``), or ``dtype`` is not float32 or float64.
    """

    def __init__(self, weights_initializer, bias_initializer, *, dtype=None):
        self.loss = []
        self.data_layer = None
        self.loss_layer = None
        self.layers = []
        # None is accepted here (a network of fixed layers needs no
        # initializer); append_trainable_layer insists on real ones.
        for name, value in (
            ("weights_initializer", weights_initializer),
            ("bias_initializer", bias_initializer),
        ):
            if value is not None:
                check_initializer(value, _OWNER, name)
        self.weights_initializer = weights_initializer
        self.bias_initializer = bias_initializer
        self.label_tensor = None
        self.dtype = None if dtype is None else float_dtype(dtype, "NeuralNetwork")

    def _adopt(self, layer):
        if self.dtype is not None and hasattr(layer, "astype"):
            layer.astype(self.dtype)
        self.layers.append(layer)

    def append_fixed_layer(self, layer):
        """Add a layer without trainable parameters.

        Raises
        ------
        TypeError
            If ``layer`` is not a layer instance (None, a class, ...).
        """
        _check_layer(layer, "a fixed layer")
        self._adopt(layer)

    def append_trainable_layer(self, layer):
        """Initialize ``layer`` with the network's initializers and add it.

        Raises
        ------
        TypeError
            If ``layer`` has no ``initialize(weights_initializer,
            bias_initializer)`` (e.g. :class:`~fastlayers.ReLU`: append it
            with :meth:`append_fixed_layer`), or the network's initializers
            are missing.
        """
        _check_layer(layer, "a trainable layer")
        if not callable(getattr(layer, "initialize", None)):
            raise TypeError(
                f"{_OWNER}: expected a trainable layer with initialize(weights_initializer, "
                f"bias_initializer), got {describe(layer)}; append layers without parameters "
                f"with append_fixed_layer"
            )
        check_initializer(self.weights_initializer, _OWNER, "weights_initializer")
        check_initializer(self.bias_initializer, _OWNER, "bias_initializer")
        layer.initialize(self.weights_initializer, self.bias_initializer)
        self._adopt(layer)

    def _require(self, attribute, what):
        value = getattr(self, attribute)
        if value is None:
            raise RuntimeError(f"{_OWNER}: {attribute} is None; assign {what} first")
        if not callable(getattr(value, "forward", None)):
            raise TypeError(f"{_OWNER}: expected {attribute} as {what}, got {describe(value)}")
        return value

    def _loss_layer(self):
        return self._require("loss_layer", "a loss layer such as SoftMaxCrossEntropyLoss()")

    def forward(self):
        """Fetch a batch from the data layer and return its loss.

        Raises
        ------
        RuntimeError
            If ``data_layer`` or ``loss_layer`` is not set.
        ValueError
            If the data layer's ``forward()`` does not return two values.
        """
        data_layer = self._require(
            "data_layer", "a data layer whose forward() returns (input, labels)"
        )
        loss_layer = self._loss_layer()
        batch = data_layer.forward()
        if isinstance(batch, (str, bytes)) or not hasattr(batch, "__len__") or len(batch) != 2:
            count = f" of {len(batch)} values" if hasattr(batch, "__len__") else ""
            raise ValueError(
                f"{_OWNER}: expected data_layer.forward() to return (input, labels), "
                f"got {type(batch).__name__}{count}"
            )
        input_tensor, self.label_tensor = batch
        activation = self._forward_input(input_tensor)
        return loss_layer.forward(activation, self.label_tensor)

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
        if self.label_tensor is None:
            raise RuntimeError(f"{_OWNER}: backward() called before forward()")
        error = self._loss_layer().backward(self.label_tensor)
        for layer in reversed(self.layers[1:]):
            error = layer.backward(error)
        if self.layers:
            first = self.layers[0]
            getattr(first, "backward_parameters", first.backward)(error)

    def train(self, iterations):
        """Run ``iterations`` training steps, appending each loss to ``loss``.

        Raises
        ------
        TypeError
            If ``iterations`` is not an int.
        ValueError
            If ``iterations`` is negative or above ``2**31 - 1``.
        """
        iterations = integer(iterations, f"{_OWNER}.train", "iterations", minimum=0)
        for layer in self.layers:
            layer.phase = Phase.train
        for _ in range(iterations):
            loss = self.forward()
            self.loss.append(loss)
            self.backward()

    def test(self, input_tensor):
        """Return the loss layer's prediction for ``input_tensor`` (test phase)."""
        loss_layer = self._loss_layer()
        if not callable(getattr(loss_layer, "predict", None)):
            raise TypeError(
                f"{_OWNER}: expected loss_layer with a predict() method, got {describe(loss_layer)}"
            )
        for layer in self.layers:
            layer.phase = Phase.test
        return loss_layer.predict(self._forward_input(input_tensor))
