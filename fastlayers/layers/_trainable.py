"""What every layer with parameters shares: storage, dtype and the update."""

import numpy as np

from .._validation import as_float_array
from ..base import BaseLayer
from ..dtypes import float_dtype, get_default_dtype


class TrainableLayer(BaseLayer):
    """Base of the layers that own ``weights`` and ``bias``.

    Parameters are stored in the layer's ``dtype``: an array assigned in
    another dtype is converted once, when it is assigned.  ``backward``
    calls :meth:`_update`: with ``optimizer`` None (the default) that is
    the tutorial's plain step ``p -= learning_rate * grad``; otherwise
    ``optimizer.update(name, param, grad)`` updates each parameter in place.
    """

    def __init__(self, learning_rate, dtype=None):
        super().__init__()
        self.learning_rate = float(learning_rate)
        self._dtype = float_dtype(get_default_dtype() if dtype is None else dtype, self.name)
        self._weights = None
        self._bias = None
        self._gradient_weights = None
        self._gradient_bias = None
        self.optimizer = None

    def _as_param(self, value, what):
        arr = as_float_array(value, self.name, what)
        return np.array(arr, dtype=self._dtype, order="C", copy=True)

    @property
    def dtype(self):
        """The float dtype the parameters are stored in."""
        return self._dtype

    @dtype.setter
    def dtype(self, value):
        self._dtype = float_dtype(value, self.name)
        if self._weights is not None:
            self._weights = self._weights.astype(self._dtype)
        if self._bias is not None:
            self._bias = self._bias.astype(self._dtype)

    def astype(self, dtype):
        """Convert the parameters to ``dtype`` in place and return the layer."""
        self.dtype = dtype
        return self

    @property
    def weights(self):
        """The weights; assign an array to replace them."""
        return self._weights

    @weights.setter
    def weights(self, value):
        self._weights = self._as_param(value, "weights")

    @property
    def bias(self):
        """The bias; assign an array to replace it."""
        return self._bias

    @bias.setter
    def bias(self, value):
        self._bias = self._as_param(value, "bias")

    def get_gradient_weights(self):
        """Gradient w.r.t. the weights from the last ``backward`` (batch sum)."""
        return self._gradient_weights

    def get_gradient_bias(self):
        """Gradient w.r.t. the bias from the last ``backward`` (batch sum)."""
        return self._gradient_bias

    @property
    def gradient_weights(self):
        """Same as :meth:`get_gradient_weights`."""
        return self._gradient_weights

    @property
    def gradient_bias(self):
        """Same as :meth:`get_gradient_bias`."""
        return self._gradient_bias

    def backward(self, error):
        """Return the error w.r.t. the input and take a gradient step."""
        return self._backward(error, input_gradient=True)

    def backward_parameters(self, error):
        """Like :meth:`backward` but skip the error w.r.t. the input.

        For the first layer of a network, whose input needs no gradient;
        :class:`~fastlayers.NeuralNetwork` calls it there.  Returns None.
        """
        self._backward(error, input_gradient=False)

    def _backward(self, error, input_gradient):
        """Compute the gradients, update, and return the input error or None."""
        raise NotImplementedError

    def _compute_dtype(self, x):
        # NumPy's promotion: float32 only when input and parameters are float32.
        return np.result_type(x.dtype, self._dtype)

    def _parameters(self):
        """(name, parameter, gradient) of every trainable array."""
        return (
            ("weights", self._weights, self._gradient_weights),
            ("bias", self._bias, self._gradient_bias),
        )

    def _update(self):
        if self.optimizer is not None:
            for name, param, grad in self._parameters():
                self.optimizer.update(name, param, grad)
        elif self.learning_rate != 0.0:
            for _, param, grad in self._parameters():
                param -= self.learning_rate * grad
