"""Contract of fastlayers.compat.fau: the FAU exercise framework (exercises 1 to 3).

Shapes, formulas, gradient checks at the exercise's thresholds (sum of the
relative errors of a central-difference check, step 1e-5), phases,
regularizers, and every layer against its fastlayers or reference twin.
"""

import copy
import importlib
import inspect

import numpy as np
import pytest
from scipy import signal

import fastlayers
from fastlayers import reference
from fastlayers.compat.fau import NeuralNetwork as nn_module
from fastlayers.compat.fau.Layers import (
    LSTM,
    RNN,
    BatchNormalization,
    Conv,
    Dropout,
    Flatten,
    FullyConnected,
    Initializers,
    Pooling,
    ReLU,
    Sigmoid,
    SoftMax,
    TanH,
)
from fastlayers.compat.fau.Layers.Base import BaseLayer
from fastlayers.compat.fau.Optimization import Constraints, Loss, Optimizers

from .helpers import network_step, tolerance

RTOL = tolerance(np.float64)

LAYER_MODULES = [
    "Base",
    "FullyConnected",
    "ReLU",
    "SoftMax",
    "Conv",
    "Pooling",
    "Flatten",
    "Initializers",
    "TanH",
    "Sigmoid",
    "Dropout",
    "BatchNormalization",
    "RNN",
    "LSTM",
]


class SquaredError:
    """``sum((x - label)**2)``: the loss the exercise's gradient checks use."""

    def forward(self, x, label):
        self.x = x
        return np.sum((x - label) ** 2)

    def backward(self, label):
        return 2.0 * (self.x - label)


def _relative_errors(analytic, numeric):
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    err = np.abs(analytic - numeric)
    return np.where(scale < 1e-15, 0.0, err / np.where(scale < 1e-15, 1.0, scale))


def _loss(layers, x, label, seed=None):
    for layer in layers:
        if seed is not None:
            np.random.seed(seed)
        x = layer.forward(x)
    return SquaredError().forward(x, label)


def input_gradient_error(layers, x, label, seed=None, eps=1e-5):
    """Sum over the input entries of |analytic - numeric| / max(|analytic|, |numeric|)."""
    loss = SquaredError()
    out = x
    for layer in layers:
        if seed is not None:
            np.random.seed(seed)
        out = layer.forward(out)
    loss.forward(out, label)
    error = loss.backward(label)
    for layer in reversed(layers):
        error = layer.backward(error)
    numeric = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (_loss(layers, up, label, seed) - _loss(layers, down, label, seed)) / (
            2 * eps
        )
    return float(np.sum(_relative_errors(error, numeric)))


def parameter_gradient_error(layers, x, label, name, eps=1e-5):
    """The same for the parameter ``name`` of ``layers[0]`` (``weights`` or ``bias``)."""
    first = layers[0]
    value = np.array(getattr(first, name), dtype=np.float64)
    analytic = np.empty_like(value)
    numeric = np.empty_like(value)
    for idx in np.ndindex(value.shape):
        setattr(first, name, value.copy())
        network_step(layers, SquaredError(), x, label)
        analytic[idx] = getattr(first, "gradient_" + name)[idx]
        up, down = value.copy(), value.copy()
        up[idx] += eps
        down[idx] -= eps
        setattr(first, name, up)
        f_up = _loss(layers, x, label)
        setattr(first, name, down)
        f_down = _loss(layers, x, label)
        numeric[idx] = (f_up - f_down) / (2 * eps)
    setattr(first, name, value)
    return float(np.sum(_relative_errors(analytic, numeric)))


def one_hot(batch, categories):
    label = np.zeros((batch, categories))
    label[np.arange(batch), np.random.randint(0, categories, batch)] = 1
    return label


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("name", LAYER_MODULES)
def test_layer_module_holds_class_of_its_name(name):
    module = importlib.import_module(f"fastlayers.compat.fau.Layers.{name}")
    star = {n: getattr(module, n) for n in module.__all__}
    expected = {
        "Base": ["BaseLayer"],
        "Initializers": ["Constant", "UniformRandom", "Xavier", "He"],
    }
    for cls in expected.get(name, [name]):
        assert inspect.isclass(star[cls])


def test_optimization_modules_and_packages():
    import fastlayers.compat.fau.Layers as layers_pkg
    import fastlayers.compat.fau.Optimization as opt_pkg

    assert set(layers_pkg.__all__) == set(LAYER_MODULES)
    assert set(opt_pkg.__all__) == {"Optimizers", "Loss", "Constraints"}
    assert set(Optimizers.__all__) == {"Optimizer", "Sgd", "SgdWithMomentum", "Adam"}
    assert Loss.__all__ == ["CrossEntropyLoss"]
    assert set(Constraints.__all__) == {"L1_Regularizer", "L2_Regularizer"}
    assert set(nn_module.__all__) == {"NeuralNetwork", "save", "load"}


def test_signatures():
    params = lambda f: list(inspect.signature(f).parameters)  # noqa: E731
    assert params(Conv.Conv) == ["stride_shape", "convolution_shape", "num_kernels"]
    assert params(Pooling.Pooling) == ["stride_shape", "pooling_shape"]
    assert params(FullyConnected.FullyConnected) == ["input_size", "output_size"]
    assert params(RNN.RNN) == ["input_size", "hidden_size", "output_size"]
    assert params(LSTM.LSTM) == ["input_size", "hidden_size", "output_size"]
    assert params(BatchNormalization.BatchNormalization) == ["channels"]
    assert params(Dropout.Dropout) == ["probability"]
    assert params(Optimizers.Adam) == ["learning_rate", "mu", "rho"]
    assert params(Optimizers.SgdWithMomentum) == ["learning_rate", "momentum_rate"]
    assert params(nn_module.NeuralNetwork) == [
        "optimizer",
        "weights_initializer",
        "bias_initializer",
    ]
    assert params(Initializers.He().initialize) == ["weights_shape", "fan_in", "fan_out"]


@pytest.mark.parametrize(
    "layer, trainable",
    [
        (lambda: FullyConnected.FullyConnected(3, 2), True),
        (lambda: Conv.Conv(1, (1, 3, 3), 2), True),
        (lambda: BatchNormalization.BatchNormalization(2), True),
        (lambda: RNN.RNN(3, 4, 2), True),
        (lambda: LSTM.LSTM(3, 4, 2), True),
        (lambda: ReLU.ReLU(), False),
        (lambda: SoftMax.SoftMax(), False),
        (lambda: TanH.TanH(), False),
        (lambda: Sigmoid.Sigmoid(), False),
        (lambda: Flatten.Flatten(), False),
        (lambda: Pooling.Pooling(2, 2), False),
        (lambda: Dropout.Dropout(0.5), False),
    ],
)
def test_trainable_and_default_phase(layer, trainable):
    layer = layer()
    assert isinstance(layer, BaseLayer)
    assert layer.trainable is trainable
    assert layer.testing_phase is False


# --------------------------------------------------------------------------- optimizers


def test_sgd_formula_and_scalars():
    opt = Optimizers.Sgd(0.5)
    w, g = np.random.randn(3, 4), np.random.randn(3, 4)
    np.testing.assert_allclose(opt.calculate_update(w, g), w - 0.5 * g, rtol=RTOL)
    assert opt.calculate_update(1.0, 1.0) == 0.5


def test_momentum_formula():
    opt = Optimizers.SgdWithMomentum(0.1, 0.9)
    w = np.random.randn(5)
    grads = [np.random.randn(5) for _ in range(3)]
    v = np.zeros(5)
    for g in grads:
        v = 0.9 * v - 0.1 * g
        expected = w + v
        w = opt.calculate_update(w, g)
        np.testing.assert_allclose(w, expected, rtol=RTOL)


def test_adam_formula():
    lr, mu, rho = 0.01, 0.9, 0.999
    opt = Optimizers.Adam(lr, mu, rho)
    w = np.random.randn(6)
    v = r = np.zeros(6)
    for k in range(1, 4):
        g = np.random.randn(6)
        v = mu * v + (1 - mu) * g
        r = rho * r + (1 - rho) * g * g
        expected = w - lr * (v / (1 - mu**k)) / (np.sqrt(r / (1 - rho**k)) + 1e-8)
        w = opt.calculate_update(w, g)
        np.testing.assert_allclose(w, expected, rtol=RTOL)


@pytest.mark.parametrize("reg_class", ["L1_Regularizer", "L2_Regularizer"])
@pytest.mark.parametrize(
    "opt_factory",
    [
        lambda: Optimizers.Sgd(0.3),
        lambda: Optimizers.SgdWithMomentum(0.3, 0.9),
        lambda: Optimizers.Adam(0.3, 0.9, 0.999),
    ],
)
def test_regularizer_gradient_on_the_weights_before_the_step(reg_class, opt_factory):
    reg = getattr(Constraints, reg_class)(0.7)
    plain, regularized = opt_factory(), opt_factory()
    regularized.add_regularizer(reg)
    assert regularized.regularizer is reg and plain.regularizer is None
    w = np.random.randn(4, 5)
    for _ in range(2):
        g = np.random.randn(4, 5)
        expected = plain.calculate_update(w, g) - 0.3 * reg.calculate_gradient(w)
        w = regularized.calculate_update(w, g)
        np.testing.assert_allclose(w, expected, rtol=RTOL)


def test_regularizer_formulas():
    w = np.random.randn(3, 4)
    np.testing.assert_allclose(
        Constraints.L1_Regularizer(0.2).calculate_gradient(w), 0.2 * np.sign(w), rtol=RTOL
    )
    np.testing.assert_allclose(
        Constraints.L2_Regularizer(0.2).calculate_gradient(w), 0.2 * w, rtol=RTOL
    )
    np.testing.assert_allclose(
        Constraints.L1_Regularizer(0.2).norm(w), 0.2 * np.abs(w).sum(), rtol=RTOL
    )
    np.testing.assert_allclose(
        Constraints.L2_Regularizer(0.2).norm(w), 0.2 * (w**2).sum(), rtol=RTOL
    )


# --------------------------------------------------------------------------- initializers


def test_initializers_shapes_and_global_random_state():
    shape = (7, 5)
    assert np.all(Initializers.Constant().initialize(shape, 5, 7) == 0.1)
    assert np.all(Initializers.Constant(0.3).initialize(shape, 5, 7) == 0.3)
    for init, draw in [
        (Initializers.UniformRandom(), lambda: np.random.uniform(0, 1, shape)),
        (Initializers.Xavier(), lambda: np.random.normal(0, np.sqrt(2 / 12), shape)),
        (Initializers.He(), lambda: np.random.normal(0, np.sqrt(2 / 5), shape)),
    ]:
        np.random.seed(3)
        got = init.initialize(shape, 5, 7)
        np.random.seed(3)
        np.testing.assert_array_equal(got, draw())


@pytest.mark.parametrize(
    "init, sigma",
    [(Initializers.Xavier(), np.sqrt(2 / 800)), (Initializers.He(), np.sqrt(2 / 400))],
)
def test_initializer_distribution(init, sigma):
    from scipy import stats

    np.random.seed(1337)
    w = init.initialize((400, 400), 400, 400)
    assert stats.kstest(w.flat, "norm", args=(0, sigma)).pvalue > 0.01


# --------------------------------------------------------------------------- activations and loss


def test_relu_tanh_sigmoid_against_fastlayers():
    x = np.random.randn(6, 5)
    e = np.random.randn(6, 5)
    for compat, twin in [
        (ReLU.ReLU(), fastlayers.ReLU()),
        (TanH.TanH(), fastlayers.TanH()),
        (Sigmoid.Sigmoid(), fastlayers.Sigmoid()),
    ]:
        np.testing.assert_allclose(compat.forward(x), twin.forward(x), rtol=RTOL)
        np.testing.assert_allclose(compat.backward(e), twin.backward(e), rtol=RTOL)


@pytest.mark.parametrize("factory", [ReLU.ReLU, TanH.TanH, Sigmoid.Sigmoid, SoftMax.SoftMax])
def test_activation_gradients(factory):
    x = np.random.uniform(-1, 1, (10, 5))
    assert input_gradient_error([factory()], x, one_hot(10, 5)) <= 1e-5


def test_softmax_formula_and_shift():
    x = np.random.randn(4, 3)
    y = SoftMax.SoftMax().forward(x)
    np.testing.assert_allclose(y, np.exp(x) / np.exp(x).sum(1, keepdims=True), rtol=RTOL)
    assert np.all(np.isfinite(SoftMax.SoftMax().forward(np.full((2, 3), 1e4))))
    layer = SoftMax.SoftMax()
    y = layer.forward(x)
    e = np.random.randn(4, 3)
    np.testing.assert_allclose(
        layer.backward(e), y * (e - (e * y).sum(1, keepdims=True)), rtol=RTOL
    )


def test_cross_entropy_formula():
    label = one_hot(9, 4)
    pred = np.random.uniform(0.1, 1, (9, 4))
    loss = Loss.CrossEntropyLoss()
    eps = np.finfo(float).eps
    np.testing.assert_allclose(
        loss.forward(pred, label), -np.log(pred[label == 1] + eps).sum(), rtol=RTOL
    )
    np.testing.assert_allclose(loss.backward(label), -label / pred, rtol=RTOL)
    # A zero prediction for the true class costs -ln(eps) per sample.
    wrong = np.roll(label, 1, axis=1)
    np.testing.assert_allclose(loss.forward(wrong, label), -9 * np.log(eps), rtol=RTOL)


def test_cross_entropy_gradient():
    label = one_hot(9, 4)
    pred = np.random.uniform(0.1, 1, (9, 4))
    loss = Loss.CrossEntropyLoss()
    loss.forward(pred, label)
    analytic = loss.backward(label)
    numeric = np.empty_like(pred)
    for idx in np.ndindex(pred.shape):
        up, down = pred.copy(), pred.copy()
        up[idx] += 1e-5
        down[idx] -= 1e-5
        numeric[idx] = (loss.forward(up, label) - loss.forward(down, label)) / 2e-5
    assert np.sum(_relative_errors(analytic, numeric)) <= 1e-4


# --------------------------------------------------------------------------- fully connected


def test_fully_connected_against_reference_twin():
    layer = FullyConnected.FullyConnected(4, 3)
    assert layer.weights.shape == (5, 3)
    assert 0 <= layer.weights.min() and layer.weights.max() < 1
    twin = reference.FullyConnectedLayer(4, 3, 0.0)
    twin.weights = layer.weights.copy()
    x, e = np.random.randn(6, 4), np.random.randn(6, 3)
    np.testing.assert_allclose(layer.forward(x), twin.forward(x), rtol=RTOL)
    np.testing.assert_allclose(
        layer.forward(x), x @ layer.weights[:-1] + layer.weights[-1], rtol=RTOL
    )
    np.testing.assert_allclose(layer.backward(e), twin.backward(e), rtol=RTOL)
    np.testing.assert_allclose(layer.gradient_weights, twin.gradient_weights, rtol=RTOL)


def test_fully_connected_gradients():
    x = np.random.rand(9, 4)
    label = one_hot(9, 3)
    assert input_gradient_error([FullyConnected.FullyConnected(4, 3)], x, label) <= 1e-5
    assert (
        parameter_gradient_error([FullyConnected.FullyConnected(4, 3)], x, label, "weights") <= 1e-5
    )


def test_fully_connected_initialize_fans_and_bias_row():
    seen = {}

    class Recorder:
        def initialize(self, shape, fan_in, fan_out):
            seen.update(shape=shape, fan_in=fan_in, fan_out=fan_out)
            return np.full(shape, 2.0)

    layer = FullyConnected.FullyConnected(4, 10)
    layer.initialize(Recorder(), Initializers.Constant(0.5))
    assert seen == {"shape": (4, 10), "fan_in": 4, "fan_out": 10}
    assert np.all(layer.weights[:-1] == 2.0) and np.all(layer.weights[-1] == 0.5)


def test_no_optimizer_no_update_and_setters():
    layer = FullyConnected.FullyConnected(3, 2)
    layer.weights = np.arange(8).reshape(4, 2)  # integers are accepted
    assert layer.weights.dtype == np.float64
    before = layer.weights.copy()
    layer.forward(np.random.randn(5, 3))
    layer.backward(np.random.randn(5, 2))
    np.testing.assert_array_equal(layer.weights, before)


def test_update_with_sgd():
    layer = FullyConnected.FullyConnected(3, 2)
    layer.optimizer = Optimizers.Sgd(0.1)
    w = layer.weights.copy()
    layer.forward(np.random.randn(5, 3))
    layer.backward(np.random.randn(5, 2))
    np.testing.assert_allclose(layer.weights, w - 0.1 * layer.gradient_weights, rtol=RTOL)


# --------------------------------------------------------------------------- conv


def conv_reference(x, w, b, stride):
    """The exercise's own way: scipy correlate "same" per channel, summed, then subsampled."""
    batch, k = x.shape[0], w.shape[0]
    out = []
    for i in range(batch):
        maps = []
        for j in range(k):
            acc = (
                sum(signal.correlate(x[i, c], w[j, c], mode="same") for c in range(x.shape[1]))
                + b[j]
            )
            maps.append(acc[tuple(slice(None, None, s) for s in stride)])
        out.append(maps)
    return np.array(out)


@pytest.mark.parametrize("stride", [(1, 1), (3, 2), (2, 1)])
def test_conv_2d_against_scipy_and_reference_twin(stride):
    layer = Conv.Conv(stride, (3, 5, 3), 4)
    x = np.random.randn(2, 3, 10, 9)
    y = layer.forward(x)
    assert y.shape == (2, 4, -(-10 // stride[0]), -(-9 // stride[1]))
    np.testing.assert_allclose(
        y, conv_reference(x, layer.weights, layer.bias, stride), rtol=RTOL, atol=1e-12
    )
    twin = reference.ConvolutionalLayer(stride, (3, 5, 3), 4, 0.0)
    twin.weights, twin.bias = layer.weights.copy(), layer.bias.copy()
    np.testing.assert_allclose(y, twin.forward(x), rtol=RTOL, atol=1e-12)
    e = np.random.randn(*y.shape)
    np.testing.assert_allclose(layer.backward(e), twin.backward(e), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(layer.gradient_weights, twin.gradient_weights, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(layer.gradient_bias, twin.gradient_bias, rtol=RTOL, atol=1e-12)


def test_conv_1d_equals_the_2d_path():
    one = Conv.Conv([2], (3, 3), 4)
    two = Conv.Conv((1, 2), (3, 1, 3), 4)
    two.weights = one.weights[:, :, None, :]
    two.bias = one.bias
    x = np.random.randn(2, 3, 15)
    y1 = one.forward(x)
    y2 = two.forward(x[:, :, None, :])
    assert y1.shape == (2, 4, 8)
    np.testing.assert_allclose(y1, y2[:, :, 0, :], rtol=RTOL)
    e = np.random.randn(*y1.shape)
    np.testing.assert_allclose(
        one.backward(e), two.backward(e[:, :, None, :])[:, :, 0, :], rtol=RTOL
    )
    np.testing.assert_allclose(one.gradient_weights, two.gradient_weights[:, :, 0, :], rtol=RTOL)
    np.testing.assert_allclose(one.gradient_bias, two.gradient_bias, rtol=RTOL)


def test_conv_gradients_at_the_exercise_thresholds():
    x = np.abs(np.random.random((2, 3, 5, 7)))
    label = np.random.random((2, 3 * 5 * 7))
    make = lambda stride: [Conv.Conv(stride, (3, 3, 3), 3), Flatten.Flatten()]  # noqa: E731
    assert input_gradient_error(make((1, 1)), x, label) <= 5e-2
    assert parameter_gradient_error(make((1, 1)), x, label, "weights") <= 1e-5
    assert parameter_gradient_error(make((1, 1)), x, label, "bias") <= 1e-5
    assert parameter_gradient_error(make((2, 2)), x, np.random.random((2, 36)), "weights") <= 1e-5
    x = np.abs(np.random.random((2, 6, 5, 14)))
    assert (
        input_gradient_error(
            [Conv.Conv((1, 2), (6, 3, 3), 1), Flatten.Flatten()], x, np.random.random((2, 35))
        )
        <= 1e-4
    )


def test_conv_setters_accept_wrong_shape_for_a_while_and_integers():
    conv = Conv.Conv((1, 1), (1, 3, 3), 1)
    conv.weights = np.ones((1, 3, 3), dtype=int)
    conv.bias = np.array([0])
    with pytest.raises(ValueError, match="Conv: expected weights of shape"):
        conv.forward(np.ones((1, 1, 4, 4)))
    conv.weights = np.expand_dims(conv.weights, 0)
    assert conv.weights.dtype == np.float64 and conv.bias.dtype == np.float64
    y = conv.forward(np.ones((1, 1, 4, 4)))
    assert y[0, 0, 1, 1] == 9.0


def test_conv_initialize_fans_and_random_construction():
    seen = {}

    class Recorder:
        def initialize(self, shape, fan_in, fan_out):
            seen.update(shape=shape, fan_in=fan_in, fan_out=fan_out)
            return np.zeros(shape)

    conv = Conv.Conv((1, 1), (3, 5, 8), 4)
    assert conv.weights.shape == (4, 3, 5, 8) and conv.bias.shape == (4,)
    assert np.mean(conv.weights) > 0.25 and np.mean(conv.bias) > 0.0
    conv.initialize(Recorder(), Initializers.Constant(0.1))
    assert seen == {"shape": (4, 3, 5, 8), "fan_in": 120, "fan_out": 160}
    assert np.all(conv.bias == 0.1)
    Conv.Conv([1], (2, 3), 5).initialize(Recorder(), Initializers.Constant())
    assert seen == {"shape": (5, 2, 3), "fan_in": 6, "fan_out": 15}


def test_conv_separate_optimizer_copies_and_update():
    conv = Conv.Conv((1, 1), (2, 3, 3), 2)
    adam = Optimizers.Adam(0.01, 0.9, 0.999)
    conv.optimizer = adam
    assert conv.optimizer is adam
    w, b = conv.weights.copy(), conv.bias.copy()
    y = conv.forward(np.random.randn(2, 2, 5, 5))
    conv.backward(np.random.randn(*y.shape))
    # Each parameter's Adam starts from zero moments: the first step is lr * g / (|g| + eps).
    for value, old, g in [
        (conv.weights, w, conv.gradient_weights),
        (conv.bias, b, conv.gradient_bias),
    ]:
        np.testing.assert_allclose(value, old - 0.01 * g / (np.abs(g) + 1e-8), rtol=RTOL)
    assert adam.k == 0  # the assigned optimizer is copied, never stepped itself


# --------------------------------------------------------------------------- pooling and flatten


@pytest.mark.parametrize(
    "stride, pool", [((2, 2), (2, 2)), ((2, 1), (2, 2)), ((3, 2), (2, 2)), ((1, 1), (3, 2))]
)
def test_pooling_against_reference_twin(stride, pool):
    x = np.random.uniform(-1, 1, (2, 2, 7, 7))
    layer = Pooling.Pooling(stride, pool)
    twin = reference.MaxPoolLayer(neighborhood=pool, stride=stride)
    y = layer.forward(x)
    assert y.shape == (2, 2, (7 - pool[0]) // stride[0] + 1, (7 - pool[1]) // stride[1] + 1)
    np.testing.assert_array_equal(y, twin.forward(x))
    e = np.random.randn(*y.shape)
    np.testing.assert_allclose(layer.backward(e), twin.backward(e), rtol=RTOL)


@pytest.mark.parametrize("stride", [(2, 2), (2, 1), (3, 2)])
def test_pooling_gradients(stride):
    x = np.random.uniform(-1, 1, (2, 2, 4, 7))
    layers = [Pooling.Pooling(stride, (2, 2)), Flatten.Flatten()]
    out = layers[1].forward(layers[0].forward(x)).shape[1]
    assert input_gradient_error(layers, x, np.random.random((2, out))) <= 1e-6


def test_flatten_round_trip():
    x = np.arange(9 * 3 * 4 * 11, dtype=float).reshape(9, 3, 4, 11)
    layer = Flatten.Flatten()
    y = layer.forward(x)
    np.testing.assert_array_equal(y, x.reshape(9, -1))
    np.testing.assert_array_equal(layer.backward(y), x)


# --------------------------------------------------------------------------- dropout


def test_dropout_keep_probability_and_phases():
    x = np.ones((2000, 10))
    layer = Dropout.Dropout(0.25)
    np.random.seed(5)
    y = layer.forward(x)
    np.random.seed(5)
    mask = np.random.random_sample(x.shape) < 0.25
    np.testing.assert_array_equal(y, mask * 4.0)
    np.testing.assert_array_equal(layer.backward(x), mask * 4.0)
    layer.testing_phase = True
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)


def test_dropout_gradient_with_reseeding():
    x = np.ones((10, 10))
    assert input_gradient_error([Dropout.Dropout(0.5)], x, one_hot(10, 10), seed=1337) <= 1e-5


# --------------------------------------------------------------------------- batch normalization


def test_batchnorm_forward_statistics_and_reformat():
    layer = BatchNormalization.BatchNormalization(3)
    image = np.arange(5 * 3 * 6 * 4).reshape(5, 3, 6, 4)
    vec = layer.reformat(image)
    np.testing.assert_array_equal(vec, image.transpose(0, 2, 3, 1).reshape(-1, 3))
    np.testing.assert_array_equal(layer.reformat(vec), image)
    x = np.random.uniform(-1, 1, (200, 2, 3, 3))
    out = BatchNormalization.BatchNormalization(2).forward(x)
    per_channel = out.transpose(0, 2, 3, 1).reshape(-1, 2)
    np.testing.assert_allclose(per_channel.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(per_channel.var(0), 1, rtol=RTOL)


def test_batchnorm_phases_and_running_statistics():
    x = np.random.rand(200, 6)
    layer = BatchNormalization.BatchNormalization(6)
    layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, x.mean(0), rtol=RTOL)
    np.testing.assert_allclose(layer.running_var, x.var(0), rtol=RTOL)
    x2 = np.random.rand(200, 6) + 1
    layer.forward(x2)
    np.testing.assert_allclose(layer.running_mean, 0.8 * x.mean(0) + 0.2 * x2.mean(0), rtol=RTOL)
    layer.testing_phase = True
    out = layer.forward(np.zeros((4, 6)))
    expected = -layer.running_mean / np.sqrt(layer.running_var + layer.epsilon)
    np.testing.assert_allclose(out, np.broadcast_to(expected, (4, 6)), rtol=RTOL)


def test_batchnorm_against_fastlayers_twin_in_training():
    x = np.random.uniform(-1, 1, (20, 3, 4, 4))
    layer = BatchNormalization.BatchNormalization(3)
    layer.epsilon = 1e-10
    layer.weights = np.random.rand(3)
    layer.bias = np.random.rand(3)
    twin = fastlayers.BatchNorm(0.0, 3, epsilon=1e-10)
    twin.weights, twin.bias = layer.weights.copy(), layer.bias.copy()
    np.testing.assert_allclose(layer.forward(x), twin.forward(x), rtol=RTOL, atol=1e-12)
    e = np.random.randn(*x.shape)
    np.testing.assert_allclose(layer.backward(e), twin.backward(e), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(layer.gradient_weights, twin.gradient_weights, rtol=RTOL)
    np.testing.assert_allclose(layer.gradient_bias, twin.gradient_bias, rtol=RTOL)


def test_batchnorm_gradients_at_the_exercise_thresholds():
    x = np.random.random((200, 18))
    x_conv = np.random.uniform(-1, 1, (200, 2, 3, 3))
    label = one_hot(200, 5)

    def chain(channels, warm=None):
        bn = BatchNormalization.BatchNormalization(channels)
        if warm is not None:
            bn.forward(warm)
        return [bn, Flatten.Flatten(), FullyConnected.FullyConnected(18, 5)]

    assert input_gradient_error(chain(18), x[:40], label[:40]) <= 1e-4
    assert parameter_gradient_error(chain(18, x), x, label, "weights") <= 1e-6
    assert parameter_gradient_error(chain(18, x), x, label, "bias") <= 1e-6
    assert input_gradient_error(chain(2), x_conv[:30], label[:30]) <= 1e-3
    assert parameter_gradient_error(chain(2, x_conv), x_conv, label, "weights") <= 1e-6
    assert parameter_gradient_error(chain(2, x_conv), x_conv, label, "bias") <= 1e-6


# --------------------------------------------------------------------------- recurrent


def rnn_loop(x, wh, wy, in_size):
    """The Elman recurrence written per time step, without the layer."""
    h = np.zeros(wh.shape[1])
    out = []
    for t in range(x.shape[0]):
        h = np.tanh(np.concatenate([x[t], h, [1.0]]) @ wh)
        out.append(1 / (1 + np.exp(-(np.concatenate([h, [1.0]]) @ wy))))
    return np.array(out)


def test_rnn_shapes_formula_and_memorize():
    layer = RNN.RNN(13, 7, 5)
    assert layer.weights.shape == (21, 7)
    x = np.random.rand(9, 13)
    y = layer.forward(x)
    np.testing.assert_allclose(y, rnn_loop(x, layer.weights, layer.weights_output, 13), rtol=RTOL)
    assert layer.backward(np.random.randn(9, 5)).shape == (9, 13)
    assert layer.gradient_weights.shape == (21, 7)
    np.testing.assert_array_equal(layer.forward(x), y)  # fresh state each call
    layer = RNN.RNN(13, 7, 5)
    layer.initialize(Initializers.He(), Initializers.Constant(0.0))
    layer.memorize = True
    first = layer.forward(x)
    second = layer.forward(x)
    # The second call starts from the state the first ended in.
    h = np.zeros(7)
    for t in range(9):
        h = np.tanh(np.concatenate([x[t], h, [1.0]]) @ layer.weights)
    assert np.abs(first[0] - second[0]).max() > 1e-6
    z = (
        np.concatenate([np.tanh(np.concatenate([x[0], h, [1.0]]) @ layer.weights), [1.0]])
        @ layer.weights_output
    )
    np.testing.assert_allclose(second[0], 1 / (1 + np.exp(-z)), rtol=RTOL)


def test_rnn_initialize_weights_property_is_the_hidden_layer():
    class Rows:
        def initialize(self, shape, fan_in, fan_out):
            w = np.zeros(shape)
            w[0], w[1] = 1, 2
            return w

    layer = RNN.RNN(13, 7, 5)
    layer.initialize(Rows(), Initializers.Constant(0.0))
    assert np.sum(layer.weights) == 21.0


@pytest.mark.parametrize("factory, weights_threshold", [(RNN.RNN, 1e-4), (LSTM.LSTM, 1e-3)])
def test_recurrent_gradients_at_the_exercise_thresholds(factory, weights_threshold):
    x = np.abs(np.random.random((9, 13)))
    label = one_hot(9, 4)
    layer = factory(13, 7, 4)
    layer.initialize(Initializers.He(), Initializers.He())
    assert input_gradient_error([layer], x, label) <= 1e-4
    assert parameter_gradient_error([layer], x, label, "weights") <= weights_threshold


def test_lstm_shapes_and_state():
    layer = LSTM.LSTM(13, 7, 5)
    assert layer.weights.shape == (21, 28)
    x = np.tile(np.random.rand(1, 13), (13, 1))
    y = layer.forward(x)
    assert y.shape == (13, 5) and not np.allclose(y[0], y[1])
    assert layer.backward(np.random.randn(13, 5)).shape == (13, 13)
    layer = LSTM.LSTM(13, 7, 5)
    layer.initialize(Initializers.He(), Initializers.Constant(0.0))
    layer.memorize = True
    first = layer.forward(x)
    assert np.abs(layer.forward(x)[0] - first[0]).max() > 1e-6


@pytest.mark.parametrize("factory", [RNN.RNN, LSTM.LSTM])
def test_recurrent_update_uses_separate_copies(factory):
    layer = factory(4, 3, 2)
    layer.optimizer = Optimizers.Sgd(0.5)
    w, wy = layer.weights.copy(), layer.weights_output.copy()
    layer.forward(np.random.rand(6, 4))
    layer.backward(np.random.randn(6, 2))
    np.testing.assert_allclose(layer.weights, w - 0.5 * layer.gradient_weights, rtol=RTOL)
    np.testing.assert_allclose(
        layer.weights_output, wy - 0.5 * layer.gradient_weights_output, rtol=RTOL
    )


# --------------------------------------------------------------------------- network


class FixedData:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def next(self):
        return self.x, self.y


def small_net(optimizer, with_init=True):
    args = (Initializers.UniformRandom(), Initializers.Constant(0.1)) if with_init else ()
    net = nn_module.NeuralNetwork(optimizer, *args)
    net.data_layer = FixedData(np.random.rand(12, 4), one_hot(12, 3))
    net.loss_layer = Loss.CrossEntropyLoss()
    net.append_layer(FullyConnected.FullyConnected(4, 3))
    net.append_layer(ReLU.ReLU())
    net.append_layer(Dropout.Dropout(0.8))
    net.append_layer(FullyConnected.FullyConnected(3, 3))
    net.append_layer(SoftMax.SoftMax())
    return net


def test_network_append_copies_optimizer_and_initializes():
    opt = Optimizers.Sgd(1)
    net = nn_module.NeuralNetwork(opt, Initializers.Constant(0.123), Initializers.Constant(0.123))
    net.append_layer(FullyConnected.FullyConnected(1, 1))
    net.append_layer(FullyConnected.FullyConnected(1, 1))
    assert net.layers[0].optimizer is not net.layers[1].optimizer
    assert net.layers[0].optimizer is not opt
    assert np.all(net.layers[0].weights == 0.123)
    one_arg = nn_module.NeuralNetwork(opt)  # exercise 1: no initializers, no initialize call
    layer = FullyConnected.FullyConnected(2, 2)
    w = layer.weights.copy()
    one_arg.append_layer(layer)
    np.testing.assert_array_equal(layer.weights, w)


def test_network_train_test_phases_and_loss():
    net = small_net(Optimizers.Adam(1e-2, 0.9, 0.999))
    net.train(30)
    assert len(net.loss) == 30 and net.loss[-1] < net.loss[0]
    assert all(layer.testing_phase is False for layer in net.layers)
    x = np.random.rand(5, 4)
    out = net.test(x)
    assert net.phase is True and all(layer.testing_phase for layer in net.layers)
    np.testing.assert_array_equal(out, net.test(x))  # dropout is off in the testing phase


def test_network_regularization_loss():
    def first_loss(reg):
        np.random.seed(0)
        opt = Optimizers.Sgd(1e-3)
        if reg is not None:
            opt.add_regularizer(reg)
        net = small_net(opt)
        return net, net.forward()

    plain_net, plain = first_loss(None)
    reg_net, regularized = first_loss(Constraints.L2_Regularizer(0.1))
    expected = sum(0.1 * np.sum(layer.weights**2) for layer in reg_net.layers if layer.trainable)
    np.testing.assert_allclose(regularized - plain, expected, rtol=RTOL)
    rnn = RNN.RNN(4, 4, 3)
    opt = Optimizers.Sgd(1e-3)
    opt.add_regularizer(Constraints.L1_Regularizer(0.5))
    rnn.optimizer = opt
    np.testing.assert_allclose(
        rnn.calculate_regularization_loss(),
        0.5 * (np.abs(rnn.weights).sum() + np.abs(rnn.weights_output).sum()),
        rtol=RTOL,
    )


def test_network_save_and_load(tmp_path):
    net = small_net(Optimizers.SgdWithMomentum(1e-2, 0.9))
    net.train(3)
    path = tmp_path / "net.pkl"
    nn_module.save(str(path), net)
    data = FixedData(np.random.rand(12, 4), one_hot(12, 3))
    loaded = nn_module.load(str(path), data)
    assert loaded.data_layer is data
    x = np.random.rand(6, 4)
    np.testing.assert_array_equal(loaded.test(x), net.test(x))
    loaded.train(2)  # the optimizers' state came along
    assert len(loaded.loss) == 5
    # The course's data layers hold a generator, which cannot be pickled: save drops the data layer.
    net.data_layer.batches = (i for i in range(3))
    nn_module.save(str(path), net)
    assert nn_module.load(str(path), None).data_layer is None


def test_network_float64_end_to_end():
    net = small_net(Optimizers.Sgd(1e-3))
    net.data_layer = FixedData(np.random.rand(12, 4).astype(np.float32), one_hot(12, 3))
    assert net.test(np.random.rand(3, 4).astype(np.float32)).dtype == np.float64


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make, error, text",
    [
        (
            lambda: Conv.Conv(1, (3, 3), 2).forward(np.zeros((1, 3, 5, 5))),
            ValueError,
            "Conv: expected input of shape",
        ),
        (
            lambda: Conv.Conv((1, 1), (3, 3), 2),
            TypeError,
            "Conv: expected stride_shape as an int or a sequence of one int",
        ),
        (lambda: Conv.Conv((1, 1), (3, 3, 3, 3), 2), TypeError, "Conv: expected convolution_shape"),
        (
            lambda: Conv.Conv((1, 1), (2, 3, 3), 0),
            ValueError,
            "Conv: expected num_kernels of at least 1",
        ),
        (
            lambda: Conv.Conv((1, 1), (2, 3, 3), 1).forward(np.zeros((1, 3, 5, 5))),
            ValueError,
            "Conv: expected input with 2 channels",
        ),
        (
            lambda: Pooling.Pooling((1, 1), (3, 3)).forward(np.zeros((1, 1, 2, 5))),
            ValueError,
            "Pooling: expected an input",
        ),
        (
            lambda: FullyConnected.FullyConnected(3, 2).forward(np.zeros((2, 4))),
            ValueError,
            "FullyConnected: expected input",
        ),
        (
            lambda: FullyConnected.FullyConnected(3, 2).forward(np.array([["a"] * 3])),
            TypeError,
            "FullyConnected: expected input as a real array",
        ),
        (lambda: Dropout.Dropout(1.5), ValueError, "Dropout: expected a keep probability"),
        (
            lambda: BatchNormalization.BatchNormalization(3).forward(np.zeros((4, 2))),
            ValueError,
            "BatchNormalization: expected input with 3 channels",
        ),
        (
            lambda: RNN.RNN(3, 2, 1).forward(np.zeros((4, 2))),
            ValueError,
            "RNN: expected input of shape",
        ),
        (
            lambda: ReLU.ReLU().backward(np.zeros(3)),
            RuntimeError,
            "ReLU: backward called before forward",
        ),
        (
            lambda: nn_module.NeuralNetwork(Optimizers.Sgd(1)).forward(),
            RuntimeError,
            "NeuralNetwork: expected data_layer",
        ),
    ],
)
def test_errors_name_the_class(make, error, text):
    with pytest.raises(error, match=text):
        make()


def test_deepcopy_of_a_layer_keeps_it_working():
    layer = Conv.Conv((1, 1), (1, 3, 3), 2)
    layer.optimizer = Optimizers.Sgd(0.1)
    clone = copy.deepcopy(layer)
    x = np.random.randn(1, 1, 5, 5)
    np.testing.assert_array_equal(clone.forward(x), layer.forward(x))


def test_softmax_and_cross_entropy_against_the_fused_fastlayers_loss():
    x = np.random.randn(7, 4)
    label = one_hot(7, 4)
    softmax, loss = SoftMax.SoftMax(), Loss.CrossEntropyLoss()
    twin = fastlayers.SoftMaxCrossEntropyLoss()
    value = loss.forward(softmax.forward(x), label)
    # The exercise adds eps inside the logarithm; the fused loss does not.
    np.testing.assert_allclose(value, twin.forward(x, label), rtol=RTOL)
    np.testing.assert_allclose(
        softmax.backward(loss.backward(label)), twin.backward(label), rtol=RTOL, atol=1e-15
    )


def test_flatten_against_fastlayers_twin():
    x = np.random.randn(3, 2, 4, 5)
    layer, twin = Flatten.Flatten(), fastlayers.FlattenLayer()
    np.testing.assert_array_equal(layer.forward(x), twin.forward(x))
    e = np.random.randn(3, 40)
    np.testing.assert_array_equal(layer.backward(e), twin.backward(e))


@pytest.mark.parametrize("first", ["conv", "fc"])
def test_network_backward_skips_only_the_unused_input_gradient(first):
    # NeuralNetwork.backward does not compute the first layer's input
    # gradient; every parameter must still end exactly where calling each
    # layer's backward by hand puts it.
    np.random.seed(1)
    if first == "conv":
        x = np.random.rand(6, 2, 5, 5)
        layers = [
            Conv.Conv((1, 1), (2, 3, 3), 3),
            Flatten.Flatten(),
            FullyConnected.FullyConnected(75, 4),
        ]
    else:
        x = np.random.rand(6, 5)
        layers = [FullyConnected.FullyConnected(5, 4)]
    label = one_hot(6, 4)
    net = nn_module.NeuralNetwork(
        Optimizers.Adam(1e-2, 0.9, 0.999), Initializers.He(), Initializers.Constant(0.1)
    )
    for layer in layers + [SoftMax.SoftMax()]:
        net.append_layer(layer)
    net.data_layer = FixedData(x, label)
    net.loss_layer = Loss.CrossEntropyLoss()
    manual = copy.deepcopy(net)
    net.train(3)
    for _ in range(3):
        network_step(manual.layers, manual.loss_layer, x, label)
    for a, b in zip(net.layers, manual.layers):
        if a.trainable:
            np.testing.assert_array_equal(a.weights, b.weights)


def test_network_backward_runs_a_subclass_backward_on_the_first_layer():
    calls = []

    class MyConv(Conv.Conv):
        def backward(self, error_tensor):
            calls.append(error_tensor.shape)
            return super().backward(error_tensor)

    net = nn_module.NeuralNetwork(
        Optimizers.Sgd(0.1), Initializers.He(), Initializers.Constant(0.1)
    )
    for layer in [
        MyConv((1, 1), (1, 3, 3), 2),
        Flatten.Flatten(),
        FullyConnected.FullyConnected(50, 3),
        SoftMax.SoftMax(),
    ]:
        net.append_layer(layer)
    net.data_layer = FixedData(np.random.rand(4, 1, 5, 5), one_hot(4, 3))
    net.loss_layer = Loss.CrossEntropyLoss()
    net.train(2)
    assert calls == [(4, 2, 5, 5)] * 2
