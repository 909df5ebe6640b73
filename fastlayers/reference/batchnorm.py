"""Batch normalization for feature vectors and for convolutional maps."""

import numpy as np

from .._validation import (
    as_float_array,
    called_before,
    check_empty_axes,
    check_ndim,
    check_shape,
    integer,
    real,
)
from ..base import Phase
from ..parameters import TrainableLayer
from ._params import compute_dtype, with_doc


class BatchNorm(TrainableLayer):
    """Normalize by batch statistics, then scale by ``gamma`` and shift by ``beta``.

    Parameters
    ----------
    learning_rate : float
        Step size of the SGD update of ``gamma`` and ``beta`` in :meth:`backward`.
    channels : int, optional
        0 (default): input ``(b, n)``, statistics per feature over the batch.
        ``C > 0``: input ``(b, C, h, w)`` or ``(b, C*h*w)``, statistics per
        channel over the batch and the spatial positions.
    epsilon : float, optional
        Added to the variance before the square root; finite and above 0.
    momentum : float, optional
        Weight of the old running statistics in the moving average, in [0, 1).
    dtype : {None, numpy.float32, numpy.float64}, optional
        Explicit parameter dtype; ``None``: a float32 default if one was set,
        otherwise the dtype of the arrays assigned (:mod:`fastlayers.parameters`).

    Notes
    -----
    ``weights`` is ``gamma`` (ones) and ``bias`` is ``beta`` (zeros), shape
    ``(C,)`` from the constructor, or ``(n,)`` created on the first forward.  The
    first training batch sets ``running_mean`` / ``running_var``; later ones
    update them as ``momentum * running + (1 - momentum) * batch``.  In
    ``Phase.test`` the running statistics are used (mean 0, variance 1 if
    no training batch was seen).  An empty batch gives an empty output and
    zero gradients and leaves the running statistics as they are.
    """

    buffer_names = ("running_mean", "running_var")

    def __init__(self, learning_rate, channels=0, *, epsilon=1e-10, momentum=0.9, dtype=None):
        # Checked before super().__init__ checks dtype, so their errors come first.
        channels = integer(channels, self.name, "channels", minimum=0)
        epsilon = real(epsilon, self.name, "epsilon", low=0.0, low_open=True)
        momentum = real(momentum, self.name, "momentum", low=0.0, high=1.0, high_open=True)
        super().__init__(learning_rate, dtype)
        self.channels = channels
        self.epsilon = epsilon
        self.momentum = momentum
        self.running_mean = None
        self.running_var = None
        self._cache = None
        if self.channels > 0:
            self._create_params(self.channels)

    dtype = with_doc(
        TrainableLayer.dtype,
        "Dtype of the parameters and running statistics; assigning converts them.",
    )
    weights = with_doc(TrainableLayer.weights, "``gamma``, one scale per feature or channel.")
    bias = with_doc(TrainableLayer.bias, "``beta``, one shift per feature or channel.")

    def initialize(self, weights_initializer=None, bias_initializer=None):
        """Reset ``gamma`` to ones and ``beta`` to zeros if their size is known.

        The initializers are accepted for a uniform interface but not used:
        batch normalization starts as the identity transform.
        """
        if self._weights is not None:
            size = self._weights.shape[0]
            self._weights = self._bias = None
            self._create_params(size)

    def forward(self, x):
        """Return the normalized, scaled and shifted ``x`` (same shape)."""
        x = as_float_array(x, self.name)
        x3 = self._as_3d(x)
        check_empty_axes(x, self.name)
        size = x3.shape[1]
        self._create_params(size)
        check_shape(self._weights, (size,), self.name, "weights")
        check_shape(self._bias, (size,), self.name, "bias")
        dtype = compute_dtype(x, self._weights, self._bias)
        x3 = x3.astype(dtype, copy=False)
        # Copies: the update at the end of backward changes the parameters in place.
        gamma = self._weights.astype(dtype)[None, :, None]
        beta = self._bias.astype(dtype)[None, :, None]

        if x3.shape[0] == 0:
            # An empty batch has no statistics: nothing to normalize, and
            # the running statistics stay as they are.
            self._cache = (x.shape, x3, np.ones((1, size, 1), dtype=dtype), gamma, False)
            return np.empty(x.shape, dtype=dtype)
        if self.phase == Phase.test:
            if self.running_mean is None:
                mean = np.zeros(size, dtype=dtype)
                var = np.ones(size, dtype=dtype)
            else:
                mean, var = self.running_mean, self.running_var
            train = False
        else:
            mean = x3.mean(axis=(0, 2))
            # Biased variance (ddof=0), the statistic the normalization uses.
            var = x3.var(axis=(0, 2))
            self._update_running(mean, var)
            train = True
        mean = np.asarray(mean, dtype=dtype)[None, :, None]
        inv_std = 1 / np.sqrt(np.asarray(var, dtype=dtype)[None, :, None] + self.epsilon)
        xhat = (x3 - mean) * inv_std
        self._cache = (x.shape, xhat, inv_std, gamma, train)
        return (gamma * xhat + beta).reshape(x.shape)

    def _backward(self, error, input_gradient):
        """Update ``gamma`` and ``beta``; return the error w.r.t. the input (None if not wanted)."""
        called_before(self._cache, self.name)
        shape, xhat, inv_std, gamma, train = self._cache
        error = as_float_array(error, self.name, "error")
        check_shape(error, shape, self.name, "error")
        e3 = error.reshape(xhat.shape)

        gradient_weights = np.sum(e3 * xhat, axis=(0, 2))
        gradient_bias = np.sum(e3, axis=(0, 2))
        dxhat = e3 * gamma
        if train:
            # Through the batch mean and variance: with N values per channel,
            # dx = inv_std / N * (N dxhat - sum(dxhat) - xhat sum(dxhat xhat)).
            count = xhat.shape[0] * xhat.shape[2]
            dx = (inv_std / count) * (
                count * dxhat
                - np.sum(dxhat, axis=(0, 2), keepdims=True)
                - xhat * np.sum(dxhat * xhat, axis=(0, 2), keepdims=True)
            )
        else:
            # Running statistics are constants here.
            dx = dxhat * inv_std

        self._gradient_weights = gradient_weights
        self._gradient_bias = gradient_bias
        self._update()
        return dx.reshape(shape) if input_gradient else None

    def get_gradient_weights(self):
        """Gradient w.r.t. ``gamma`` from the last backward, summed over the batch."""
        return super().get_gradient_weights()

    def get_gradient_bias(self):
        """Gradient w.r.t. ``beta`` from the last backward, summed over the batch."""
        return super().get_gradient_bias()

    def _as_3d(self, x):
        """View ``x`` as (batch, features or channels, positions)."""
        if self.channels == 0:
            check_ndim(x, 2, self.name, "input", "(batch, features)")
            return x.reshape(x.shape[0], x.shape[1], 1)
        c = self.channels
        if x.ndim == 2:
            if x.shape[1] % c:
                raise ValueError(
                    f"{self.name}: expected input (batch, {c} * height * width) with a feature "
                    f"count divisible by {c} channels, got shape {x.shape}"
                )
        elif x.ndim != 4 or x.shape[1] != c:
            raise ValueError(
                f"{self.name}: expected input (batch, {c}, height, width) or "
                f"(batch, {c} * height * width), got shape {x.shape}"
            )
        # Positions spelled out: reshape cannot infer -1 next to an empty batch.
        return x.reshape(x.shape[0], c, int(np.prod(x.shape[1:], dtype=np.int64)) // c)

    def _create_params(self, size):
        if self._weights is None:
            self.weights = np.ones(size, dtype=self.dtype)
        if self._bias is None:
            self.bias = np.zeros(size, dtype=self.dtype)

    def _update_running(self, mean, var):
        # Stored in the layer's dtype, the dtype of the parameters.
        if self.running_mean is None:
            self.running_mean = mean.astype(self.dtype)
            self.running_var = var.astype(self.dtype)
        else:
            m = self.momentum
            self.running_mean = (m * self.running_mean + (1 - m) * mean).astype(self.dtype)
            self.running_var = (m * self.running_var + (1 - m) * var).astype(self.dtype)
