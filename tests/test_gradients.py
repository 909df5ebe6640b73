"""Analytic gradients of every layer against central differences (float64).

Each layer of the registry (:mod:`tests.registry`), in each of its
configurations, is wrapped in a scalar function ``f = sum(probe *
layer(x))`` with a fixed random ``probe``; ``backward(probe)`` must then
equal the numerical gradient of ``f``, and ``get_gradient_<name>()`` the
numerical gradient with respect to each trainable parameter.  The whole
gradient array is compared by its relative (Frobenius) error, which must be
below the ``"finite_difference"`` tolerance (1e-6).
"""

import numpy as np
import pytest

from fastlayers import (
    BatchNorm,
    Const,
    ConvolutionalLayer,
    FlattenLayer,
    FullyConnectedLayer,
    He,
    MaxPoolLayer,
    Phase,
    ReLU,
    SoftMaxCrossEntropyLoss,
)

from .helpers import assert_gradient, network_step, one_hot
from .naive import numerical_gradient
from .registry import cases

# A fixed seed before every forward of a layer that draws from the global
# random state: the same mask in every evaluation of f.
MASK_SEED = 3


def probed(layer, probe, reseed=False):
    """Return ``f(x) = sum(probe * layer.forward(x))``."""

    def f(x):
        if reseed:
            np.random.seed(MASK_SEED)
        return float(np.sum(probe * layer.forward(x)))

    return f


def param_function(layer, name, evaluate):
    """Return ``f(p)``: assign ``p`` to ``layer.<name>`` and call ``evaluate()``."""

    def f(p):
        setattr(layer, name, p)
        return evaluate()

    return f


def check_layer(layer, x, rng, params=(), reseed=False):
    """Check d/dx and d/d(params) of ``sum(probe * layer(x))``.

    ``params`` names attributes (``"weights"``, ``"bias"``) whose gradient
    the layer reports through ``get_gradient_<name>()``.  With ``reseed``
    the global random state is reseeded before every forward.
    """
    if reseed:
        np.random.seed(MASK_SEED)
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
    assert_gradient(analytic_x, numerical_gradient(probed(layer, probe, reseed), x))
    for name in params:
        evaluate = lambda: probed(layer, probe, reseed)(x)  # noqa: E731
        numeric = numerical_gradient(param_function(layer, name, evaluate), saved[name])
        setattr(layer, name, saved[name])
        assert_gradient(analytic[name], numeric)


# ---------------------------------------------------------------------------
# Every layer of the registry, in every configuration
# ---------------------------------------------------------------------------

GRADIENT_CASES = [
    pytest.param(entry, config, id=case_id)
    for case_id, entry, config in cases()
    if config.exact_gradient
]


@pytest.mark.parametrize("entry, config", GRADIENT_CASES)
def test_layer_gradients(entry, config, rng):
    shape = config.shapes[0]
    x = entry.values(rng, shape)
    if entry.loss:
        labels = one_hot(rng.integers(0, shape[1], shape[0]), shape[1])
        layer = entry.make(config=config)
        layer.forward(x, labels)
        analytic = layer.backward(labels)
        assert_gradient(analytic, numerical_gradient(lambda v: layer.forward(v, labels), x))
        return
    layer = entry.make(config=config)
    if entry.random_parameters is not None:
        for name, value in entry.random_parameters(rng, config.kwargs, shape).items():
            setattr(layer, name, value)
    if entry.global_random:
        # The reseeding is what makes f deterministic: other seeds give
        # other outputs, so the layer really does draw.
        np.random.seed(MASK_SEED)
        first = layer.forward(x)
        np.random.seed(MASK_SEED + 1)
        assert not np.array_equal(layer.forward(x), first)
    check_layer(layer, x, rng, params=entry.gradient_params, reseed=entry.global_random)


# ---------------------------------------------------------------------------
# What the generic check does not see
# ---------------------------------------------------------------------------


def test_fc_bias_gradient_is_last_row(rng):
    layer = FullyConnectedLayer(5, 4, 0.0)
    layer.forward(rng.standard_normal((3, 5)))
    probe = rng.standard_normal((3, 4))
    layer.backward(probe)
    np.testing.assert_array_equal(layer.get_gradient_bias(), layer.get_gradient_weights()[-1])
    np.testing.assert_allclose(layer.get_gradient_bias(), probe.sum(axis=0), rtol=1e-14)


@pytest.mark.parametrize("channels, shape", [(0, (6, 4)), (3, (4, 3, 2, 3))])
def test_batchnorm_test_phase_gradients(channels, shape, rng):
    layer = BatchNorm(0.0, channels)
    layer.forward(rng.standard_normal(shape))
    layer.phase = Phase.test
    layer.weights = rng.uniform(0.5, 1.5, layer.weights.shape)
    check_layer(layer, rng.standard_normal(shape), rng, params=("weights", "bias"))


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

    analytic_x = network_step(layers, loss_layer, x, labels)

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
