"""One table of layer cases, for the tests and the benchmarks.

:data:`LAYERS` holds one :class:`LayerCase` per layer class: its fast class
(:mod:`fastlayers`), its reference twin (:mod:`fastlayers.reference`), the
constructor arguments of each configuration worth testing with the input
shapes it accepts, whether it is trainable, its tutorial signature, and what
the generic tests need to build valid data for it.  The equality,
validation, contract and gradient tests are parametrized from this table,
so a new layer is tested everywhere by adding one entry here.

The module needs only NumPy and fastlayers (no pytest), so the benchmarks
can import it too: ``from tests.registry import LAYERS`` with the
repository root on ``sys.path``.
"""

import inspect
from dataclasses import dataclass, field

import numpy as np

import fastlayers
import fastlayers.reference

PACKAGES = (fastlayers, fastlayers.reference)

POS = inspect.Parameter.POSITIONAL_OR_KEYWORD
KW = inspect.Parameter.KEYWORD_ONLY
EMPTY = inspect.Parameter.empty


@dataclass(frozen=True)
class Config:
    """One constructor call of a layer and the inputs it accepts.

    Parameters
    ----------
    id : str
        Short name, used in test ids.
    kwargs : dict
        Constructor arguments, all passed by keyword.
    shapes : tuple of tuple
        Valid input shapes; the first is the one tests use by default.
    exact_gradient : bool
        Whether ``backward`` returns the exact derivative of ``forward``
        (``DropOut`` without ``scale_backward`` returns the tutorial's bare
        mask instead).
    """

    id: str
    kwargs: dict = field(default_factory=dict)
    shapes: tuple = ()
    exact_gradient: bool = True


@dataclass(frozen=True)
class Reject:
    """Bad input or arguments, and the error they must raise before any kernel.

    ``setup()`` (optional) builds the object with the real kernels;
    ``action(obj)`` must raise ``exception`` with a message containing
    ``fragments`` in this order.
    """

    id: str
    setup: object
    action: object
    exception: type
    fragments: tuple


def normal(rng, shape):
    """Standard normal values."""
    return rng.standard_normal(shape)


def away_from_zero(rng, shape):
    """Values of either sign at least 0.1 from zero: no kink within a finite-difference step."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 2.0, shape)


def moderate(rng, shape):
    """Values in (-3, 3), where a sigmoid's derivative is far from underflow."""
    return rng.uniform(-3, 3, shape)


def distinct(rng, shape, spacing=0.1):
    """Values at least ``spacing`` apart, so no small perturbation changes a maximum."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * spacing + rng.uniform(0, spacing / 10)).reshape(shape)


def shifted(rng, shape):
    """Normal values with mean 1 and standard deviation 2 (statistics to normalise)."""
    return rng.standard_normal(shape) * 2 + 1


def logits(rng, shape):
    """Logits spread wide enough for confident and unsure rows."""
    return rng.standard_normal(shape) * 3


def labels_for(rng, shape):
    """One-hot labels for a (batch, classes) input, a random class per row."""
    batch, classes = shape
    out = np.zeros(shape)
    out[np.arange(batch), rng.integers(0, classes, batch)] = 1.0
    return out


@dataclass(frozen=True)
class LayerCase:
    """Everything the generic tests need to know about one layer class.

    Parameters
    ----------
    name : str
        Class name, the same in both packages.
    fast, reference : type
        The class in :mod:`fastlayers` and in :mod:`fastlayers.reference`.
    configs : tuple of Config
        Constructor calls worth testing; the first is the default.
    signature : tuple of (name, kind, default)
        The constructor's parameters as the tutorial defines them.
    trainable : bool
        Has weights and bias, takes ``learning_rate`` and ``dtype``.
    loss : bool
        A loss layer: ``forward(x, labels)`` returns a float and
        ``backward(labels)`` the input gradient.
    activation : bool
        An elementwise activation, for the tests of extreme values.
    global_random : bool
        Draws from NumPy's global random state in the train phase.
    values : callable
        ``values(rng, shape)``: float64 input at which forward and backward
        are well defined and smooth.
    random_parameters : callable or None
        ``random_parameters(rng, kwargs, shape)`` -> dict of parameter
        arrays (attribute name -> array) for a layer built with ``kwargs``
        and fed inputs of ``shape``.
    gradient_params : tuple of str
        Parameters whose gradient ``get_gradient_<name>()`` reports and the
        gradient tests check against finite differences.
    rejects : tuple of Reject
        Bad arguments and inputs specific to this layer (the generic ones,
        such as a backward before any forward, are derived from the entry).
    """

    name: str
    fast: type
    reference: type
    configs: tuple
    signature: tuple = ()
    trainable: bool = False
    loss: bool = False
    activation: bool = False
    global_random: bool = False
    values: object = normal
    random_parameters: object = None
    gradient_params: tuple = ()
    rejects: tuple = ()

    @classmethod
    def named(cls, name, **fields):
        """The entry of the class called ``name`` in both packages."""
        return cls(
            name=name,
            fast=getattr(fastlayers, name),
            reference=getattr(fastlayers.reference, name),
            **fields,
        )

    @property
    def default(self):
        """The first configuration."""
        return self.configs[0]

    def cls(self, package):
        """The class of this layer in ``package`` (a module, "fast" or "reference")."""
        if package in ("fast", fastlayers):
            return self.fast
        if package in ("reference", fastlayers.reference):
            return self.reference
        return getattr(package, self.name)

    def make(self, package=fastlayers, config=None, **overrides):
        """Construct the layer of ``package`` with ``config`` (default: the first).

        ``overrides`` replace constructor arguments; ``dtype`` and
        ``learning_rate`` only reach trainable layers, which are the only
        ones that take them.
        """
        config = self.default if config is None else config
        kwargs = dict(config.kwargs)
        for key, value in overrides.items():
            if key in ("dtype", "learning_rate") and not self.trainable:
                continue
            kwargs[key] = value
        return self.cls(package)(**kwargs)

    def pair(self, config, rng, shape, dtype=np.float64, learning_rate=None):
        """A fast and a reference layer with the same random parameters.

        The fast layer computes in ``dtype``, the reference in float64;
        parameters are drawn once and given to both.
        """
        overrides = {} if learning_rate is None else {"learning_rate": learning_rate}
        fast = self.make(fastlayers, config, dtype=dtype, **overrides)
        slow = self.make(fastlayers.reference, config, dtype=np.float64, **overrides)
        if self.random_parameters is not None:
            for name, value in self.random_parameters(rng, config.kwargs, shape).items():
                setattr(fast, name, value)
                setattr(slow, name, np.asarray(getattr(fast, name), dtype=np.float64))
        return fast, slow


def cases(entries=None, configs=True):
    """(entry, config) pairs of ``entries`` (all layers by default), with an id each.

    Returns a list of ``(id, entry, config)``; with ``configs=False`` only
    the default configuration of each entry.
    """
    entries = LAYERS.values() if entries is None else entries
    out = []
    for entry in entries:
        for config in entry.configs if configs else entry.configs[:1]:
            out.append((f"{entry.name}-{config.id}", entry, config))
    return out


# ---------------------------------------------------------------------------
# Small builders for the rows of bad arguments and inputs
# ---------------------------------------------------------------------------

X4 = np.ones((2, 2, 6, 7))
X2 = np.ones((3, 4))
LABELS = np.eye(4)[[0, 1, 3]]


def _conv(**kwargs):
    """A small convolution: 2 input channels, 3x3 kernel, 3 filters."""
    return fastlayers.ConvolutionalLayer((1, 1), (2, 3, 3), 3, 0.0, **kwargs)


def _conv_with(stride=(1, 1), kernel=(2, 3, 3), n_kernels=3):
    """Construct a convolution with one argument changed."""
    return fastlayers.ConvolutionalLayer(stride, kernel, n_kernels, 0.0)


def _after_forward(layer, x, *args):
    """Run one forward pass and return the layer."""
    layer.forward(x, *args)
    return layer


def _assigned(layer, name, value):
    """Assign ``value`` to ``layer.<name>`` and return the layer."""
    setattr(layer, name, value)
    return layer


# ---------------------------------------------------------------------------
# The layers
# ---------------------------------------------------------------------------


def _fc_parameters(rng, kwargs, shape):
    # The last row of the weights is the bias.
    return {"weights": rng.standard_normal((kwargs["input_size"] + 1, kwargs["output_size"]))}


def _fc(input_size, output_size, batch):
    return Config(
        f"{input_size}to{output_size}",
        dict(input_size=input_size, output_size=output_size, learning_rate=0.0),
        ((batch, input_size),),
    )


FULLY_CONNECTED = LayerCase.named(
    "FullyConnectedLayer",
    configs=(_fc(4, 3, 3), _fc(5, 4, 3)),
    signature=(
        ("input_size", POS, EMPTY),
        ("output_size", POS, EMPTY),
        ("learning_rate", POS, EMPTY),
        ("dtype", KW, None),
    ),
    trainable=True,
    random_parameters=_fc_parameters,
    gradient_params=("weights",),
    rejects=(
        Reject("fc-ndim", lambda: fastlayers.FullyConnectedLayer(4, 3, 0.0),
               lambda l: l.forward(np.ones((3, 2, 2))),
               ValueError, ("FullyConnectedLayer", "2 dimensions", "(3, 2, 2)")),
        Reject("fc-size", lambda: fastlayers.FullyConnectedLayer(4, 3, 0.0),
               lambda l: l.forward(np.ones((3, 5))),
               ValueError, ("FullyConnectedLayer", "(batch, 4)", "(3, 5)")),
        Reject("fc-input-size-zero", None, lambda _: fastlayers.FullyConnectedLayer(0, 3, 0.0),
               ValueError, ("FullyConnectedLayer", "input_size", "0")),
        Reject("fc-output-size-float", None,
               lambda _: fastlayers.FullyConnectedLayer(4, 3.0, 0.0),
               TypeError, ("FullyConnectedLayer", "output_size", "3.0")),
        Reject("fc-weights-shape",
               lambda: _assigned(fastlayers.FullyConnectedLayer(4, 3, 0.0), "weights",
                                 np.ones((4, 3))),
               lambda l: l.forward(X2),
               ValueError, ("FullyConnectedLayer", "weights", "(5, 3)", "(4, 3)")),
        Reject("fc-bias-shape", lambda: fastlayers.FullyConnectedLayer(4, 3, 0.0),
               lambda l: setattr(l, "bias", np.ones(4)),
               ValueError, ("FullyConnectedLayer", "bias", "(3,)", "(4,)")),
        Reject("fc-dtype-float16", None,
               lambda _: fastlayers.FullyConnectedLayer(4, 3, 0.0, dtype=np.float16),
               TypeError, ("FullyConnectedLayer", "float16")),
    ),
)  # fmt: skip


def _activation(name, values):
    return LayerCase.named(
        name,
        configs=(Config("plain", {}, ((3, 4), (2, 3, 4, 5))),),
        activation=True,
        values=values,
    )


RELU = _activation("ReLU", away_from_zero)
SIGMOID = _activation("Sigmoid", moderate)
TANH = _activation("TanH", moderate)

SOFTMAX_CROSS_ENTROPY = LayerCase.named(
    "SoftMaxCrossEntropyLoss",
    configs=(Config("plain", {}, ((3, 4), (5, 4))),),
    loss=True,
    values=logits,
    rejects=(
        Reject("loss-labels-shape", fastlayers.SoftMaxCrossEntropyLoss,
               lambda l: l.forward(X2, np.eye(3)),
               ValueError, ("SoftMaxCrossEntropyLoss", "labels", "(3, 4)", "(3, 3)")),
        Reject("loss-labels-ndim", fastlayers.SoftMaxCrossEntropyLoss,
               lambda l: l.forward(X2, np.ones(4)),
               ValueError, ("SoftMaxCrossEntropyLoss", "labels", "2 dimensions", "(4,)")),
        Reject("loss-input-ndim", fastlayers.SoftMaxCrossEntropyLoss,
               lambda l: l.forward(np.ones((3, 4, 1)), np.ones((3, 4, 1))),
               ValueError, ("SoftMaxCrossEntropyLoss", "2 dimensions", "(3, 4, 1)")),
        Reject("loss-backward-labels",
               lambda: _after_forward(fastlayers.SoftMaxCrossEntropyLoss(), X2, LABELS),
               lambda l: l.backward(np.eye(4)),
               ValueError, ("SoftMaxCrossEntropyLoss", "labels", "(3, 4)", "(4, 4)")),
        Reject("loss-predict-ndim", fastlayers.SoftMaxCrossEntropyLoss,
               lambda l: l.predict(np.ones(4)),
               ValueError, ("SoftMaxCrossEntropyLoss", "2 dimensions", "(4,)")),
    ),
)  # fmt: skip

FLATTEN = LayerCase.named(
    "FlattenLayer",
    configs=(Config("plain", {}, ((2, 2, 3), (2, 3, 2, 2), (3, 6))),),
    rejects=(
        Reject("flatten-scalar", fastlayers.FlattenLayer, lambda l: l.forward(np.float64(3.0)),
               ValueError, ("FlattenLayer", "scalar")),
    ),
)  # fmt: skip


def _conv_parameters(rng, kwargs, shape):
    k = kwargs["n_kernels"]
    return {
        "weights": rng.standard_normal((k, *kwargs["kernel_shape"])),
        "bias": rng.standard_normal(k),
    }


def _conv_config(stride, padding, kernel):
    return Config(
        f"s{stride[0]}x{stride[1]}-pad{str(padding).replace(' ', '')}"
        f"-k{'x'.join(map(str, kernel))}",
        dict(stride_shape=stride, kernel_shape=kernel, n_kernels=3, learning_rate=0.0,
             padding=padding),
        ((2, kernel[0], 6, 7),),
    )  # fmt: skip


CONVOLUTIONAL = LayerCase.named(
    "ConvolutionalLayer",
    # The padding and stride variants: every padding form, strides that
    # divide the input and ones that do not, even and odd kernels.
    configs=(
        _conv_config((1, 1), "same", (2, 3, 3)),
        _conv_config((2, 2), "same", (2, 4, 4)),
        _conv_config((1, 3), "valid", (2, 3, 4)),
        _conv_config((3, 2), "same", (2, 5, 4)),
        _conv_config((3, 2), 1, (2, 3, 3)),
        _conv_config((2, 2), (1, 2), (2, 2, 3)),
        _conv_config((1, 1), (0, 2, 1, 0), (2, 4, 3)),
        _conv_config((2, 1), "valid", (2, 2, 2)),
    ),
    signature=(
        ("stride_shape", POS, EMPTY),
        ("kernel_shape", POS, EMPTY),
        ("n_kernels", POS, EMPTY),
        ("learning_rate", POS, EMPTY),
        ("weights_initializer", POS, None),
        ("bias_initializer", POS, None),
        ("padding", POS, "same"),
        ("dtype", KW, None),
    ),
    trainable=True,
    random_parameters=_conv_parameters,
    gradient_params=("weights", "bias"),
    rejects=(
        Reject("conv-ndim", _conv, lambda l: l.forward(np.ones((2, 6, 7))),
               ValueError, ("ConvolutionalLayer", "4 dimensions", "(2, 6, 7)")),
        Reject("conv-channels", _conv, lambda l: l.forward(np.ones((1, 3, 6, 7))),
               ValueError, ("ConvolutionalLayer", "2 channels", "(1, 3, 6, 7)")),
        Reject("conv-stride-zero", None, lambda _: _conv_with(stride=(0, 1)),
               ValueError, ("ConvolutionalLayer", "stride_shape", "(0, 1)")),
        Reject("conv-stride-negative", None, lambda _: _conv_with(stride=-2),
               ValueError, ("ConvolutionalLayer", "stride_shape", "-2")),
        Reject("conv-stride-float", None, lambda _: _conv_with(stride=(1.5, 1)),
               TypeError, ("ConvolutionalLayer", "stride_shape", "(1.5, 1)")),
        Reject("conv-stride-float-scalar", None, lambda _: _conv_with(stride=2.0),
               TypeError, ("ConvolutionalLayer", "stride_shape", "2.0")),
        Reject("conv-kernel-zero", None, lambda _: _conv_with(kernel=(2, 0, 3)),
               ValueError, ("ConvolutionalLayer", "kernel_shape", "(2, 0, 3)")),
        Reject("conv-kernel-two-entries", None, lambda _: _conv_with(kernel=(3, 3)),
               TypeError, ("ConvolutionalLayer", "kernel_shape", "(3, 3)")),
        Reject("conv-kernel-float", None, lambda _: _conv_with(kernel=(2, 3.0, 3)),
               TypeError, ("ConvolutionalLayer", "kernel_shape", "(2, 3.0, 3)")),
        Reject("conv-n-kernels-zero", None, lambda _: _conv_with(n_kernels=0),
               ValueError, ("ConvolutionalLayer", "n_kernels", "0")),
        Reject("conv-padding-name", None, lambda _: _conv(padding="full"),
               ValueError, ("ConvolutionalLayer", "padding", "'full'")),
        Reject("conv-padding-negative", None, lambda _: _conv(padding=(0, 0, -1, 0)),
               ValueError, ("ConvolutionalLayer", "padding", "(0, 0, -1, 0)")),
        Reject("conv-padding-three", None, lambda _: _conv(padding=(1, 1, 1)),
               TypeError, ("ConvolutionalLayer", "padding", "(1, 1, 1)")),
        Reject("conv-valid-too-small", lambda: _conv(padding="valid"),
               lambda l: l.forward(np.ones((1, 2, 2, 5))),
               ValueError, ("ConvolutionalLayer", "3x3 kernel", "(2, 5)")),
        Reject("conv-empty-rows", _conv, lambda l: l.forward(np.ones((2, 2, 0, 7))),
               ValueError, ("ConvolutionalLayer", "non-empty", "(2, 2, 0, 7)")),
        Reject("conv-weights-shape", lambda: _assigned(_conv(), "weights", np.ones((3, 2, 3))),
               lambda l: l.forward(X4),
               ValueError, ("ConvolutionalLayer", "weights", "(3, 2, 3, 3)", "(3, 2, 3)")),
        Reject("conv-bias-shape", lambda: _assigned(_conv(), "bias", np.ones((3, 1))),
               lambda l: l.forward(X4),
               ValueError, ("ConvolutionalLayer", "bias", "(3,)", "(3, 1)")),
        Reject("conv-error-shape-strided",
               lambda: _after_forward(fastlayers.ConvolutionalLayer((2, 3), (2, 3, 3), 3, 0.0), X4),
               lambda l: l.backward(np.ones((2, 3, 6, 7))),
               ValueError, ("ConvolutionalLayer", "error", "(2, 3, 3, 3)", "(2, 3, 6, 7)")),
        Reject("conv-dtype-int", None, lambda _: _conv(dtype=np.int32),
               TypeError, ("ConvolutionalLayer", "int32")),
    ),
)  # fmt: skip


def _pool_config(neighborhood, stride, shapes=((2, 2, 7, 8),)):
    return Config(
        f"win{neighborhood[0]}x{neighborhood[1]}-s{stride[0]}x{stride[1]}",
        dict(neighborhood=neighborhood, stride=stride),
        shapes,
    )


# Windows that tile, overlap, and leave gaps: the cases of both poolings.
_POOL_CONFIGS = (
    _pool_config((2, 2), (2, 2), ((2, 2, 7, 8), (2, 2, 6, 7))),
    _pool_config((3, 2), (1, 2)),
    _pool_config((2, 3), (3, 2)),
)

MAX_POOL = LayerCase.named(
    "MaxPoolLayer",
    configs=(
        *_POOL_CONFIGS,
        _pool_config((2, 2), (2, 1)),
        _pool_config((3, 3), (1, 1)),
        # The tie policies; ``distinct`` values have no ties, so these pin
        # that they route like "first" when every maximum is unique.
        Config("win2x2-s1x1-all", dict(neighborhood=(2, 2), stride=(1, 1), ties="all"), ((2, 2, 5, 6),)),
        Config("win3x2-s2x1-split", dict(neighborhood=(3, 2), stride=(2, 1), ties="split"), ((2, 2, 7, 6),)),
    ),
    signature=(("neighborhood", POS, (2, 2)), ("stride", POS, (2, 2)), ("ties", KW, "first")),
    values=distinct,
    rejects=(
        Reject("pool-ndim", fastlayers.MaxPoolLayer, lambda l: l.forward(np.ones((2, 6, 7))),
               ValueError, ("MaxPoolLayer", "4 dimensions", "(2, 6, 7)")),
        Reject("pool-window-zero", None, lambda _: fastlayers.MaxPoolLayer(neighborhood=(0, 2)),
               ValueError, ("MaxPoolLayer", "neighborhood", "(0, 2)")),
        Reject("pool-stride-zero", None, lambda _: fastlayers.MaxPoolLayer(stride=(2, 0)),
               ValueError, ("MaxPoolLayer", "stride", "(2, 0)")),
        Reject("pool-stride-float", None, lambda _: fastlayers.MaxPoolLayer(stride=(2, 1.5)),
               TypeError, ("MaxPoolLayer", "stride", "(2, 1.5)")),
        Reject("pool-window-float", None, lambda _: fastlayers.MaxPoolLayer(neighborhood=2.5),
               TypeError, ("MaxPoolLayer", "neighborhood", "2.5")),
        Reject("pool-window-too-large", lambda: fastlayers.MaxPoolLayer(neighborhood=(3, 3)),
               lambda l: l.forward(np.ones((1, 1, 2, 5))),
               ValueError, ("MaxPoolLayer", "3x3 window", "(2, 5)")),
        Reject("pool-window-too-wide", lambda: fastlayers.MaxPoolLayer(neighborhood=(1, 8)),
               lambda l: l.forward(X4),
               ValueError, ("MaxPoolLayer", "1x8 window", "(6, 7)")),
        Reject("pool-ties", None, lambda _: fastlayers.MaxPoolLayer(ties="last"),
               ValueError, ("MaxPoolLayer", "ties", "'last'")),
    ),
)  # fmt: skip

AVG_POOL = LayerCase.named(
    "AvgPoolLayer",
    configs=_POOL_CONFIGS,
    signature=(("neighborhood", POS, (2, 2)), ("stride", POS, (2, 2))),
    rejects=(
        Reject("avgpool-window-too-large", lambda: fastlayers.AvgPoolLayer(neighborhood=(3, 3)),
               lambda l: l.forward(np.ones((1, 1, 2, 5))),
               ValueError, ("AvgPoolLayer", "3x3 window", "(2, 5)")),
        Reject("avgpool-stride-zero", None, lambda _: fastlayers.AvgPoolLayer(stride=(2, 0)),
               ValueError, ("AvgPoolLayer", "stride", "(2, 0)")),
    ),
)  # fmt: skip

DROPOUT = LayerCase.named(
    "DropOut",
    configs=(
        # The tutorial's backward: the bare mask, not the derivative.
        Config("p0.3", dict(probability=0.3), ((3, 4), (2, 3, 4, 5)), exact_gradient=False),
        Config("p0.4-scaled", dict(probability=0.4, scale_backward=True), ((6, 5),)),
    ),
    signature=(("probability", POS, EMPTY), ("scale_backward", KW, False)),
    global_random=True,
    rejects=(
        Reject("dropout-probability-high", None, lambda _: fastlayers.DropOut(1.5),
               ValueError, ("DropOut", "probability", "1.5")),
        Reject("dropout-probability-negative", None, lambda _: fastlayers.DropOut(-0.1),
               ValueError, ("DropOut", "probability", "-0.1")),
        Reject("dropout-probability-str", None, lambda _: fastlayers.DropOut("0.5"),
               TypeError, ("DropOut", "probability", "'0.5'")),
    ),
)  # fmt: skip


def _bn_parameters(rng, kwargs, shape):
    size = kwargs.get("channels", 0) or shape[1]
    return {"weights": rng.uniform(0.5, 1.5, size), "bias": rng.standard_normal(size)}


BATCH_NORM = LayerCase.named(
    "BatchNorm",
    # Per channel of an image batch, per channel of its flattened (b, C*k)
    # form, and per feature.
    configs=(
        Config("conv-4d", dict(learning_rate=0.0, channels=3), ((4, 3, 2, 3),)),
        Config("conv-2d", dict(learning_rate=0.0, channels=2), ((5, 8),)),
        Config("features", dict(learning_rate=0.0), ((6, 4),)),
    ),
    signature=(
        ("learning_rate", POS, EMPTY),
        ("channels", POS, 0),
        ("epsilon", KW, 1e-10),
        ("momentum", KW, 0.9),
        ("dtype", KW, None),
    ),
    trainable=True,
    values=shifted,
    random_parameters=_bn_parameters,
    gradient_params=("weights", "bias"),
    rejects=(
        Reject("bn-features-ndim", lambda: fastlayers.BatchNorm(0.0), lambda l: l.forward(X4),
               ValueError, ("BatchNorm", "2 dimensions", "(2, 2, 6, 7)")),
        Reject("bn-channels-4d", lambda: fastlayers.BatchNorm(0.0, 3), lambda l: l.forward(X4),
               ValueError, ("BatchNorm", "3", "(2, 2, 6, 7)")),
        Reject("bn-channels-2d", lambda: fastlayers.BatchNorm(0.0, 3),
               lambda l: l.forward(np.ones((2, 7))),
               ValueError, ("BatchNorm", "3", "(2, 7)")),
        Reject("bn-channels-negative", None, lambda _: fastlayers.BatchNorm(0.0, -1),
               ValueError, ("BatchNorm", "channels", "-1")),
        Reject("bn-channels-float", None, lambda _: fastlayers.BatchNorm(0.0, 2.0),
               TypeError, ("BatchNorm", "channels", "2.0")),
        Reject("bn-epsilon", None, lambda _: fastlayers.BatchNorm(0.0, epsilon=0.0),
               ValueError, ("BatchNorm", "epsilon", "0.0")),
        Reject("bn-momentum", None, lambda _: fastlayers.BatchNorm(0.0, momentum=1.0),
               ValueError, ("BatchNorm", "momentum", "1.0")),
        Reject("bn-weights-shape",
               lambda: _assigned(fastlayers.BatchNorm(0.0, 2), "weights", np.ones(3)),
               lambda l: l.forward(X4),
               ValueError, ("BatchNorm", "weights", "(2,)", "(3,)")),
        Reject("bn-bias-shape",
               lambda: _assigned(fastlayers.BatchNorm(0.0, 2), "bias", np.ones((2, 1))),
               lambda l: l.forward(X4),
               ValueError, ("BatchNorm", "bias", "(2,)", "(2, 1)")),
        Reject("bn-dtype-complex", None, lambda _: fastlayers.BatchNorm(0.0, dtype=complex),
               TypeError, ("BatchNorm", "complex128")),
    ),
)  # fmt: skip

LAYERS = {
    case.name: case
    for case in (
        FULLY_CONNECTED,
        RELU,
        SIGMOID,
        TANH,
        SOFTMAX_CROSS_ENTROPY,
        FLATTEN,
        CONVOLUTIONAL,
        MAX_POOL,
        AVG_POOL,
        DROPOUT,
        BATCH_NORM,
    )
}
