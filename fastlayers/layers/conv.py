"""The convolutional layer, on the numba kernels."""

import numpy as np

from .. import kernels
from ..parallel import serialised
from .._validation import as_float_array, called_before, check_ndim, check_shape, kernel_ready, pair
from ..initializers import Const, UniformRandom
from ._trainable import TrainableLayer


def resolve_padding(padding, kernel_hw, layer):
    """Return ``(top, bottom, left, right)`` zero padding.

    ``"same"`` pads ``m // 2`` before and ``(m - 1) // 2`` after (as
    ``scipy.signal.correlate(..., mode="same")`` does), ``"valid"`` pads
    nothing, an int pads every side, a pair ``(py, px)`` pads top/bottom by
    ``py`` and left/right by ``px``, and four ints give each side.
    """
    m, n = kernel_hw
    if isinstance(padding, str):
        if padding == "same":
            return m // 2, (m - 1) // 2, n // 2, (n - 1) // 2
        if padding == "valid":
            return 0, 0, 0, 0
        raise ValueError(
            f"{layer}: expected padding 'same', 'valid', an int, a pair or four ints, "
            f"got {padding!r}"
        )
    if isinstance(padding, (int, np.integer)) or (
        hasattr(padding, "__len__") and len(padding) == 2
    ):
        py, px = pair(padding, layer, "padding", minimum=0)
        return py, py, px, px
    try:
        sides = tuple(padding)
    except TypeError:
        sides = ()
    if len(sides) != 4 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in sides
    ):
        raise TypeError(
            f"{layer}: expected padding 'same', 'valid', an int, a pair or four ints, "
            f"got {padding!r}"
        )
    if min(sides) < 0:
        raise ValueError(f"{layer}: expected padding of at least 0, got {padding!r}")
    return tuple(int(v) for v in sides)


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
        try:
            shape = tuple(kernel_shape)
        except TypeError:
            shape = ()
        if len(shape) != 3 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shape
        ):
            raise TypeError(
                f"{self.name}: expected kernel_shape as three ints (channels, m, n), "
                f"got {kernel_shape!r}"
            )
        if min(shape) < 1:
            raise ValueError(
                f"{self.name}: expected kernel_shape entries of at least 1, got {kernel_shape!r}"
            )
        self.kernel_shape = tuple(int(v) for v in shape)
        if isinstance(n_kernels, bool) or not isinstance(n_kernels, (int, np.integer)):
            raise TypeError(f"{self.name}: expected n_kernels as an int, got {n_kernels!r}")
        if n_kernels < 1:
            raise ValueError(f"{self.name}: expected n_kernels of at least 1, got {n_kernels!r}")
        self.n_kernels = int(n_kernels)
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

    def _check_input(self, x):
        check_ndim(x, 4, self.name, "input", "(batch, channels, rows, columns)")
        c, m, n = self.kernel_shape
        if x.shape[1] != c:
            raise ValueError(
                f"{self.name}: expected input with {c} channels (kernel_shape {self.kernel_shape}), "
                f"got shape {x.shape}"
            )
        if min(x.shape) < 1:
            raise ValueError(f"{self.name}: expected a non-empty input, got shape {x.shape}")
        top, bottom, left, right = self._pads
        if x.shape[2] + top + bottom < m or x.shape[3] + left + right < n:
            raise ValueError(
                f"{self.name}: expected an input at least as large as the {m}x{n} kernel after "
                f"padding {self._pads}, got spatial size {x.shape[2:]}"
            )
        check_shape(self._weights, self.weights_shape, self.name, "weights")
        check_shape(self._bias, (self.n_kernels,), self.name, "bias")

    @serialised
    def forward(self, x):
        """Convolve ``x`` (b, c, h, w) and return (b, n_kernels, h', w')."""
        x = as_float_array(x, self.name)
        self._check_input(x)
        dtype = self._compute_dtype(x)
        weights = kernel_ready(self._weights, dtype)
        bias = kernel_ready(self._bias, dtype)
        top, bottom, left, right = self._pads
        b, c, h, w = x.shape
        padded = np.empty((c, h + top + bottom, w + left + right, b), dtype)
        kernels.nchw_to_chwb(kernel_ready(x, dtype), top, left, padded)
        out_shape = self.output_shape(x.shape)
        out_t = np.empty((out_shape[1], out_shape[2], out_shape[3], b), dtype)
        kernels.conv2d_forward(padded, weights, bias, *self.stride_shape, out_t)
        out = np.empty(out_shape, dtype)
        kernels.chwb_to_nchw(out_t, out)
        self._cache = (padded, x.shape, weights, out_shape)
        return out

    @serialised
    def _backward(self, error, input_gradient):
        called_before(self._cache, self.name)
        padded, in_shape, weights, out_shape = self._cache
        error = as_float_array(error, self.name, "error")
        check_shape(error, out_shape, self.name, "error")
        dtype = padded.dtype
        b = in_shape[0]
        err_t = np.empty((out_shape[1], out_shape[2], out_shape[3], b), dtype)
        kernels.nchw_to_chwb(kernel_ready(error, dtype), 0, 0, err_t)
        grad_w = np.empty(self.weights_shape, dtype)
        grad_b = np.empty(self.n_kernels, dtype)
        kernels.conv2d_grad_weights(padded, err_t, *self.stride_shape, grad_w, grad_b)
        dx = None
        if input_gradient:
            dx_t = self._input_gradient(error, err_t, weights, in_shape)
            dx = np.empty(in_shape, dtype)
            kernels.chwb_to_nchw(dx_t, dx)
        self._gradient_weights = grad_w
        self._gradient_bias = grad_b
        self._update()
        return dx

    def _input_gradient(self, error, err_t, weights, in_shape):
        """Error w.r.t. the input in the (c, h, w, b) layout."""
        b, c, h, w = in_shape
        top, bottom, left, right = self._pads
        m, n = self.kernel_shape[1:]
        dtype = err_t.dtype
        dx_t = np.empty((c, h, w, b), dtype)
        if self.stride_shape != (1, 1) or max(top, bottom) >= m or max(left, right) >= n:
            kernels.conv2d_grad_input(err_t, weights, *self.stride_shape, top, left, dx_t)
            return dx_t
        # At stride 1 the input gradient is the error, padded by the kernel
        # size minus the forward padding, correlated with the flipped
        # kernels with input and output channels swapped: the forward
        # kernel computes it at full speed.
        k, out_h, out_w = err_t.shape[:3]
        padded = np.empty((k, out_h + 2 * m - 2 - top - bottom, out_w + 2 * n - 2 - left - right, b), dtype)
        kernels.nchw_to_chwb(kernel_ready(error, dtype), m - 1 - top, n - 1 - left, padded)
        flipped = np.ascontiguousarray(weights[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        kernels.conv2d_forward(padded, flipped, np.zeros(c, dtype), 1, 1, dx_t)
        return dx_t
