"""Every fast layer against its reference twin, number for number.

:mod:`fastlayers` (numba kernels) and :mod:`fastlayers.reference` (NumPy and
``scipy.signal`` loops, the oracle) define the same classes.  For each
class this module builds one layer of each package, gives both exactly the
same parameters (assigned from one to the other) and checks that they agree
on

* the forward output,
* the input gradient returned by ``backward``,
* ``get_gradient_weights()`` and ``get_gradient_bias()``,
* the parameters after the SGD step of ``backward`` (nonzero
  ``learning_rate`` in part of the cases),
* layer-specific state: the running statistics of ``BatchNorm``, the
  global random state consumed by ``DropOut``, the loss value and
  ``predict`` of ``SoftMaxCrossEntropyLoss``,

and that the fast layer neither modifies its input nor the error array,
whatever their memory layout (transposed, sliced, reversed, Fortran-ordered
and read-only views are fed to the fast layers).

Every layer of the registry (:mod:`tests.registry`) is compared in each of
its configurations, input shapes and both dtypes; grids of configurations
follow for the layers with the most arithmetic and corner cases.

Tolerances (:data:`tests.helpers.TOLERANCES`) are relative to the largest
magnitude of the expected array: 1e-10 for float64, 1e-4 for float32.  A float32 fast result is compared
with the reference computed in float64 from the same float32-valued inputs
and parameters, so the tolerance bounds the fast layer's float32 rounding
only.

Finally a small LeNet-like ``NeuralNetwork`` is built once from fast and
once from reference layers with identical parameters and trained for a few
steps on fixed batches: loss histories, final parameters and predictions
must agree.  Hypothesis adds random convolution and pooling configurations
(derandomized, no example database, so runs are reproducible).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastlayers as fl
import fastlayers.reference as ref
from fastlayers import Phase

from . import naive
from .helpers import (
    DTYPES,
    F32,
    F64,
    LAYOUTS,
    assert_close,
    balanced,
    seed_of,
    tolerance,
    with_layout,
)
from .registry import LAYERS, cases, labels_for

HYPOTHESIS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def copy_parameters(fast, slow):
    """Assign the fast layer's parameters to the reference layer (as float64)."""
    if getattr(fast, "weights", None) is not None:
        slow.weights = np.asarray(fast.weights, dtype=np.float64)
    if getattr(fast, "bias", None) is not None:
        slow.bias = np.asarray(fast.bias, dtype=np.float64)


def compare_step(fast, slow, x, rng, dtype, layout="contiguous", trainable=True, what=""):
    """One forward and backward of both layers; compare everything observable.

    ``x`` holds values representable in ``dtype``; the fast layer gets it in
    ``dtype`` and ``layout``, the reference gets it as contiguous float64.
    Returns the reference output.
    """
    dtype = np.dtype(dtype)

    def both(method, value, label):
        # Returns what the fast layer was given, a copy of it, and the reference's result.
        given = with_layout(value, layout)
        saved = given.copy()
        result = getattr(fast, method)(given)
        expected = getattr(slow, method)(value.astype(np.float64))
        assert result.dtype == dtype, f"{what}: {label} dtype {result.dtype}, expected {dtype}"
        assert_close(result, expected, dtype, f"{what}: {label}")
        return given, saved, expected

    x_fast, x_saved, out_r = both("forward", np.asarray(x, dtype=dtype), "forward output")
    error = rng.standard_normal(out_r.shape).astype(dtype)
    error_fast, error_saved, _ = both("backward", error, "input gradient")

    if trainable:
        assert_close(
            fast.get_gradient_weights(),
            slow.get_gradient_weights(),
            dtype,
            f"{what}: weight gradient",
        )
        assert_close(
            fast.get_gradient_bias(), slow.get_gradient_bias(), dtype, f"{what}: bias gradient"
        )
        assert fast.weights.dtype == dtype, f"{what}: weights stored as {fast.weights.dtype}"
        assert_close(fast.weights, slow.weights, dtype, f"{what}: weights after the update")
        assert_close(fast.bias, slow.bias, dtype, f"{what}: bias after the update")

    np.testing.assert_array_equal(x_fast, x_saved, err_msg=f"{what}: fast layer modified its input")
    np.testing.assert_array_equal(
        error_fast, error_saved, err_msg=f"{what}: fast layer modified the error"
    )
    return out_r


def resolve_pads(padding, m, n):
    """(top, bottom, left, right) of a padding argument, as the API spec defines it."""
    if padding == "same":
        return m // 2, (m - 1) // 2, n // 2, (n - 1) // 2
    if padding == "valid":
        return 0, 0, 0, 0
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    return tuple(padding)


CONV = LAYERS["ConvolutionalLayer"]


def conv_pair(stride, kernel_shape, n_kernels, padding, learning_rate, dtype, rng):
    """A fast and a reference ConvolutionalLayer with the same random parameters."""
    fast = CONV.fast(stride, kernel_shape, n_kernels, learning_rate, padding=padding, dtype=dtype)
    slow = CONV.reference(
        stride, kernel_shape, n_kernels, learning_rate, padding=padding, dtype=np.float64
    )
    fast.weights = rng.standard_normal((n_kernels, *kernel_shape))
    fast.bias = rng.standard_normal(n_kernels)
    copy_parameters(fast, slow)
    return fast, slow


# ---------------------------------------------------------------------------
# Every layer of the registry: each configuration, input shape and dtype
# ---------------------------------------------------------------------------


def _registry_grid():
    params = []
    for case_id, entry, config in cases():
        for shape in config.shapes:
            for dtype in DTYPES:
                i = len(params)
                # Layouts and learning rates spread over the cases in turn.
                layout = LAYOUTS[i % len(LAYOUTS)]
                rate = 0.05 if entry.trainable and i % 2 else 0.0
                params.append(
                    pytest.param(
                        entry, config, shape, dtype, layout, rate,
                        id=f"{case_id}-{'x'.join(map(str, shape))}-{dtype.name}-{layout}-lr{rate}",
                    )
                )  # fmt: skip
    return params


def compare_loss(fast, slow, x, labels, dtype, what):
    """Loss value, input gradient and prediction of two loss layers."""
    loss_f = fast.forward(x.astype(dtype), labels.astype(dtype))
    loss_r = slow.forward(x.astype(np.float64), labels)
    assert isinstance(loss_f, float)
    assert np.isfinite(loss_r)
    assert_close(loss_f, loss_r, dtype, f"{what}: loss")
    grad_f = fast.backward(labels.astype(dtype))
    assert grad_f.dtype == dtype
    assert_close(grad_f, slow.backward(labels), dtype, f"{what}: backward")
    pred_f = fast.predict(x.astype(dtype))
    assert pred_f.dtype == dtype
    assert_close(pred_f, slow.predict(x.astype(np.float64)), dtype, f"{what}: predict")


class Reseeding:
    """Wraps a layer so that every forward starts from the same global random state."""

    def __init__(self, layer, seed):
        self.layer, self.seed = layer, seed

    def forward(self, x):
        np.random.seed(self.seed)
        return self.layer.forward(x)

    def backward(self, error):
        return self.layer.backward(error)


@pytest.mark.parametrize("entry, config, shape, dtype, layout, learning_rate", _registry_grid())
def test_layer_matches_reference(entry, config, shape, dtype, layout, learning_rate):
    rng = np.random.default_rng(seed_of(entry.name, config.id, shape, dtype.name))
    x = entry.values(rng, shape)
    what = f"{entry.name} {config.id}"
    fast, slow = entry.pair(config, rng, shape, dtype, learning_rate)
    if entry.loss:
        compare_loss(fast, slow, x.astype(dtype), labels_for(rng, shape), dtype, what)
        return
    if entry.global_random:
        # The same draws for both: reseed the global state before each forward.
        fast, slow = Reseeding(fast, 1000), Reseeding(slow, 1000)
    for step in range(2):
        compare_step(
            fast, slow, x, rng, dtype, layout, trainable=entry.trainable, what=f"{what} step {step}"
        )
        x = entry.values(rng, shape)


# ---------------------------------------------------------------------------
# ConvolutionalLayer: a grid of kernel x stride x padding x dtype, the other
# dimensions spread over the grid in a fixed, balanced shuffle.
# ---------------------------------------------------------------------------

CONV_KERNELS = [(1, 1), (2, 2), (3, 3), (5, 5), (4, 6)]
CONV_STRIDES = [(1, 1), (2, 2), (1, 3), (3, 2)]
CONV_PADDING_KINDS = ["same", "valid", "int", "pair", "four"]
PADDING_VALUES = {
    "int": [1, 2, 0, 3],
    "pair": [(1, 2), (2, 0), (0, 3), (3, 1)],
    "four": [(0, 1, 2, 1), (2, 0, 1, 3), (1, 1, 0, 0), (3, 2, 2, 0)],
}


def _conv_grid():
    grid = [
        (kernel, stride, kind, dtype)
        for kernel in CONV_KERNELS
        for stride in CONV_STRIDES
        for kind in CONV_PADDING_KINDS
        for dtype in DTYPES
    ]
    n = len(grid)
    batches = balanced([1, 2, 5], n, 1)
    channels = balanced([1, 3, 8], n, 2)
    n_kernels = balanced([1, 3, 4, 6, 9], n, 3)
    heights = balanced([3, 4, 5, 6, 7, 8, 9, 11], n, 4)
    widths = balanced([3, 4, 5, 6, 7, 8, 9, 10], n, 5)
    layouts = balanced(LAYOUTS, n, 6)
    rates = balanced([0.0, 0.05], n, 7)
    pad_index = balanced(range(4), n, 8)
    cases = []
    for i, (kernel, stride, kind, dtype) in enumerate(grid):
        m, kn = kernel
        padding = kind if kind in ("same", "valid") else PADDING_VALUES[kind][pad_index[i]]
        top, bottom, left, right = resolve_pads(padding, m, kn)
        h, w = heights[i], widths[i]
        # Only "same" may have an input smaller than the kernel; otherwise
        # grow it to the smallest valid size (or one more, for parity mix).
        if h + top + bottom < m:
            h = m - top - bottom + i % 2
        if w + left + right < kn:
            w = kn - left - right + (i // 2) % 2
        b, c, k = batches[i], channels[i], n_kernels[i]
        case_id = (
            f"k{m}x{kn}-s{stride[0]}x{stride[1]}-pad{str(padding).replace(' ', '')}"
            f"-b{b}c{c}nk{k}-{h}x{w}-{dtype.name}-{layouts[i]}-lr{rates[i]}"
        )
        cases.append(
            pytest.param(
                kernel, stride, padding, b, c, k, h, w, dtype, layouts[i], rates[i], id=case_id
            )
        )
    return cases


@pytest.mark.parametrize(
    "kernel, stride, padding, batch, channels, n_kernels, h, w, dtype, layout, learning_rate",
    _conv_grid(),
)
def test_conv_matches_reference(
    kernel, stride, padding, batch, channels, n_kernels, h, w, dtype, layout, learning_rate
):
    rng = np.random.default_rng(seed_of(kernel, stride, padding, batch, channels, h, w, dtype))
    fast, slow = conv_pair(
        stride, (channels, *kernel), n_kernels, padding, learning_rate, dtype, rng
    )
    x = rng.standard_normal((batch, channels, h, w))
    compare_step(fast, slow, x, rng, dtype, layout, what="ConvolutionalLayer")


# Inputs smaller than the kernel: only possible with enough padding.
SMALL_INPUT_CASES = [
    # kernel, (h, w), padding
    ((5, 5), (1, 1), "same"),
    ((5, 5), (3, 4), "same"),
    ((5, 5), (2, 7), "same"),
    ((4, 6), (2, 3), "same"),
    ((4, 6), (1, 5), "same"),
    ((4, 6), (3, 1), "same"),
    ((3, 3), (1, 2), "same"),
    ((2, 2), (1, 1), "same"),
    ((5, 5), (1, 1), (2, 2, 3, 3)),
    ((4, 6), (2, 2), (1, 2)),
    ((3, 3), (1, 2), 1),
]


@pytest.mark.parametrize("stride", CONV_STRIDES, ids=lambda s: f"s{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    "kernel, size, padding",
    SMALL_INPUT_CASES,
    ids=[
        f"k{k[0]}x{k[1]}-in{s[0]}x{s[1]}-pad{str(p).replace(' ', '')}"
        for k, s, p in SMALL_INPUT_CASES
    ],
)
def test_conv_input_smaller_than_kernel(kernel, size, padding, stride):
    index = SMALL_INPUT_CASES.index((kernel, size, padding)) + CONV_STRIDES.index(stride)
    dtype = DTYPES[index % 2]
    batch, channels, n_kernels = [(2, 3, 5), (1, 1, 4), (3, 2, 1)][index % 3]
    rng = np.random.default_rng(1000 + 7 * index)
    fast, slow = conv_pair(stride, (channels, *kernel), n_kernels, padding, 0.1, dtype, rng)
    x = rng.standard_normal((batch, channels, *size))
    out = compare_step(fast, slow, x, rng, dtype, what="ConvolutionalLayer")
    if padding == "same":
        sy, sx = stride
        assert out.shape[2:] == (-(-size[0] // sy), -(-size[1] // sx))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("padding", ["same", "valid", (1, 0, 2, 1)], ids=str)
def test_conv_several_steps(padding, dtype):
    """Three SGD steps in a row: each step uses the updated parameters."""
    rng = np.random.default_rng(77)
    fast, slow = conv_pair((2, 1), (3, 3, 4), 5, padding, 0.02, dtype, rng)
    for step in range(3):
        x = rng.standard_normal((2, 3, 7, 8))
        compare_step(fast, slow, x, rng, dtype, what=f"ConvolutionalLayer step {step}")


@st.composite
def conv_configs(draw):
    m, n = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["same", "valid", "int", "pair", "four"]))
    if kind == "int":
        padding = draw(st.integers(0, 3))
    elif kind == "pair":
        padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    elif kind == "four":
        padding = tuple(draw(st.integers(0, 3)) for _ in range(4))
    else:
        padding = kind
    top, bottom, left, right = resolve_pads(padding, m, n)
    return dict(
        batch=draw(st.integers(1, 3)),
        channels=draw(st.integers(1, 4)),
        n_kernels=draw(st.integers(1, 5)),
        kernel=(m, n),
        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        padding=padding,
        h=draw(st.integers(max(1, m - top - bottom), 12)),
        w=draw(st.integers(max(1, n - left - right), 12)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@settings(max_examples=60, **HYPOTHESIS)
@given(config=conv_configs())
def test_conv_random_configurations(config):
    rng = np.random.default_rng(config["seed"])
    fast, slow = conv_pair(
        config["stride"],
        (config["channels"], *config["kernel"]),
        config["n_kernels"],
        config["padding"],
        0.0,
        F64,
        rng,
    )
    x = rng.standard_normal((config["batch"], config["channels"], config["h"], config["w"]))
    compare_step(fast, slow, x, rng, F64, what=f"ConvolutionalLayer {config}")


# ---------------------------------------------------------------------------
# MaxPoolLayer
# ---------------------------------------------------------------------------

POOL_WINDOWS = [(1, 1), (2, 2), (3, 2), (2, 3), (3, 3)]
POOL_STRIDES = [(1, 1), (2, 2), (2, 1), (3, 2)]
POOL_VALUES = ["continuous", "ties", "constant"]


def pool_input(shape, values, rng):
    """Random input; "ties": small integers (many exact ties), "constant": all equal."""
    if values == "continuous":
        return rng.standard_normal(shape)
    if values == "ties":
        return rng.integers(-1, 2, shape).astype(np.float64)
    return np.full(shape, 0.5)


def compare_pool(window, stride, x, dtype, layout, rng, what):
    fast = fl.MaxPoolLayer(neighborhood=window, stride=stride)
    slow = ref.MaxPoolLayer(neighborhood=window, stride=stride)
    out = compare_step(fast, slow, x, rng, dtype, layout, trainable=False, what=what)
    # The maximum itself involves no arithmetic: it must be bit-identical.
    np.testing.assert_array_equal(fast.forward(with_layout(x.astype(dtype), layout)), out)
    return fast, slow


def _pool_grid():
    grid = [
        (window, stride, values)
        for window in POOL_WINDOWS
        for stride in POOL_STRIDES
        for values in POOL_VALUES
    ]
    n = len(grid)
    dtypes = balanced(DTYPES, n, 11)
    layouts = balanced(LAYOUTS, n, 12)
    batches = balanced([1, 2, 3], n, 13)
    channels = balanced([1, 2, 4], n, 14)
    heights = balanced([5, 6, 7, 9, 11], n, 15)
    widths = balanced([5, 7, 8, 9, 10], n, 16)
    cases = []
    for i, (window, stride, values) in enumerate(grid):
        shape = (batches[i], channels[i], heights[i], widths[i])
        case_id = (
            f"win{window[0]}x{window[1]}-s{stride[0]}x{stride[1]}-{values}"
            f"-{'x'.join(map(str, shape))}-{dtypes[i].name}-{layouts[i]}"
        )
        cases.append(pytest.param(window, stride, values, shape, dtypes[i], layouts[i], id=case_id))
    return cases


@pytest.mark.parametrize("window, stride, values, shape, dtype, layout", _pool_grid())
def test_maxpool_matches_reference(window, stride, values, shape, dtype, layout):
    rng = np.random.default_rng(seed_of(window, stride, values, shape, dtype))
    x = pool_input(shape, values, rng)
    compare_pool(window, stride, x, dtype, layout, rng, "MaxPoolLayer")


@pytest.mark.parametrize("stride", [(1, 1), (2, 1), (1, 2)], ids=str)
def test_maxpool_constant_input_routes_to_first_element(stride):
    """All-equal windows: the top-left element of each window wins, in both packages."""
    x = np.ones((1, 1, 4, 5))
    fast = fl.MaxPoolLayer(neighborhood=(2, 2), stride=stride)
    slow = ref.MaxPoolLayer(neighborhood=(2, 2), stride=stride)
    out = fast.forward(x)
    slow.forward(x)
    error = np.arange(1.0, out.size + 1).reshape(out.shape)
    _, where = naive.maxpool(x, 2, 2, *stride)
    # np.argmax's first maximum of an all-equal window is its top-left corner.
    sy, sx = stride
    corners = (np.arange(out.shape[2])[:, None] * sy) * x.shape[3] + np.arange(out.shape[3]) * sx
    np.testing.assert_array_equal(where[0, 0], corners)
    expected = naive.maxpool_backward(error, where, x.shape)
    np.testing.assert_array_equal(slow.backward(error), expected)
    np.testing.assert_array_equal(fast.backward(error), expected)


@st.composite
def pool_configs(draw):
    py, px = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return dict(
        window=(py, px),
        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        shape=(
            draw(st.integers(1, 3)),
            draw(st.integers(1, 3)),
            draw(st.integers(py, 10)),
            draw(st.integers(px, 10)),
        ),
        values=draw(st.sampled_from(POOL_VALUES)),
        dtype=draw(st.sampled_from(DTYPES)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@settings(max_examples=80, **HYPOTHESIS)
@given(config=pool_configs())
def test_maxpool_random_configurations(config):
    rng = np.random.default_rng(config["seed"])
    x = pool_input(config["shape"], config["values"], rng)
    compare_pool(
        config["window"],
        config["stride"],
        x,
        config["dtype"],
        "contiguous",
        rng,
        f"MaxPoolLayer {config}",
    )


# ---------------------------------------------------------------------------
# FullyConnectedLayer
# ---------------------------------------------------------------------------

FC_CASES = [
    # batch, input_size, output_size, learning_rate, layout
    (1, 1, 1, 0.0, "contiguous"),
    (2, 3, 4, 0.1, "transposed"),
    (5, 7, 3, 0.05, "sliced"),
    (4, 16, 10, 0.0, "readonly"),
    (3, 5, 1, 0.2, "fortran"),
    (1, 9, 6, 0.1, "reversed"),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("batch, n_in, n_out, learning_rate, layout", FC_CASES)
def test_fully_connected_matches_reference(batch, n_in, n_out, learning_rate, layout, dtype):
    rng = np.random.default_rng(batch * 100 + n_in * 10 + n_out)
    fast = fl.FullyConnectedLayer(n_in, n_out, learning_rate, dtype=dtype)
    slow = ref.FullyConnectedLayer(n_in, n_out, learning_rate, dtype=np.float64)
    fast.weights = rng.standard_normal((n_in + 1, n_out))
    copy_parameters(fast, slow)
    np.testing.assert_array_equal(slow.bias, fast.bias)
    for step in range(2):
        x = rng.standard_normal((batch, n_in))
        compare_step(fast, slow, x, rng, dtype, layout, what=f"FullyConnectedLayer step {step}")
        np.testing.assert_array_equal(fast.get_gradient_bias(), fast.get_gradient_weights()[-1])


# ---------------------------------------------------------------------------
# backward_parameters (fast only; NeuralNetwork calls it on its first layer)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layer", ["ConvolutionalLayer", "FullyConnectedLayer"])
def test_backward_parameters_matches_reference_backward(layer, dtype):
    """The update without the input gradient equals the reference's full backward."""
    rng = np.random.default_rng(31)
    if layer == "ConvolutionalLayer":
        fast, slow = conv_pair((1, 1), (2, 3, 3), 3, "same", 0.1, dtype, rng)
        x = rng.standard_normal((2, 2, 5, 6)).astype(dtype)
    else:
        fast = fl.FullyConnectedLayer(5, 3, 0.1, dtype=dtype)
        slow = ref.FullyConnectedLayer(5, 3, 0.1, dtype=np.float64)
        fast.weights = rng.standard_normal((6, 3))
        copy_parameters(fast, slow)
        x = rng.standard_normal((4, 5)).astype(dtype)
    for step in range(2):
        out = slow.forward(x.astype(np.float64))
        assert_close(fast.forward(x), out, dtype, f"step {step}: forward")
        error = rng.standard_normal(out.shape).astype(dtype)
        assert fast.backward_parameters(error) is None
        slow.backward(error.astype(np.float64))
        assert_close(
            fast.get_gradient_weights(), slow.get_gradient_weights(), dtype, "weight gradient"
        )
        assert_close(fast.get_gradient_bias(), slow.get_gradient_bias(), dtype, "bias gradient")
        assert_close(fast.weights, slow.weights, dtype, f"step {step}: weights")
        assert_close(fast.bias, slow.bias, dtype, f"step {step}: bias")


# ---------------------------------------------------------------------------
# Initialization: the same draws from the global random state
# ---------------------------------------------------------------------------

INITIALIZERS = [fl.He(), fl.Xavier(), fl.UniformRandom(), fl.Const(0.3)]


@pytest.mark.parametrize("initializer", INITIALIZERS, ids=repr)
@pytest.mark.parametrize("layer", ["FullyConnectedLayer", "ConvolutionalLayer"])
def test_initialize_draws_the_same_parameters(layer, initializer):
    def build(package):
        np.random.seed(4321)
        if layer == "FullyConnectedLayer":
            obj = package.FullyConnectedLayer(6, 4, 0.1, dtype=np.float64)
        else:
            obj = package.ConvolutionalLayer((1, 1), (3, 3, 2), 5, 0.1, dtype=np.float64)
        obj.initialize(initializer, fl.Const(0.25))
        return obj

    fast, slow = build(fl), build(ref)
    np.testing.assert_array_equal(fast.weights, slow.weights)
    np.testing.assert_array_equal(fast.bias, slow.bias)


@pytest.mark.parametrize("layer", ["FullyConnectedLayer", "ConvolutionalLayer"])
def test_constructor_draws_the_same_parameters(layer):
    np.random.seed(99)
    if layer == "FullyConnectedLayer":
        fast = fl.FullyConnectedLayer(5, 3, 0.1)
        np.random.seed(99)
        slow = ref.FullyConnectedLayer(5, 3, 0.1)
    else:
        fast = fl.ConvolutionalLayer(2, (2, 3, 3), 4, 0.1)
        np.random.seed(99)
        slow = ref.ConvolutionalLayer(2, (2, 3, 3), 4, 0.1)
    np.testing.assert_array_equal(fast.weights, slow.weights)
    np.testing.assert_array_equal(fast.bias, slow.bias)


# ---------------------------------------------------------------------------
# Activations, flatten
# ---------------------------------------------------------------------------

ACTIVATION_INPUTS = {
    "normal-2d": lambda rng: rng.standard_normal((4, 7)) * 3,
    "with-zeros-4d": lambda rng: np.where(
        rng.random((2, 3, 4, 5)) < 0.3, 0.0, rng.standard_normal((2, 3, 4, 5))
    ),
    "large-magnitudes": lambda rng: (
        rng.choice([-1.0, 1.0], (3, 8)) * np.array([0.0, 1e-3, 1.0, 15.0, 40.0, 90.0, 300.0, 800.0])
    ),
}


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "readonly"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("inputs", list(ACTIVATION_INPUTS))
@pytest.mark.parametrize("name", [name for name, entry in LAYERS.items() if entry.activation])
def test_activation_matches_reference(name, inputs, dtype, layout):
    rng = np.random.default_rng(len(name) * 31 + len(inputs))
    x = ACTIVATION_INPUTS[inputs](rng)
    entry = LAYERS[name]
    with np.errstate(over="raise"):
        compare_step(
            entry.fast(), entry.reference(), x, rng, dtype, layout, trainable=False, what=name
        )


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced", "readonly"])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 1, 1), (3, 6), (2, 4, 3)], ids=str)
def test_flatten_matches_reference(shape, layout):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    fast, slow = fl.FlattenLayer(), ref.FlattenLayer()
    out_f = fast.forward(with_layout(x, layout))
    out_r = slow.forward(x)
    np.testing.assert_array_equal(out_f, out_r)
    np.testing.assert_array_equal(out_f, x.reshape(shape[0], -1))
    error = with_layout(rng.standard_normal(out_r.shape), layout)
    np.testing.assert_array_equal(fast.backward(error), slow.backward(np.array(error)))
    assert fast.backward(error).shape == shape


# ---------------------------------------------------------------------------
# SoftMaxCrossEntropyLoss
# ---------------------------------------------------------------------------

LOSS_INPUTS = {
    "normal": lambda rng, b, k: rng.standard_normal((b, k)) * 2,
    "large-logits": lambda rng, b, k: rng.standard_normal((b, k)) * 300 + 1000,
    # The true class far below the others: its probability underflows.
    "confident-wrong": lambda rng, b, k: np.tile(np.linspace(0.0, 200.0, k), (b, 1)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("inputs", list(LOSS_INPUTS))
@pytest.mark.parametrize("batch, classes", [(1, 2), (5, 4), (3, 10)])
def test_softmax_cross_entropy_matches_reference(batch, classes, inputs, dtype):
    rng = np.random.default_rng(batch * classes)
    x = LOSS_INPUTS[inputs](rng, batch, classes).astype(dtype)
    true = np.zeros(batch, int) if inputs == "confident-wrong" else rng.integers(0, classes, batch)
    labels = np.zeros((batch, classes))
    labels[np.arange(batch), true] = 1.0
    fast, slow = fl.SoftMaxCrossEntropyLoss(), ref.SoftMaxCrossEntropyLoss()

    loss_f = fast.forward(x, labels.astype(dtype))
    loss_r = slow.forward(x.astype(np.float64), labels)
    assert isinstance(loss_f, float)
    assert np.isfinite(loss_r)
    assert_close(loss_f, loss_r, dtype, "loss")

    grad_f = fast.backward(labels.astype(dtype))
    assert grad_f.dtype == dtype
    assert_close(grad_f, slow.backward(labels), dtype, "backward")

    pred_f = fast.predict(x)
    assert pred_f.dtype == dtype
    assert_close(pred_f, slow.predict(x.astype(np.float64)), dtype, "predict")


# ---------------------------------------------------------------------------
# DropOut
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("scale_backward", [False, True], ids=["mask-backward", "scaled-backward"])
@pytest.mark.parametrize("probability", [0.0, 0.3, 0.5, 1.0])
def test_dropout_matches_reference(probability, scale_backward, dtype):
    rng = np.random.default_rng(int(probability * 10))
    fast = fl.DropOut(probability, scale_backward=scale_backward)
    slow = ref.DropOut(probability, scale_backward=scale_backward)
    for step, shape in enumerate([(4, 6), (2, 3, 4, 5)]):
        x = rng.standard_normal(shape).astype(dtype)
        np.random.seed(1000 + step)
        out_f = fast.forward(x)
        next_f = np.random.random_sample()
        np.random.seed(1000 + step)
        out_r = slow.forward(x.astype(np.float64))
        next_r = np.random.random_sample()
        # Both drew exactly random_sample(x.shape) from the global state.
        assert next_f == next_r
        assert out_f.dtype == dtype
        assert_close(out_f, out_r, dtype, "forward")
        error = rng.standard_normal(shape).astype(dtype)
        dx_f = fast.backward(error)
        assert dx_f.dtype == dtype
        assert_close(dx_f, slow.backward(error.astype(np.float64)), dtype, "backward")


@pytest.mark.parametrize("scale_backward", [False, True])
def test_dropout_test_phase_matches_reference(scale_backward):
    rng = np.random.default_rng(3)
    fast = fl.DropOut(0.4, scale_backward=scale_backward)
    slow = ref.DropOut(0.4, scale_backward=scale_backward)
    fast.phase = slow.phase = Phase.test
    x = rng.standard_normal((3, 5))
    state = np.random.get_state()[1].copy()
    np.testing.assert_array_equal(fast.forward(x), slow.forward(x))
    np.testing.assert_array_equal(fast.forward(x), x)
    error = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(fast.backward(error), slow.backward(error))
    np.testing.assert_array_equal(fast.backward(error), error)
    # No random numbers are drawn in the test phase.
    np.testing.assert_array_equal(np.random.get_state()[1], state)


# ---------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------

BN_MODES = {
    # channels, input shape
    "features": (0, (6, 5)),
    "features-batch1": (0, (1, 4)),
    "conv-4d": (3, (4, 3, 5, 4)),
    "conv-2d": (2, (5, 2 * 3 * 3)),
}


def bn_pair(channels, learning_rate, dtype, momentum, rng, random_params, size):
    fast = fl.BatchNorm(learning_rate, channels, momentum=momentum, dtype=dtype)
    slow = ref.BatchNorm(learning_rate, channels, momentum=momentum, dtype=np.float64)
    if random_params:
        fast.weights = rng.uniform(0.5, 1.5, size)
        fast.bias = rng.standard_normal(size)
        copy_parameters(fast, slow)
    return fast, slow


def compare_running(fast, slow, dtype):
    if slow.running_mean is None:
        assert fast.running_mean is None and fast.running_var is None
        return
    assert_close(fast.running_mean, slow.running_mean, dtype, "running mean")
    assert_close(fast.running_var, slow.running_var, dtype, "running variance")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    "learning_rate, momentum, random_params",
    [(0.0, 0.9, False), (0.1, 0.9, True), (0.05, 0.5, True)],
    ids=["lr0-default-params", "lr0.1-random-params", "lr0.05-momentum0.5"],
)
@pytest.mark.parametrize("mode", list(BN_MODES))
def test_batchnorm_matches_reference(mode, learning_rate, momentum, random_params, dtype):
    channels, shape = BN_MODES[mode]
    size = channels or shape[1]
    rng = np.random.default_rng(len(mode) + int(100 * learning_rate))
    fast, slow = bn_pair(channels, learning_rate, dtype, momentum, rng, random_params, size)
    # Several training batches: batch statistics, running statistics, updates.
    for step in range(4):
        x = rng.standard_normal(shape) * (1 + step) + 3 * step - 1
        compare_step(fast, slow, x, rng, dtype, what=f"BatchNorm train step {step}")
        compare_running(fast, slow, dtype)
    # Test phase: the running statistics normalize, and stay as they are.
    fast.phase = slow.phase = Phase.test
    mean, var = np.array(slow.running_mean), np.array(slow.running_var)
    for step in range(2):
        x = rng.standard_normal(shape) * 2 + 1
        compare_step(fast, slow, x, rng, dtype, what=f"BatchNorm test step {step}")
    compare_running(fast, slow, dtype)
    np.testing.assert_array_equal(slow.running_mean, mean)
    np.testing.assert_array_equal(slow.running_var, var)
    # Back to training: the moving average continues.
    fast.phase = slow.phase = Phase.train
    compare_step(fast, slow, rng.standard_normal(shape), rng, dtype, what="BatchNorm train again")
    compare_running(fast, slow, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("mode", ["features", "conv-4d"])
def test_batchnorm_test_phase_before_training(mode, dtype):
    channels, shape = BN_MODES[mode]
    rng = np.random.default_rng(8)
    fast, slow = bn_pair(channels, 0.1, dtype, 0.9, rng, True, channels or shape[1])
    fast.phase = slow.phase = Phase.test
    x = rng.standard_normal(shape)
    compare_step(fast, slow, x, rng, dtype, what="BatchNorm untrained test")
    compare_running(fast, slow, dtype)


# ---------------------------------------------------------------------------
# NeuralNetwork: a LeNet-like network trained for a few steps
# ---------------------------------------------------------------------------


class FixedData:
    """A data layer that cycles through fixed batches."""

    def __init__(self, batches):
        self.batches = batches
        self.calls = 0

    def forward(self):
        x, labels = self.batches[self.calls % len(self.batches)]
        self.calls += 1
        return x.copy(), labels.copy()


def fixed_batches(dtype, rng, n_batches=3, batch=4, classes=3):
    batches = []
    for _ in range(n_batches):
        x = rng.standard_normal((batch, 1, 12, 12)).astype(dtype)
        labels = np.zeros((batch, classes), dtype)
        labels[np.arange(batch), rng.integers(0, classes, batch)] = 1
        batches.append((x, labels))
    return batches


def build_network(package, variant, dtype, batches, seed):
    np.random.seed(seed)
    net = package.NeuralNetwork(fl.He(), fl.Const(0.05), dtype=dtype)
    net.data_layer = FixedData(batches)
    net.loss_layer = package.SoftMaxCrossEntropyLoss()
    lr = 0.01
    net.append_trainable_layer(package.ConvolutionalLayer((1, 1), (1, 3, 3), 4, lr))
    if variant == "batchnorm-dropout":
        net.append_trainable_layer(package.BatchNorm(lr, 4))
    net.append_fixed_layer(package.ReLU())
    net.append_fixed_layer(package.MaxPoolLayer((2, 2), (2, 2)))
    net.append_trainable_layer(
        package.ConvolutionalLayer((1, 1), (4, 3, 3), 6, lr, padding="valid")
    )
    net.append_fixed_layer(package.ReLU())
    net.append_fixed_layer(package.MaxPoolLayer((2, 2), (2, 2)))
    net.append_fixed_layer(package.FlattenLayer())
    net.append_trainable_layer(package.FullyConnectedLayer(24, 16, lr))
    if variant == "batchnorm-dropout":
        net.append_trainable_layer(package.BatchNorm(lr))
        net.append_fixed_layer(package.TanH())
        net.append_fixed_layer(package.DropOut(0.25))
    else:
        net.append_fixed_layer(package.Sigmoid())
    net.append_trainable_layer(package.FullyConnectedLayer(16, 3, lr))
    return net


def trainable_pairs(fast_net, ref_net):
    return [
        (f, r)
        for f, r in zip(fast_net.layers, ref_net.layers)
        if getattr(f, "weights", None) is not None
    ]


@pytest.mark.parametrize("variant", ["plain", "batchnorm-dropout"])
def test_network_initialization_matches_reference(variant):
    rng = np.random.default_rng(0)
    batches = fixed_batches(np.float64, rng)
    fast = build_network(fl, variant, np.float64, batches, seed=5)
    slow = build_network(ref, variant, np.float64, batches, seed=5)
    assert [type(f).__name__ for f in fast.layers] == [type(r).__name__ for r in slow.layers]
    pairs = trainable_pairs(fast, slow)
    # The feature-mode BatchNorm creates gamma and beta on its first forward.
    assert len(pairs) == (5 if variant == "batchnorm-dropout" else 4)
    for f, r in pairs:
        np.testing.assert_array_equal(f.weights, r.weights)
        np.testing.assert_array_equal(f.bias, r.bias)


@pytest.mark.parametrize(
    "variant, dtype",
    [("plain", F64), ("batchnorm-dropout", F64), ("plain", F32), ("batchnorm-dropout", F32)],
    ids=lambda v: v.name if isinstance(v, np.dtype) else v,
)
def test_network_training_matches_reference(variant, dtype):
    rng = np.random.default_rng(1)
    batches = fixed_batches(dtype, rng)
    ref_batches = [(x.astype(np.float64), y.astype(np.float64)) for x, y in batches]
    fast = build_network(fl, variant, dtype, batches, seed=6)
    slow = build_network(ref, variant, np.float64, ref_batches, seed=6)
    for f, r in trainable_pairs(fast, slow):
        copy_parameters(f, r)

    # The same global random state for both runs, so DropOut masks match.
    np.random.seed(2024)
    fast.train(5)
    np.random.seed(2024)
    slow.train(5)

    rtol = tolerance(dtype, "training")
    assert len(fast.loss) == len(slow.loss) == 5
    assert all(np.isfinite(slow.loss))
    for step, (loss_f, loss_r) in enumerate(zip(fast.loss, slow.loss)):
        np.testing.assert_allclose(loss_f, loss_r, rtol=rtol, err_msg=f"loss of step {step}")
    for i, (f, r) in enumerate(trainable_pairs(fast, slow)):
        name = f"layer {i} ({type(f).__name__})"
        assert_close(f.weights, r.weights, dtype, f"{name} final weights", rtol=rtol)
        assert_close(f.bias, r.bias, dtype, f"{name} final bias", rtol=rtol)
        if getattr(r, "running_mean", None) is not None:
            assert_close(f.running_mean, r.running_mean, dtype, f"{name} running mean", rtol=rtol)
            assert_close(f.running_var, r.running_var, dtype, f"{name} running var", rtol=rtol)

    x = batches[0][0]
    assert_close(
        fast.test(x), slow.test(x.astype(np.float64)), dtype, "test() predictions", rtol=rtol
    )
