"""The optimizers: update formulas, state, validation and the layer hook."""

import numpy as np
import pytest

import fastlayers as fl
from fastlayers import reference
from fastlayers.models import lenet
from fastlayers.optimizers import SGD, Adam, Optimizer, set_optimizer, trainable_layers

from .helpers import network_step

P0 = np.array([[0.5, -1.0, 2.0], [0.25, 0.0, -3.0]])
GRADS = [
    np.array([[0.1, -0.2, 0.3], [1.0, -1.0, 0.5]]),
    np.array([[-0.4, 0.2, 0.1], [0.5, 0.5, -0.5]]),
    np.array([[0.3, 0.3, -0.3], [0.0, 2.0, 1.0]]),
]


def run(optimizer, grads=GRADS, p0=P0, name="weights"):
    param = p0.copy()
    for grad in grads:
        optimizer.update(name, param, grad)
    return param


# -- update formulas -----------------------------------------------------------


def test_plain_sgd_is_the_tutorial_step_bitwise():
    lr = 0.037
    expected = P0.copy()
    for grad in GRADS:
        expected -= lr * grad
    np.testing.assert_array_equal(run(SGD(lr)), expected)


def test_sgd_momentum_matches_hand_computed_velocity():
    lr, mu = 0.1, 0.9
    p, v = P0.copy(), None
    for g in GRADS:
        v = g.copy() if v is None else mu * v + g
        p = p - lr * v
    np.testing.assert_allclose(run(SGD(lr, momentum=mu)), p, rtol=1e-14)


def test_sgd_nesterov_matches_hand_computed():
    lr, mu = 0.05, 0.8
    p, v = P0.copy(), None
    for g in GRADS:
        v = g.copy() if v is None else mu * v + g
        p = p - lr * (g + mu * v)
    np.testing.assert_allclose(run(SGD(lr, momentum=mu, nesterov=True)), p, rtol=1e-14)


def test_sgd_weight_decay_adds_l2_gradient():
    lr, wd, mu = 0.1, 0.01, 0.5
    p, v = P0.copy(), None
    for g in GRADS:
        g = g + wd * p
        v = g.copy() if v is None else mu * v + g
        p = p - lr * v
    np.testing.assert_allclose(run(SGD(lr, momentum=mu, weight_decay=wd)), p, rtol=1e-14)


def test_adam_matches_hand_computed_bias_corrected_moments():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p, m, v = P0.copy(), np.zeros_like(P0), np.zeros_like(P0)
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(run(Adam(lr)), p, rtol=1e-13)


def test_adam_first_step_moves_every_entry_by_about_the_learning_rate():
    # With bias correction the first step is lr * g / (|g| + eps).
    param = run(Adam(0.01), grads=[GRADS[0]])
    np.testing.assert_allclose(P0 - param, 0.01 * np.sign(GRADS[0]), rtol=1e-6)


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_weight_decay(decoupled):
    lr, b1, b2, eps, wd = 0.01, 0.8, 0.99, 1e-7, 0.1
    p, m, v = P0.copy(), np.zeros_like(P0), np.zeros_like(P0)
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    opt = Adam(lr, beta1=b1, beta2=b2, epsilon=eps, weight_decay=wd, decoupled=decoupled)
    np.testing.assert_allclose(run(opt), p, rtol=1e-13)


@pytest.mark.parametrize("make", [lambda: SGD(0.1, momentum=0.9), lambda: Adam(1e-3)])
def test_float32_parameters_stay_float32(make):
    opt = make()
    param = P0.astype(np.float32)
    for grad in GRADS:
        opt.update("weights", param, grad)  # float64 gradient
    assert param.dtype == np.float32
    for value in opt.state["weights"].values():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32
    np.testing.assert_allclose(param, run(make()), rtol=1e-5, atol=1e-6)


# -- state ---------------------------------------------------------------------


def test_state_is_kept_per_parameter_name():
    opt = Adam(0.01)
    weights, bias = P0.copy(), np.array([1.0, -2.0])
    opt.update("weights", weights, GRADS[0])
    opt.update("weights", weights, GRADS[1])
    opt.update("bias", bias, np.array([0.5, 0.5]))
    assert opt.state["weights"]["step"] == 2
    assert opt.state["bias"]["step"] == 1
    # The bias's first step is a fresh first Adam step.
    np.testing.assert_allclose(bias, [0.99, -2.01], rtol=1e-6)


def test_shared_instance_with_different_shapes_is_refused():
    opt = SGD(0.1, momentum=0.9)
    opt.update("weights", P0.copy(), GRADS[0])
    with pytest.raises(ValueError, match="SGD.*own optimizer"):
        opt.update("weights", np.zeros(4), np.zeros(4))


def test_copy_has_same_config_and_no_state():
    opt = Adam(0.02, beta1=0.8, weight_decay=0.1, decoupled=True)
    opt.update("weights", P0.copy(), GRADS[0])
    twin = opt.copy()
    assert type(twin) is Adam and twin is not opt
    assert twin.get_config() == opt.get_config()
    assert twin.state == {} and opt.state
    np.testing.assert_array_equal(run(twin), run(opt.copy()))


def test_reset_forgets_state():
    opt = SGD(0.1, momentum=0.9)
    first = run(opt, grads=GRADS[:1])
    opt.reset()
    np.testing.assert_array_equal(run(opt, grads=GRADS[:1]), first)


def test_learning_rate_can_be_changed_between_updates():
    opt = SGD(0.1)
    opt.learning_rate = 0.5
    np.testing.assert_array_equal(run(opt, grads=GRADS[:1]), P0 - 0.5 * GRADS[0])


def test_repr_names_the_class_and_hyperparameters():
    assert repr(SGD(0.1, momentum=0.5)) == (
        "SGD(learning_rate=0.1, momentum=0.5, weight_decay=0.0, nesterov=False)"
    )
    assert repr(Adam()).startswith("Adam(learning_rate=0.001, beta1=0.9")


# -- validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, text",
    [
        (lambda: SGD(-0.1), ValueError, "SGD: expected learning_rate >= 0"),
        (lambda: SGD("0.1"), TypeError, "SGD: expected learning_rate as a real number"),
        (lambda: SGD(True), TypeError, "SGD"),
        (lambda: SGD(float("nan")), ValueError, "SGD: expected a finite learning_rate"),
        (lambda: SGD(0.1, momentum=1.0), ValueError, "SGD: expected momentum < 1"),
        (lambda: SGD(0.1, momentum=-0.1), ValueError, "SGD: expected momentum >= 0"),
        (lambda: SGD(0.1, weight_decay=-1), ValueError, "SGD: expected weight_decay >= 0"),
        (lambda: SGD(0.1, nesterov=True), ValueError, "SGD: nesterov=True needs a momentum"),
        (lambda: SGD(0.1, momentum=0.5, nesterov=1), TypeError, "SGD: expected nesterov as a bool"),
        (lambda: Adam(-1e-3), ValueError, "Adam: expected learning_rate >= 0"),
        (lambda: Adam(beta1=1.0), ValueError, "Adam: expected beta1 < 1"),
        (lambda: Adam(beta2=-0.5), ValueError, "Adam: expected beta2 >= 0"),
        (lambda: Adam(epsilon=0.0), ValueError, "Adam: expected epsilon > 0"),
        (
            lambda: Adam(weight_decay=float("inf")),
            ValueError,
            "Adam: expected a finite weight_decay",
        ),
        (lambda: Adam(decoupled="yes"), TypeError, "Adam: expected decoupled as a bool"),
    ],
)
def test_bad_hyperparameters_raise_naming_the_class(make, error, text):
    with pytest.raises(error, match=text):
        make()


def test_setting_a_bad_learning_rate_later_raises():
    opt = Adam()
    with pytest.raises(ValueError, match="Adam"):
        opt.learning_rate = -1.0


def test_update_validates_its_arrays():
    opt = SGD(0.1)
    with pytest.raises(TypeError, match="SGD.*float numpy array"):
        opt.update("weights", [1.0, 2.0], [0.0, 0.0])
    with pytest.raises(TypeError, match="SGD.*float numpy array"):
        opt.update("weights", np.array([1, 2]), np.array([0, 0]))
    with pytest.raises(ValueError, match=r"SGD: gradient of 'weights' has shape \(3,\)"):
        opt.update("weights", np.zeros(2), np.zeros(3))
    read_only = np.zeros(2)
    read_only.flags.writeable = False
    with pytest.raises(TypeError, match="read-only"):
        opt.update("weights", read_only, np.zeros(2))
    with pytest.raises(TypeError, match="parameter name"):
        opt.update(0, np.zeros(2), np.zeros(2))


# -- layers ----------------------------------------------------------------------


def _fc_pair(lr):
    np.random.seed(7)
    a = fl.FullyConnectedLayer(4, 3, lr)
    b = fl.FullyConnectedLayer(4, 3, lr)
    b.weights = a.weights
    return a, b


def test_default_path_is_the_tutorials_plain_sgd():
    plain, with_sgd = _fc_pair(0.3)
    assert plain.optimizer is None
    with_sgd.optimizer = SGD(0.3)
    x = np.random.default_rng(0).standard_normal((5, 4))
    e = np.random.default_rng(1).standard_normal((5, 3))
    before = plain.weights.copy()
    for layer in (plain, with_sgd):
        layer.forward(x)
        layer.backward(e)
    np.testing.assert_array_equal(plain.weights, before - 0.3 * plain.get_gradient_weights())
    np.testing.assert_array_equal(with_sgd.weights, plain.weights)


def test_conv_layer_with_adam_takes_the_adam_step():
    np.random.seed(3)
    conv = fl.ConvolutionalLayer((1, 1), (2, 3, 3), 4, 123.0)  # layer lr unused
    conv.optimizer = Adam(0.01)
    w0, b0 = conv.weights.copy(), conv.bias.copy()
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 5))
    out = conv.forward(x)
    conv.backward(np.ones_like(out))
    w, b = w0.copy(), b0.copy()
    Adam(0.01).update("weights", w, conv.get_gradient_weights())
    Adam(0.01).update("bias", b, conv.get_gradient_bias())
    np.testing.assert_array_equal(conv.weights, w)
    np.testing.assert_array_equal(conv.bias, b)


def test_set_optimizer_gives_every_layer_its_own_copy():
    net = lenet(seed=0)
    template = Adam(2e-3)
    layers = set_optimizer(net, template)
    assert len(layers) == 5 == len(trainable_layers(net))
    optimizers = [layer.optimizer for layer in layers]
    assert all(isinstance(o, Adam) and o.learning_rate == 2e-3 for o in optimizers)
    assert len({id(o) for o in optimizers} | {id(template)}) == 6
    set_optimizer(net, None)
    assert all(layer.optimizer is None for layer in layers)


def test_set_optimizer_accepts_a_factory():
    net = lenet(seed=0)
    set_optimizer(net.layers, lambda: SGD(0.1, momentum=0.9))
    optimizers = [layer.optimizer for layer in trainable_layers(net)]
    assert len({id(o) for o in optimizers}) == 5
    with pytest.raises(TypeError, match="factory returned"):
        set_optimizer(net, lambda: 42)
    with pytest.raises(TypeError, match="set_optimizer: expected an Optimizer"):
        set_optimizer(net, "adam")


def test_reference_layers_take_the_same_optimizer_step():
    # One parameter base: the reference layers apply an assigned optimizer
    # in backward exactly as the fast layers do.
    nets = {backend: lenet(seed=0, backend=backend) for backend in ("fast", "reference")}
    for net in nets.values():
        assert len(set_optimizer(net, SGD(0.01, momentum=0.9))) == 5
    np.random.seed(0)
    x = np.random.rand(2, 1, 28, 28)
    labels = np.eye(10)[[3, 7]]
    for net in nets.values():
        network_step(net.layers, net.loss_layer, x, labels)
    for fast, ref in zip(trainable_layers(nets["fast"]), trainable_layers(nets["reference"])):
        assert ref.optimizer.state["weights"]["step"] == 1
        scale = np.abs(ref.weights).max()
        np.testing.assert_allclose(fast.weights, ref.weights, rtol=1e-10, atol=1e-10 * scale)


class _OwnLayer:
    """A tutorial-style layer of one's own: weights, gradients, its own update."""

    def __init__(self):
        self.weights = np.zeros((2, 2))

    def get_gradient_weights(self):
        return np.zeros((2, 2))


def test_set_optimizer_refuses_a_layer_that_would_ignore_it():
    net = lenet(seed=0, backend="reference")
    net.layers.append(_OwnLayer())
    with pytest.raises(TypeError, match="set_optimizer: .*_OwnLayer.*TrainableLayer"):
        set_optimizer(net, Adam())
    # Nothing was assigned before the refusal.
    assert all(layer.optimizer is None for layer in trainable_layers(net.layers[:-1]))


def test_optimizer_attribute_is_checked():
    layer = reference.FullyConnectedLayer(2, 2, 0.1)
    with pytest.raises(TypeError, match="FullyConnectedLayer: expected optimizer"):
        layer.optimizer = "adam"
    layer.optimizer = SGD(0.1)
    layer.optimizer = None


def test_optimizer_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        Optimizer(0.1).update("weights", np.zeros(2), np.zeros(2))
