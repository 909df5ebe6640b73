"""Batch normalization for feature vectors and for convolutional maps."""

import numpy as np

from .._validation import as_float_array, called_before, check_ndim, check_shape
from ..base import Phase
from ._params import TrainableReference, compute_dtype, with_doc


class BatchNorm(TrainableReference):
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
        Added to the variance before the square root.
    momentum : float, optional
        Weight of the old running statistics in the moving average.
    dtype : {None, numpy.float32, numpy.float64}, optional
        Parameter dtype; ``None`` takes :func:`fastlayers.dtypes.get_default_dtype`.

    Notes
    -----
    ``weights`` is ``gamma`` (ones) and ``bias`` is ``beta`` (zeros), shape
    ``(n,)`` or ``(C,)``, created on the first forward if not yet set.  The
    first training batch sets ``running_mean`` / ``running_var``; later ones
    update them as ``momentum * running + (1 - momentum) * batch``.  In
    ``Phase.test`` the running statistics are used (mean 0, variance 1 if
    no training batch was seen).
    """

    _dtype_attrs = TrainableReference._dtype_attrs + ("running_mean", "running_var")

    def __init__(self, learning_rate, channels=0, *, epsilon=1e-10, momentum=0.9, dtype=None):
        # Checked before super().__init__ checks dtype, so their errors come first.
        if isinstance(channels, (bool, np.bool_)) or not isinstance(channels, (int, np.integer)):
            raise TypeError(f"{self.name}: expected channels as an int >= 0, got {channels!r}")
        if channels < 0:
            raise ValueError(f"{self.name}: expected channels >= 0, got {channels!r}")
        if not epsilon >= 0:
            raise ValueError(f"{self.name}: expected epsilon >= 0, got {epsilon!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{self.name}: expected momentum in [0, 1], got {momentum!r}")
        super().__init__(learning_rate, dtype)
        self.channels = int(channels)
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self.running_mean = None
        self.running_var = None
        self._cache = None

    dtype = with_doc(
        TrainableReference.dtype,
        "Dtype of the parameters and running statistics; assigning converts them.",
    )
    weights = with_doc(TrainableReference.weights, "``gamma``, one scale per feature or channel.")
    bias = with_doc(TrainableReference.bias, "``beta``, one shift per feature or channel.")

    def initialize(self, weights_initializer=None, bias_initializer=None):
        """Create ``gamma = 1`` and ``beta = 0`` if their size is known.

        The initializers are accepted for a uniform interface but not used:
        batch normalization starts as the identity transform.
        """
        if self.channels > 0:
            self._create_params(self.channels)

    def forward(self, x):
        """Return the normalized, scaled and shifted ``x`` (same shape)."""
        x = as_float_array(x, self.name)
        x3 = self._as_3d(x)
        size = x3.shape[1]
        self._create_params(size)
        check_shape(self._weights, (size,), self.name, "weights")
        check_shape(self._bias, (size,), self.name, "bias")
        dtype = compute_dtype(x, self._weights, self._bias)
        x3 = x3.astype(dtype, copy=False)
        gamma = self._weights.astype(dtype, copy=False)[None, :, None]
        beta = self._bias.astype(dtype, copy=False)[None, :, None]

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

    def backward(self, error):
        """Update ``gamma`` and ``beta`` by SGD; return the error w.r.t. the input."""
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
        self._sgd_step()
        return dx.reshape(shape)

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
        elif x.ndim < 2 or x.shape[1] != c:
            raise ValueError(
                f"{self.name}: expected input (batch, {c}, height, width) or "
                f"(batch, {c} * height * width), got shape {x.shape}"
            )
        return x.reshape(x.shape[0], c, -1)

    def _create_params(self, size):
        if self._weights is None:
            self._weights = np.ones(size, dtype=self._dtype)
        if self._bias is None:
            self._bias = np.zeros(size, dtype=self._dtype)

    def _update_running(self, mean, var):
        if self.running_mean is None:
            self.running_mean = mean.astype(self._dtype)
            self.running_var = var.astype(self._dtype)
        else:
            m = self.momentum
            self.running_mean = (m * self.running_mean + (1 - m) * mean).astype(self._dtype)
            self.running_var = (m * self.running_var + (1 - m) * var).astype(self._dtype)
