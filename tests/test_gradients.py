"""Analytic gradients of every layer against central differences (float64).

Each layer is wrapped in a scalar function ``f = sum(probe * layer(x))``
with a fixed random ``probe``; ``backward(probe)`` must then equal the
numerical gradient of ``f``.  The whole gradient array is compared by its
relative (Frobenius) error, which must be 1e-6 or better.
"""

import numpy as np
import pytest
from conftest import numerical_gradient, one_hot, relative_error

from fastlayers import (
    BatchNorm,
    Const,
    ConvolutionalLayer,
    DropOut,
    FlattenLayer,
    FullyConnectedLayer,
    He,
    MaxPoolLayer,
    Phase,
    ReLU,
    Sigmoid,
    SoftMaxCrossEntropyLoss,
    TanH,
)

TOL = 1e-6


def assert_gradient(analytic, numeric, tol=TOL):
    """Assert the relative error of a whole gradient array is below ``tol``."""
    assert analytic.shape == numeric.shape
    assert np.linalg.norm(numeric) > 0, "degenerate check: zero gradient"
    error = relative_error(analytic, numeric)
    assert error < tol, f"relative gradient error {error:.3e}"


def probed(layer, probe):
    """Return ``f(x) = sum(probe * layer.forward(x))``."""
    return lambda x: float(np.sum(probe * layer.forward(x)))


def param_function(layer, name, evaluate):
    """Return ``f(p)``: assign ``p`` to ``layer.<name>`` and call ``evaluate()``."""

    def f(p):
        setattr(layer, name, p)
        return evaluate()

    return f


def check_layer(layer, x, rng, params=()):
    """Check d/dx and d/d(params) of ``sum(probe * layer(x))``.

    ``params`` names attributes (``"weights"``, ``"bias"``) whose gradient
    the layer reports through ``get_gradient_<name>()``.
    """
    out = layer.forward(x)
    probe = rng.standard_normal(out.shape)
    saved = {name: np.array(getattr(layer, name), copy=True) for name in params}
    analytic_x = layer.backward(probe)
    analytic = {
        "weights": layer.get_gradient_weights() if "weights" in params else None,
        "bias": layer.get_gradient_bias() if "bias" in params else None,
    }
    for name in params:
        # learning_rate 0: backward must not have moved the parameters.
        np.testing.assert_array_equal(getattr(layer, name), saved[name])
    assert_gradient(analytic_x, numerical_gradient(probed(layer, probe), x))
    for name in params:
        evaluate = lambda: float(np.sum(probe * layer.forward(x)))  # noqa: E731
        numeric = numerical_gradient(param_function(layer, name, evaluate), saved[name])
        setattr(layer, name, saved[name])
        assert_gradient(analytic[name], numeric)


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------

CONV_CASES = [
    # stride, padding, kernel (c, m, n)
    ((1, 1), "same", (2, 3, 3)),
    ((2, 2), "same", (2, 4, 4)),
    ((1, 3), "valid", (2, 3, 4)),
    ((3, 2), "same", (2, 5, 4)),
    ((3, 2), 1, (2, 3, 3)),
    ((2, 2), (1, 2), (2, 2, 3)),
    ((1, 1), (0, 2, 1, 0), (2, 4, 3)),
    ((2, 1), "valid", (2, 2, 2)),
]


@pytest.mark.parametrize("stride, padding, kernel", CONV_CASES)
def test_conv_gradients(stride, padding, kernel, rng):
    layer = ConvolutionalLayer(stride, kernel, 3, 0.0, padding=padding)
    layer.initialize(He(), Const(0.0))
    layer.bias = rng.standard_normal(3)
    x = rng.standard_normal((2, kernel[0], 6, 7))
    check_layer(layer, x, rng, params=("weights", "bias"))


# ---------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------


def distinct_values(shape, rng, spacing=0.1):
    """Values at least ``spacing`` apart, so no perturbation changes a maximum."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * spacing + rng.uniform(0, spacing / 10)).reshape(shape)


@pytest.mark.parametrize(
    "neighborhood, stride",
    [((2, 2), (2, 2)), ((2, 2), (2, 1)), ((3, 2), (1, 2)), ((2, 3), (3, 2)), ((3, 3), (1, 1))],
)
def test_maxpool_gradient(neighborhood, stride, rng):
    x = distinct_values((2, 2, 7, 8), rng)
    check_layer(MaxPoolLayer(neighborhood=neighborhood, stride=stride), x, rng)


# ---------------------------------------------------------------------------
# Fully connected, activations, flatten
# ---------------------------------------------------------------------------


def test_fc_gradients(rng):
    layer = FullyConnectedLayer(5, 4, 0.0)
    layer.initialize(He(), Const(0.0))
    layer.bias = rng.standard_normal(4)
    check_layer(layer, rng.standard_normal((3, 5)), rng, params=("weights",))


def test_fc_bias_gradient_is_last_row(rng):
    layer = FullyConnectedLayer(5, 4, 0.0)
    layer.forward(rng.standard_normal((3, 5)))
    probe = rng.standard_normal((3, 4))
    layer.backward(probe)
    np.testing.assert_array_equal(layer.get_gradient_bias(), layer.get_gradient_weights()[-1])
    np.testing.assert_allclose(layer.get_gradient_bias(), probe.sum(axis=0), rtol=1e-14)


@pytest.mark.parametrize("layer_class", [Sigmoid, TanH], ids=lambda c: c.__name__)
def test_smooth_activation_gradient(layer_class, rng):
    x = rng.uniform(-3, 3, (4, 6))
    check_layer(layer_class(), x, rng)


def test_relu_gradient_away_from_zero(rng):
    x = rng.choice([-1.0, 1.0], (4, 6)) * rng.uniform(0.1, 2.0, (4, 6))
    check_layer(ReLU(), x, rng)


def test_flatten_gradient(rng):
    check_layer(FlattenLayer(), rng.standard_normal((2, 3, 2, 2)), rng)


def test_softmax_cross_entropy_gradient(rng):
    x = rng.standard_normal((5, 4)) * 3
    labels = one_hot(rng.integers(0, 4, 5), 4)
    layer = SoftMaxCrossEntropyLoss()
    layer.forward(x, labels)
    analytic = layer.backward(labels)
    assert_gradient(analytic, numerical_gradient(lambda v: layer.forward(v, labels), x))


# ---------------------------------------------------------------------------
# Batch normalization
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "channels, shape",
    [(0, (6, 4)), (3, (4, 3, 2, 3)), (2, (5, 8))],
    ids=["features", "conv-4d", "conv-2d"],
)
def test_batchnorm_train_gradients(channels, shape, rng):
    layer = BatchNorm(0.0, channels)
    x = rng.standard_normal(shape) * 2 + 1
    layer.forward(x)  # creates gamma and beta
    size = layer.weights.shape
    layer.weights = rng.uniform(0.5, 1.5, size)
    layer.bias = rng.standard_normal(size)
    check_layer(layer, x, rng, params=("weights", "bias"))


@pytest.mark.parametrize("channels, shape", [(0, (6, 4)), (3, (4, 3, 2, 3))])
def test_batchnorm_test_phase_gradients(channels, shape, rng):
    layer = BatchNorm(0.0, channels)
    layer.forward(rng.standard_normal(shape))
    layer.phase = Phase.test
    layer.weights = rng.uniform(0.5, 1.5, layer.weights.shape)
    check_layer(layer, rng.standard_normal(shape), rng, params=("weights", "bias"))


# ---------------------------------------------------------------------------
# DropOut with the exact gradient
# ---------------------------------------------------------------------------


def test_dropout_scaled_backward_gradient(rng):
    layer = DropOut(0.4, scale_backward=True)
    x = rng.standard_normal((6, 5))
    probe = rng.standard_normal(x.shape)

    def f(v):
        # The same mask for every evaluation: reseed before each draw.
        np.random.seed(3)
        return float(np.sum(probe * layer.forward(v)))

    np.random.seed(3)
    out = layer.forward(x)
    assert np.any(out == 0) and np.any(out != 0)
    analytic = layer.backward(probe)
    assert_gradient(analytic, numerical_gradient(f, x))


# ---------------------------------------------------------------------------
# A whole LeNet
# ---------------------------------------------------------------------------


def build_lenet():
    """The tutorial's LeNet on 28x28 inputs, learning rate 0."""
    layers = [
        ConvolutionalLayer((1, 1), (1, 5, 5), 6, 0.0),
        ReLU(),
        MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2)),
        ConvolutionalLayer((1, 1), (6, 5, 5), 10, 0.0),
        ReLU(),
        MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2)),
        FlattenLayer(),
        FullyConnectedLayer(490, 120, 0.0),
        ReLU(),
        FullyConnectedLayer(120, 84, 0.0),
        ReLU(),
        FullyConnectedLayer(84, 10, 0.0),
    ]
    for layer in layers:
        if hasattr(layer, "initialize"):
            layer.initialize(He(), Const(0.1))
    return layers


def sample_indices(shape, count, rng):
    """``count`` distinct multi-indices of an array of ``shape``."""
    flat = rng.choice(int(np.prod(shape)), size=min(count, int(np.prod(shape))), replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def test_lenet_gradients(rng):
    layers = build_lenet()
    loss_layer = SoftMaxCrossEntropyLoss()
    x = rng.random((2, 1, 28, 28))
    labels = one_hot(np.array([3, 7]), 10)

    def loss(v):
        for layer in layers:
            v = layer.forward(v)
        return loss_layer.forward(v, labels)

    loss(x)
    error = loss_layer.backward(labels)
    for layer in reversed(layers):
        error = layer.backward(error)
    analytic_x = error

    picks = sample_indices(x.shape, 30, rng)
    numeric_x = numerical_gradient(loss, x, indices=picks)
    chosen = tuple(np.array(picks).T)
    assert_gradient(analytic_x[chosen], numeric_x[chosen])

    trainable = [layer for layer in layers if hasattr(layer, "get_gradient_weights")]
    assert len(trainable) == 5
    for layer in trainable:
        grads = {"weights": layer.get_gradient_weights(), "bias": layer.get_gradient_bias()}
        # A FullyConnectedLayer's bias is the last row of its weights.
        names = ["weights"] if isinstance(layer, FullyConnectedLayer) else ["weights", "bias"]
        for name in names:
            saved = np.array(getattr(layer, name), copy=True)
            picks = sample_indices(saved.shape, 30, rng)
            if isinstance(layer, FullyConnectedLayer):
                picks += [(saved.shape[0] - 1, j) for j in rng.choice(saved.shape[1], 3)]
            numeric = numerical_gradient(
                param_function(layer, name, lambda: loss(x)), saved, indices=picks
            )
            setattr(layer, name, saved)
            chosen = tuple(np.array(picks).T)
            assert_gradient(grads[name][chosen], numeric[chosen])
