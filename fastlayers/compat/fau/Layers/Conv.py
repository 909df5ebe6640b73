"""``Conv``: 1-D and 2-D convolution with "same" zero padding and a stride."""

import numpy as np

from .... import functional as F
from ... import _common
from .Base import TrainableLayer

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

    @property
    def weights(self):
        return self._weights

    @weights.setter
    def weights(self, value):
        self._weights = _common.as_float(value, "Conv", "weights")

    @property
    def bias(self):
        return self._bias

    @bias.setter
    def bias(self, value):
        self._bias = _common.as_float(value, "Conv", "bias")

    @property
    def gradient_weights(self):
        return self._gradient_weights

    @gradient_weights.setter
    def gradient_weights(self, value):
        self._gradient_weights = value

    @property
    def gradient_bias(self):
        return self._gradient_bias

    @gradient_bias.setter
    def gradient_bias(self, value):
        self._gradient_bias = value

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
        expected = (self.num_kernels, *self.convolution_shape)
        if self._weights.shape != expected:
            raise ValueError(
                f"Conv: expected weights of shape {expected}, got shape {self._weights.shape}"
            )
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
            y, self._saved = F.conv1d(
                x,
                self._weights,
                bias,
                stride=self.stride_shape[0],
                padding="same",
                return_saved=True,
                caller="Conv",
            )
        else:
            y, self._saved = F.conv2d(
                x,
                self._weights,
                bias,
                stride=self.stride_shape,
                padding="same",
                return_saved=True,
                caller="Conv",
            )
        self._out_shape = y.shape
        return y

    def backward(self, error_tensor):
        """Return the error w.r.t. the input; set the gradients, update if an optimizer is set."""
        return self._backward(error_tensor, True)

    def _backward_parameters(self, error_tensor):
        # What NeuralNetwork.backward calls on its first layer: the error
        # w.r.t. the network's input is never used, so it is not computed.
        # A subclass with its own backward must have it run as it is.
        if type(self).backward is not Conv.backward:
            self.backward(error_tensor)
        else:
            self._backward(error_tensor, False)

    def _backward(self, error_tensor, input_gradient):
        if self._saved is None:
            raise RuntimeError("Conv: backward called before forward")
        error = _common.as_float(error_tensor, "Conv", "error_tensor")
        if error.shape != self._out_shape:
            raise ValueError(
                f"Conv: expected error_tensor of shape {self._out_shape}, got shape {error.shape}"
            )
        if len(self.convolution_shape) == 2:
            dx, dw, db = F.conv1d_backward(
                error, self._saved, input_gradient=input_gradient, caller="Conv"
            )
        else:
            dx, dw, db = F.conv2d_backward(
                error, self._saved, input_gradient=input_gradient, caller="Conv"
            )
        self._gradient_weights = dw
        self._gradient_bias = db
        self._weights = self._updated("weights", self._weights, dw)
        self._bias = self._updated("bias", self._bias.reshape(db.shape), db)
        return dx

    def calculate_regularization_loss(self):
        """The regularizer's norm of the weights (the bias is not regularized)."""
        return self._regularization(self._weights)
