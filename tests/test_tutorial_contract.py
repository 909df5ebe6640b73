"""The behaviour the FAU tutorial's own unit tests (``Tests/*.py``) demand.

The tutorial injects its layer classes into ``unittest`` test cases; these
tests pin the same contract on fastlayers' classes, and on those of
:mod:`fastlayers.reference` (every test runs on both): names, constructor
signatures (from the registry, :mod:`tests.registry`), shapes, exact values
the tutorial checks, and its gradient check (``Helpers.gradient_check`` /
``gradient_check_weights``) with the tutorial's thresholds on the tutorial's
layer stacks.
"""

import inspect
import math

import numpy as np
import pytest
from scipy import stats
from scipy.ndimage import gaussian_filter
from scipy.signal import correlate

import fastlayers

from .helpers import assert_close
from .registry import EMPTY, KW, LAYERS, PACKAGES, POS

# ---------------------------------------------------------------------------
# The tutorial's test helpers, rewritten: a reference loss layer and the
# summed relative-error gradient checks.
# ---------------------------------------------------------------------------


class ReferenceSoftMax:
    """Softmax + cross-entropy as in the tutorial's ``Helpers.SoftMax``.

    The loss is summed over the batch and the shift is the global maximum
    of the input, as in the tutorial; ``backward`` returns ``p - y``.
    """

    def __init__(self):
        self.prediction = None

    def predict(self, x):
        """Return the row-wise softmax of ``x``."""
        exp = np.exp(x - np.max(x))
        self.prediction = exp / np.sum(exp, axis=1, keepdims=True)
        return self.prediction

    def forward(self, x, labels):
        """Return the summed cross-entropy of ``softmax(x)`` against ``labels``."""
        prediction = self.predict(x)
        return np.sum(-np.log(prediction[labels == 1]))

    def backward(self, labels):
        """Return ``softmax(x) - labels`` for the last ``x``."""
        return self.prediction - labels


def _relative_difference(analytical, numerical):
    # The tutorial normalises by the larger magnitude and counts an entry
    # as exact when both derivatives vanish (below 1e-15).
    scale = max(abs(analytical), abs(numerical))
    return 0.0 if scale < 1e-15 else abs(analytical - numerical) / scale


def _forward(layers, x, labels):
    for layer in layers[:-1]:
        x = layer.forward(x)
    return layers[-1].forward(x, labels)


def _backward(layers, labels):
    error = layers[-1].backward(labels)
    for layer in reversed(layers[:-1]):
        error = layer.backward(error)
    return error


def tutorial_gradient_check(layers, input_tensor, label_tensor, epsilon=1e-5):
    """Relative error of d(loss)/d(input), per element, as the tutorial computes it.

    ``layers[-1]`` is a loss layer (``forward(x, labels)`` -> scalar).  One
    forward/backward pass gives the analytical gradient; then for every
    element the perturbed inputs ``x + eps`` and ``x - eps`` are pushed
    through the layers in lockstep, layer by layer, as the tutorial does
    (so layers must tolerate repeated forwards without a backward).

    Returns
    -------
    ndarray
        ``|a - n| / max(|a|, |n|)`` per element of ``input_tensor``.
    """
    _forward(layers, input_tensor.copy(), label_tensor)
    analytical = _backward(layers, label_tensor)
    difference = np.zeros_like(input_tensor)
    for index in np.ndindex(*input_tensor.shape):
        plus = input_tensor.copy()
        plus[index] += epsilon
        minus = input_tensor.copy()
        minus[index] -= epsilon
        for layer in layers[:-1]:
            plus = layer.forward(plus)
            minus = layer.forward(minus)
        upper = layers[-1].forward(plus, label_tensor)
        lower = layers[-1].forward(minus, label_tensor)
        numerical = (upper - lower) / (2 * epsilon)
        difference[index] = _relative_difference(analytical[index], numerical)
    return difference


def tutorial_gradient_check_weights(layers, input_tensor, label_tensor, bias, epsilon=1e-5):
    """Relative error of d(loss)/d(weights or bias of ``layers[0]``), per element.

    Like the tutorial, the analytical derivative is recomputed by a full
    forward/backward pass for every element (after re-assigning the
    unperturbed parameters), and the parameters are perturbed by assigning
    new arrays to ``.weights`` / ``.bias``.
    """
    name = "bias" if bias else "weights"
    params = np.array(getattr(layers[0], name), copy=True)
    difference = np.zeros_like(params)
    for index in np.ndindex(*params.shape):
        setattr(layers[0], name, params)
        _forward(layers, input_tensor.copy(), label_tensor)
        _backward(layers, label_tensor)
        gradient = layers[0].get_gradient_bias() if bias else layers[0].get_gradient_weights()
        assert gradient.shape == params.shape
        analytical = gradient[index]

        plus = params.copy()
        plus[index] += epsilon
        setattr(layers[0], name, plus)
        upper = _forward(layers, input_tensor.copy(), label_tensor)
        minus = params.copy()
        minus[index] -= epsilon
        setattr(layers[0], name, minus)
        lower = _forward(layers, input_tensor.copy(), label_tensor)
        numerical = (upper - lower) / (2 * epsilon)
        difference[index] = _relative_difference(analytical, numerical)
    setattr(layers[0], name, params)
    return difference


def random_one_hot(batch, categories):
    """One-hot labels with a random class per row (global np.random)."""
    labels = np.zeros((batch, categories))
    labels[np.arange(batch), np.random.randint(0, categories, batch)] = 1
    return labels


class ShapeCheckingInitializer:
    """Initializer that insists on a tuple shape, like the tutorial's ``rand(*shape)``."""

    calls = []

    @staticmethod
    def initialize(weights_shape):
        assert isinstance(weights_shape, tuple), f"shape passed as {type(weights_shape)}"
        ShapeCheckingInitializer.calls.append(weights_shape)
        return np.random.rand(*weights_shape)


# ---------------------------------------------------------------------------
# Names, signatures, phases
# ---------------------------------------------------------------------------

# Constructors that are not layers; the layers' signatures are in the registry.
OTHER_SIGNATURES = {
    "NeuralNetwork": (
        ("weights_initializer", POS, EMPTY),
        ("bias_initializer", POS, EMPTY),
        ("dtype", KW, None),
    ),
    "Const": (("value", POS, EMPTY),),
    "UniformRandom": (),
    "He": (),
    "Xavier": (),
}
SIGNATURES = {**{name: entry.signature for name, entry in LAYERS.items()}, **OTHER_SIGNATURES}


@pytest.fixture(params=PACKAGES, ids=lambda p: p.__name__)
def package(request):
    """Each test of this module runs on the fast and on the reference classes."""
    return request.param


@pytest.mark.parametrize("name", list(SIGNATURES))
def test_constructor_signature(package, name):
    params = inspect.signature(getattr(package, name)).parameters.values()
    assert [(p.name, p.kind, p.default) for p in params] == list(SIGNATURES[name])


def test_tutorial_class_names_are_exported(package):
    # The tutorial's notebook wires exactly these names into its tests.
    # (Phase is the tutorial's anonymous enum type, checked separately.)
    assert package.Phase is fastlayers.base.Phase
    for name in [
        "BaseLayer", "FullyConnectedLayer", "ReLU", "Sigmoid",
        "SoftMaxCrossEntropyLoss", "Initializer", "Const", "UniformRandom", "He",
        "FlattenLayer", "ConvolutionalLayer", "MaxPoolLayer", "DropOut", "BatchNorm",
        "NeuralNetwork",
    ]:  # fmt: skip
        assert getattr(package, name).__name__ == name
    assert package.Glorot is package.Xavier


def test_registry_names_every_exported_layer(package):
    # A layer class exported without a registry entry would escape every
    # generic test; an entry must name the class each package exports.
    exported = {
        name
        for name in package.__all__
        if inspect.isclass(getattr(package, name))
        and issubclass(getattr(package, name), package.BaseLayer)
        and name != "BaseLayer"
    }
    assert exported == set(LAYERS)
    for name, entry in LAYERS.items():
        assert entry.cls(package) is getattr(package, name)


def test_phase_values(package):
    assert (package.Phase.train, package.Phase.test, package.Phase.validation) == (0, 1, 2)


@pytest.mark.parametrize("name", list(LAYERS))
def test_layers_start_in_train_phase(package, name):
    layer = LAYERS[name].make(package)
    assert isinstance(layer, package.BaseLayer)
    assert layer.phase == package.Phase.train
    assert layer.name == name


def test_base_layer_methods_are_abstract(package):
    layer = package.BaseLayer()
    assert layer.phase == package.Phase.train
    with pytest.raises(NotImplementedError):
        layer.forward(np.zeros((1, 1)))
    with pytest.raises(NotImplementedError):
        layer.backward(np.zeros((1, 1)))


def test_initializers_subclass_initializer(package):
    for init in (package.Const(0.1), package.UniformRandom(), package.He(), package.Xavier()):
        assert isinstance(init, package.Initializer)


# ---------------------------------------------------------------------------
# FullyConnectedLayer
# ---------------------------------------------------------------------------

FC_BATCH, FC_IN, FC_OUT = 9, 4, 3


def _initialized_fc(package, learning_rate, output_size=FC_OUT):
    layer = package.FullyConnectedLayer(FC_IN, output_size, learning_rate)
    layer.initialize(ShapeCheckingInitializer(), ShapeCheckingInitializer)
    return layer


def test_fc_forward_and_backward_sizes(package):
    layer = _initialized_fc(package, 0)
    x = np.random.rand(FC_BATCH, FC_IN)
    out = layer.forward(x)
    assert out.shape == (FC_BATCH, FC_OUT)
    assert layer.backward(out).shape == (FC_BATCH, FC_IN)


def assert_steps_grow_output(layer, x):
    """Ten times: with error = -output, the step taken in backward grows the output's norm."""
    for _ in range(10):
        out = layer.forward(x)
        layer.backward(-out)
        new_out = layer.forward(x)
        assert np.sum(out**2) < np.sum(new_out**2)


def test_fc_update_increases_output_norm(package):
    # The tutorial's test: with error = -output and lr 1, the SGD step taken
    # inside backward must make the output larger in norm every time.
    layer = _initialized_fc(package, 1)
    x = np.random.rand(FC_BATCH, FC_IN)
    assert_steps_grow_output(layer, x)


def test_fc_update_is_plain_sgd_with_pre_update_error(package):
    layer = _initialized_fc(package, 0.5)
    x = np.random.rand(FC_BATCH, FC_IN)
    error = np.random.rand(FC_BATCH, FC_OUT)
    before = layer.weights.copy()
    layer.forward(x)
    dx = layer.backward(error)
    x1 = np.hstack([x, np.ones((FC_BATCH, 1))])
    np.testing.assert_allclose(layer.get_gradient_weights(), x1.T @ error, rtol=1e-12)
    np.testing.assert_allclose(layer.weights, before - 0.5 * (x1.T @ error), rtol=1e-12)
    # The input error uses the weights of the forward pass, not the updated ones.
    np.testing.assert_allclose(dx, error @ before[:-1].T, rtol=1e-12)


def test_fc_bias_makes_zero_input_positive(package):
    layer = package.FullyConnectedLayer(100000, 1, 0)
    layer.initialize(ShapeCheckingInitializer(), ShapeCheckingInitializer)
    assert np.sum(layer.forward(np.zeros((1, 100000)))) > 0


def test_fc_initializers_get_tuples_and_bias_initializer_may_be_a_class(package):
    ShapeCheckingInitializer.calls.clear()
    layer = package.FullyConnectedLayer(FC_IN, FC_OUT, 0)
    np.random.seed(7)
    expected_w = np.random.rand(FC_OUT, FC_IN)
    expected_b = np.random.rand(1, FC_OUT)
    np.random.seed(7)
    layer.initialize(ShapeCheckingInitializer(), ShapeCheckingInitializer)
    assert ShapeCheckingInitializer.calls == [(FC_OUT, FC_IN), (1, FC_OUT)]
    assert layer.weights.shape == (FC_IN + 1, FC_OUT)
    np.testing.assert_array_equal(layer.weights[:-1], expected_w.T)
    np.testing.assert_array_equal(layer.bias, expected_b.reshape(FC_OUT))
    np.testing.assert_array_equal(layer.weights[-1], layer.bias)


def test_fc_default_init_without_initialize(package):
    # TestConv, TestMaxPooling and TestBatchNorm never call initialize().
    layer = package.FullyConnectedLayer(18, 5, 0.0)
    w = layer.weights
    assert w.shape == (19, 5)
    assert np.all((w >= 0) & (w < 1))
    assert np.unique(w).size == w.size  # non-degenerate
    assert np.all(layer.bias != 0)
    assert layer.forward(np.random.rand(3, 18)).shape == (3, 5)


def test_fc_gradient_shapes(package):
    layer = _initialized_fc(package, 0)
    layer.forward(np.random.rand(FC_BATCH, FC_IN))
    layer.backward(np.random.rand(FC_BATCH, FC_OUT))
    assert layer.get_gradient_weights().shape == layer.weights.shape
    assert layer.get_gradient_bias().shape == layer.bias.shape == (FC_OUT,)


def test_fc_gradient_check_input(package):
    layers = [_initialized_fc(package, 0, output_size=4), ReferenceSoftMax()]
    x = np.abs(np.random.random((FC_BATCH, FC_IN)))
    labels = random_one_hot(FC_BATCH, 4)
    assert np.sum(tutorial_gradient_check(layers, x, labels)) <= 1e-5


def test_fc_gradient_check_weights(package):
    layers = [_initialized_fc(package, 0, output_size=4), ReferenceSoftMax()]
    x = np.abs(np.random.random((FC_BATCH, FC_IN)))
    labels = random_one_hot(FC_BATCH, 4)
    assert np.sum(tutorial_gradient_check_weights(layers, x, labels, False)) <= 1e-5


# ---------------------------------------------------------------------------
# ReLU and Sigmoid
# ---------------------------------------------------------------------------


def _relu_input():
    x = np.ones((10, 5))
    x[:5] -= 2
    return x


def test_relu_forward_exact(package):
    expected = np.zeros((10, 5))
    expected[5:] = 1
    np.testing.assert_array_equal(package.ReLU().forward(_relu_input()), expected)


def test_relu_backward_exact(package):
    layer = package.ReLU()
    x = _relu_input()
    layer.forward(x)
    expected = np.zeros((10, 5))
    expected[5:] = 2
    np.testing.assert_array_equal(layer.backward(x * 2), expected)


def test_relu_gradient_check(package):
    x = np.abs(np.random.random((10, 5))) * 2 - 1
    labels = random_one_hot(10, 5)
    assert np.sum(tutorial_gradient_check([package.ReLU(), ReferenceSoftMax()], x, labels)) <= 1e-5


def _sigmoid_input():
    return np.abs(np.random.random((5, 10))).T * 2 - 1


def test_sigmoid_forward(package):
    x = _sigmoid_input()
    np.testing.assert_allclose(package.Sigmoid().forward(x), 0.5 * (1 + np.tanh(x / 2)), rtol=1e-14)


def test_sigmoid_range(package):
    out = package.Sigmoid().forward(_sigmoid_input() * 2)
    assert out.max() <= 1 and out.min() >= 0


def test_sigmoid_gradient_check(package):
    labels = random_one_hot(10, 5)
    diff = tutorial_gradient_check(
        [package.Sigmoid(), ReferenceSoftMax()], _sigmoid_input(), labels
    )
    assert np.sum(diff) <= 1e-5


# ---------------------------------------------------------------------------
# SoftMaxCrossEntropyLoss
# ---------------------------------------------------------------------------

LOSS_BATCH, LOSS_CLASSES = 9, 4


def test_loss_zero_loss(package):
    labels = random_one_hot(LOSS_BATCH, LOSS_CLASSES)
    layer = package.SoftMaxCrossEntropyLoss()
    assert layer.forward(labels * 100, labels) < 1e-10
    assert abs(np.sum(layer.backward(labels))) < 1e-7


def test_loss_high_loss_regression(package):
    labels = random_one_hot(LOSS_BATCH, LOSS_CLASSES)
    loss = package.SoftMaxCrossEntropyLoss().forward((labels - 1) * -100, labels)
    # Per sample: the true class has logit 0, three others 100, so the loss
    # is -ln(1 / (1 + 3 e^100)) ~= 100 + ln 3, summed over the batch.  The
    # tutorial pins 909.8875105980 to 7 places; it must not be clipped by
    # an epsilon inside the log.
    expected = LOSS_BATCH * (100 + math.log(3))
    assert loss == pytest.approx(expected, rel=1e-14)
    assert round(abs(loss - 909.8875105980), 7) == 0


def test_loss_high_loss_backward(package):
    labels = random_one_hot(LOSS_BATCH, LOSS_CLASSES)
    layer = package.SoftMaxCrossEntropyLoss()
    layer.forward((labels - 1) * -100, labels)
    error = layer.backward(labels)
    assert np.all(error[labels == 0] >= 1 / 3)
    np.testing.assert_allclose(error[labels == 1], -1, atol=1e-12)


def test_loss_backward_is_softmax_minus_labels(package):
    np.random.seed(1337)
    x = np.abs(np.random.random((LOSS_BATCH, LOSS_CLASSES)))
    labels = random_one_hot(LOSS_BATCH, LOSS_CLASSES)
    layer = package.SoftMaxCrossEntropyLoss()
    loss = layer.forward(x, labels)
    exp = np.exp(x)
    p = exp / exp.sum(axis=1, keepdims=True)
    assert loss > 0
    assert loss == pytest.approx(-np.sum(np.log(p[labels == 1])), rel=1e-13)
    error = layer.backward(labels)
    np.testing.assert_allclose(error, p - labels, rtol=1e-13, atol=1e-15)
    assert np.all(error[labels == 0] >= 0) and np.all(error[labels == 1] <= 0)


def test_loss_gradient_check_alone(package):
    x = np.abs(np.random.random((LOSS_BATCH, LOSS_CLASSES)))
    labels = random_one_hot(LOSS_BATCH, LOSS_CLASSES)
    diff = tutorial_gradient_check([package.SoftMaxCrossEntropyLoss()], x, labels)
    assert np.sum(diff) <= 1e-5


def test_loss_predict_rows(package):
    x = (np.arange(36) / 100).reshape(9, 4)
    prediction = package.SoftMaxCrossEntropyLoss().predict(x)
    # The tutorial's expected row (to 7 decimals) ...
    row = [0.24626259, 0.24873757, 0.25123743, 0.25376241]
    np.testing.assert_almost_equal(prediction, np.tile(row, (9, 1)), decimal=7)
    # ... and the exact softmax it rounds.
    exp = np.exp(np.arange(4) / 100)
    np.testing.assert_allclose(prediction, np.tile(exp / exp.sum(), (9, 1)), rtol=1e-14)


# ---------------------------------------------------------------------------
# Initializers
# ---------------------------------------------------------------------------

INIT_IN, INIT_OUT = 200, 50


def _initialize_like_tutorial(initializer):
    # The tutorial's DummyLayer: seed 1337, draw random weights (50, 200),
    # then replace them by initializer.initialize(shape).
    np.random.seed(1337)
    before = np.random.random_sample((INIT_OUT, INIT_IN))
    after = initializer.initialize(before.shape)
    return before, after


@pytest.mark.parametrize("initializer", ["Const(0.1)", "UniformRandom()", "He()", "Xavier()"])
def test_initializer_shape_and_change(package, initializer):
    name, argument = initializer.rstrip(")").split("(")
    make = getattr(package, name)
    before, after = _initialize_like_tutorial(make(float(argument)) if argument else make())
    assert after.shape == before.shape
    assert not np.allclose(after, before)


def test_const_value(package):
    _, after = _initialize_like_tutorial(package.Const(0.1))
    np.testing.assert_array_equal(after, np.full((INIT_OUT, INIT_IN), 0.1))
    np.testing.assert_array_equal(package.Const(-2).initialize((3, 4, 5)), np.full((3, 4, 5), -2.0))


def test_uniform_distribution(package):
    _, after = _initialize_like_tutorial(package.UniformRandom())
    assert np.all((after >= 0) & (after < 1))
    assert stats.kstest(after.flat, "uniform", args=(0, 1)).pvalue > 0.01


def test_he_distribution(package):
    _, after = _initialize_like_tutorial(package.He())
    scale = np.sqrt(2.0) / np.sqrt(INIT_IN)  # fan-in is the second dimension
    assert stats.kstest(after.flat, "norm", args=(0, scale)).pvalue > 0.01


def test_xavier_std(package):
    fan_out, fan_in = 300, 200
    weights = package.Xavier().initialize((fan_out, fan_in))
    expected = np.sqrt(2.0 / (fan_in + fan_out))
    # 60000 samples: the sample std is within ~0.3% (1 sigma) of the truth.
    assert abs(weights.std() / expected - 1) < 0.02
    assert abs(weights.mean()) < 6 * expected / np.sqrt(weights.size)
    assert stats.kstest(weights.flat, "norm", args=(0, expected)).pvalue > 0.01


def test_random_initializers_follow_global_seed(package):
    for init in (package.UniformRandom(), package.He(), package.Xavier()):
        np.random.seed(3)
        first = init.initialize((4, 5))
        np.random.seed(3)
        np.testing.assert_array_equal(init.initialize((4, 5)), first)


# ---------------------------------------------------------------------------
# ConvolutionalLayer and FlattenLayer
# ---------------------------------------------------------------------------

GAUSS_KERNEL = (1.0 / 15.0) * np.array([[1, 2, 1], [2, 3, 2], [1, 2, 1]])


class CenterTapInitializer:
    """The tutorial's initializer that ignores the requested shape."""

    @staticmethod
    def initialize(weights_shape):
        weights = np.zeros((1, 3, 3, 3))
        weights[0, 1, 1, 1] = 1
        return weights


def test_conv_forward_matches_gaussian_filter(package):
    np.random.seed(1337)
    conv = package.ConvolutionalLayer((1, 1), (1, 3, 3), 1, 0.0)
    conv.weights = GAUSS_KERNEL[None]  # 3-D for a moment, as in the tutorial
    conv.bias = np.array([0])
    conv.weights = np.expand_dims(conv.weights, 0)
    x = np.random.random((1, 1, 10, 14))
    expected = gaussian_filter(x[0, 0], 0.85, mode="constant", cval=0.0, truncate=1.0)
    out = conv.forward(x).reshape(10, 14)
    assert np.max(np.abs(expected - out)) < 0.05
    # The gaussian only approximates the kernel; the exact result is the
    # zero-padded correlation.
    exact = correlate(x[0, 0], GAUSS_KERNEL, mode="same")
    np.testing.assert_allclose(out, exact, rtol=1e-12, atol=1e-12)


def test_conv_sums_channels(package):
    np.random.seed(1337)
    conv = package.ConvolutionalLayer((1, 1), (3, 3, 3), 1, 0.0)
    conv.weights = np.expand_dims(np.stack([GAUSS_KERNEL] * 3), 0)
    conv.bias = np.array([0])
    plane = np.random.random((10, 14))
    x = np.stack([plane] * 3)[None]
    expected = 3 * gaussian_filter(plane, 0.85, mode="constant", cval=0.0, truncate=1.0)
    out = conv.forward(x).reshape(10, 14)
    assert np.max(np.abs(expected - out)) < 0.2
    np.testing.assert_allclose(out, 3 * correlate(plane, GAUSS_KERNEL, mode="same"), rtol=1e-12)


def test_conv_temporary_3d_weights_read_back(package):
    conv = package.ConvolutionalLayer((1, 1), (1, 3, 3), 1, 0.0)
    conv.weights = GAUSS_KERNEL[None]
    assert conv.weights.shape == (1, 3, 3)
    np.testing.assert_array_equal(conv.weights, GAUSS_KERNEL[None])


def _arange_input(shape):
    return np.arange(np.prod(shape), dtype=float).reshape(shape)


@pytest.mark.parametrize(
    "stride, n_kernels, in_shape, out_shape",
    [
        ((1, 1), 4, (2, 3, 10, 14), (2, 4, 10, 14)),
        ((3, 2), 4, (2, 3, 10, 14), (2, 4, 4, 7)),
        ((3, 2), 5, (3, 3, 11, 15), (3, 5, 4, 8)),
    ],
)
def test_conv_output_and_backward_sizes(package, stride, n_kernels, in_shape, out_shape):
    # Kernel 5x8: the even width needs asymmetric "same" padding.
    conv = package.ConvolutionalLayer(stride, (3, 5, 8), n_kernels, 0.0)
    out = conv.forward(_arange_input(in_shape))
    assert out.shape == out_shape
    assert conv.backward(out).shape == in_shape
    assert conv.get_gradient_weights().shape == conv.weights.shape == (n_kernels, 3, 5, 8)
    assert conv.get_gradient_bias().shape == conv.bias.shape == (n_kernels,)


def test_conv_layout_preservation(package):
    conv = package.ConvolutionalLayer((1, 1), (3, 3, 3), 1, 0.0)
    conv.initialize(CenterTapInitializer(), package.Const(0.0))
    np.testing.assert_array_equal(conv.bias, [0.0])
    x = _arange_input((2, 3, 10, 14))
    out = conv.forward(x)
    np.testing.assert_array_equal(np.squeeze(out), x[:, 1])


def test_conv_default_initialization(package):
    np.random.seed(11)
    conv = package.ConvolutionalLayer((1, 1), (2, 3, 3), 4, 0.0)
    np.random.seed(11)
    expected = np.random.random_sample((4, 18)).reshape(4, 2, 3, 3)
    np.testing.assert_array_equal(conv.weights, expected)
    np.testing.assert_array_equal(conv.bias, np.full(4, 0.1))


def test_conv_initialize_asks_for_fan_in_shape(package):
    requested = []

    class Recorder:
        @staticmethod
        def initialize(shape):
            requested.append(shape)
            return np.random.rand(*shape)

    conv = package.ConvolutionalLayer((1, 1), (3, 5, 8), 4, 0.0)
    conv.initialize(Recorder(), Recorder)
    assert requested == [(4, 3 * 5 * 8), (1, 4)]
    assert conv.weights.shape == (4, 3, 5, 8) and conv.bias.shape == (4,)


def test_conv_update_increases_output_norm(package):
    x = np.abs(np.random.random((2, 3, 10, 14)))
    conv = package.ConvolutionalLayer((3, 2), (3, 5, 8), 4, 1.0)
    conv.initialize(package.He(), package.Const(0.1))
    assert_steps_grow_output(conv, x)


def test_flatten_round_trip(package):
    layer = package.FlattenLayer()
    x = np.random.rand(2, 3, 4, 5)
    flat = layer.forward(x)
    np.testing.assert_array_equal(flat, x.reshape(2, 60))
    np.testing.assert_array_equal(layer.backward(flat), x)


def _conv_stack(package, stride, n_kernels, fc_inputs):
    return [
        package.ConvolutionalLayer(stride, (3, 3, 3), n_kernels, 0.0),
        package.FlattenLayer(),
        package.FullyConnectedLayer(fc_inputs, 5, 0),
        ReferenceSoftMax(),
    ]


@pytest.mark.parametrize(
    "stride, n_kernels, width, fc_inputs, checked, threshold",
    [
        ((1, 1), 3, 7, 35 * 3, "input", 5e-2),
        ((1, 1), 3, 7, 35 * 3, "weights", 1e-5),
        ((2, 2), 3, 7, 12 * 3, "weights", 1e-5),
        ((1, 1), 3, 7, 35 * 3, "bias", 1e-5),
        ((1, 2), 1, 14, 35, "input", 1e-4),
    ],
    ids=["input", "weights", "weights_strided", "bias", "stride"],
)
def test_conv_gradient_check(package, stride, n_kernels, width, fc_inputs, checked, threshold):
    # The tutorial's five conv gradient checks: its stacks, inputs and thresholds.
    np.random.seed(1337)
    x = np.abs(np.random.random((2, 3, 5, width)))
    layers = _conv_stack(package, stride, n_kernels, fc_inputs)
    labels = random_one_hot(2, 5)
    if checked == "input":
        difference = tutorial_gradient_check(layers, x, labels)
    else:
        difference = tutorial_gradient_check_weights(layers, x, labels, checked == "bias")
    assert np.sum(difference) <= threshold


# ---------------------------------------------------------------------------
# MaxPoolLayer
# ---------------------------------------------------------------------------


def _pool_input():
    np.random.seed(1337)
    return np.abs(np.random.random((2, 2, 4, 7)))


@pytest.mark.parametrize(
    "neighborhood, stride, shape",
    [
        ((2, 2), (2, 2), (2, 2, 2, 3)),
        ((2, 2), (2, 1), (2, 2, 2, 6)),
        ((2, 2), (3, 2), (2, 2, 1, 3)),
    ],
    ids=["plain", "overlapping", "subsampling"],
)
def test_pool_shapes_and_gradient(package, neighborhood, stride, shape):
    x = _pool_input()
    labels = random_one_hot(2, 5)
    pool = package.MaxPoolLayer(neighborhood=neighborhood, stride=stride)
    assert pool.forward(x).shape == shape
    assert pool.backward(np.ones(shape)).shape == x.shape
    layers = [
        pool,
        package.FlattenLayer(),
        package.FullyConnectedLayer(int(np.prod(shape[1:])), 5, 0.0),
    ]
    layers.append(ReferenceSoftMax())
    assert np.sum(tutorial_gradient_check(layers, x, labels)) <= 1e-6


def test_pool_identity_window(package):
    x = _arange_input((2, 2, 4, 7))
    out = package.MaxPoolLayer(neighborhood=(1, 1), stride=(1, 1)).forward(x)
    np.testing.assert_array_equal(out, x)


def test_pool_expected_output_valid_edge_case(package):
    out = package.MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2)).forward(
        _arange_input((2, 1, 3, 3))
    )
    assert out.shape == (2, 1, 1, 1)
    np.testing.assert_array_equal(out.reshape(2, 1), [[4], [13]])


def test_pool_expected_output(package):
    out = package.MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2)).forward(
        _arange_input((2, 1, 4, 4))
    )
    expected = np.array([[[[5, 7], [13, 15]]], [[[21, 23], [29, 31]]]], dtype=float)
    np.testing.assert_array_equal(out, expected)


def test_pool_backward_routes_to_maxima_and_sums_on_overlap(package):
    # A single strong maximum shared by both overlapping windows.
    x = np.zeros((1, 1, 2, 3))
    x[0, 0, 1, 1] = 5.0
    pool = package.MaxPoolLayer(neighborhood=(2, 2), stride=(1, 1))
    np.testing.assert_array_equal(pool.forward(x), [[[[5.0, 5.0]]]])
    dx = pool.backward(np.array([[[[2.0, 3.0]]]]))
    expected = np.zeros((1, 1, 2, 3))
    expected[0, 0, 1, 1] = 5.0
    np.testing.assert_array_equal(dx, expected)


# ---------------------------------------------------------------------------
# DropOut
# ---------------------------------------------------------------------------

DROP_BATCH, DROP_IN = 10000, 10


def _safe_bound(probability):
    # Output elements of ones() are 0 or 1/keep with mean 1 and variance
    # p/keep; the sum of the 10 column means therefore has standard
    # deviation sqrt(10 * p / keep / batch).  Six of them: safe for any seed.
    keep = 1 - probability
    return 6 * math.sqrt(DROP_IN * probability / keep / DROP_BATCH)


@pytest.mark.parametrize("probability", [0.5, 0.3, 0.8])
def test_dropout_train_values_and_mean(package, probability):
    x = np.ones((DROP_BATCH, DROP_IN))
    out = package.DropOut(probability).forward(x)
    scale = 1 / (1 - probability)
    assert set(np.unique(out)) == {0.0, scale}
    assert abs(np.sum(np.mean(out, axis=0)) - DROP_IN) < _safe_bound(probability)
    assert abs(np.mean(out == 0) - probability) < 0.01


def test_dropout_half_gives_zero_or_two(package):
    out = package.DropOut(0.5).forward(np.ones((DROP_BATCH, DROP_IN)))
    assert out.max() == 2 and out.min() == 0


def test_dropout_mask_is_the_documented_draw(package):
    x = np.random.rand(50, 4)
    np.random.seed(99)
    out = package.DropOut(0.25).forward(x)
    np.random.seed(99)
    keys = np.random.random_sample(x.shape)
    n_drop = np.floor(0.25 * 50 + np.random.random_sample(x.shape[1])).astype(int)
    # In each feature the entries with the n_drop smallest keys are dropped.
    expected = np.ones(x.shape, bool)
    for f in range(x.shape[1]):
        expected[np.argsort(keys[:, f])[: n_drop[f]], f] = False
    np.testing.assert_array_equal(out != 0, expected)
    np.testing.assert_allclose(out, x * expected / 0.75, rtol=1e-15, atol=0)


def test_dropout_drops_each_entry_with_the_given_probability(package):
    layer = package.DropOut(0.3)
    masks = np.array([layer.forward(np.ones((7, 5))) != 0 for _ in range(4000)])
    dropped_per_feature = (~masks).sum(axis=1)
    # floor(0.3 * 7 + u) drops: 2 or 3 entries of every feature, never more or fewer.
    assert set(np.unique(dropped_per_feature)) == {2, 3}
    # Each entry is dropped with chance 0.3: the mean over 140000 entries has
    # a standard error of 0.0012, so 0.01 is a safe bound.
    assert abs((~masks).mean() - 0.3) < 0.01
    # And every position is treated alike.
    assert np.all(np.abs((~masks).mean(axis=0) - 0.3) < 0.03)


def test_dropout_test_phase_is_identity(package):
    layer = package.DropOut(0.5)
    layer.phase = package.Phase.test
    x = np.random.rand(DROP_BATCH, DROP_IN)
    np.testing.assert_array_equal(layer.forward(x), x)
    error = np.random.rand(DROP_BATCH, DROP_IN)
    np.testing.assert_array_equal(layer.backward(error), error)


def test_dropout_backward_mask_without_scaling(package):
    layer = package.DropOut(0.5)
    out = layer.forward(np.ones((DROP_BATCH, DROP_IN)))
    grad = layer.backward(np.ones((DROP_BATCH, DROP_IN)))
    assert grad.max() == 1 and grad.min() == 0
    np.testing.assert_array_equal(grad, (out != 0).astype(float))
    assert abs(np.sum(np.mean(grad, axis=0)) - DROP_IN / 2) < _safe_bound(0.5) / 2


def test_dropout_scale_backward(package):
    layer = package.DropOut(0.3, scale_backward=True)
    out = layer.forward(np.ones((100, 10)))
    error = np.random.rand(100, 10)
    np.testing.assert_allclose(layer.backward(error), error * out, rtol=1e-15)


def test_dropout_probability_one_drops_everything(package):
    with np.errstate(all="raise"):
        layer = package.DropOut(1.0)
        np.testing.assert_array_equal(layer.forward(np.ones((5, 4))), np.zeros((5, 4)))
        np.testing.assert_array_equal(layer.backward(np.ones((5, 4))), np.zeros((5, 4)))


# ---------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------

BN_BATCH, BN_CHANNELS, BN_SIZE = 200, 2, 18


def _bn_input():
    np.random.seed(0)
    return np.abs(np.random.random((BN_SIZE, BN_BATCH))).T


def _channel_moments(tensor, channels):
    # Statistics per channel over the batch and all spatial positions, with
    # a 2-D (b, C*k) input read as (b, C, k).
    per_channel = tensor.reshape(tensor.shape[0], channels, -1).transpose(0, 2, 1)
    per_channel = per_channel.reshape(-1, channels)
    return per_channel.mean(axis=0), per_channel.var(axis=0)


def test_bn_forward_shapes(package):
    x = _bn_input()
    assert package.BatchNorm(0.0).forward(x).shape == x.shape
    assert package.BatchNorm(0.0, BN_CHANNELS).forward(x).shape == x.shape
    x4 = np.random.rand(3, BN_CHANNELS, 4, 5)
    assert package.BatchNorm(0.0, BN_CHANNELS).forward(x4).shape == x4.shape


def test_bn_train_forward_normalizes_features(package):
    x = _bn_input()
    layer = package.BatchNorm(0.0)
    out = layer.forward(x)
    # The tutorial's check (7 places) ...
    assert np.sum(out.mean(axis=0) ** 2) < 5e-8
    assert np.sum((out.var(axis=0) - 1) ** 2) < 5e-8
    # ... and the exact normalization with the biased batch variance.
    expected = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + layer.epsilon)
    assert_close(out, expected)


@pytest.mark.parametrize("four_d", [False, True], ids=["2d", "4d"])
def test_bn_train_forward_normalizes_channels(package, four_d):
    x = _bn_input()
    if four_d:
        x = x.reshape(BN_BATCH, BN_CHANNELS, 3, 3)
    layer = package.BatchNorm(0.0, BN_CHANNELS)
    out = layer.forward(x)
    assert out.shape == x.shape
    mean, var = _channel_moments(out, BN_CHANNELS)
    assert np.sum(mean**2) < 5e-8 and np.sum((var - 1) ** 2) < 5e-8
    # One mean and variance per channel, over the batch and all positions.
    per_channel = x.reshape(BN_BATCH, BN_CHANNELS, -1)
    mu = per_channel.mean(axis=(0, 2), keepdims=True)
    sigma2 = per_channel.var(axis=(0, 2), keepdims=True)
    expected = ((per_channel - mu) / np.sqrt(sigma2 + layer.epsilon)).reshape(x.shape)
    assert_close(out, expected)


@pytest.mark.parametrize("channels", [0, BN_CHANNELS])
def test_bn_train_phase_uses_current_batch(package, channels):
    layer = package.BatchNorm(0.0, channels)
    layer.forward(_bn_input())
    out = layer.forward(np.zeros((BN_BATCH, BN_SIZE)))
    # Zeros have zero batch variance: normalised with their own statistics
    # they stay zero (beta is 0), not shifted by the first batch's mean.
    np.testing.assert_array_equal(out, np.zeros((BN_BATCH, BN_SIZE)))


@pytest.mark.parametrize("channels", [0, BN_CHANNELS])
def test_bn_test_phase_after_one_batch_uses_its_statistics(package, channels):
    x = _bn_input()
    layer = package.BatchNorm(0.0, channels)
    layer.forward(x)
    layer.phase = package.Phase.test
    out = layer.forward(np.zeros((BN_BATCH, BN_SIZE)))
    if channels:
        mean, var = _channel_moments(x, channels)
        expected_row = np.repeat(-mean / np.sqrt(var + layer.epsilon), BN_SIZE // channels)
    else:
        expected_row = -x.mean(axis=0) / np.sqrt(x.var(axis=0) + layer.epsilon)
    np.testing.assert_allclose(out, np.tile(expected_row, (BN_BATCH, 1)), rtol=1e-12)
    # The tutorial's form of the same check.
    out_mean, out_var = (
        _channel_moments(out, channels) if channels else (out.mean(axis=0), out.var(axis=0))
    )
    in_mean, in_var = _channel_moments(x, channels) if channels else (x.mean(0), x.var(0))
    assert np.sum((out_mean + in_mean / np.sqrt(in_var)) ** 2) < 5e-8
    assert np.sum(out_var**2) < 5e-8


def test_bn_running_average_after_more_batches(package):
    layer = package.BatchNorm(0.0, momentum=0.8)
    batches = [np.random.rand(20, 3) * (k + 1) + k for k in range(3)]
    for batch in batches:
        layer.forward(batch)
    mean, var = batches[0].mean(0), batches[0].var(0)
    for batch in batches[1:]:
        mean = 0.8 * mean + 0.2 * batch.mean(0)
        var = 0.8 * var + 0.2 * batch.var(0)
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-13)
    np.testing.assert_allclose(layer.running_var, var, rtol=1e-13)
    layer.phase = package.Phase.test
    probe = np.random.rand(4, 3)
    expected = (probe - mean) / np.sqrt(var + layer.epsilon)
    np.testing.assert_allclose(layer.forward(probe), expected, rtol=1e-12)


def test_bn_test_phase_without_training_is_identity(package):
    layer = package.BatchNorm(0.0)
    layer.phase = package.Phase.test
    x = np.random.rand(5, 3)
    # Mean 0 and variance 1: only epsilon (1e-10) separates it from x.
    assert_close(layer.forward(x), x / np.sqrt(1 + layer.epsilon))


def test_bn_parameters_start_at_one_and_zero(package):
    layer = package.BatchNorm(0.0, BN_CHANNELS)
    np.testing.assert_array_equal(layer.weights, np.ones(BN_CHANNELS))
    np.testing.assert_array_equal(layer.bias, np.zeros(BN_CHANNELS))
    lazy = package.BatchNorm(0.0)
    lazy.forward(_bn_input())
    np.testing.assert_array_equal(lazy.weights, np.ones(BN_SIZE))
    np.testing.assert_array_equal(lazy.bias, np.zeros(BN_SIZE))
    # initialize() leaves batch normalization the identity.
    lazy.weights = np.full(BN_SIZE, 3.0)
    lazy.initialize(package.He(), package.Const(0.1))
    np.testing.assert_array_equal(lazy.weights, np.ones(BN_SIZE))
    np.testing.assert_array_equal(lazy.bias, np.zeros(BN_SIZE))


def _bn_stack(package, channels):
    return [
        package.BatchNorm(0.0, channels),
        package.FullyConnectedLayer(BN_SIZE, 5, 0.0),
        ReferenceSoftMax(),
    ]


@pytest.mark.parametrize("channels, threshold", [(0, 1e-4), (BN_CHANNELS, 1e-3)])
def test_bn_gradient_check_input(package, channels, threshold):
    x = _bn_input()
    labels = random_one_hot(BN_BATCH, 5)
    assert np.sum(tutorial_gradient_check(_bn_stack(package, channels), x, labels)) <= threshold


@pytest.mark.parametrize("channels", [0, BN_CHANNELS])
@pytest.mark.parametrize("bias", [False, True], ids=["gamma", "beta"])
def test_bn_gradient_check_parameters(package, channels, bias):
    x = _bn_input()
    labels = random_one_hot(BN_BATCH, 5)
    layers = _bn_stack(package, channels)
    layers[0].forward(x)
    assert np.sum(tutorial_gradient_check_weights(layers, x, labels, bias)) <= 1e-6


# ---------------------------------------------------------------------------
# NeuralNetwork
# ---------------------------------------------------------------------------


class FixedBatch:
    """Data layer returning the same batch every time."""

    def __init__(self, x, labels):
        self.x, self.labels = x, labels

    def forward(self):
        return self.x.copy(), self.labels.copy()


def _small_network(package, dtype=None):
    net = package.NeuralNetwork(package.He(), package.Const(0.1), dtype=dtype)
    x = np.random.rand(8, 6)
    labels = random_one_hot(8, 3)
    net.data_layer = FixedBatch(x, labels)
    net.loss_layer = package.SoftMaxCrossEntropyLoss()
    net.append_trainable_layer(package.FullyConnectedLayer(6, 5, 0.05))
    net.append_fixed_layer(package.ReLU())
    net.append_trainable_layer(package.FullyConnectedLayer(5, 3, 0.05))
    return net, x


def test_network_attributes(package):
    init_w, init_b = package.He(), package.Const(0.1)
    net = package.NeuralNetwork(init_w, init_b)
    assert net.loss == [] and net.layers == []
    assert net.data_layer is None and net.loss_layer is None and net.label_tensor is None
    assert net.weights_initializer is init_w and net.bias_initializer is init_b


def test_network_append_trainable_layer_initializes(package):
    requested = []

    class Recorder:
        @staticmethod
        def initialize(shape):
            requested.append(shape)
            return np.full(shape, 0.25)

    net = package.NeuralNetwork(Recorder(), package.Const(-1.0))
    fc = package.FullyConnectedLayer(3, 2, 0)
    relu = package.ReLU()
    net.append_trainable_layer(fc)
    net.append_fixed_layer(relu)
    assert net.layers == [fc, relu]
    assert requested == [(2, 3)]
    np.testing.assert_array_equal(fc.weights[:-1], np.full((3, 2), 0.25))
    np.testing.assert_array_equal(fc.bias, [-1.0, -1.0])


def test_network_train_appends_losses_and_learns(package):
    net, _ = _small_network(package)
    net.train(25)
    assert len(net.loss) == 25
    assert all(isinstance(v, float) for v in net.loss)
    assert all(layer.phase == package.Phase.train for layer in net.layers)
    assert net.loss[-1] < net.loss[0]
    assert net.label_tensor is not None


def test_network_test_sets_phase_and_predicts(package):
    net, x = _small_network(package)
    net.append_fixed_layer(package.DropOut(0.5))
    net.train(2)
    prediction = net.test(x)
    assert all(layer.phase == package.Phase.test for layer in net.layers)
    # Test-phase package.DropOut is the identity, so the prediction is deterministic.
    hidden = x
    for layer in net.layers:
        hidden = layer.forward(hidden)
    expected = package.SoftMaxCrossEntropyLoss().predict(hidden)
    np.testing.assert_allclose(prediction, expected, rtol=1e-13)
    np.testing.assert_allclose(prediction.sum(axis=1), 1, rtol=1e-13)
    np.testing.assert_array_equal(net.test(x), prediction)


def test_network_dtype_float32_converts_layers(package):
    net, x = _small_network(package, dtype=np.float32)
    for layer in net.layers:
        if hasattr(layer, "weights"):
            assert layer.dtype == np.float32
            assert layer.weights.dtype == np.float32
    net.train(2)
    assert net.test(x.astype(np.float32)).dtype == np.float32
