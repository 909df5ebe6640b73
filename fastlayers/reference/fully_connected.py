"""Fully connected layer, the tutorial's way: bias folded into the weights."""

import numpy as np

from .._validation import as_float_array, called_before, check_shape, feature_rows
from ..initializers import UniformRandom
from ..parameters import TrainableLayer
from ._params import compute_dtype, initialized, positive_int, with_doc


class FullyConnectedLayer(TrainableLayer):
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
        Explicit parameter dtype; ``None``: a float32 default if one was set,
        otherwise the dtype of the arrays assigned (:mod:`fastlayers.parameters`).

    Notes
    -----
    ``weights`` has shape ``(n + 1, m)``; its last row is the bias, so the
    weights are the only trainable array.  The constructor fills it from
    U[0, 1) because the tutorial's tests use the layer without calling
    :meth:`initialize`.
    """

    def __init__(self, input_size, output_size, learning_rate, *, dtype=None):
        # Checked before super().__init__ checks dtype, so their errors come first.
        input_size = positive_int(input_size, self.name, "input_size")
        output_size = positive_int(output_size, self.name, "output_size")
        super().__init__(learning_rate, dtype)
        self.input_size = input_size
        self.output_size = output_size
        self.weights = UniformRandom().initialize((self.input_size + 1, self.output_size))
        self._x_aug = None

    # The bias row is part of the weights: one array, one update.
    _parameter_names = ("weights",)

    weights = with_doc(
        TrainableLayer.weights,
        "Weights of shape ``(input_size + 1, output_size)``, bias last.",
    )

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
        row = self._as_param(value, "bias")
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
        weights = np.empty((self.input_size + 1, self.output_size), dtype=np.result_type(w, b))
        weights[:-1] = w.T
        weights[-1] = b.reshape(self.output_size)
        self.weights = weights

    def forward(self, x):
        """Return ``x @ W[:-1] + W[-1]`` for ``x`` of shape ``(b, input_size)``."""
        x = feature_rows(x, self.input_size, self.name)
        self._check_weights()
        dtype = compute_dtype(x, self._weights)
        # The tutorial's augmented input: a column of ones multiplies the bias row.
        x_aug = np.ones((x.shape[0], self.input_size + 1), dtype=dtype)
        x_aug[:, :-1] = x
        self._x_aug = x_aug
        return x_aug @ self._weights.astype(dtype, copy=False)

    def _backward(self, error, input_gradient):
        """Update ``W`` and return the error w.r.t. the input (None if not wanted)."""
        called_before(self._x_aug, self.name)
        # Weights replaced by an array of another shape since forward.
        self._check_weights()
        error = as_float_array(error, self.name, "error")
        check_shape(error, (self._x_aug.shape[0], self.output_size), self.name, "error")
        self._gradient_weights = self._x_aug.T @ error
        # Input error with the weights used in forward, i.e. before the update.
        dx = error @ self._weights[:-1].T if input_gradient else None
        # The bias row is part of the weights, so this steps it too.
        self._update()
        return dx

    def get_gradient_bias(self):
        """Gradient w.r.t. ``bias`` (last row of the weight gradient)."""
        if self._gradient_weights is None:
            return None
        return self._gradient_weights[-1].copy()

    def _check_weights(self):
        check_shape(self._weights, (self.input_size + 1, self.output_size), self.name, "weights")
