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
from fastlayers import (
    BatchNorm,
    ConvolutionalLayer,
    DropOut,
    FlattenLayer,
    FullyConnectedLayer,
    MaxPoolLayer,
    Phase,
    ReLU,
    Sigmoid,
    SoftMaxCrossEntropyLoss,
    TanH,
)
from fastlayers import kernels as kernel_module


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


def conv(**kwargs):
    """A small convolution: 2 input channels, 3x3 kernel, 3 filters."""
    return ConvolutionalLayer((1, 1), (2, 3, 3), 3, 0.0, **kwargs)


def after_forward(layer, x, *args):
    """Run one forward pass and return the layer."""
    layer.forward(x, *args)
    return layer


def assigned(layer, name, value):
    """Assign ``value`` to ``layer.<name>`` and return the layer."""
    setattr(layer, name, value)
    return layer


X4 = np.ones((2, 2, 6, 7))
X2 = np.ones((3, 4))
LABELS = np.eye(4)[[0, 1, 3]]

# (id, setup, action, exception, fragments of the message).  ``setup`` runs
# with the real kernels; ``action`` runs with every kernel forbidden.
CASES = [
    # -- ConvolutionalLayer --------------------------------------------------
    ("conv-ndim", conv, lambda l: l.forward(np.ones((2, 6, 7))),
     ValueError, ["ConvolutionalLayer", "4 dimensions", "(2, 6, 7)"]),
    ("conv-channels", conv, lambda l: l.forward(np.ones((1, 3, 6, 7))),
     ValueError, ["ConvolutionalLayer", "2 channels", "(1, 3, 6, 7)"]),
    ("conv-stride-zero", None, lambda _: conv_with(stride=(0, 1)),
     ValueError, ["ConvolutionalLayer", "stride_shape", "(0, 1)"]),
    ("conv-stride-negative", None, lambda _: conv_with(stride=-2),
     ValueError, ["ConvolutionalLayer", "stride_shape", "-2"]),
    ("conv-stride-float", None, lambda _: conv_with(stride=(1.5, 1)),
     TypeError, ["ConvolutionalLayer", "stride_shape", "(1.5, 1)"]),
    ("conv-stride-float-scalar", None, lambda _: conv_with(stride=2.0),
     TypeError, ["ConvolutionalLayer", "stride_shape", "2.0"]),
    ("conv-kernel-zero", None, lambda _: conv_with(kernel=(2, 0, 3)),
     ValueError, ["ConvolutionalLayer", "kernel_shape", "(2, 0, 3)"]),
    ("conv-kernel-two-entries", None, lambda _: conv_with(kernel=(3, 3)),
     TypeError, ["ConvolutionalLayer", "kernel_shape", "(3, 3)"]),
    ("conv-kernel-float", None, lambda _: conv_with(kernel=(2, 3.0, 3)),
     TypeError, ["ConvolutionalLayer", "kernel_shape", "(2, 3.0, 3)"]),
    ("conv-n-kernels-zero", None, lambda _: conv_with(n_kernels=0),
     ValueError, ["ConvolutionalLayer", "n_kernels", "0"]),
    ("conv-padding-name", None, lambda _: conv(padding="full"),
     ValueError, ["ConvolutionalLayer", "padding", "'full'"]),
    ("conv-padding-negative", None, lambda _: conv(padding=(0, 0, -1, 0)),
     ValueError, ["ConvolutionalLayer", "padding", "(0, 0, -1, 0)"]),
    ("conv-padding-three", None, lambda _: conv(padding=(1, 1, 1)),
     TypeError, ["ConvolutionalLayer", "padding", "(1, 1, 1)"]),
    ("conv-valid-too-small", lambda: conv(padding="valid"),
     lambda l: l.forward(np.ones((1, 2, 2, 5))),
     ValueError, ["ConvolutionalLayer", "3x3 kernel", "(2, 5)"]),
    ("conv-empty", conv, lambda l: l.forward(np.ones((0, 2, 6, 7))),
     ValueError, ["ConvolutionalLayer", "(0, 2, 6, 7)"]),
    ("conv-weights-shape", lambda: assigned(conv(), "weights", np.ones((3, 2, 3))),
     lambda l: l.forward(X4),
     ValueError, ["ConvolutionalLayer", "weights", "(3, 2, 3, 3)", "(3, 2, 3)"]),
    ("conv-bias-shape", lambda: assigned(conv(), "bias", np.ones((3, 1))),
     lambda l: l.forward(X4),
     ValueError, ["ConvolutionalLayer", "bias", "(3,)", "(3, 1)"]),
    ("conv-error-shape", lambda: after_forward(conv(), X4),
     lambda l: l.backward(np.ones((2, 3, 6, 6))),
     ValueError, ["ConvolutionalLayer", "error", "(2, 3, 6, 7)", "(2, 3, 6, 6)"]),
    ("conv-error-shape-strided",
     lambda: after_forward(ConvolutionalLayer((2, 3), (2, 3, 3), 3, 0.0), X4),
     lambda l: l.backward(np.ones((2, 3, 6, 7))),
     ValueError, ["ConvolutionalLayer", "error", "(2, 3, 3, 3)", "(2, 3, 6, 7)"]),
    ("conv-backward-first", conv, lambda l: l.backward(np.ones((2, 3, 6, 7))),
     RuntimeError, ["ConvolutionalLayer", "backward", "forward"]),
    # -- MaxPoolLayer ----------------------------------------------------------
    ("pool-ndim", MaxPoolLayer, lambda l: l.forward(np.ones((2, 6, 7))),
     ValueError, ["MaxPoolLayer", "4 dimensions", "(2, 6, 7)"]),
    ("pool-window-zero", None, lambda _: MaxPoolLayer(neighborhood=(0, 2)),
     ValueError, ["MaxPoolLayer", "neighborhood", "(0, 2)"]),
    ("pool-stride-zero", None, lambda _: MaxPoolLayer(stride=(2, 0)),
     ValueError, ["MaxPoolLayer", "stride", "(2, 0)"]),
    ("pool-stride-float", None, lambda _: MaxPoolLayer(stride=(2, 1.5)),
     TypeError, ["MaxPoolLayer", "stride", "(2, 1.5)"]),
    ("pool-window-float", None, lambda _: MaxPoolLayer(neighborhood=2.5),
     TypeError, ["MaxPoolLayer", "neighborhood", "2.5"]),
    ("pool-window-too-large", lambda: MaxPoolLayer(neighborhood=(3, 3)),
     lambda l: l.forward(np.ones((1, 1, 2, 5))),
     ValueError, ["MaxPoolLayer", "3x3 window", "(2, 5)"]),
    ("pool-window-too-wide", lambda: MaxPoolLayer(neighborhood=(1, 8)),
     lambda l: l.forward(X4),
     ValueError, ["MaxPoolLayer", "1x8 window", "(6, 7)"]),
    ("pool-error-shape", lambda: after_forward(MaxPoolLayer(), X4),
     lambda l: l.backward(np.ones((2, 2, 3, 4))),
     ValueError, ["MaxPoolLayer", "error", "(2, 2, 3, 3)", "(2, 2, 3, 4)"]),
    ("pool-backward-first", MaxPoolLayer, lambda l: l.backward(np.ones((2, 2, 3, 3))),
     RuntimeError, ["MaxPoolLayer", "backward", "forward"]),
    # -- FullyConnectedLayer -----------------------------------------------------
    ("fc-ndim", lambda: FullyConnectedLayer(4, 3, 0.0), lambda l: l.forward(np.ones((3, 2, 2))),
     ValueError, ["FullyConnectedLayer", "2 dimensions", "(3, 2, 2)"]),
    ("fc-size", lambda: FullyConnectedLayer(4, 3, 0.0), lambda l: l.forward(np.ones((3, 5))),
     ValueError, ["FullyConnectedLayer", "(batch, 4)", "(3, 5)"]),
    ("fc-input-size-zero", None, lambda _: FullyConnectedLayer(0, 3, 0.0),
     ValueError, ["FullyConnectedLayer", "input_size", "0"]),
    ("fc-output-size-float", None, lambda _: FullyConnectedLayer(4, 3.0, 0.0),
     TypeError, ["FullyConnectedLayer", "output_size", "3.0"]),
    ("fc-weights-shape",
     lambda: assigned(FullyConnectedLayer(4, 3, 0.0), "weights", np.ones((4, 3))),
     lambda l: l.forward(X2),
     ValueError, ["FullyConnectedLayer", "weights", "(5, 3)", "(4, 3)"]),
    ("fc-bias-shape", lambda: FullyConnectedLayer(4, 3, 0.0),
     lambda l: setattr(l, "bias", np.ones(4)),
     ValueError, ["FullyConnectedLayer", "bias", "(3,)", "(4,)"]),
    ("fc-error-shape", lambda: after_forward(FullyConnectedLayer(4, 3, 0.0), X2),
     lambda l: l.backward(np.ones((3, 4))),
     ValueError, ["FullyConnectedLayer", "error", "(3, 3)", "(3, 4)"]),
    ("fc-backward-first", lambda: FullyConnectedLayer(4, 3, 0.0),
     lambda l: l.backward(np.ones((3, 3))),
     RuntimeError, ["FullyConnectedLayer", "backward", "forward"]),
    # -- activations and flatten -------------------------------------------------
    *[
        (f"{cls.__name__}-error-shape", (lambda cls=cls: after_forward(cls(), X2)),
         lambda l: l.backward(np.ones((4, 3))),
         ValueError, [cls.__name__, "error", "(3, 4)", "(4, 3)"])
        for cls in (ReLU, Sigmoid, TanH)
    ],
    *[
        (f"{cls.__name__}-backward-first", cls, lambda l: l.backward(X2),
         RuntimeError, [cls.__name__, "backward", "forward"])
        for cls in (ReLU, Sigmoid, TanH, FlattenLayer)
    ],
    ("flatten-error-shape", lambda: after_forward(FlattenLayer(), X4),
     lambda l: l.backward(np.ones((2, 83))),
     ValueError, ["FlattenLayer", "error", "(2, 84)", "(2, 83)"]),
    ("flatten-scalar", FlattenLayer, lambda l: l.forward(np.float64(3.0)),
     ValueError, ["FlattenLayer", "scalar"]),
    # -- SoftMaxCrossEntropyLoss ---------------------------------------------------
    ("loss-labels-shape", SoftMaxCrossEntropyLoss, lambda l: l.forward(X2, np.eye(3)),
     ValueError, ["SoftMaxCrossEntropyLoss", "labels", "(3, 4)", "(3, 3)"]),
    ("loss-labels-ndim", SoftMaxCrossEntropyLoss, lambda l: l.forward(X2, np.ones(4)),
     ValueError, ["SoftMaxCrossEntropyLoss", "labels", "2 dimensions", "(4,)"]),
    ("loss-input-ndim", SoftMaxCrossEntropyLoss,
     lambda l: l.forward(np.ones((3, 4, 1)), np.ones((3, 4, 1))),
     ValueError, ["SoftMaxCrossEntropyLoss", "2 dimensions", "(3, 4, 1)"]),
    ("loss-backward-labels", lambda: after_forward(SoftMaxCrossEntropyLoss(), X2, LABELS),
     lambda l: l.backward(np.eye(4)),
     ValueError, ["SoftMaxCrossEntropyLoss", "labels", "(3, 4)", "(4, 4)"]),
    ("loss-predict-ndim", SoftMaxCrossEntropyLoss, lambda l: l.predict(np.ones(4)),
     ValueError, ["SoftMaxCrossEntropyLoss", "2 dimensions", "(4,)"]),
    ("loss-backward-first", SoftMaxCrossEntropyLoss, lambda l: l.backward(LABELS),
     RuntimeError, ["SoftMaxCrossEntropyLoss", "backward", "forward"]),
    # -- DropOut ---------------------------------------------------------------------
    ("dropout-probability-high", None, lambda _: DropOut(1.5),
     ValueError, ["DropOut", "probability", "1.5"]),
    ("dropout-probability-negative", None, lambda _: DropOut(-0.1),
     ValueError, ["DropOut", "probability", "-0.1"]),
    ("dropout-probability-str", None, lambda _: DropOut("0.5"),
     TypeError, ["DropOut", "probability", "'0.5'"]),
    ("dropout-error-shape", lambda: after_forward(DropOut(0.5), X2),
     lambda l: l.backward(np.ones((4, 3))),
     ValueError, ["DropOut", "error", "(3, 4)", "(4, 3)"]),
    ("dropout-backward-first", lambda: DropOut(0.5), lambda l: l.backward(X2),
     RuntimeError, ["DropOut", "backward", "forward"]),
    # -- BatchNorm -------------------------------------------------------------------
    ("bn-features-ndim", lambda: BatchNorm(0.0), lambda l: l.forward(X4),
     ValueError, ["BatchNorm", "2 dimensions", "(2, 2, 6, 7)"]),
    ("bn-channels-4d", lambda: BatchNorm(0.0, 3), lambda l: l.forward(X4),
     ValueError, ["BatchNorm", "3", "(2, 2, 6, 7)"]),
    ("bn-channels-2d", lambda: BatchNorm(0.0, 3), lambda l: l.forward(np.ones((2, 7))),
     ValueError, ["BatchNorm", "3", "(2, 7)"]),
    ("bn-channels-negative", None, lambda _: BatchNorm(0.0, -1),
     ValueError, ["BatchNorm", "channels", "-1"]),
    ("bn-channels-float", None, lambda _: BatchNorm(0.0, 2.0),
     TypeError, ["BatchNorm", "channels", "2.0"]),
    ("bn-epsilon", None, lambda _: BatchNorm(0.0, epsilon=0.0),
     ValueError, ["BatchNorm", "epsilon", "0.0"]),
    ("bn-momentum", None, lambda _: BatchNorm(0.0, momentum=1.0),
     ValueError, ["BatchNorm", "momentum", "1.0"]),
    ("bn-weights-shape", lambda: assigned(BatchNorm(0.0, 2), "weights", np.ones(3)),
     lambda l: l.forward(X4),
     ValueError, ["BatchNorm", "weights", "(2,)", "(3,)"]),
    ("bn-bias-shape", lambda: assigned(BatchNorm(0.0, 2), "bias", np.ones((2, 1))),
     lambda l: l.forward(X4),
     ValueError, ["BatchNorm", "bias", "(2,)", "(2, 1)"]),
    ("bn-error-shape", lambda: after_forward(BatchNorm(0.0), X2),
     lambda l: l.backward(np.ones((3, 5))),
     ValueError, ["BatchNorm", "error", "(3, 4)", "(3, 5)"]),
    ("bn-backward-first", lambda: BatchNorm(0.0), lambda l: l.backward(X2),
     RuntimeError, ["BatchNorm", "backward", "forward"]),
    # -- dtype arguments ---------------------------------------------------------------
    ("fc-dtype-float16", None, lambda _: FullyConnectedLayer(4, 3, 0.0, dtype=np.float16),
     TypeError, ["FullyConnectedLayer", "float16"]),
    ("conv-dtype-int", None, lambda _: conv(dtype=np.int32),
     TypeError, ["ConvolutionalLayer", "int32"]),
    ("bn-dtype-complex", None, lambda _: BatchNorm(0.0, dtype=complex),
     TypeError, ["BatchNorm", "complex128"]),
]  # fmt: skip


def conv_with(stride=(1, 1), kernel=(2, 3, 3), n_kernels=3):
    """Construct a convolution with one argument changed."""
    return ConvolutionalLayer(stride, kernel, n_kernels, 0.0)


@pytest.mark.parametrize(
    "setup, action, exception, fragments",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rejected_before_any_kernel(setup, action, exception, fragments, monkeypatch):
    target = setup() if setup is not None else None
    forbid_kernels(monkeypatch)
    with pytest.raises(exception, match=pattern(*fragments)):
        action(target)


def test_forbidden_kernels_do_fail_the_test(monkeypatch):
    # The guard above is only meaningful if a kernel call is really caught.
    forbid_kernels(monkeypatch)
    for layer, x in [(conv(), X4), (MaxPoolLayer(), X4)]:
        with pytest.raises(pytest.fail.Exception):
            layer.forward(x)


# ---------------------------------------------------------------------------
# Unsupported and converted input dtypes, for every layer
# ---------------------------------------------------------------------------

LAYERS = {
    "ConvolutionalLayer": (conv, (2, 2, 6, 7)),
    "MaxPoolLayer": (MaxPoolLayer, (2, 2, 6, 7)),
    "FullyConnectedLayer": (lambda: FullyConnectedLayer(4, 3, 0.0), (3, 4)),
    "BatchNorm": (lambda: BatchNorm(0.0, 2), (3, 2, 2, 2)),
    "ReLU": (ReLU, (3, 4)),
    "Sigmoid": (Sigmoid, (3, 4)),
    "TanH": (TanH, (3, 4)),
    "FlattenLayer": (FlattenLayer, (2, 2, 3)),
    "DropOut": (lambda: DropOut(0.3), (3, 4)),
    "SoftMaxCrossEntropyLoss": (SoftMaxCrossEntropyLoss, (3, 4)),
}


def run_forward(name, layer, x):
    """``layer.forward(x)``, with labels for the loss layer."""
    if name == "SoftMaxCrossEntropyLoss":
        return layer.forward(x, LABELS)
    return layer.forward(x)


@pytest.mark.parametrize("bad_dtype", [np.complex128, object, str, "datetime64[s]", np.longdouble])
@pytest.mark.parametrize("name", list(LAYERS))
def test_unsupported_dtypes(name, bad_dtype, monkeypatch):
    if np.dtype(bad_dtype) == np.float64:
        pytest.skip("long double is float64 on this platform")
    factory, shape = LAYERS[name]
    layer = factory()
    x = np.zeros(shape, dtype=bad_dtype)
    forbid_kernels(monkeypatch)
    with pytest.raises(TypeError, match=pattern(name, x.dtype)):
        run_forward(name, layer, x)


def test_loss_rejects_complex_labels():
    with pytest.raises(TypeError, match=pattern("SoftMaxCrossEntropyLoss", "complex128")):
        SoftMaxCrossEntropyLoss().forward(X2, LABELS.astype(complex))


def forward_backward(name, x, seed=0):
    """Forward (and, except for the loss, backward) a fresh layer on ``x``."""
    factory, _ = LAYERS[name]
    np.random.seed(seed)  # identical initial weights and dropout masks
    layer = factory()
    out = run_forward(name, layer, x)
    if name == "SoftMaxCrossEntropyLoss":
        return np.asarray(out), layer.backward(LABELS)
    error = np.linspace(-1, 1, np.size(out)).reshape(np.shape(out))
    return out, layer.backward(error)


def sample_input(name, rng):
    """Small integers, exactly representable in every dtype tested."""
    return rng.integers(-4, 5, LAYERS[name][1])


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("int_dtype", [np.int8, np.int64, np.uint8, bool])
def test_int_and_bool_inputs_compute_in_float64(name, int_dtype, rng):
    x = sample_input(name, rng)
    if int_dtype is bool:
        x = x > 0
    elif int_dtype is np.uint8:
        x = np.abs(x)
    x = x.astype(int_dtype)
    out, grad = forward_backward(name, x)
    ref_out, ref_grad = forward_backward(name, x.astype(np.float64))
    if name != "SoftMaxCrossEntropyLoss":
        assert out.dtype == np.float64
    assert grad.dtype == np.float64
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(grad, ref_grad)


@pytest.mark.parametrize("name", list(LAYERS))
def test_float16_input_is_read_as_float32(name, rng):
    x = sample_input(name, rng).astype(np.float16)
    with fastlayers.default_dtype(np.float32):
        out, grad = forward_backward(name, x)
        ref_out, ref_grad = forward_backward(name, x.astype(np.float32))
    if name != "SoftMaxCrossEntropyLoss":
        assert out.dtype == np.float32
    assert grad.dtype == ref_grad.dtype
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(grad, ref_grad)


# ---------------------------------------------------------------------------
# Computation dtype: float32 only when input and parameters are float32
# ---------------------------------------------------------------------------

TRAINABLE = {
    "ConvolutionalLayer": (lambda dtype: ConvolutionalLayer((2, 1), (2, 3, 3), 3, 0.0, dtype=dtype),
                           (2, 2, 6, 7)),
    "FullyConnectedLayer": (lambda dtype: FullyConnectedLayer(4, 3, 0.0, dtype=dtype), (3, 4)),
    "BatchNorm": (lambda dtype: BatchNorm(0.0, 2, dtype=dtype), (3, 2, 2, 2)),
    "BatchNorm-features": (lambda dtype: BatchNorm(0.0, dtype=dtype), (5, 4)),
}  # fmt: skip


def trainable_pass(name, param_dtype, x, seed=0):
    """Forward and backward a fresh trainable layer; return outputs and gradients."""
    factory, _ = TRAINABLE[name]
    np.random.seed(seed)
    layer = factory(param_dtype)
    out = layer.forward(x)
    # Quarters: exactly representable in float32, so every pass sees the same error.
    error = ((np.arange(out.size) % 7 - 3) / 4).reshape(out.shape).astype(x.dtype)
    dx = layer.backward(error)
    return layer, out, dx, layer.get_gradient_weights(), layer.get_gradient_bias()


@pytest.mark.parametrize("name", list(TRAINABLE))
def test_float32_input_and_parameters_compute_in_float32(name, rng):
    x = rng.random(TRAINABLE[name][1])
    layer, *results32 = trainable_pass(name, np.float32, x.astype(np.float32))
    assert layer.weights.dtype == np.float32 and layer.bias.dtype == np.float32
    _, *results64 = trainable_pass(name, np.float64, x)
    for got, want in zip(results32, results64):
        assert got.dtype == np.float32
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("name", list(TRAINABLE))
def test_float32_input_with_float64_parameters_computes_in_float64(name, rng):
    x32 = rng.random(TRAINABLE[name][1]).astype(np.float32)
    _, *mixed = trainable_pass(name, np.float64, x32)
    _, *reference = trainable_pass(name, np.float64, x32.astype(np.float64))
    for got, want in zip(mixed, reference):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", list(TRAINABLE))
def test_float32_parameters_updated_in_place_keep_dtype(name, rng):
    factory, shape = TRAINABLE[name]
    layer = factory(np.float32)
    layer.learning_rate = 0.1
    out = layer.forward(rng.random(shape))  # float64 input: float64 gradients
    before = layer.weights.copy()
    layer.backward(np.ones_like(out))
    assert layer.weights.dtype == np.float32
    expected = before - np.float32(0.1) * layer.get_gradient_weights().astype(np.float32)
    np.testing.assert_allclose(layer.weights, expected, rtol=1e-6)


def test_default_dtype_controls_new_layers():
    assert fastlayers.get_default_dtype() == np.float64
    with fastlayers.default_dtype(np.float32):
        assert fastlayers.get_default_dtype() == np.float32
        inside = [conv(), FullyConnectedLayer(4, 3, 0.0), BatchNorm(0.0, 2)]
    outside = conv()
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
    assert FullyConnectedLayer(2, 2, 0.0).weights.dtype == np.float32
    # An explicit dtype wins over the default.
    assert FullyConnectedLayer(2, 2, 0.0, dtype=np.float64).weights.dtype == np.float64
    for bad in (np.float16, np.int64, complex, "float128"):
        with pytest.raises(TypeError, match="set_default_dtype"):
            fastlayers.set_default_dtype(bad)
    assert fastlayers.get_default_dtype() == np.float32


@pytest.mark.parametrize(
    "factory, name, shape",
    [
        (conv, "weights", (3, 2, 3, 3)),
        (conv, "bias", (3,)),
        (lambda: FullyConnectedLayer(4, 3, 0.0), "weights", (5, 3)),
        (lambda: FullyConnectedLayer(4, 3, 0.0), "bias", (3,)),
        (lambda: BatchNorm(0.0, 2), "weights", (2,)),
        (lambda: BatchNorm(0.0, 2), "bias", (2,)),
    ],
)
def test_parameters_converted_at_assignment(factory, name, shape, rng):
    layer = factory()
    value = rng.random(shape).astype(np.float32)
    setattr(layer, name, value)
    stored = getattr(layer, name)
    assert stored.dtype == np.float64
    np.testing.assert_array_equal(stored, value.astype(np.float64))
    # A converted copy: changing the caller's array later changes nothing.
    value[...] = 7
    assert not np.any(getattr(layer, name) == 7)


def test_astype_converts_parameters():
    layer = conv()
    weights = layer.weights.copy()
    assert layer.astype(np.float32) is layer
    assert layer.weights.dtype == np.float32 and layer.bias.dtype == np.float32
    np.testing.assert_array_equal(layer.weights, weights.astype(np.float32))


def test_batchnorm_test_phase_follows_the_layer_dtype(rng):
    # Trained in float64, then converted for float32 inference: a float32
    # input with float32 parameters must be computed in float32, running
    # statistics included.
    layer = BatchNorm(0.0)
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
@pytest.mark.parametrize("name", list(LAYERS))
def test_input_layout_does_not_change_results(name, variant, rng):
    x = rng.standard_normal(LAYERS[name][1])
    unusual = _variants(x)[variant]
    assert not (unusual.flags.c_contiguous and unusual.flags.writeable
                and unusual.dtype.isnative)  # fmt: skip
    out, grad = forward_backward(name, unusual)
    ref_out, ref_grad = forward_backward(name, x)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(grad, ref_grad)
    assert unusual.flags.writeable == (variant != "read-only")
    np.testing.assert_array_equal(unusual, x)  # the input is not modified


@pytest.mark.parametrize("name", ["ConvolutionalLayer", "MaxPoolLayer", "FullyConnectedLayer"])
def test_error_layout_does_not_change_results(name, rng):
    factory, shape = LAYERS[name]
    x = rng.standard_normal(shape)
    np.random.seed(0)
    layer = factory()
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
