"""The one parameter base of fast and reference layers, its dtype rule, and empty batches.

* Both packages' layers with parameters share
  :class:`fastlayers.parameters.TrainableLayer`: storage, the learning-rate
  check, the optimizer hook and the declared state arrays.
* dtype that follows the data: a layer whose dtype was not chosen keeps
  the float dtype of the arrays assigned to it and computes in NumPy's
  promotion of input and parameters; a chosen dtype (``dtype=``,
  ``astype``, ``NeuralNetwork(dtype=...)``, a float32 default) converts
  every assignment once.
* Empty batches through DropOut, FlattenLayer, SoftMaxCrossEntropyLoss and
  BatchNorm give correctly shaped empty results; any other zero-length
  axis is a ``ValueError`` naming the class.
"""

import ast
from pathlib import Path

import numpy as np
import pytest

import fastlayers
import fastlayers.reference as reference
from fastlayers import Phase
from fastlayers.optimizers import SGD
from fastlayers.parameters import TrainableLayer

from .helpers import F32, F64, assert_close

PACKAGES = [fastlayers, reference]
PACKAGE_IDS = ["fast", "reference"]

# name: (factory(package, **kwargs), input shape)
TRAINABLE = {
    "ConvolutionalLayer": (
        lambda p, **kw: p.ConvolutionalLayer((1, 1), (2, 3, 3), 3, 0.1, **kw),
        (2, 2, 5, 4),
    ),
    "FullyConnectedLayer": (lambda p, **kw: p.FullyConnectedLayer(4, 3, 0.1, **kw), (3, 4)),
    "BatchNorm": (lambda p, **kw: p.BatchNorm(0.1, 2, **kw), (3, 2, 2, 2)),
}


def _make(package, name, **kwargs):
    return TRAINABLE[name][0](package, **kwargs)


def _param_names(name):
    # The fully connected layer keeps its bias as the last row of its weights.
    return ("weights",) if name == "FullyConnectedLayer" else ("weights", "bias")


def _assign(layer, name, dtype, rng):
    """Assign random parameters of ``dtype`` through the public setters."""
    for what in _param_names(name):
        shape = getattr(layer, what).shape
        setattr(layer, what, rng.uniform(0.5, 1.5, shape).astype(dtype))


def _pass(layer, x):
    out = layer.forward(x)
    error = ((np.arange(out.size) % 7 - 3) / 4).reshape(out.shape).astype(x.dtype)
    dx = layer.backward(error)
    return out, dx, layer.get_gradient_weights(), layer.get_gradient_bias()


# ---------------------------------------------------------------------------
# One base
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
@pytest.mark.parametrize("name", list(TRAINABLE))
def test_every_layer_with_parameters_shares_the_base(package, name):
    layer = _make(package, name)
    assert isinstance(layer, TrainableLayer)
    expected = _param_names(name) + (("running_mean", "running_var") if name == "BatchNorm" else ())
    assert layer.state_names == expected
    assert layer.parameter_names == _param_names(name)


def test_fast_layers_import_location_is_the_same_base():
    from fastlayers.layers._trainable import TrainableLayer as Fast

    assert Fast is TrainableLayer


def _imported_modules(path, package):
    """Absolute names of every module ``path`` (inside ``package``) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_reference_imports_neither_layers_nor_kernels():
    folder = Path(reference.__file__).parent
    for path in sorted(folder.glob("*.py")):
        for module in _imported_modules(path, "fastlayers.reference"):
            assert not module.startswith(
                ("fastlayers.layers", "fastlayers.kernels", "fastlayers.functional")
            ), f"{path.name} imports {module}"


def test_the_import_check_sees_a_forbidden_import(tmp_path):
    # The check above is only meaningful if it recognises a relative import.
    probe = tmp_path / "probe.py"
    probe.write_text("from ..layers.dropout import dropout_mask\n")
    assert "fastlayers.layers.dropout" in _imported_modules(probe, "fastlayers.reference")


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
@pytest.mark.parametrize(
    "value, error",
    [
        (None, TypeError),
        ("0.1", TypeError),
        ([0.1], TypeError),
        (1j, TypeError),
        (True, TypeError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (-0.5, ValueError),
    ],
)
def test_learning_rate_is_checked(package, value, error):
    with pytest.raises(error, match="FullyConnectedLayer: expected .*learning_rate"):
        package.FullyConnectedLayer(2, 2, value)
    layer = package.FullyConnectedLayer(2, 2, 0.1)
    with pytest.raises(error, match="FullyConnectedLayer: expected .*learning_rate"):
        layer.learning_rate = value
    assert layer.learning_rate == 0.1


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
@pytest.mark.parametrize("name", list(TRAINABLE))
def test_optimizer_hook_and_plain_step_agree(package, name, rng):
    # The hook runs in both packages: an SGD optimizer is the plain step, bitwise.
    plain = _make(package, name)
    hooked = _make(package, name)
    _assign(plain, name, F64, rng)
    for what in _param_names(name):
        setattr(hooked, what, getattr(plain, what))
    hooked.optimizer = SGD(0.1)
    x = rng.standard_normal(TRAINABLE[name][1])
    _pass(plain, x)
    _pass(hooked, x)
    for what in _param_names(name):
        np.testing.assert_array_equal(getattr(hooked, what), getattr(plain, what))
    assert hooked.optimizer.state["weights"]["step"] == 1


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
def test_backward_parameters_in_both_packages(package, rng):
    layer = _make(package, "ConvolutionalLayer")
    twin = _make(package, "ConvolutionalLayer")
    _assign(layer, "ConvolutionalLayer", F64, rng)
    twin.weights, twin.bias = layer.weights, layer.bias
    x = rng.standard_normal(TRAINABLE["ConvolutionalLayer"][1])
    error = rng.standard_normal(layer.forward(x).shape)
    twin.forward(x)
    assert layer.backward_parameters(error) is None
    twin.backward(error)
    np.testing.assert_array_equal(layer.get_gradient_weights(), twin.get_gradient_weights())
    np.testing.assert_array_equal(layer.weights, twin.weights)


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
def test_state_arrays_and_set_state_array(package, rng):
    layer = package.BatchNorm(0.0, 2)
    assert set(layer.state_arrays()) == {"weights", "bias"}  # no statistics before training
    layer.forward(rng.standard_normal((4, 2, 3, 3)))
    arrays = layer.state_arrays()
    assert set(arrays) == {"weights", "bias", "running_mean", "running_var"}
    assert arrays["running_mean"] is layer.running_mean
    layer.set_state_array("running_var", np.array([2, 3]))  # ints: stored as the layer's dtype
    assert layer.running_var.dtype == F64
    np.testing.assert_array_equal(layer.running_var, [2.0, 3.0])
    with pytest.raises(ValueError, match="BatchNorm: expected a state array name"):
        layer.set_state_array("gamma", np.ones(2))


# ---------------------------------------------------------------------------
# dtype that follows the data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
@pytest.mark.parametrize("name", list(TRAINABLE))
def test_assigned_float32_parameters_make_a_float32_layer(package, name, rng):
    layer = _make(package, name)
    assert layer.dtype == F64
    _assign(layer, name, F32, rng)
    for what in _param_names(name):
        assert getattr(layer, what).dtype == F32
    assert layer.dtype == F32
    twin = _make(package, name)
    for what in _param_names(name):
        setattr(twin, what, getattr(layer, what).astype(F64))
    x = rng.standard_normal(TRAINABLE[name][1])
    results32 = _pass(layer, x.astype(F32))
    results64 = _pass(twin, x.astype(F32).astype(F64))
    for got, want, what in zip(
        results32, results64, ("output", "input gradient", "weight gradient", "bias gradient")
    ):
        assert got.dtype == F32, what
        assert_close(got, want, F32, what)
    # The update keeps the parameters in float32.
    for what in _param_names(name):
        assert getattr(layer, what).dtype == F32
        assert_close(getattr(layer, what), getattr(twin, what), F32, what)
    if name == "BatchNorm":
        assert layer.running_mean.dtype == F32 and layer.running_var.dtype == F32


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
def test_mixed_parameter_dtypes_promote(package, rng):
    # float32 weights with the float64 bias of the initializer: NumPy's
    # promotion of input and parameters is float64.
    layer = _make(package, "ConvolutionalLayer")
    layer.weights = layer.weights.astype(F32)
    assert layer.weights.dtype == F32 and layer.bias.dtype == F64
    assert layer.dtype == F64
    x = rng.standard_normal(TRAINABLE["ConvolutionalLayer"][1]).astype(F32)
    out, dx, grad_w, grad_b = _pass(layer, x)
    assert out.dtype == dx.dtype == F64
    # A float64 input with float32 parameters computes in float64 as well.
    layer = _make(package, "FullyConnectedLayer")
    layer.weights = layer.weights.astype(F32)
    assert layer.forward(rng.standard_normal((2, 4))).dtype == F64


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
@pytest.mark.parametrize("int_dtype", [np.int32, np.int64, np.uint8, bool])
def test_integer_parameters_become_float64(package, int_dtype):
    layer = _make(package, "ConvolutionalLayer")
    layer.weights = np.ones((3, 2, 3, 3), dtype=int_dtype)
    layer.bias = np.arange(3).astype(int_dtype)
    assert layer.weights.dtype == F64 and layer.bias.dtype == F64
    np.testing.assert_array_equal(layer.bias, np.arange(3).astype(int_dtype).astype(F64))
    explicit = _make(package, "ConvolutionalLayer", dtype=np.float32)
    explicit.bias = np.arange(3)
    assert explicit.bias.dtype == F32


def _explicit_layers(package, name, dtype, default=True):
    """Layers whose dtype was chosen in each of the documented ways.

    ``default=False`` leaves out the layer built under ``default_dtype()``.
    """
    made = {"dtype=": _make(package, name, dtype=dtype)}
    made["astype"] = _make(package, name).astype(dtype)
    if default:
        with fastlayers.default_dtype(dtype):
            made["default_dtype()"] = _make(package, name)
    net = package.NeuralNetwork(fastlayers.He(), fastlayers.Const(0.1), dtype=dtype)
    net.append_trainable_layer(_make(package, name))
    made["NeuralNetwork(dtype=)"] = net.layers[0]
    return made


def _assert_chosen_dtype_kept(made, name, chosen, assigned, rng):
    """Every layer of ``made`` keeps ``chosen``: for parameters assigned in ``assigned``
    and for its output on a float32 input."""
    for how, layer in made.items():
        assert layer.dtype == chosen, how
        _assign(layer, name, assigned, rng)
        for what in _param_names(name):
            assert getattr(layer, what).dtype == chosen, f"{how}: {what}"
        out = layer.forward(rng.standard_normal(TRAINABLE[name][1]).astype(F32))
        assert out.dtype == chosen, how


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
@pytest.mark.parametrize("name", list(TRAINABLE))
def test_a_chosen_float32_converts_every_assignment(package, name, rng):
    made = _explicit_layers(package, name, np.float32)
    _assert_chosen_dtype_kept(made, name, F32, F64, rng)


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
@pytest.mark.parametrize("name", list(TRAINABLE))
def test_a_chosen_float64_converts_float32_assignments(package, name, rng):
    # float64 is the default already: default_dtype() would choose nothing.
    made = _explicit_layers(package, name, np.float64, default=False)
    _assert_chosen_dtype_kept(made, name, F64, F32, rng)


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
def test_set_default_dtype_converts_once(package, rng):
    fastlayers.set_default_dtype(np.float32)
    layer = _make(package, "FullyConnectedLayer")
    assert layer.weights.dtype == F32
    layer.weights = rng.random((5, 3))
    assert layer.weights.dtype == F32


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
def test_assignment_is_a_copy_in_either_mode(package, rng):
    for layer in (
        _make(package, "ConvolutionalLayer"),
        _make(package, "ConvolutionalLayer", dtype=np.float32),
    ):
        value = rng.random((3, 2, 3, 3)).astype(F32)
        layer.weights = value
        value[...] = 7
        assert not np.any(layer.weights == 7)


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
def test_batchnorm_statistics_follow_float32_parameters(package, rng):
    layer = package.BatchNorm(0.0)
    layer.weights = np.ones(3, F32)
    layer.bias = np.zeros(3, F32)
    layer.forward(rng.standard_normal((6, 3)).astype(F32))
    assert layer.running_mean.dtype == F32 and layer.running_var.dtype == F32
    layer.phase = Phase.test
    assert layer.forward(rng.standard_normal((2, 3)).astype(F32)).dtype == F32


# ---------------------------------------------------------------------------
# Empty batches
# ---------------------------------------------------------------------------

# name: (factory(package), input shape, output shape of one sample)
EMPTY_CASES = {
    "DropOut": (lambda p: p.DropOut(0.5), (3, 4, 5), (4, 5)),
    "FlattenLayer": (lambda p: p.FlattenLayer(), (3, 2, 3, 4), (24,)),
    "SoftMaxCrossEntropyLoss": (lambda p: p.SoftMaxCrossEntropyLoss(), (3, 4), None),
    "BatchNorm-features": (lambda p: p.BatchNorm(0.1), (3, 4), (4,)),
    "BatchNorm-channels": (lambda p: p.BatchNorm(0.1, 2), (3, 2, 3, 3), (2, 3, 3)),
    "BatchNorm-channels-2d": (lambda p: p.BatchNorm(0.1, 2), (3, 6), (6,)),
}


def _class_name(case):
    return case.split("-")[0]


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
@pytest.mark.parametrize("phase", [Phase.train, Phase.test], ids=["train", "test"])
@pytest.mark.parametrize("case", list(EMPTY_CASES))
def test_empty_batch_gives_empty_results(package, case, phase):
    factory, shape, sample_out = EMPTY_CASES[case]
    layer = factory(package)
    layer.phase = phase
    x = np.zeros((0,) + shape[1:])
    if case == "SoftMaxCrossEntropyLoss":
        loss = layer.forward(x, x)
        assert isinstance(loss, float) and loss == 0.0 and np.copysign(1.0, loss) == 1.0
        dx = layer.backward(x)
        assert dx.shape == x.shape
        assert layer.predict(x).shape == x.shape
        return
    out = layer.forward(x)
    assert out.shape == (0,) + sample_out and out.dtype == F64
    dx = layer.backward(np.zeros(out.shape))
    assert dx.shape == x.shape and dx.dtype == F64
    if isinstance(layer, TrainableLayer):
        before = layer.weights.copy()
        for grad, param in (
            (layer.get_gradient_weights(), layer.weights),
            (layer.get_gradient_bias(), layer.bias),
        ):
            assert grad.shape == param.shape
            np.testing.assert_array_equal(grad, 0.0)
        np.testing.assert_array_equal(layer.weights, before)
        # No statistics from an empty batch.
        assert layer.running_mean is None and layer.running_var is None


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
def test_empty_batch_keeps_the_batchnorm_statistics(package, rng):
    layer = package.BatchNorm(0.1, 2)
    layer.forward(rng.standard_normal((4, 2, 3, 3)))
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    layer.forward(np.zeros((0, 2, 3, 3)))
    np.testing.assert_array_equal(layer.running_mean, mean)
    np.testing.assert_array_equal(layer.running_var, var)


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
def test_empty_batch_draws_no_dropout_mask(package):
    np.random.seed(3)
    state = np.random.get_state()[1].copy()
    package.DropOut(0.5).forward(np.zeros((0, 4)))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("package", PACKAGES, ids=PACKAGE_IDS)
@pytest.mark.parametrize("case", list(EMPTY_CASES))
def test_other_empty_axes_are_errors(package, case):
    factory, shape, _ = EMPTY_CASES[case]
    for axis in range(1, len(shape)):
        bad = list(shape)
        bad[axis] = 0
        bad = tuple(bad)
        layer = factory(package)
        args = (np.zeros(bad),) * (2 if case == "SoftMaxCrossEntropyLoss" else 1)
        with pytest.raises(ValueError, match=rf"{_class_name(case)}: .*{re_shape(bad)}"):
            layer.forward(*args)


def re_shape(shape):
    """A regex matching ``shape`` as Python prints it."""
    return str(shape).replace("(", r"\(").replace(")", r"\)")
