"""Contract of fastlayers.compat.homework: the homework's convolution and max-pooling layers.

Checked against the homework's own method (a windowed view of the input and
a dot product) and with the homework's grading test: the first-order change
``dLdy . (f(x + d) - f(x))`` must match ``dLdx . d``.
"""

import inspect

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from fastlayers.compat.homework import (
    nn_convolutional_layer,
    nn_max_pooling_layer,
    nn_maxpool_layer,
)

from .helpers import tolerance

RTOL = tolerance(np.float64)


def windowed_conv(x, W, b):
    """The homework's way: view_as_windows over the input, then a dot product with the filters."""
    k, c, fw, fh = W.shape
    win = sliding_window_view(x, (fw, fh), axis=(2, 3))  # (n, c, ow, oh, fw, fh)
    return np.einsum("ncwhij,kcij->nkwh", win, W) + b.reshape(1, k, 1, 1)


def windowed_pool(x, stride, size):
    win = sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]
    return win.max(axis=(4, 5))


def test_signatures_shapes_and_initialization():
    params = list(inspect.signature(nn_convolutional_layer).parameters)
    assert params == [
        "filter_width",
        "filter_height",
        "input_size",
        "in_ch_size",
        "num_filters",
        "std",
    ]
    assert nn_maxpool_layer is nn_max_pooling_layer
    assert list(inspect.signature(nn_max_pooling_layer).parameters) == ["stride", "pool_size"]
    np.random.seed(2)
    layer = nn_convolutional_layer(3, 4, 12, 2, 5, std=0.5)
    np.random.seed(2)
    expected = np.random.normal(0, 0.5 / np.sqrt(2 * 3 * 4 / 2), (5, 2, 3, 4))
    np.testing.assert_array_equal(layer.W, expected)
    np.testing.assert_array_equal(layer.b, np.full((1, 5, 1, 1), 0.01))
    W, b = layer.get_weights()
    assert W is layer.W and b is layer.b


def test_weights_api():
    layer = nn_convolutional_layer(2, 2, 5, 1, 3)
    W, b = np.random.randn(3, 1, 2, 2), np.random.randn(1, 3, 1, 1)
    layer.set_weights(W.copy(), b.copy())
    dW, db = np.random.randn(3, 1, 2, 2), np.random.randn(1, 3, 1, 1)
    layer.update_weights(dW, db)
    np.testing.assert_allclose(layer.W, W + dW, rtol=RTOL)
    np.testing.assert_allclose(layer.b, b + db, rtol=RTOL)


def test_forward_is_the_windowed_dot_product():
    layer = nn_convolutional_layer(3, 2, 9, 3, 4)
    x = np.random.randn(5, 3, 9, 8)
    y = layer.forward(x)
    assert y.shape == (5, 4, 7, 7)
    np.testing.assert_allclose(y, windowed_conv(x, layer.W, layer.b), rtol=RTOL, atol=1e-13)
    # The homework's own 2-D example: a 2x2 filter of ones over 1..9 gives [[12, 16], [24, 28]].
    example = nn_convolutional_layer(2, 2, 3, 1, 1)
    example.set_weights(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 1, 1)))
    np.testing.assert_array_equal(
        example.forward(np.arange(1, 10).reshape(1, 1, 3, 3))[0, 0], [[12, 16], [24, 28]]
    )


def test_backprop_shapes_and_exact_gradients():
    layer = nn_convolutional_layer(3, 3, 8, 2, 4)
    x = np.random.randn(3, 2, 8, 8)
    dLdy = np.random.randn(3, 4, 6, 6)
    dLdx, dLdW, dLdb = layer.backprop(x, dLdy)
    assert dLdx.shape == x.shape and dLdW.shape == layer.W.shape and dLdb.shape == layer.b.shape
    # The loss dLdy . y is linear in x, W and b: its gradients are exact sums.
    win = sliding_window_view(x, (3, 3), axis=(2, 3))
    np.testing.assert_allclose(
        dLdW, np.einsum("ncwhij,nkwh->kcij", win, dLdy), rtol=RTOL, atol=1e-12
    )
    np.testing.assert_allclose(dLdb.reshape(-1), dLdy.sum(axis=(0, 2, 3)), rtol=RTOL)
    basis = np.zeros_like(x)
    for idx in [(0, 0, 0, 0), (1, 1, 4, 3), (2, 0, 7, 7)]:
        basis[...] = 0
        basis[idx] = 1
        np.testing.assert_allclose(
            dLdx[idx], np.sum(dLdy * windowed_conv(basis, layer.W, 0 * layer.b)), rtol=RTOL
        )


def grading_accuracy(change_exact, change_approx):
    """The homework's accuracy measure, in percent."""
    return 100 * (1 - abs(change_exact - change_approx) / abs(change_exact))


def test_grading_test_conv_and_pool():
    np.random.seed(7)
    conv = nn_convolutional_layer(3, 3, 16, 3, 4)
    pool = nn_max_pooling_layer(stride=2, pool_size=2)
    x = np.random.randn(4, 3, 16, 16)
    delta = 1e-6 * np.random.randn(*x.shape)
    y = conv.forward(x)
    dLdy = np.random.randn(*y.shape)
    dLdx, dLdW, dLdb = conv.backprop(x, dLdy)
    assert (
        grading_accuracy(np.sum(dLdy * (conv.forward(x + delta) - y)), np.sum(dLdx * delta)) > 99.99
    )
    W, b = conv.get_weights()
    dW, db = 1e-6 * np.random.randn(*W.shape), 1e-6 * np.random.randn(*b.shape)
    conv.set_weights(W + dW, b + db)
    change = np.sum(dLdy * (conv.forward(x) - y))
    assert grading_accuracy(change, np.sum(dLdW * dW) + np.sum(dLdb * db)) > 99.99
    p = pool.forward(x)
    dLdp = np.random.randn(*p.shape)
    dLdx = pool.backprop(x, dLdp)
    assert (
        grading_accuracy(np.sum(dLdp * (pool.forward(x + delta) - p)), np.sum(dLdx * delta)) > 99.99
    )


@pytest.mark.parametrize("stride, size", [(2, 2), (1, 2), (3, 2), (2, 3)])
def test_pool_forward_and_backprop(stride, size):
    x = np.random.randn(2, 3, 9, 8)
    layer = nn_max_pooling_layer(stride, size)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, windowed_pool(x, stride, size))
    dLdy = np.random.randn(*y.shape)
    dLdx = layer.backprop(x, dLdy)
    assert dLdx.shape == x.shape
    # Each window's error lands on its maximum (summed where windows overlap).
    expected = np.zeros_like(x)
    for n, c, i, j in np.ndindex(y.shape):
        block = x[n, c, i * stride : i * stride + size, j * stride : j * stride + size]
        u, v = np.unravel_index(np.argmax(block), block.shape)
        expected[n, c, i * stride + u, j * stride + v] += dLdy[n, c, i, j]
    np.testing.assert_allclose(dLdx, expected, rtol=RTOL)
    # The homework's example: 2x2 windows, stride 2, over 1..16.
    ex = np.arange(1, 17, dtype=float).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(nn_max_pooling_layer(2, 2).forward(ex)[0, 0], [[6, 8], [14, 16]])


@pytest.mark.parametrize(
    "make, error, text",
    [
        (
            lambda: nn_convolutional_layer(3, 3, 8, 2, 4).forward(np.zeros((1, 3, 8, 8))),
            ValueError,
            "nn_convolutional_layer: expected x with 2 channels",
        ),
        (
            lambda: nn_convolutional_layer(3, 3, 8, 2, 4).backprop(
                np.zeros((1, 2, 8, 8)), np.zeros((1, 4, 5, 5))
            ),
            ValueError,
            "nn_convolutional_layer: expected dLdy of shape",
        ),
        (
            lambda: nn_max_pooling_layer(0, 2),
            ValueError,
            "nn_max_pooling_layer: expected stride of at least 1",
        ),
        (
            lambda: nn_max_pooling_layer(2, 2).forward(np.zeros((2, 4, 4))),
            ValueError,
            "nn_max_pooling_layer: expected x of shape",
        ),
    ],
)
def test_errors_name_the_class(make, error, text):
    with pytest.raises(error, match=text):
        make()


def test_conv_against_reference_twin():
    from fastlayers import reference

    layer = nn_convolutional_layer(3, 2, 9, 3, 4)
    twin = reference.ConvolutionalLayer((1, 1), (3, 3, 2), 4, 0.0, padding="valid")
    twin.weights, twin.bias = layer.W.copy(), layer.b.reshape(-1).copy()
    x = np.random.randn(2, 3, 9, 7)
    y = layer.forward(x)
    np.testing.assert_allclose(y, twin.forward(x), rtol=RTOL, atol=1e-13)
    dLdy = np.random.randn(*y.shape)
    dLdx, dLdW, dLdb = layer.backprop(x, dLdy)
    np.testing.assert_allclose(dLdx, twin.backward(dLdy), rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(dLdW, twin.gradient_weights, rtol=RTOL, atol=1e-13)
    np.testing.assert_allclose(dLdb.reshape(-1), twin.gradient_bias, rtol=RTOL)
