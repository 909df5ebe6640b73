"""2-D convolutional layer built on scipy.signal.correlate / convolve.

This is the tutorial's exercise solution: loops over the batch, the
kernels and the channels, each step one scipy call with
``method="direct"`` (plain sums of products, no FFT rounding).
"""

import numpy as np
from scipy.signal import convolve, correlate

from .._validation import (
    INDEX_LIMIT,
    as_float_array,
    called_before,
    check_ndim,
    check_shape,
    describe,
    integer,
    items_of,
    pair,
)
from ..initializers import Const, UniformRandom
from ..parameters import TrainableLayer
from ._params import compute_dtype, initialized, positive_int, with_doc


class ConvolutionalLayer(TrainableLayer):
    """Cross-correlation with ``n_kernels`` kernels, fully connected in depth.

    Parameters
    ----------
    stride_shape : int or (int, int)
        Subsampling factors ``(sy, sx)``.
    kernel_shape : (int, int, int)
        ``(c, m, n)``: input channels and kernel height and width.
    n_kernels : int
        Number of kernels, i.e. output channels.
    learning_rate : float
        Step size of the SGD update applied in :meth:`backward`.
    weights_initializer, bias_initializer : Initializer, optional
        Used by the constructor; default ``UniformRandom()`` and ``Const(0.1)``.
    padding : {"same", "valid"} or int or (int, int) or (int, int, int, int)
        ``"same"`` pads ``m // 2`` rows before and ``(m - 1) // 2`` after
        (columns likewise); an int pads every side; a pair ``(py, px)``
        pads top/bottom and left/right; four ints are (top, bottom, left,
        right).
    dtype : {None, numpy.float32, numpy.float64}, optional
        Explicit parameter dtype; ``None``: a float32 default if one was set,
        otherwise the dtype of the arrays assigned (:mod:`fastlayers.parameters`).

    Notes
    -----
    ``weights`` has shape ``(n_kernels, c, m, n)`` and ``bias`` ``(n_kernels,)``.
    Both may be assigned arrays of any shape (the tutorial's test
    briefly stores a 3-D kernel); shapes are checked in :meth:`forward`.
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
        # Checked before super().__init__ checks dtype, so their errors come first.
        stride_shape = pair(stride_shape, self.name, "stride_shape")
        kernel_shape = _kernel_shape(kernel_shape, self.name)
        n_kernels = positive_int(n_kernels, self.name, "n_kernels")
        padding = _padding(padding, self.name)
        super().__init__(learning_rate, dtype)
        self.stride_shape = stride_shape
        self.kernel_shape = kernel_shape
        self.n_kernels = n_kernels
        self.padding = padding
        self._x = None
        self.initialize(
            UniformRandom() if weights_initializer is None else weights_initializer,
            Const(0.1) if bias_initializer is None else bias_initializer,
        )

    weights = with_doc(TrainableLayer.weights, "Kernels, shape ``(n_kernels, c, m, n)``.")
    bias = with_doc(TrainableLayer.bias, "One bias per kernel, shape ``(n_kernels,)``.")

    def initialize(self, weights_initializer, bias_initializer):
        """Draw weights and bias from the given initializers.

        The weights are requested as ``(n_kernels, c*m*n)`` so that the
        fan-in is the second dimension, then reshaped to 4-D.
        """
        c, m, n = self.kernel_shape
        w = initialized(weights_initializer, (self.n_kernels, c * m * n), self.name, "weights")
        b = initialized(bias_initializer, (1, self.n_kernels), self.name, "bias")
        shape = (self.n_kernels, c, m, n)
        if w.size != self.n_kernels * c * m * n:
            raise ValueError(
                f"{self.name}: expected the weights initializer to return "
                f"{self.n_kernels * c * m * n} values for shape {shape}, got shape {w.shape}"
            )
        if b.size != self.n_kernels:
            raise ValueError(
                f"{self.name}: expected the bias initializer to return {self.n_kernels} "
                f"values, got shape {b.shape}"
            )
        self.weights = w.reshape(shape)
        self.bias = b.reshape(self.n_kernels)

    def output_shape(self, input_shape):
        """Return the output shape ``(b, n_kernels, oh, ow)`` for an input shape."""
        b, _, h, w = input_shape
        top, bottom, left, right = self._pads()
        oh, ow = _stride1_size((h, w), (top, bottom, left, right), self.kernel_shape[1:])
        sy, sx = self.stride_shape
        return (b, self.n_kernels, _strided(oh, sy), _strided(ow, sx))

    def forward(self, x):
        """Return the strided cross-correlation of ``x`` ``(b, c, h, w)`` plus bias."""
        x = as_float_array(x, self.name)
        c, m, n = self.kernel_shape
        check_ndim(x, 4, self.name, "input", "(batch, channels, height, width)")
        if x.shape[1] != c:
            raise ValueError(
                f"{self.name}: expected input with {c} channels (batch, {c}, height, width), "
                f"got shape {x.shape}"
            )
        self._check_parameters()
        pads = self._pads()
        oh1, ow1 = _stride1_size(x.shape[2:], pads, (m, n))
        if oh1 < 1 or ow1 < 1:
            raise ValueError(
                f"{self.name}: expected an input at least as large as the kernel {(m, n)} "
                f"after padding {pads}, got spatial size {x.shape[2:]}"
            )
        dtype = compute_dtype(x, self._weights, self._bias)
        # A copy kept for backward: the caller may write into its array meanwhile.
        x = x.astype(dtype)
        w = self._weights.astype(dtype, copy=False)
        bias = self._bias.astype(dtype, copy=False)
        sy, sx = self.stride_shape
        self._x = x

        out = np.empty(self.output_shape(x.shape), dtype=dtype)
        if self.padding == "same":
            # scipy's mode="same" centres the result; on the channel axis
            # (length c with a length-c kernel) index c // 2 is the one with
            # all channels overlapping, for odd and even c alike.
            source = x
            mode, channel = "same", c // 2
        else:
            source = self._padded(x)
            mode, channel = "valid", 0
        for b in range(x.shape[0]):
            for k in range(self.n_kernels):
                full = correlate(source[b], w[k], mode=mode, method="direct")[channel]
                out[b, k] = full[::sy, ::sx] + bias[k]
        return out

    def _backward(self, error, input_gradient):
        """Update weights and bias; return the error w.r.t. the input (None if not wanted)."""
        called_before(self._x, self.name)
        x = self._x
        # Parameters replaced by arrays of another shape since forward.
        self._check_parameters()
        error = as_float_array(error, self.name, "error")
        check_shape(error, self.output_shape(x.shape), self.name, "error")
        dtype = compute_dtype(x, error, self._weights)
        error = error.astype(dtype, copy=False)
        w = self._weights.astype(dtype, copy=False)
        batch, c, h, wd = x.shape
        m, n = self.kernel_shape[1:]
        top, bottom, left, right = pads = self._pads()
        oh1, ow1 = _stride1_size((h, wd), pads, (m, n))
        sy, sx = self.stride_shape

        # Strided conv = stride-1 conv then subsampling, so the error goes
        # back to the stride-1 grid with zeros where no output was kept.
        error_up = np.zeros((batch, self.n_kernels, oh1, ow1), dtype=dtype)
        error_up[:, :, ::sy, ::sx] = error

        gradient_bias = error.sum(axis=(0, 2, 3))

        # Full convolution gives the gradient for every position of the padded
        # input; cropping removes the padding.  (The tutorial's mode="same"
        # shortcut is off by one row/column for even kernel sizes.)
        dx = None
        if input_gradient:
            hp, wp = h + top + bottom, wd + left + right
            dx_padded = np.zeros((batch, c, hp, wp), dtype=dtype)
            for b in range(batch):
                for ch in range(c):
                    for k in range(self.n_kernels):
                        dx_padded[b, ch] += convolve(
                            error_up[b, k], w[k, ch], mode="full", method="direct"
                        )
            dx = np.ascontiguousarray(dx_padded[:, :, top : top + h, left : left + wd])

        x_padded = self._padded(x)
        gradient_weights = np.zeros((self.n_kernels, c, m, n), dtype=dtype)
        for k in range(self.n_kernels):
            for ch in range(c):
                for b in range(batch):
                    gradient_weights[k, ch] += correlate(
                        x_padded[b, ch], error_up[b, k], mode="valid", method="direct"
                    )

        self._gradient_weights = gradient_weights
        self._gradient_bias = gradient_bias
        self._update()
        return dx

    def _check_parameters(self):
        check_shape(self._weights, (self.n_kernels, *self.kernel_shape), self.name, "weights")
        check_shape(self._bias, (self.n_kernels,), self.name, "bias")

    def _pads(self):
        """Padding as (top, bottom, left, right)."""
        if self.padding == "same":
            _, m, n = self.kernel_shape
            return (m // 2, (m - 1) // 2, n // 2, (n - 1) // 2)
        if self.padding == "valid":
            return (0, 0, 0, 0)
        return self.padding

    def _padded(self, x):
        top, bottom, left, right = self._pads()
        return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def _stride1_size(spatial, pads, kernel):
    top, bottom, left, right = pads
    h, w = spatial
    m, n = kernel
    return h + top + bottom - m + 1, w + left + right - n + 1


def _strided(size, stride):
    # Number of kept positions in [::stride] of a length-`size` axis.
    return (size - 1) // stride + 1 if size > 0 else 0


def _kernel_shape(value, layer):
    expected = (
        f"{layer}: expected kernel_shape as three ints (channels, height, width), "
        f"got {describe(value)}"
    )
    if isinstance(value, (str, bytes)):
        raise TypeError(expected)
    items = items_of(value, 3, expected)
    return tuple(_entry(v, value, layer, "kernel_shape", 1) for v in items)


def _entry(item, value, layer, name, minimum):
    """One int of a tuple argument; errors show the whole tuple."""
    try:
        return integer(item, layer, name, minimum=minimum)
    except TypeError:
        raise TypeError(f"{layer}: expected {name} as ints, got {describe(value)}") from None
    except ValueError:
        raise ValueError(
            f"{layer}: expected {name} entries from {minimum} to {INDEX_LIMIT}, got {value!r}"
        ) from None


def _padding(value, layer):
    """Normalise padding to "same", "valid" or (top, bottom, left, right)."""
    if isinstance(value, str):
        if value in ("same", "valid"):
            return value
        raise ValueError(
            f"{layer}: expected padding 'same', 'valid', an int, a pair or four ints, got {value!r}"
        )
    if not isinstance(value, (int, np.integer)):
        try:
            items = tuple(value)
        except TypeError:
            items = None
        if items is not None and len(items) == 4:
            return tuple(_entry(v, value, layer, "padding", 0) for v in items)
    py, px = pair(value, layer, "padding", minimum=0)
    return (py, py, px, px)
