"""Bad input is rejected with clear errors, before any compiled kernel runs.

The kernels run without bounds checks, so a layer must reject everything
they could index out of range.  Every error names the layer class and shows
what it was given.  The second half pins the dtype rules: which inputs are
accepted, what they are computed in, and how parameters are stored.
"""

import re

import numpy as np
import pytest

import fastlayers
from fastlayers import MaxPoolLayer, Phase, ReLU, SoftMaxCrossEntropyLoss
from fastlayers import kernels as kernel_module

from .helpers import assert_close
from .registry import LABELS, LAYERS, X2, X4, cases


def forbid_kernels(monkeypatch):
    """Replace every function of ``fastlayers.kernels`` by one that fails the test.

    The layers call the kernels as attributes of the module
    (``kernels.conv2d_forward``), so patching the module attributes catches
    every call.
    """
    for name in kernel_module.__all__:

        def fail(*args, _name=name, **kwargs):
            pytest.fail(f"kernels.{_name} was called before the input was rejected")

        monkeypatch.setattr(kernel_module, name, fail)


def pattern(*fragments):
    """Regex matching the literal ``fragments`` in this order."""
    return ".*".join(re.escape(str(f)) for f in fragments)


def default_input(entry):
    """Ones in the default input shape of ``entry``."""
    return np.ones(entry.default.shapes[0])


def _error_shape_row(entry, transposed=False):
    # After a forward of the default input: an error with one column too
    # many, or (``transposed``) with the right size in the reversed shape.
    # The expected shape is known once the setup has run.
    seen = {}

    def setup():
        layer = entry.make()
        seen["expected"] = layer.forward(default_input(entry)).shape
        return layer

    def wrong():
        expected = seen["expected"]
        if transposed:
            # The same number of elements in another shape.
            flat = (1,) * (len(expected) - 1) + (int(np.prod(expected)),)
            return expected[::-1] if expected[::-1] != expected else flat
        return (*expected[:-1], expected[-1] + 1)

    return (
        f"{entry.name}-error-{'transposed' if transposed else 'shape'}",
        setup,
        lambda l: l.backward(np.ones(wrong())),
        ValueError,
        lambda: (entry.name, "error", str(seen["expected"]), str(wrong())),
    )


def _backward_first_row(entry):
    shape = entry.default.shapes[0]
    labels = np.eye(shape[-1])[np.arange(shape[0]) % shape[-1]] if entry.loss else None
    return (
        f"{entry.name}-backward-first",
        entry.make,
        lambda l: l.backward(labels if entry.loss else np.ones(shape)),
        RuntimeError,
        (entry.name, "backward", "forward"),
    )


# (id, setup, action, exception, fragments of the message).  ``setup`` runs
# with the real kernels; ``action`` runs with every kernel forbidden.  Each
# layer of the registry contributes its own rows, a backward before any
# forward, and (except the loss, whose backward takes labels) an error of
# the wrong shape.
CASES = [
    *[_backward_first_row(entry) for entry in LAYERS.values()],
    *[_error_shape_row(entry) for entry in LAYERS.values() if not entry.loss],
    *[_error_shape_row(entry, transposed=True) for entry in LAYERS.values() if not entry.loss],
    *[
        (row.id, row.setup, row.action, row.exception, row.fragments)
        for entry in LAYERS.values()
        for row in entry.rejects
    ],
]  # fmt: skip


@pytest.mark.parametrize(
    "setup, action, exception, fragments",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rejected_before_any_kernel(setup, action, exception, fragments, monkeypatch):
    target = setup() if setup is not None else None
    if callable(fragments):
        fragments = fragments()
    forbid_kernels(monkeypatch)
    with pytest.raises(exception, match=pattern(*fragments)):
        action(target)


def test_forbidden_kernels_do_fail_the_test(monkeypatch):
    # The guard above is only meaningful if a kernel call is really caught.
    conv = LAYERS["ConvolutionalLayer"]
    forbid_kernels(monkeypatch)
    for layer, x in [(conv.make(), X4), (MaxPoolLayer(), X4)]:
        with pytest.raises(pytest.fail.Exception):
            layer.forward(x)


# ---------------------------------------------------------------------------
# Unsupported and converted input dtypes, for every layer
# ---------------------------------------------------------------------------

LAYER_NAMES = list(LAYERS)


def labels_of(shape):
    """One-hot labels for a loss input of ``shape`` (batch, classes)."""
    batch, classes = shape
    return np.eye(classes)[np.arange(batch) % classes]


def run_forward(entry, layer, x):
    """``layer.forward(x)``, with labels for a loss layer."""
    if entry.loss:
        return layer.forward(x, labels_of(x.shape))
    return layer.forward(x)


@pytest.mark.parametrize("bad_dtype", [np.complex128, object, str, "datetime64[s]", np.longdouble])
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_unsupported_dtypes(name, bad_dtype, monkeypatch):
    if np.dtype(bad_dtype) == np.float64:
        pytest.skip("long double is float64 on this platform")
    entry = LAYERS[name]
    layer = entry.make()
    x = np.zeros(entry.default.shapes[0], dtype=bad_dtype)
    forbid_kernels(monkeypatch)
    with pytest.raises(TypeError, match=pattern(name, x.dtype)):
        run_forward(entry, layer, x)


def test_loss_rejects_complex_labels():
    with pytest.raises(TypeError, match=pattern("SoftMaxCrossEntropyLoss", "complex128")):
        SoftMaxCrossEntropyLoss().forward(X2, LABELS.astype(complex))


def forward_backward(name, x, seed=0):
    """Forward (and, except for the loss, backward) a fresh layer on ``x``."""
    entry = LAYERS[name]
    np.random.seed(seed)  # identical initial weights and dropout masks
    layer = entry.make()
    out = run_forward(entry, layer, x)
    if entry.loss:
        return np.asarray(out), layer.backward(labels_of(x.shape))
    error = np.linspace(-1, 1, np.size(out)).reshape(np.shape(out))
    return out, layer.backward(error)


def sample_input(name, rng):
    """Small integers, exactly representable in every dtype tested."""
    return rng.integers(-4, 5, LAYERS[name].default.shapes[0])


def assert_read_as(name, x, dtype, grad_dtype=None):
    """Layer ``name`` gives for ``x`` exactly what it gives for ``x.astype(dtype)``.

    Its output (a loss returns a float) has ``dtype``; its input gradient
    ``grad_dtype``, or with None the dtype of the gradient for the cast input.
    """
    out, grad = forward_backward(name, x)
    ref_out, ref_grad = forward_backward(name, x.astype(dtype))
    if not LAYERS[name].loss:
        assert out.dtype == dtype
    assert grad.dtype == (ref_grad.dtype if grad_dtype is None else grad_dtype)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(grad, ref_grad)


@pytest.mark.parametrize("name", LAYER_NAMES)
@pytest.mark.parametrize("int_dtype", [np.int8, np.int64, np.uint8, bool])
def test_int_and_bool_inputs_compute_in_float64(name, int_dtype, rng):
    x = sample_input(name, rng)
    if int_dtype is bool:
        x = x > 0
    elif int_dtype is np.uint8:
        x = np.abs(x)
    assert_read_as(name, x.astype(int_dtype), np.float64, grad_dtype=np.float64)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_float16_input_is_read_as_float32(name, rng):
    x = sample_input(name, rng).astype(np.float16)
    with fastlayers.default_dtype(np.float32):
        assert_read_as(name, x, np.float32)


# ---------------------------------------------------------------------------
# Computation dtype: float32 only when input and parameters are float32
# ---------------------------------------------------------------------------

TRAINABLE = [
    pytest.param(entry, config, id=case_id)
    for case_id, entry, config in cases([e for e in LAYERS.values() if e.trainable])
]


def trainable_pass(entry, config, param_dtype, x, seed=0):
    """Forward and backward a fresh trainable layer; return outputs and gradients."""
    np.random.seed(seed)
    layer = entry.make(config=config, dtype=param_dtype)
    out = layer.forward(x)
    # Quarters: exactly representable in float32, so every pass sees the same error.
    error = ((np.arange(out.size) % 7 - 3) / 4).reshape(out.shape).astype(x.dtype)
    dx = layer.backward(error)
    return layer, out, dx, layer.get_gradient_weights(), layer.get_gradient_bias()


@pytest.mark.parametrize("entry, config", TRAINABLE)
def test_float32_input_and_parameters_compute_in_float32(entry, config, rng):
    x = rng.random(config.shapes[0])
    layer, *results32 = trainable_pass(entry, config, np.float32, x.astype(np.float32))
    assert layer.weights.dtype == np.float32 and layer.bias.dtype == np.float32
    _, *results64 = trainable_pass(entry, config, np.float64, x)
    for got, want in zip(results32, results64):
        assert got.dtype == np.float32
        assert_close(got, want, np.float32)


@pytest.mark.parametrize("entry, config", TRAINABLE)
def test_float32_input_with_float64_parameters_computes_in_float64(entry, config, rng):
    x32 = rng.random(config.shapes[0]).astype(np.float32)
    _, *mixed = trainable_pass(entry, config, np.float64, x32)
    _, *reference = trainable_pass(entry, config, np.float64, x32.astype(np.float64))
    for got, want in zip(mixed, reference):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("entry, config", TRAINABLE)
def test_float32_parameters_updated_in_place_keep_dtype(entry, config, rng):
    layer = entry.make(config=config, dtype=np.float32)
    layer.learning_rate = 0.1
    out = layer.forward(rng.random(config.shapes[0]))  # float64 input: float64 gradients
    before = layer.weights.copy()
    layer.backward(np.ones_like(out))
    assert layer.weights.dtype == np.float32
    # ``weights -= learning_rate * gradient``: the float64 step is rounded
    # to float32 once, when it is stored.
    step = np.float64(0.1) * layer.get_gradient_weights()
    expected = (before.astype(np.float64) - step).astype(np.float32)
    np.testing.assert_allclose(layer.weights, expected, rtol=1e-6)


TRAINABLE_LAYERS = [entry for entry in LAYERS.values() if entry.trainable]


def test_default_dtype_controls_new_layers():
    assert fastlayers.get_default_dtype() == np.float64
    with fastlayers.default_dtype(np.float32):
        assert fastlayers.get_default_dtype() == np.float32
        inside = [entry.make() for entry in TRAINABLE_LAYERS]
    outside = LAYERS["ConvolutionalLayer"].make()
    assert len(inside) == 3
    for layer in inside:
        assert layer.dtype == np.float32
        assert layer.weights.dtype == np.float32 and layer.bias.dtype == np.float32
    assert outside.dtype == np.float64 and outside.weights.dtype == np.float64
    assert fastlayers.get_default_dtype() == np.float64


def test_default_dtype_restored_after_an_exception():
    with pytest.raises(KeyError):
        with fastlayers.default_dtype(np.float32):
            raise KeyError("boom")
    assert fastlayers.get_default_dtype() == np.float64


def test_set_default_dtype():
    fastlayers.set_default_dtype("float32")
    assert fastlayers.get_default_dtype() == np.float32
    assert fastlayers.FullyConnectedLayer(2, 2, 0.0).weights.dtype == np.float32
    # An explicit dtype wins over the default.
    assert fastlayers.FullyConnectedLayer(2, 2, 0.0, dtype=np.float64).weights.dtype == np.float64
    for bad in (np.float16, np.int64, complex, "float128"):
        with pytest.raises(TypeError, match="set_default_dtype"):
            fastlayers.set_default_dtype(bad)
    assert fastlayers.get_default_dtype() == np.float32


@pytest.mark.parametrize("name", ["weights", "bias"])
@pytest.mark.parametrize("entry", TRAINABLE_LAYERS, ids=lambda e: e.name)
def test_parameters_converted_at_assignment(entry, name, rng):
    # A layer whose dtype was chosen converts what is assigned to it (one
    # whose dtype was not follows the data: tests/test_parameters.py).
    layer = entry.make(dtype=np.float64)
    value = rng.random(getattr(layer, name).shape).astype(np.float32)
    setattr(layer, name, value)
    stored = getattr(layer, name)
    assert stored.dtype == np.float64
    np.testing.assert_array_equal(stored, value.astype(np.float64))
    # A converted copy: changing the caller's array later changes nothing.
    value[...] = 7
    assert not np.any(getattr(layer, name) == 7)


@pytest.mark.parametrize("entry", TRAINABLE_LAYERS, ids=lambda e: e.name)
def test_astype_converts_parameters(entry):
    layer = entry.make()
    weights, bias = layer.weights.copy(), layer.bias.copy()
    assert layer.astype(np.float32) is layer
    assert layer.weights.dtype == np.float32 and layer.bias.dtype == np.float32
    np.testing.assert_array_equal(layer.weights, weights.astype(np.float32))
    np.testing.assert_array_equal(layer.bias, bias.astype(np.float32))


def test_batchnorm_test_phase_follows_the_layer_dtype(rng):
    # Trained in float64, then converted for float32 inference: a float32
    # input with float32 parameters must be computed in float32, running
    # statistics included.
    layer = fastlayers.BatchNorm(0.0)
    layer.forward(rng.random((6, 3)))
    layer.astype(np.float32)
    layer.phase = Phase.test
    out = layer.forward(rng.random((4, 3)).astype(np.float32))
    assert out.dtype == np.float32


# ---------------------------------------------------------------------------
# Memory layout of the input does not matter
# ---------------------------------------------------------------------------


def _variants(x):
    read_only = x.copy()
    read_only.flags.writeable = False
    padded = np.zeros(x.shape[:-1] + (2 * x.shape[-1],))
    padded[..., ::2] = x
    reversed_view = np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    return {
        "read-only": read_only,
        "strided": padded[..., ::2],
        "negative-strides": reversed_view,
        "fortran": np.asfortranarray(x),
        "big-endian": x.astype(">f8"),
    }


@pytest.mark.parametrize("variant", ["read-only", "strided", "negative-strides", "fortran",
                                     "big-endian"])  # fmt: skip
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_input_layout_does_not_change_results(name, variant, rng):
    x = rng.standard_normal(LAYERS[name].default.shapes[0])
    unusual = _variants(x)[variant]
    assert not (unusual.flags.c_contiguous and unusual.flags.writeable
                and unusual.dtype.isnative)  # fmt: skip
    out, grad = forward_backward(name, unusual)
    ref_out, ref_grad = forward_backward(name, x)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(grad, ref_grad)
    assert unusual.flags.writeable == (variant != "read-only")
    np.testing.assert_array_equal(unusual, x)  # the input is not modified


@pytest.mark.parametrize("name", [name for name in LAYER_NAMES if not LAYERS[name].loss])
def test_error_layout_does_not_change_results(name, rng):
    entry = LAYERS[name]
    x = rng.standard_normal(entry.default.shapes[0])
    np.random.seed(0)
    layer = entry.make()
    out = layer.forward(x)
    error = rng.standard_normal(out.shape)
    reference = layer.backward(error)
    for variant in _variants(error).values():
        np.testing.assert_array_equal(layer.backward(variant), reference)


# ---------------------------------------------------------------------------
# Non-finite values
# ---------------------------------------------------------------------------


def test_loss_with_minus_infinite_logit_of_a_wrong_class():
    # A masked-out class (logit -inf) has probability 0; the loss of the
    # true class stays finite: -log(e^0 / (e^0 + e^1)) = log(1 + e).
    x = np.array([[0.0, -np.inf, 1.0]])
    labels = np.array([[1.0, 0.0, 0.0]])
    layer = SoftMaxCrossEntropyLoss()
    assert layer.forward(x, labels) == pytest.approx(np.log1p(np.e), rel=1e-15)
    np.testing.assert_allclose(layer.backward(labels), [[1 / (1 + np.e) - 1, 0, np.e / (1 + np.e)]],
                               rtol=1e-15)  # fmt: skip


def test_relu_propagates_nan():
    # max(NaN, 0) is NaN (as np.maximum and the pooling layer have it): a
    # NaN must not be silently turned into a 0 activation.
    out = ReLU().forward(np.array([[np.nan, -1.0, 2.0]]))
    assert np.isnan(out[0, 0])
    np.testing.assert_array_equal(out[0, 1:], [0.0, 2.0])


def test_maxpool_propagates_nan():
    x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    out = MaxPoolLayer().forward(x)
    assert np.isnan(out[0, 0, 0, 0])
    np.testing.assert_array_equal(out[0, 0].ravel()[1:], [7.0, 13.0, 15.0])
