"""Fully connected layer, the tutorial's way: bias folded into the weights."""

import numpy as np

from .._validation import as_float_array, called_before, check_ndim, check_shape
from ..base import BaseLayer
from ..dtypes import float_dtype, get_default_dtype
from ..initializers import UniformRandom
from ._params import compute_dtype, initialized, positive_int, sgd_step, to_param


class FullyConnectedLayer(BaseLayer):
    """Dense layer ``y = [x, 1] @ W`` with the bias as the last row of ``W``.

    Parameters
    ----------
    input_size : int
        Number of input features ``n``.
    output_size : int
        Number of output features ``m``.
    learning_rate : float
        Step size of the SGD update applied in :meth:`backward`.
    dtype : {None, numpy.float32, numpy.float64}, optional
        Parameter dtype; ``None`` takes :func:`fastlayers.dtypes.get_default_dtype`.

    Notes
    -----
    ``weights`` has shape ``(n + 1, m)``.  The constructor fills it from
    U[0, 1) because the tutorial's tests use the layer without calling
    :meth:`initialize`.
    """

    def __init__(self, input_size, output_size, learning_rate, *, dtype=None):
        super().__init__()
        self.input_size = positive_int(input_size, self.name, "input_size")
        self.output_size = positive_int(output_size, self.name, "output_size")
        self.learning_rate = learning_rate
        self._dtype = float_dtype(get_default_dtype() if dtype is None else dtype, self.name)
        self._weights = None
        self.weights = UniformRandom().initialize((self.input_size + 1, self.output_size))
        self._x_aug = None
        self._gradient_weights = None

    @property
    def dtype(self):
        """Dtype of the parameters; assigning converts them."""
        return self._dtype

    @dtype.setter
    def dtype(self, value):
        self._dtype = float_dtype(value, self.name)
        self._weights = self._weights.astype(self._dtype)

    def astype(self, dtype):
        """Convert the parameters to ``dtype`` and return the layer."""
        self.dtype = dtype
        return self

    @property
    def weights(self):
        """Weights of shape ``(input_size + 1, output_size)``, bias last."""
        return self._weights

    @weights.setter
    def weights(self, value):
        self._weights = to_param(value, self._dtype, self.name, "weights")

    @property
    def bias(self):
        """Copy of the last row of ``weights``, shape ``(output_size,)``.

        A copy, not a view: the tutorial's gradient check reads ``bias``,
        assigns perturbed values and then reads the original again.
        """
        self._check_weights()
        return self._weights[-1].copy()

    @bias.setter
    def bias(self, value):
        self._check_weights()
        row = to_param(value, self._dtype, self.name, "bias")
        check_shape(row, (self.output_size,), self.name, "bias")
        weights = self._weights.copy()
        weights[-1] = row
        self._weights = weights

    def initialize(self, weights_initializer, bias_initializer):
        """Draw the weights and the bias from the given initializers.

        The weights are requested as ``(output_size, input_size)`` (fan-in
        second, as :class:`~fastlayers.initializers.He` expects) and
        transposed.
        """
        w = initialized(
            weights_initializer, (self.output_size, self.input_size), self.name, "weights"
        )
        b = initialized(bias_initializer, (1, self.output_size), self.name, "bias")
        weights = np.empty((self.input_size + 1, self.output_size), dtype=self._dtype)
        weights[:-1] = w.T
        weights[-1] = b.reshape(self.output_size)
        self._weights = weights

    def forward(self, x):
        """Return ``x @ W[:-1] + W[-1]`` for ``x`` of shape ``(b, input_size)``."""
        x = as_float_array(x, self.name)
        check_ndim(x, 2, self.name, "input", "(batch, input_size)")
        if x.shape[1] != self.input_size:
            raise ValueError(
                f"{self.name}: expected input of shape (batch, {self.input_size}), "
                f"got shape {x.shape}"
            )
        self._check_weights()
        dtype = compute_dtype(x, self._weights)
        # The tutorial's augmented input: a column of ones multiplies the bias row.
        x_aug = np.ones((x.shape[0], self.input_size + 1), dtype=dtype)
        x_aug[:, :-1] = x
        self._x_aug = x_aug
        return x_aug @ self._weights.astype(dtype, copy=False)

    def backward(self, error):
        """Update ``W`` by SGD and return the error w.r.t. the input."""
        called_before(self._x_aug, self.name)
        error = as_float_array(error, self.name, "error")
        check_shape(error, (self._x_aug.shape[0], self.output_size), self.name, "error")
        weights = self._weights
        self._gradient_weights = self._x_aug.T @ error
        # Input error with the weights used in forward, i.e. before the update.
        dx = error @ weights[:-1].T
        self._weights = sgd_step(weights, self._gradient_weights, self.learning_rate, self._dtype)
        return dx

    def get_gradient_weights(self):
        """Gradient w.r.t. ``weights`` from the last backward, summed over the batch."""
        return self._gradient_weights

    def get_gradient_bias(self):
        """Gradient w.r.t. ``bias`` (last row of the weight gradient)."""
        if self._gradient_weights is None:
            return None
        return self._gradient_weights[-1].copy()

    def _check_weights(self):
        check_shape(
            self._weights, (self.input_size + 1, self.output_size), self.name, "weights"
        )

