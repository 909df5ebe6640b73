"""The fully connected layer."""

import numpy as np

from .. import functional as F
from .._validation import as_float_array, called_before, check_shape, feature_rows, integer
from ..initializers import UniformRandom, check_initializer
from ._trainable import TrainableLayer
from .conv import check_parameter_count


class FullyConnectedLayer(TrainableLayer):
    """Affine map ``y = x W + b`` of a batch of vectors.

    Parameters
    ----------
    input_size : int
        Length n of each input vector.
    output_size : int
        Length m of each output vector.
    learning_rate : float
        Step size of the gradient update applied in ``backward``.
    dtype : float32 or float64, optional
        Parameter dtype; default :func:`fastlayers.get_default_dtype`.

    Notes
    -----
    As in the tutorial, the bias is folded into ``weights`` as its last
    row: ``weights`` has shape (n + 1, m) and ``get_gradient_weights()``
    covers both.  ``bias`` reads that row as a read-only copy of shape
    (m,) and assigning to ``bias`` writes the row.  (A writable view would
    change under code that keeps the old ``bias`` while assigning new ones,
    as the tutorial's gradient check does.)  The
    constructor fills the weights from ``UniformRandom`` because the
    tutorial's tests use the layer without calling :meth:`initialize`.
    """

    # The bias row is part of the weights: one array, one update.
    _parameter_names = ("weights",)

    def __init__(self, input_size, output_size, learning_rate, *, dtype=None):
        super().__init__(learning_rate, dtype)
        self.input_size = integer(input_size, self.name, "input_size", minimum=1)
        self.output_size = integer(output_size, self.name, "output_size", minimum=1)
        check_parameter_count((self.input_size + 1) * self.output_size, self.name)
        self.weights = UniformRandom().initialize((self.input_size + 1, self.output_size))
        self._x = None

    @property
    def bias(self):
        """The bias: a read-only copy of the last row of ``weights``."""
        bias = self._weights[-1].copy()
        bias.flags.writeable = False
        return bias

    @bias.setter
    def bias(self, value):
        value = self._as_param(value, "bias")
        check_shape(value.reshape(-1), (self.output_size,), self.name, "bias (flattened)")
        self._weights[-1] = value.reshape(-1)

    def get_gradient_bias(self):
        """Gradient w.r.t. the bias row from the last ``backward``."""
        grad = self._gradient_weights
        return None if grad is None else grad[-1]

    @property
    def gradient_bias(self):
        return self.get_gradient_bias()

    def initialize(self, weights_initializer, bias_initializer):
        """Draw new weights and bias from the given initializers.

        The weights initializer is asked for shape (output_size, input_size),
        the layout in which :class:`~fastlayers.He` reads the fan-in from the
        second dimension, and the result is transposed into ``weights``.
        """
        check_initializer(weights_initializer, self.name, "weights_initializer")
        check_initializer(bias_initializer, self.name, "bias_initializer")
        n, m = self.input_size, self.output_size
        w = np.asarray(weights_initializer.initialize((m, n)))
        check_shape(w, (m, n), self.name, "initialized weights")
        b = np.asarray(bias_initializer.initialize((1, m)))
        check_shape(b.reshape(-1), (m,), self.name, "initialized bias (flattened)")
        self.weights = np.vstack([w.T, b.reshape(1, m)])

    def forward(self, x):
        """Return ``x @ W + b`` for ``x`` of shape (b, input_size)."""
        x = feature_rows(x, self.input_size, self.name)
        check_shape(self._weights, (self.input_size + 1, self.output_size), self.name, "weights")
        dtype = self._compute_dtype(x)
        w = self._weights if self._weights.dtype == dtype else self._weights.astype(dtype)
        out = F.linear(x, w[:-1], w[-1], caller=self.name)
        # The input is kept as a private copy: the caller may change its own
        # array before backward without changing the gradient.
        self._x = np.array(x, dtype=dtype, order="C", copy=True)
        self._w = w
        return out

    def _backward(self, error, input_gradient):
        called_before(self._x, self.name)
        x, w = self._x, self._w
        error = as_float_array(error, self.name, "error")
        check_shape(error, (x.shape[0], self.output_size), self.name, "error")
        grad = np.empty_like(w)
        dx, _, _ = F.linear_backward(
            error.astype(x.dtype, copy=False),
            x,
            w[:-1],
            input_gradient=input_gradient,
            out=(None, grad[:-1], grad[-1]),
            caller=self.name,
        )
        self._gradient_weights = grad
        self._update()
        return dx
