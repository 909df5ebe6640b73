"""A NumPy im2col implementation of the LeNet layers: the vectorised baseline.

This is how a careful NumPy programmer speeds up the tutorial's layers
without compiling anything: ``numpy.lib.stride_tricks.sliding_window_view``
gives a (read-only, zero-copy) view of every window of the input, and one
``tensordot`` (which copies the windows into a matrix and calls BLAS)
computes the convolution, its weight gradient, or, on the padded error with
flipped kernels, its input gradient.  Max pooling takes the ``argmax`` over
the windows' flattened last axes.

The layers follow the tutorial's interface (``forward(x)``,
``backward(error)`` updating the parameters by SGD and returning the error
w.r.t. the input) and its conventions: NCHW images, convolution weights
(k, c, m, n), fully connected weights (n + 1, m) with the bias as the last
row, the loss summed over the batch, ``"same"`` padding of ``m // 2``
before and ``(m - 1) // 2`` after.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "Conv2D",
    "Flatten",
    "FullyConnected",
    "LeNet",
    "MaxPool2D",
    "ReLU",
    "SoftMaxCrossEntropy",
    "conv2d_forward",
    "conv2d_grad_input",
    "conv2d_grad_weights",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "same_pads",
    "upsample_strided",
]


# ---------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------


def same_pads(kernel_hw):
    """``(top, bottom, left, right)`` of "same" padding for a kernel (m, n)."""
    m, n = kernel_hw
    return m // 2, (m - 1) // 2, n // 2, (n - 1) // 2


def _pad(x, pads):
    top, bottom, left, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def conv2d_forward(x, weights, bias, stride=(1, 1), pads=(0, 0, 0, 0)):
    """Cross-correlate ``x`` (b, c, h, w) with ``weights`` (k, c, m, n).

    Returns ``out`` (b, k, oh, ow) with
    ``out[b, k, y, x] = bias[k] + sum_{c,i,j} w[k, c, i, j] * xp[b, c, y*sy + i, x*sx + j]``
    where ``xp`` is ``x`` zero-padded by ``pads`` (top, bottom, left, right).
    """
    sy, sx = stride
    m, n = weights.shape[2:]
    windows = sliding_window_view(_pad(x, pads), (m, n), axis=(2, 3))[:, :, ::sy, ::sx]
    # (b, c, oh, ow, m, n) . (k, c, m, n) -> (b, oh, ow, k)
    out = np.tensordot(windows, weights, axes=([1, 4, 5], [1, 2, 3]))
    out += bias
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def upsample_strided(error, stride, shape):
    """Spread ``error`` (b, k, oh, ow) onto a stride-1 grid ``shape`` with zeros between."""
    sy, sx = stride
    if (sy, sx) == (1, 1) and error.shape == tuple(shape):
        return error
    up = np.zeros(shape, dtype=error.dtype)
    up[:, :, ::sy, ::sx] = error
    return up


def _stride1_shape(x_shape, weights_shape, pads, n_kern):
    b, _, h, w = x_shape
    top, bottom, left, right = pads
    m, n = weights_shape[2:]
    return b, n_kern, h + top + bottom - m + 1, w + left + right - n + 1


def conv2d_grad_weights(x, error, kernel_hw, stride=(1, 1), pads=(0, 0, 0, 0)):
    """Gradients w.r.t. weights (k, c, m, n) and bias (k,) of :func:`conv2d_forward`.

    ``x`` is the forward input (b, c, h, w) and ``error`` the error w.r.t.
    the output (b, k, oh, ow).
    """
    m, n = kernel_hw
    n_kern = error.shape[1]
    up = upsample_strided(error, stride, _stride1_shape(x.shape, (0, 0, m, n), pads, n_kern))
    windows = sliding_window_view(_pad(x, pads), up.shape[2:], axis=(2, 3))
    # windows: (b, c, m, n, oh1, ow1) . up: (b, k, oh1, ow1) -> (c, m, n, k)
    grad_w = np.tensordot(windows, up, axes=([0, 4, 5], [0, 2, 3]))
    return np.ascontiguousarray(grad_w.transpose(3, 0, 1, 2)), error.sum(axis=(0, 2, 3))


def conv2d_grad_input(error, weights, x_shape, stride=(1, 1), pads=(0, 0, 0, 0)):
    """Gradient w.r.t. the input (b, c, h, w) of :func:`conv2d_forward`.

    A full correlation of the (upsampled) error with the flipped kernels,
    input and output channels swapped, cropped to the unpadded input.
    """
    n_kern, _, m, n = weights.shape
    b, c, h, w = x_shape
    top, bottom, left, right = pads
    up = upsample_strided(error, stride, _stride1_shape(x_shape, weights.shape, pads, n_kern))
    # Padding the stride-1 error by (m - 1, n - 1) gives the gradient on the
    # whole padded input; padding by m - 1 - top etc. crops it on the way.
    oh1, ow1 = up.shape[2:]
    full_pads = (m - 1 - top, h + top - oh1, n - 1 - left, w + left - ow1)
    if min(full_pads) < 0:
        # The padding is larger than the kernel: compute on the padded grid, then crop.
        padded = conv2d_grad_input(
            error, weights, (b, c, h + top + bottom, w + left + right), stride
        )
        return np.ascontiguousarray(padded[:, :, top : top + h, left : left + w])
    flipped = weights[:, :, ::-1, ::-1]
    windows = sliding_window_view(_pad(up, full_pads), (m, n), axis=(2, 3))
    # (b, k, h, w, m, n) . (k, c, m, n) -> (b, h, w, c)
    dx = np.tensordot(windows, flipped, axes=([1, 4, 5], [0, 2, 3]))
    return np.ascontiguousarray(dx.transpose(0, 3, 1, 2))


def maxpool2d_forward(x, pool=(2, 2), stride=(2, 2)):
    """Max over the windows of ``x`` (b, c, h, w), without padding.

    Returns ``(out, argmax)``: both (b, c, oh, ow); ``argmax`` is the
    row-major position of the maximum within its window (ties go to the
    first maximum, as ``numpy.argmax``).
    """
    py, px = pool
    sy, sx = stride
    windows = sliding_window_view(x, (py, px), axis=(2, 3))[:, :, ::sy, ::sx]
    flat = windows.reshape(windows.shape[:4] + (py * px,))
    argmax = flat.argmax(axis=-1)
    out = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    return out, argmax


def maxpool2d_backward(error, argmax, x_shape, pool=(2, 2), stride=(2, 2)):
    """Route ``error`` (b, c, oh, ow) to the maxima found by :func:`maxpool2d_forward`."""
    py, px = pool
    sy, sx = stride
    b, c, oh, ow = error.shape
    rows = np.arange(oh).reshape(oh, 1) * sy + argmax // px
    cols = np.arange(ow).reshape(1, ow) * sx + argmax % px
    dx = np.zeros(x_shape, dtype=error.dtype)
    bi = np.arange(b).reshape(b, 1, 1, 1)
    ci = np.arange(c).reshape(1, c, 1, 1)
    if py <= sy and px <= sx:
        # Windows do not overlap: every input element gets at most one error.
        dx[bi, ci, rows, cols] = error
    else:
        np.add.at(dx, (bi, ci, rows, cols), error)
    return dx


# ---------------------------------------------------------------------------
# Layers with the tutorial's interface
# ---------------------------------------------------------------------------


class Conv2D:
    """Convolutional layer on the im2col functions ("same" padding by default)."""

    trainable = True

    def __init__(self, weights, bias, learning_rate, stride=(1, 1), padding="same"):
        self.weights = np.ascontiguousarray(weights)
        self.bias = np.ascontiguousarray(bias)
        self.learning_rate = learning_rate
        self.stride = tuple(stride)
        self.pads = same_pads(self.weights.shape[2:]) if padding == "same" else (0, 0, 0, 0)
        self.gradient_weights = None
        self.gradient_bias = None
        self._x = None

    def forward(self, x):
        self._x = x
        return conv2d_forward(x, self.weights, self.bias, self.stride, self.pads)

    def backward(self, error, input_gradient=True):
        x = self._x
        self.gradient_weights, self.gradient_bias = conv2d_grad_weights(
            x, error, self.weights.shape[2:], self.stride, self.pads
        )
        dx = None
        if input_gradient:
            dx = conv2d_grad_input(error, self.weights, x.shape, self.stride, self.pads)
        self.weights -= self.learning_rate * self.gradient_weights
        self.bias -= self.learning_rate * self.gradient_bias
        return dx


class MaxPool2D:
    """Max pooling layer on the im2col functions."""

    trainable = False

    def __init__(self, pool=(2, 2), stride=(2, 2)):
        self.pool = tuple(pool)
        self.stride = tuple(stride)
        self._argmax = None
        self._shape = None

    def forward(self, x):
        self._shape = x.shape
        out, self._argmax = maxpool2d_forward(x, self.pool, self.stride)
        return out

    def backward(self, error):
        return maxpool2d_backward(error, self._argmax, self._shape, self.pool, self.stride)


class ReLU:
    trainable = False

    def forward(self, x):
        self._mask = x > 0
        return np.where(self._mask, x, x.dtype.type(0))

    def backward(self, error):
        return np.where(self._mask, error, error.dtype.type(0))


class Flatten:
    trainable = False

    def forward(self, x):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, error):
        return error.reshape(self._shape)


class FullyConnected:
    """``y = x W[:-1] + W[-1]``: the tutorial's layout, bias as the last row."""

    trainable = True

    def __init__(self, weights, learning_rate):
        self.weights = np.ascontiguousarray(weights)
        self.learning_rate = learning_rate
        self.gradient_weights = None
        self._x = None

    def forward(self, x):
        self._x = x
        return x @ self.weights[:-1] + self.weights[-1]

    def backward(self, error, input_gradient=True):
        grad = np.empty_like(self.weights)
        np.matmul(self._x.T, error, out=grad[:-1])
        grad[-1] = error.sum(axis=0)
        self.gradient_weights = grad
        dx = error @ self.weights[:-1].T if input_gradient else None
        self.weights -= self.learning_rate * grad
        return dx


class SoftMaxCrossEntropy:
    """Softmax and the cross-entropy summed over the batch."""

    def forward(self, x, labels):
        shifted = x - x.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        self._prediction = exp / total
        return float(-np.sum(labels * (shifted - np.log(total))))

    def backward(self, labels):
        return self._prediction - labels


class Network:
    """A network of the im2col layers from an architecture of :mod:`bench.networks`.

    Parameters
    ----------
    architecture : list of tuple
        Layer descriptions, e.g. ``bench.networks.ARCHITECTURES["lenet"]``.
    params : list of (weights, bias)
        One per convolution and fully connected layer, in order;
        convolution weights (k, c, m, n), fully connected weights (n, m),
        biases 1-D.
    learning_rate : float
    dtype : float32 or float64
    """

    def __init__(self, architecture, params, learning_rate, dtype=np.float64):
        dtype = np.dtype(dtype)
        cast = iter([(np.array(w, dtype=dtype), np.array(b, dtype=dtype)) for w, b in params])
        self.layers = []
        for spec in architecture:
            kind = spec[0]
            if kind == "conv":
                self.layers.append(Conv2D(*next(cast), learning_rate))
            elif kind == "fc":
                w, b = next(cast)
                self.layers.append(FullyConnected(np.vstack([w, b[None]]), learning_rate))
            elif kind == "relu":
                self.layers.append(ReLU())
            elif kind == "pool":
                self.layers.append(MaxPool2D())
            elif kind == "flatten":
                self.layers.append(Flatten())
            else:
                raise ValueError(
                    f"Network: expected a layer kind conv, fc, relu, pool or flatten, got {kind!r}"
                )
        self.loss_layer = SoftMaxCrossEntropy()
        self.dtype = dtype

    def forward(self, x, labels):
        """Return the summed loss of the batch ``x`` (b, c, h, w) against one-hot ``labels``."""
        self._labels = labels
        for layer in self.layers:
            x = layer.forward(x)
        return self.loss_layer.forward(x, labels)

    def backward(self):
        """Backpropagate the last forward and update every layer (first layer: no input gradient)."""
        error = self.loss_layer.backward(self._labels)
        for layer in reversed(self.layers[1:]):
            error = layer.backward(error)
        self.layers[0].backward(error, input_gradient=False)

    def parameters(self):
        """(weights, bias) of each trainable layer, in the layout of ``params``."""
        out = []
        for layer in self.layers:
            if isinstance(layer, Conv2D):
                out.append((layer.weights, layer.bias))
            elif isinstance(layer, FullyConnected):
                out.append((layer.weights[:-1], layer.weights[-1]))
        return out


class LeNet(Network):
    """The tutorial's LeNet built from the im2col layers (``params``: conv1, conv2, fc1, fc2, fc3)."""

    def __init__(self, params, learning_rate, dtype=np.float64):
        from .networks import ARCHITECTURES

        super().__init__(ARCHITECTURES["lenet"], params, learning_rate, dtype)
