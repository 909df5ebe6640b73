"""Batch normalization for vectors and for image channels."""

import math

import numpy as np

from .._validation import (
    as_float_array,
    called_before,
    check_empty_axes,
    check_shape,
    integer,
    real,
)
from ..base import Phase
from ._trainable import TrainableLayer


class BatchNorm(TrainableLayer):
    """Normalize each feature (or channel) with batch statistics.

    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with ``gamma``
    stored as ``weights`` (initially ones) and ``beta`` as ``bias``
    (initially zeros).

    Parameters
    ----------
    learning_rate : float
        Step size of the gradient update applied in ``backward``.
    channels : int, default 0
        0 normalizes each feature of a (b, n) input.  A channel count C
        normalizes each channel of a (b, C, h, w) input over batch and
        space; a 2-D input (b, C * h * w) is read as (b, C, h * w), as the
        tutorial's test does.
    epsilon : float, default 1e-10
        Added to the variance.  The tutorial's test needs it at most 1e-6.
    momentum : float, default 0.9
        Weight of the old value in the running mean and variance.  The first
        training batch sets them directly, so after one batch the test
        phase uses exactly that batch's statistics.  They are stored in the
        layer's ``dtype`` and saved with the parameters (``buffer_names``).
    dtype : float32 or float64, optional
        Explicit parameter dtype; default: a float32 default if one was set,
        otherwise the dtype of the arrays assigned (:mod:`fastlayers.parameters`).

    Notes
    -----
    An empty batch gives an empty output, zero parameter gradients and no
    change of the running statistics; any other axis of length 0 is an
    error.
    """

    buffer_names = ("running_mean", "running_var")

    def __init__(self, learning_rate, channels=0, *, epsilon=1e-10, momentum=0.9, dtype=None):
        super().__init__(learning_rate, dtype)
        self.channels = integer(channels, self.name, "channels", minimum=0)
        self.epsilon = real(epsilon, self.name, "epsilon", low=0.0, low_open=True)
        self.momentum = real(momentum, self.name, "momentum", low=0.0, high=1.0, high_open=True)
        self.running_mean = None
        self.running_var = None
        self._cache = None
        if self.channels:
            self._create(self.channels)

    def _create(self, size):
        self.weights = np.ones(size, self.dtype)
        self.bias = np.zeros(size, self.dtype)

    def initialize(self, weights_initializer, bias_initializer):
        """Reset gamma to ones and beta to zeros; initializers are not used.

        Batch normalization starts as the identity by design.
        """
        if self._weights is not None:
            self._create(self._weights.shape[0])

    def _as_3d(self, x):
        # A (batch, features, positions) view: statistics run over axes 0 and 2.
        if not self.channels:
            if x.ndim != 2:
                raise ValueError(
                    f"{self.name}: expected input (batch, features) with 2 dimensions "
                    f"(channels=0), got shape {x.shape}"
                )
            return x.reshape(x.shape[0], x.shape[1], 1)
        c = self.channels
        # Positions spelled out: reshape cannot infer -1 next to an empty batch.
        if x.ndim == 4 and x.shape[1] == c:
            return x.reshape(x.shape[0], c, math.prod(x.shape[2:]))
        if x.ndim == 2 and x.shape[1] % c == 0:
            return x.reshape(x.shape[0], c, x.shape[1] // c)
        raise ValueError(
            f"{self.name}: expected input (batch, {c}, rows, columns) or (batch, {c} * k), "
            f"got shape {x.shape}"
        )

    def forward(self, x):
        x = as_float_array(x, self.name)
        x3 = self._as_3d(x)
        check_empty_axes(x, self.name)
        if self._weights is None:
            self._create(x3.shape[1])
        elif self._weights.ndim == 1 and self._weights.shape[0] != x3.shape[1]:
            # Either the input changed size since the parameters were made,
            # or parameters of another size were assigned: name both.
            raise ValueError(
                f"{self.name}: expected weights of shape ({x3.shape[1]},) for input of shape "
                f"{x.shape} ({x3.shape[1]} features or channels), got weights of shape "
                f"{self._weights.shape}"
            )
        check_shape(self._weights, (x3.shape[1],), self.name, "weights")
        check_shape(self._bias, (x3.shape[1],), self.name, "bias")
        dtype = self._compute_dtype(x)
        x3 = x3.astype(dtype, copy=False)
        gamma = self._weights.astype(dtype)[None, :, None]
        beta = self._bias.astype(dtype)[None, :, None]
        if x3.shape[0] == 0:
            # No samples, no statistics: an empty output, running statistics unchanged.
            self._cache = (x3, np.ones((1, x3.shape[1], 1), dtype), gamma, False, x.shape)
            return np.empty(x.shape, dtype)
        if self.phase == Phase.test:
            mean = (
                0.0 if self.running_mean is None else self.running_mean.astype(dtype)[None, :, None]
            )
            var = 1.0 if self.running_var is None else self.running_var.astype(dtype)[None, :, None]
            batch_stats = False
        else:
            mean = x3.mean(axis=(0, 2), keepdims=True)
            var = x3.var(axis=(0, 2), keepdims=True)
            self._track(mean.reshape(-1), var.reshape(-1))
            batch_stats = True
        inv_std = (1.0 / np.sqrt(var + self.epsilon)).astype(dtype)
        xhat = (x3 - mean) * inv_std
        self._cache = (xhat, inv_std, gamma, batch_stats, x.shape)
        return (gamma * xhat + beta).reshape(x.shape)

    def _track(self, mean, var):
        # Stored in the layer's dtype, as the parameters are.
        dtype = self.dtype
        if self.running_mean is None:
            self.running_mean, self.running_var = mean.astype(dtype), var.astype(dtype)
        else:
            m = self.momentum
            self.running_mean = (m * self.running_mean + (1 - m) * mean).astype(dtype)
            self.running_var = (m * self.running_var + (1 - m) * var).astype(dtype)

    def _backward(self, error, input_gradient):
        called_before(self._cache, self.name)
        xhat, inv_std, gamma, batch_stats, shape = self._cache
        error = as_float_array(error, self.name, "error").astype(xhat.dtype, copy=False)
        check_shape(error, shape, self.name, "error")
        e3 = error.reshape(xhat.shape)
        self._gradient_weights = np.sum(e3 * xhat, axis=(0, 2))
        self._gradient_bias = np.sum(e3, axis=(0, 2))
        dxhat = e3 * gamma
        if not input_gradient:
            dx = None
        elif batch_stats:
            # The mean and variance depend on every sample of the batch.
            n = xhat.shape[0] * xhat.shape[2]
            dx = (inv_std / n) * (
                n * dxhat
                - dxhat.sum(axis=(0, 2), keepdims=True)
                - xhat * (dxhat * xhat).sum(axis=(0, 2), keepdims=True)
            )
        else:
            dx = dxhat * inv_std
        self._update()
        return None if dx is None else dx.reshape(shape)
