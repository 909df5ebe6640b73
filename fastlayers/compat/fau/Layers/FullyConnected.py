"""``FullyConnected``: a dense layer whose weights carry the bias as their last row."""

import numpy as np

from .... import functional as F
from ... import _common
from .Base import TrainableLayer, dense_weights, gradient, parameter

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

    name = "FullyConnected"
    weights = parameter("weights")
    gradient_weights = gradient("gradient_weights")

    def __init__(self, input_size, output_size):
        super().__init__()
        self.input_size = _common.positive_int(input_size, "FullyConnected", "input_size")
        self.output_size = _common.positive_int(output_size, "FullyConnected", "output_size")
        self._weights = np.random.uniform(0.0, 1.0, (self.input_size + 1, self.output_size))
        self._gradient_weights = None
        self._input = None

    def initialize(self, weights_initializer, bias_initializer):
        """Draw the weights (fan_in = input_size, fan_out = output_size) and the bias row."""
        self.weights = dense_weights(
            weights_initializer, bias_initializer, self.input_size, self.output_size
        )

    def forward(self, input_tensor):
        """Return ``input_tensor @ weights[:-1] + weights[-1]`` for input (batch, input_size)."""
        x = self._rows(input_tensor, "batch")
        self._check_shape("weights", (self.input_size + 1, self.output_size))
        self._input = x
        return F.linear(x, self._weights[:-1], self._weights[-1], caller="FullyConnected")

    def _backward(self, error_tensor, input_gradient):
        error = self._row_error(error_tensor, self._input)
        dx, dw, db = F.linear_backward(
            error,
            self._input,
            self._weights[:-1],
            input_gradient=input_gradient,
            caller="FullyConnected",
        )
        self._gradient_weights = np.concatenate([dw, db.reshape(1, -1)], axis=0)
        self._step("weights", self._gradient_weights)
        return dx
