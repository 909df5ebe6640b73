"""``FullyConnected``: a dense layer whose weights carry the bias as their last row."""

import numpy as np

from .... import functional as F
from ... import _common
from .Base import TrainableLayer

__all__ = ["FullyConnected"]


class FullyConnected(TrainableLayer):
    """Dense layer ``y = [x, 1] @ weights``.

    Parameters
    ----------
    input_size, output_size : int

    Attributes
    ----------
    weights : ndarray, shape (input_size + 1, output_size)
        Weights with the bias as the last row; uniform on [0, 1) at
        construction.  Assignable (any shape and integer arrays are accepted
        and checked when ``forward`` runs).
    gradient_weights : ndarray, same shape
        Gradient of the last ``backward``.
    optimizer : object with ``calculate_update``, or None
    """

    def __init__(self, input_size, output_size):
        super().__init__()
        self.input_size = _common.positive_int(input_size, "FullyConnected", "input_size")
        self.output_size = _common.positive_int(output_size, "FullyConnected", "output_size")
        self._weights = np.random.uniform(0.0, 1.0, (self.input_size + 1, self.output_size))
        self._gradient_weights = None
        self._input = None

    @property
    def weights(self):
        return self._weights

    @weights.setter
    def weights(self, value):
        self._weights = _common.as_float(value, "FullyConnected", "weights")

    @property
    def gradient_weights(self):
        return self._gradient_weights

    @gradient_weights.setter
    def gradient_weights(self, value):
        self._gradient_weights = value

    def initialize(self, weights_initializer, bias_initializer):
        """Draw the weights (fan_in = input_size, fan_out = output_size) and the bias row."""
        n, m = self.input_size, self.output_size
        weights = np.asarray(weights_initializer.initialize((n, m), n, m), dtype=np.float64)
        bias = np.asarray(bias_initializer.initialize((1, m), 1, m), dtype=np.float64)
        self.weights = np.concatenate([weights.reshape(n, m), bias.reshape(1, m)], axis=0)

    def _check_weights(self):
        expected = (self.input_size + 1, self.output_size)
        if self._weights.shape != expected:
            raise ValueError(
                f"FullyConnected: expected weights of shape {expected}, "
                f"got shape {self._weights.shape}"
            )

    def forward(self, input_tensor):
        """Return ``input_tensor @ weights[:-1] + weights[-1]`` for input (batch, input_size)."""
        x = _common.as_float(input_tensor, "FullyConnected")
        _common.check_ndim(x, 2, "FullyConnected", "input", f"(batch, {self.input_size})")
        if x.shape[1] != self.input_size:
            raise ValueError(
                f"FullyConnected: expected input of shape (batch, {self.input_size}), "
                f"got shape {x.shape}"
            )
        self._check_weights()
        self._input = x
        return F.linear(x, self._weights[:-1], self._weights[-1], caller="FullyConnected")

    def backward(self, error_tensor):
        """Return the error w.r.t. the input; set ``gradient_weights``; update if optimized."""
        return self._backward(error_tensor, True)

    def _backward_parameters(self, error_tensor):
        # What NeuralNetwork.backward calls on its first layer: no input gradient.
        # A subclass with its own backward must have it run as it is.
        if type(self).backward is not FullyConnected.backward:
            self.backward(error_tensor)
        else:
            self._backward(error_tensor, False)

    def _backward(self, error_tensor, input_gradient):
        if self._input is None:
            raise RuntimeError("FullyConnected: backward called before forward")
        error = _common.as_float(error_tensor, "FullyConnected", "error_tensor")
        expected = (self._input.shape[0], self.output_size)
        if error.shape != expected:
            raise ValueError(
                f"FullyConnected: expected error_tensor of shape {expected}, "
                f"got shape {error.shape}"
            )
        dx, dw, db = F.linear_backward(
            error,
            self._input,
            self._weights[:-1],
            input_gradient=input_gradient,
            caller="FullyConnected",
        )
        self._gradient_weights = np.concatenate([dw, db.reshape(1, -1)], axis=0)
        self._weights = self._updated("weights", self._weights, self._gradient_weights)
        return dx
