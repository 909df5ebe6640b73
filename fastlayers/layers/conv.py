"""The convolutional layer, on the numba kernels."""

import math

import numpy as np

from .. import functional as F
from .._validation import (
    INDEX_LIMIT,
    called_before,
    check_shape,
    integer,
    integers_of,
    items_of,
    pair,
)
from ..functional import resolve_padding
from ..initializers import Const, UniformRandom, check_initializer
from ._trainable import TrainableLayer


def check_parameter_count(count, owner):
    """Raise ``ValueError`` for layers with more parameters than can be indexed."""
    if count > INDEX_LIMIT:
        raise ValueError(
            f"{owner}: expected at most {INDEX_LIMIT} weights, got a shape with {count}"
        )


class ConvolutionalLayer(TrainableLayer):
    """2-D convolution (cross-correlation) fully connected over channels.

    Parameters
    ----------
    stride_shape : int or (int, int)
        Subsampling factors (sy, sx) of the output.
    kernel_shape : (int, int, int)
        (channels, m, n): input channels and the filter size.
    n_kernels : int
        Number of filters, i.e. output channels.
    learning_rate : float
        Step size of the gradient update applied in ``backward``.
    weights_initializer, bias_initializer : Initializer, optional
        Used in the constructor; default ``UniformRandom()`` and
        ``Const(0.1)``.  :meth:`initialize` can apply others later.
    padding : {"same", "valid"} or int or tuple, default "same"
        Zero padding: see :func:`resolve_padding`.  "same" keeps the size
        at stride 1; the output is ``ceil(h / sy)`` by ``ceil(w / sx)``.
    dtype : float32 or float64, optional
        Parameter dtype; default :func:`fastlayers.get_default_dtype`.

    Notes
    -----
    ``weights`` has shape (n_kernels, channels, m, n) and ``bias``
    (n_kernels,).  Like the tutorial's tests, the setters accept arrays of
    any shape (one test assigns 3-D weights for a moment); the shape is
    checked when ``forward`` runs.
    """

    def __init__(
        self,
        stride_shape,
        kernel_shape,
        n_kernels,
        learning_rate,
        weights_initializer=None,
        bias_initializer=None,
        padding="same",
        *,
        dtype=None,
    ):
        super().__init__(learning_rate, dtype)
        self.stride_shape = pair(stride_shape, self.name, "stride_shape")
        shape = items_of(
            kernel_shape,
            3,
            f"{self.name}: expected kernel_shape as three ints (channels, m, n), "
            f"got {kernel_shape!r}",
        )
        self.kernel_shape = integers_of(
            shape, kernel_shape, self.name, "kernel_shape", "kernel_shape entries", minimum=1
        )
        self.n_kernels = integer(n_kernels, self.name, "n_kernels", minimum=1)
        check_parameter_count(self.n_kernels * math.prod(self.kernel_shape), self.name)
        self.padding = padding
        self._pads = resolve_padding(padding, self.kernel_shape[1:], self.name)
        self._cache = None
        self.initialize(
            UniformRandom() if weights_initializer is None else weights_initializer,
            Const(0.1) if bias_initializer is None else bias_initializer,
        )

    @property
    def weights_shape(self):
        """(n_kernels, channels, m, n)."""
        return (self.n_kernels, *self.kernel_shape)

    def initialize(self, weights_initializer, bias_initializer):
        """Draw new weights and bias from the given initializers.

        The weights initializer is asked for shape (n_kernels, c * m * n) so
        that fan-in based initializers (:class:`~fastlayers.He`) see the
        number of inputs of one output in the second dimension.
        """
        check_initializer(weights_initializer, self.name, "weights_initializer")
        check_initializer(bias_initializer, self.name, "bias_initializer")
        c, m, n = self.kernel_shape
        flat = np.asarray(weights_initializer.initialize((self.n_kernels, c * m * n)))
        if flat.size != self.n_kernels * c * m * n:
            raise ValueError(
                f"{self.name}: expected the weights initializer to return "
                f"{self.n_kernels * c * m * n} values, got shape {flat.shape}"
            )
        self.weights = flat.reshape(self.weights_shape)
        bias = np.asarray(bias_initializer.initialize((1, self.n_kernels)))
        if bias.size != self.n_kernels:
            raise ValueError(
                f"{self.name}: expected the bias initializer to return {self.n_kernels} "
                f"values, got shape {bias.shape}"
            )
        self.bias = bias.reshape(self.n_kernels)

    def output_shape(self, input_shape):
        """Shape of the output for an input of shape (b, c, h, w)."""
        b, _, h, w = input_shape
        top, bottom, left, right = self._pads
        m, n = self.kernel_shape[1:]
        sy, sx = self.stride_shape
        return (
            b,
            self.n_kernels,
            (h + top + bottom - m) // sy + 1,
            (w + left + right - n) // sx + 1,
        )

    def _check_parameters(self):
        check_shape(self._weights, self.weights_shape, self.name, "weights")
        check_shape(self._bias, (self.n_kernels,), self.name, "bias")

    def forward(self, x):
        """Convolve ``x`` (b, c, h, w) and return (b, n_kernels, h', w')."""
        self._check_parameters()
        # conv2d computes in float32 only when input and parameters all are.
        out, self._cache = F.conv2d(
            x,
            self._weights,
            self._bias,
            self.stride_shape,
            self._pads,
            return_saved=True,
            caller=self.name,
        )
        return out

    def _backward(self, error, input_gradient):
        called_before(self._cache, self.name)
        dx, grad_w, grad_b = F.conv2d_backward(
            error,
            self._cache,
            input_gradient=input_gradient,
            caller=self.name,
        )
        self._gradient_weights = grad_w
        self._gradient_bias = grad_b
        self._update()
        return dx
