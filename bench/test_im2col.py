"""The NumPy im2col baseline computes what fastlayers computes.

Float64 results of every function and of a whole LeNet training step are
compared with the fastlayers layers on the same inputs, for the LeNet
shapes and for the strided and padded cases the functions also support.
"""

import numpy as np
import pytest

import fastlayers

from . import im2col
from .backends import make_lenet
from .harness import assert_close


def _conv_layer(weights, bias, stride, padding):
    k, c, m, n = weights.shape
    layer = fastlayers.ConvolutionalLayer(stride, (c, m, n), k, 0.0, padding=padding)
    layer.weights = weights
    layer.bias = bias
    return layer


@pytest.mark.parametrize(
    "x_shape, w_shape, stride, padding, pads",
    [
        ((3, 1, 28, 28), (6, 1, 5, 5), (1, 1), "same", (2, 2, 2, 2)),
        ((2, 6, 14, 14), (10, 6, 5, 5), (1, 1), "same", (2, 2, 2, 2)),
        ((2, 3, 9, 8), (4, 3, 3, 3), (1, 1), "valid", (0, 0, 0, 0)),
        ((2, 3, 10, 9), (4, 3, 3, 2), (2, 3), "same", (1, 1, 1, 0)),
        ((1, 2, 7, 7), (3, 2, 4, 4), (2, 2), (1, 2, 0, 3), (1, 2, 0, 3)),
    ],
)
def test_conv_matches_fastlayers(x_shape, w_shape, stride, padding, pads):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    layer = _conv_layer(w, b, stride, padding)
    out = layer.forward(x)
    err = rng.standard_normal(out.shape)
    dx = layer.backward(err)
    assert_close((im2col.conv2d_forward(x, w, b, stride, pads),), (out,), np.float64, "forward")
    assert_close(
        (im2col.conv2d_grad_input(err, w, x.shape, stride, pads),), (dx,), np.float64, "grad_input"
    )
    assert_close(
        im2col.conv2d_grad_weights(x, err, w_shape[2:], stride, pads),
        (layer.get_gradient_weights(), layer.get_gradient_bias()),
        np.float64,
        "grad_weights",
    )


@pytest.mark.parametrize(
    "x_shape, pool, stride",
    [
        ((3, 6, 28, 28), (2, 2), (2, 2)),
        ((2, 3, 9, 7), (3, 2), (2, 2)),
        ((2, 2, 8, 8), (3, 3), (1, 2)),
    ],
)
def test_maxpool_matches_fastlayers(x_shape, pool, stride):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(x_shape)
    layer = fastlayers.MaxPoolLayer(neighborhood=pool, stride=stride)
    out = layer.forward(x)
    err = rng.standard_normal(out.shape)
    dx = layer.backward(err)
    got, argmax = im2col.maxpool2d_forward(x, pool, stride)
    assert_close((got,), (out,), np.float64, "forward")
    assert_close(
        (im2col.maxpool2d_backward(err, argmax, x.shape, pool, stride),),
        (dx,),
        np.float64,
        "backward",
    )


def test_maxpool_ties_go_to_the_first_maximum():
    x = np.zeros((1, 1, 4, 4))
    layer = fastlayers.MaxPoolLayer()
    layer.forward(x)
    err = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    _, argmax = im2col.maxpool2d_forward(x)
    np.testing.assert_array_equal(
        im2col.maxpool2d_backward(err, argmax, x.shape), layer.backward(err)
    )


def test_lenet_training_matches_fastlayers():
    ours = make_lenet("im2col", 5, "float64")
    theirs = make_lenet("fastlayers", 5, "float64")
    for _ in range(3):
        np.testing.assert_allclose(ours.step(), theirs.step(), rtol=1e-10)
    for (w1, b1), (w2, b2) in zip(ours.parameters(), theirs.parameters()):
        assert_close((w1, b1), (w2, b2), np.float64, "parameters after three steps")
