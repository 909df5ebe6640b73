"""``Conv``: 1-D and 2-D convolution with "same" zero padding and a stride."""

import numpy as np

from .... import functional as F
from ... import _common
from .Base import TrainableLayer, gradient, parameter

__all__ = ["Conv"]


class Conv(TrainableLayer):
    """Cross-correlation over all input channels, zero "same" padding, then stride subsampling.

    Parameters
    ----------
    stride_shape : int, tuple or list
        One int per spatial axis (``[2]`` in 1-D, ``(sy, sx)`` in 2-D); a
        single int applies to every axis.
    convolution_shape : (c, m) or (c, m, n)
        Input channels and kernel size: two entries mean a 1-D layer on
        (batch, c, y) inputs, three a 2-D one on (batch, c, y, x) inputs.
    num_kernels : int
        Output channels.

    Attributes
    ----------
    weights : ndarray, shape (num_kernels, c, m[, n])
    bias : ndarray, shape (num_kernels,)
        Both uniform on [0, 1) at construction and assignable (a wrong shape
        or an integer array is accepted and checked when ``forward`` runs).
    gradient_weights, gradient_bias : ndarray
        Gradients of the last ``backward`` (sums over the batch).
    optimizer : object with ``calculate_update``, or None
        Weights and bias are each updated by their own copy of it.

    Notes
    -----
    The output has ``ceil(y / sy)`` (and ``ceil(x / sx)``) positions: the
    "same" result sampled at every stride-th position, as in the exercise.
    Padding is ``m // 2`` before and ``(m - 1) // 2`` after, as
    ``scipy.signal.correlate(..., mode="same")`` centres an odd kernel.
    """

    name = "Conv"
    weights = parameter("weights")
    bias = parameter("bias")
    gradient_weights = gradient("gradient_weights")
    gradient_bias = gradient("gradient_bias")

    def __init__(self, stride_shape, convolution_shape, num_kernels):
        super().__init__()
        try:
            shape = tuple(convolution_shape)
        except TypeError:
            shape = ()
        if len(shape) not in (2, 3):
            raise TypeError(
                f"Conv: expected convolution_shape as (c, m) or (c, m, n), "
                f"got {convolution_shape!r}"
            )
        self.convolution_shape = _common.int_tuple(shape, len(shape), "Conv", "convolution_shape")
        self.num_kernels = _common.positive_int(num_kernels, "Conv", "num_kernels")
        self.stride_shape = _common.int_tuple(stride_shape, len(shape) - 1, "Conv", "stride_shape")
        self._weights = np.random.uniform(0.0, 1.0, (self.num_kernels, *self.convolution_shape))
        self._bias = np.random.uniform(0.0, 1.0, self.num_kernels)
        self._gradient_weights = None
        self._gradient_bias = None
        self._saved = None
        self._out_shape = None

    def initialize(self, weights_initializer, bias_initializer):
        """Draw weights and bias; fan_in = c * m * n, fan_out = num_kernels * m * n."""
        c = self.convolution_shape[0]
        area = int(np.prod(self.convolution_shape[1:]))
        fan_in, fan_out = c * area, self.num_kernels * area
        self.weights = weights_initializer.initialize(
            (self.num_kernels, *self.convolution_shape), fan_in, fan_out
        )
        self.bias = bias_initializer.initialize((self.num_kernels,), fan_in, fan_out)

    def _check(self, x):
        spatial = len(self.convolution_shape) - 1
        layout = "(batch, channels, y)" if spatial == 1 else "(batch, channels, y, x)"
        _common.check_ndim(x, spatial + 2, "Conv", "input", layout)
        if x.shape[1] != self.convolution_shape[0]:
            raise ValueError(
                f"Conv: expected input with {self.convolution_shape[0]} channels, "
                f"got shape {x.shape}"
            )
        self._check_shape("weights", (self.num_kernels, *self.convolution_shape))
        bias = self._bias.reshape(-1) if self._bias.size == self.num_kernels else self._bias
        if bias.shape != (self.num_kernels,):
            raise ValueError(
                f"Conv: expected bias of shape ({self.num_kernels},), got shape {self._bias.shape}"
            )
        return bias

    def forward(self, input_tensor):
        """Convolve (batch, c, y[, x]) into (batch, num_kernels, ceil(y/sy)[, ceil(x/sx)])."""
        x = _common.as_float(input_tensor, "Conv")
        bias = self._check(x)
        if len(self.convolution_shape) == 2:
            convolve, stride = F.conv1d, self.stride_shape[0]
        else:
            convolve, stride = F.conv2d, self.stride_shape
        y, self._saved = convolve(
            x, self._weights, bias, stride=stride, padding="same", return_saved=True, caller="Conv"
        )
        self._out_shape = y.shape
        return y

    def _backward(self, error_tensor, input_gradient):
        error = _common.checked_error(error_tensor, self._saved, "Conv", self._out_shape)
        convolve_backward = (
            F.conv1d_backward if len(self.convolution_shape) == 2 else F.conv2d_backward
        )
        dx, dw, db = convolve_backward(
            error, self._saved, input_gradient=input_gradient, caller="Conv"
        )
        self._gradient_weights = dw
        self._gradient_bias = db
        self._step("weights", dw)
        self._step("bias", db, self._bias.reshape(db.shape))
        return dx

    def calculate_regularization_loss(self):
        """The regularizer's norm of the weights (the bias is not regularized)."""
        return self._regularization(self._weights)
