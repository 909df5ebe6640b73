"""Generated wrong calls into every public class and function, and their runner.

Each entry of the table is one call with one wrong argument (the others
valid), the exception type it must raise, and the words its message must
contain: the class or function, the argument, and what was given.  The wrong
values come from one table per kind of argument (a count, a pair, a real in
a range, a dtype, an initializer, an array), so every argument of a kind is
tried with the same values.

Some wrong values could reach a compiled kernel and crash or hang the
process, so the calls run in child processes, a batch of calls per child:
the child records each call before and after it runs, so a crash or a hang
is pinned on one call and the rest of the batch continues in a new child.

Run as a script for a summary of the current state of the library::

    python tests/bad_calls_table.py --summary
"""

import inspect
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

T, V, R = "TypeError", "ValueError", "RuntimeError"
NAN, INF = float("nan"), float("inf")
BIG = 2**63  # overflows an int64: numba's bare OverflowError if it reached a kernel
CAP = 2**31  # just above the documented limit of sizes, strides and paddings (2**31 - 1)

VERDICTS = ("clear", "wrong type", "unnamed message", "crash", "hang", "silent")


@dataclass
class Call:
    """One call that must fail, and how.

    ``expected`` lists the accepted exception class names; ``owner``, ``arg``
    and ``given`` each list alternative words, one of which the message must
    contain (an empty ``arg`` is not checked).
    """

    id: str
    run: object
    expected: tuple
    owner: tuple
    arg: tuple
    given: tuple
    group: str = ""

    @classmethod
    def of(cls, id, run, expected, owner, arg, given, group):
        """A call whose ``expected`` and ``owner`` may each be one name or several."""
        return cls(id, run, _names(expected), _names(owner), tuple(arg), tuple(given), group)


def _names(value):
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass
class Probe:
    """A check that must return normally (it raises AssertionError on a violation)."""

    id: str
    run: object
    group: str = ""
    expected: tuple = field(default=())


# ---------------------------------------------------------------------------
# Wrong values per kind of argument: (label, value, exception)
# ---------------------------------------------------------------------------

COUNT = [
    ("None", None, T), ("str", "3", T), ("list", [3], T), ("complex", 3 + 0j, T),
    ("bool", True, T), ("float", 3.0, T), ("fraction", 1.5, T), ("nan", NAN, T),
    ("inf", INF, T), ("negative", -1, V), ("zero", 0, V), ("huge", BIG, V),
]  # fmt: skip
PAIR = [
    ("None", None, T), ("str", "ab", T), ("one", (1,), T), ("three", (1, 2, 3), T),
    ("float-in-pair", (1.5, 1), T), ("float", 1.5, T), ("integral-float", 2.0, T),
    ("bool-in-pair", (True, 1), T), ("bool", True, T), ("complex", 1j, T), ("nan", NAN, T),
    ("zero", 0, V), ("negative", -1, V), ("zero-in-pair", (0, 1), V),
    ("negative-in-pair", (1, -2), V), ("huge", BIG, V), ("huge-in-pair", (1, BIG), V),
    ("above-cap", CAP, V), ("nested", [[1, 2]], T),
]  # fmt: skip
TRIPLE = [
    ("None", None, T), ("str", "abc", T), ("int", 3, T), ("two", (2, 3), T),
    ("four", (2, 3, 3, 3), T), ("float", (2, 3, 1.5), T), ("integral-float", (2, 3, 3.0), T),
    ("bool", (True, 3, 3), T), ("zero", (0, 3, 3), V), ("negative", (2, -3, 3), V),
    ("huge", (2, 3, BIG), V), ("above-cap", (2, CAP, 3), V),
]  # fmt: skip
RATE = [
    ("None", None, T), ("str", "0.1", T), ("list", [0.1], T), ("complex", 0.1j, T),
    ("bool", True, T), ("nan", NAN, V), ("inf", INF, V), ("negative", -0.1, V),
]  # fmt: skip
PROBABILITY = [
    ("None", None, T), ("str", "0.5", T), ("list", [0.5], T), ("complex", 0.5j, T),
    ("bool", True, T), ("nan", NAN, V), ("inf", INF, V), ("negative", -0.1, V),
    ("above-one", 1.5, V),
]  # fmt: skip
EPSILON = [
    ("None", None, T), ("str", "1e-5", T), ("list", [1e-5], T), ("complex", 1e-5j, T),
    ("bool", True, T), ("nan", NAN, V), ("inf", INF, V), ("zero", 0.0, V),
    ("negative", -1e-5, V),
]  # fmt: skip
MOMENTUM = [
    ("None", None, T), ("str", "0.9", T), ("list", [0.9], T), ("complex", 0.9j, T),
    ("bool", True, T), ("nan", NAN, V), ("negative", -0.1, V), ("above-one", 1.5, V),
]  # fmt: skip
CHANNELS = [
    ("None", None, T), ("str", "2", T), ("list", [2], T), ("float", 2.0, T), ("bool", True, T),
    ("negative", -1, V), ("huge", BIG, V),
]  # fmt: skip
DTYPE = [
    ("int32-name", "int32", T), ("int64", np.int64, T), ("complex", np.complex128, T),
    ("unknown-name", "foo", T), ("int", 5, T), ("float16", np.float16, T), ("object", object, T),
    ("bool", True, T),
]  # fmt: skip
PADDING = [
    ("unknown-name", "full", V), ("None", None, T), ("float", 1.5, T), ("negative", -1, V),
    ("one", (1,), T), ("three", (1, 2, 3), T), ("negative-in-pair", (-1, 0), V),
    ("float-in-pair", (1, 1.5), T), ("bool", True, T), ("huge", BIG, V),
    ("huge-in-four", (0, 0, 0, BIG), V), ("negative-in-four", (0, 0, -1, 0), V),
    ("nested", [[1, 1], [1, 1]], T),
]  # fmt: skip
ITERATIONS = [
    ("None", None, T), ("str", "5", T), ("float", 1.5, T), ("integral-float", 2.0, T),
    ("bool", True, T), ("negative", -1, V), ("huge", BIG, V),
]  # fmt: skip
TIES = [("unknown", "most", V), ("None", None, T), ("int", 1, T), ("bool", True, T)]
THREADS = [
    ("None", None, T), ("str", "2", T), ("float", 2.0, T), ("bool", True, T), ("zero", 0, V),
    ("negative", -1, V), ("huge", BIG, V), ("too-many", 10**6, V),
]  # fmt: skip


def given_tokens(value):
    """The words an error message may use to show ``value``."""
    if isinstance(value, np.ndarray):
        return (str(value.shape), str(value.dtype))
    if isinstance(value, type):
        try:
            return (value.__name__, str(np.dtype(value)))
        except TypeError:
            return (value.__name__,)
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    if isinstance(value, (tuple, list)):
        # The whole value, or the offending element alone.
        return (repr(value),) + tuple(repr(v) for v in value if not isinstance(v, (tuple, list)))
    if isinstance(value, str):
        return (repr(value),)  # the bare text ("3") would match almost any message
    return (repr(value), str(value))


def _initializer_values():
    import fastlayers as fl

    return [
        ("int", 5, T, ("5",)),
        ("str", "He", T, ("'He'",)),
        ("He-class", fl.He, T, ("He",)),
        ("Const-class", fl.Const, T, ("Const",)),
        ("object", object(), T, ("object",)),
    ]


def ragged(shape):
    """Nested lists of ``shape`` whose last innermost row is one shorter."""
    nested = np.ones(shape).tolist()
    if len(shape) == 1:
        nested[-1] = [1.0, 1.0]
        return nested
    inner = nested
    while isinstance(inner[-1], list):
        inner = inner[-1]
    inner.pop()
    return nested


def shape_tokens(shape):
    """How a message may show a wrong ``shape``: whole, or its spatial part for images."""
    shape = tuple(shape)
    return (str(shape), str(shape[2:])) if len(shape) == 4 else (str(shape),)


def array_values(shape):
    """Wrong inputs in place of a valid array of ``shape``: (label, value, exception, given)."""
    if len(shape) == 1:
        with_zero = last_zero = (0,)
    else:
        with_zero = (shape[0], 0) + tuple(shape[2:])
        last_zero = tuple(shape[:-1]) + (0,)
    return [
        ("None", None, T, ("None",)),
        ("str", "abc", T, ("'abc'", "<U3")),
        ("complex", np.ones(shape, complex), T, ("complex128",)),
        ("object", np.ones(shape, object), T, ("object",)),
        ("strings", np.full(shape, "a"), T, ("<U1",)),
        ("datetime", np.zeros(shape, "datetime64[s]"), T, ("datetime64",)),
        ("ragged", ragged(shape), V, ("ragged", "inhomogeneous")),
        ("empty-axis-1", np.zeros(with_zero), V, shape_tokens(with_zero)),
        ("empty-last-axis", np.zeros(last_zero), V, shape_tokens(last_zero)),
    ]


# ---------------------------------------------------------------------------
# The layers, in both packages
# ---------------------------------------------------------------------------

X4 = (2, 2, 6, 7)


@dataclass
class LayerSpec:
    """How to build a layer and feed it: valid input shape, fixed rank, parameters."""

    name: str
    make: object  # package -> layer
    shape: tuple
    fixed_ndim: bool
    trainable: bool = False
    wrong_shapes: tuple = ()  # (label, shape, given) valid rank, wrong size
    ctor: tuple = ()  # (argument, table, builder(package, value))
    other_weights: tuple = None  # a weights shape other than the layer's
    out_shape: tuple = None  # output shape for ``shape``; None: the same


def _conv(p, **kw):
    args = dict(stride_shape=(1, 1), kernel_shape=(2, 3, 3), n_kernels=3, learning_rate=0.1)
    args.update(kw)
    return p.ConvolutionalLayer(**args)


def _bn(p, **kw):
    args = dict(learning_rate=0.1, channels=2)
    args.update(kw)
    learning_rate = args.pop("learning_rate")
    channels = args.pop("channels")
    return p.BatchNorm(learning_rate, channels, **args)


def _by_keyword(build, *arguments):
    """``ctor`` entries for ``(argument, table)`` pairs: each value goes in as that keyword."""
    return tuple(
        (argument, table, lambda p, v, a=argument: build(p, **{a: v}))
        for argument, table in arguments
    )


def _pool_spec(name):
    """The spec of a pooling layer: 2x2 windows every 2 on ``X4``."""

    def make(p, neighborhood=(2, 2), stride=(2, 2)):
        return getattr(p, name)(neighborhood=neighborhood, stride=stride)

    return LayerSpec(
        name,
        make,
        X4,
        True,
        wrong_shapes=(("too-small", (2, 2, 1, 7)),),
        ctor=_by_keyword(make, ("neighborhood", PAIR), ("stride", PAIR)),
        out_shape=(2, 2, 3, 3),
    )


LAYER_SPECS = [
    LayerSpec(
        "FullyConnectedLayer", lambda p: p.FullyConnectedLayer(4, 3, 0.1), (3, 4), True, True,
        wrong_shapes=(("features", (3, 5)),),
        ctor=(
            ("input_size", COUNT, lambda p, v: p.FullyConnectedLayer(v, 3, 0.1)),
            ("output_size", COUNT, lambda p, v: p.FullyConnectedLayer(4, v, 0.1)),
            ("learning_rate", RATE, lambda p, v: p.FullyConnectedLayer(4, 3, v)),
            ("dtype", DTYPE, lambda p, v: p.FullyConnectedLayer(4, 3, 0.1, dtype=v)),
        ),
        other_weights=(6, 3), out_shape=(3, 3),
    ),
    LayerSpec("ReLU", lambda p: p.ReLU(), (3, 4), False),
    LayerSpec("Sigmoid", lambda p: p.Sigmoid(), (3, 4), False),
    LayerSpec("TanH", lambda p: p.TanH(), (3, 4), False),
    LayerSpec("FlattenLayer", lambda p: p.FlattenLayer(), (2, 2, 3), False, out_shape=(2, 6)),
    LayerSpec(
        "DropOut", lambda p: p.DropOut(0.3), (3, 4), False,
        ctor=(("probability", PROBABILITY, lambda p, v: p.DropOut(v)),),
    ),
    LayerSpec(
        "ConvolutionalLayer", lambda p: _conv(p), X4, True, True,
        wrong_shapes=(("channels", (2, 3, 6, 7)),),
        ctor=_by_keyword(
            _conv,
            ("stride_shape", PAIR), ("kernel_shape", TRIPLE), ("n_kernels", COUNT),
            ("learning_rate", RATE), ("padding", PADDING), ("dtype", DTYPE),
        ),
        other_weights=(3, 2, 5, 5), out_shape=(2, 3, 6, 7),
    ),
    _pool_spec("MaxPoolLayer"),
    _pool_spec("AvgPoolLayer"),
    LayerSpec(
        "BatchNorm", lambda p: _bn(p), (3, 2, 4, 4), True, True,
        wrong_shapes=(("channels", (3, 3, 4, 4)),),
        ctor=_by_keyword(
            _bn,
            ("learning_rate", RATE), ("channels", CHANNELS), ("epsilon", EPSILON),
            ("momentum", MOMENTUM), ("dtype", DTYPE),
        ),
        other_weights=(3,),
    ),
    LayerSpec(
        "SoftMaxCrossEntropyLoss", lambda p: p.SoftMaxCrossEntropyLoss(), (3, 4), True,
        wrong_shapes=(),
    ),
]  # fmt: skip

SPEC = {spec.name: spec for spec in LAYER_SPECS}


def packages():
    """(label, module) of the two implementations of the layers."""
    import fastlayers
    import fastlayers.reference

    return [("fast", fastlayers), ("reference", fastlayers.reference)]


def layer_specs():
    """(label, package, spec) of every layer in :data:`LAYER_SPECS` that a package has."""
    for pkg_label, package in packages():
        for spec in LAYER_SPECS:
            if hasattr(package, spec.name):
                yield pkg_label, package, spec


def valid_input(shape, seed=0):
    """A deterministic input without ties (distinct values)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape)


def labels_for(shape, seed=1):
    """One-hot labels of ``shape`` (batch, classes)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape)
    if shape[0] and shape[1]:
        labels[np.arange(shape[0]), rng.integers(0, shape[1], shape[0])] = 1
    return labels


def forward(spec, layer, x):
    """``layer.forward(x)``, with labels for the loss."""
    if spec.name == "SoftMaxCrossEntropyLoss":
        # Labels that match a 2-D input array, valid ones otherwise: the
        # input is what is under test.
        shape = x.shape if isinstance(x, np.ndarray) and x.ndim == 2 else spec.shape
        return layer.forward(x, labels_for(shape))
    return layer.forward(x)


def _after_forward(spec, package):
    np.random.seed(0)
    layer = spec.make(package)
    out = forward(spec, layer, valid_input(spec.shape))
    return layer, out


def layer_calls():
    """Wrong calls into every layer of both packages."""
    calls = []
    for pkg_label, package, spec in layer_specs():
        name = spec.name
        base = f"{pkg_label}.{name}"

        def add(cid, run, expected, arg, given, owner=(name,), base=base):
            calls.append(Call.of(f"{base}.{cid}", run, expected, owner, arg, given, base))

        # -- constructor arguments -------------------------------------------
        for argname, table, build in spec.ctor:
            for label, value, exc in table:
                add(
                    f"__init__.{argname}={label}",
                    lambda b=build, p=package, v=value: b(p, v),
                    exc,
                    (argname,),
                    given_tokens(value),
                )
        if name == "ConvolutionalLayer":
            for argname in ("weights_initializer", "bias_initializer"):
                for label, value, exc, given in _initializer_values():
                    add(
                        f"__init__.{argname}={label}",
                        lambda p=package, a=argname, v=value: _conv(p, **{a: v}),
                        exc,
                        (argname, argname.replace("_", " ")),
                        given,
                    )

        if name == "MaxPoolLayer" and "ties" in inspect.signature(package.MaxPoolLayer).parameters:
            for label, value, exc in TIES:
                add(
                    f"__init__.ties={label}",
                    lambda p=package, v=value: p.MaxPoolLayer((2, 2), (2, 2), ties=v),
                    exc,
                    ("ties",),
                    given_tokens(value),
                )

        # -- forward input --------------------------------------------------------
        values = array_values(spec.shape)
        if spec.fixed_ndim:
            low, high = spec.shape[:-1], spec.shape + (1,)
            values += [
                ("ndim-low", np.ones(low), V, (str(low),)),
                ("ndim-high", np.ones(high), V, (str(high),)),
                ("scalar", np.float64(1.0), V, ("()", "scalar")),
            ]
        if name == "FlattenLayer":
            values.append(("scalar", np.float64(1.0), V, ("()", "scalar")))
        for label, shape in spec.wrong_shapes:
            values.append((label, np.ones(shape), V, shape_tokens(shape)))
        for label, value, exc, given in values:
            add(
                f"forward.input={label}",
                lambda s=spec, p=package, v=value: forward(s, s.make(p), v),
                exc,
                ("input",),
                given,
            )
        if name == "SoftMaxCrossEntropyLoss":
            for label, value, exc, given in array_values(spec.shape) + [
                ("shape", np.ones((3, 5)), V, ("(3, 5)",)),
            ]:
                add(
                    f"forward.labels={label}",
                    lambda p=package, v=value: p.SoftMaxCrossEntropyLoss().forward(
                        valid_input((3, 4)), v
                    ),
                    exc,
                    ("labels",),
                    given,
                )

        # -- backward ---------------------------------------------------------------
        error_arg = "labels" if name == "SoftMaxCrossEntropyLoss" else "error"
        out_shape = spec.out_shape or spec.shape

        def backward_with(value, s=spec, p=package):
            layer, _ = _after_forward(s, p)
            return layer.backward(value)

        wrong = tuple(out_shape[:-1]) + (out_shape[-1] + 1,)
        bad_errors = array_values(out_shape) + [
            ("shape", np.ones(wrong), V, (str(wrong),)),
            ("scalar", np.float64(1.0), V, ("()", "scalar")),
        ]
        for label, value, exc, given in bad_errors:
            add(
                f"backward.{error_arg}={label}",
                lambda v=value, f=backward_with: f(v),
                exc,
                (error_arg,),
                given,
            )
        add(
            "backward-before-forward",
            lambda s=spec, p=package, o=out_shape: s.make(p).backward(np.ones(o)),
            R,
            ("forward",),
            ("backward",),
        )

        if not spec.trainable or name == "SoftMaxCrossEntropyLoss":
            continue
        # -- parameters ---------------------------------------------------------------
        for attr in ("weights", "bias"):
            for label, value, exc, given in array_values((3,))[:7]:
                add(
                    f"{attr}={label}",
                    lambda s=spec, p=package, a=attr, v=value: setattr(s.make(p), a, v),
                    exc,
                    (attr,),
                    given,
                )
        for label, value, exc in DTYPE:
            add(
                f"dtype={label}",
                lambda s=spec, p=package, v=value: setattr(s.make(p), "dtype", v),
                exc,
                ("dtype",),
                given_tokens(value),
            )
            add(
                f"astype({label})",
                lambda s=spec, p=package, v=value: s.make(p).astype(v),
                exc,
                ("dtype",),
                given_tokens(value),
            )
        # Weights of another shape, assigned before forward ...
        other = spec.other_weights

        def replaced_then_forward(s=spec, p=package, shape=other):
            layer = s.make(p)
            layer.weights = np.ones(shape)
            return forward(s, layer, valid_input(s.shape))

        add(
            f"weights={other}-then-forward",
            replaced_then_forward,
            V,
            ("weights",),
            (str(other),),
        )
        # ... and between forward and backward: a clear error, whatever the
        # learning rate (with 0 nothing is updated, but the gradient no
        # longer matches the weights the layer holds).
        for rate in (0.1, 0.0):

            def replaced_between(s=spec, p=package, shape=other, rate=rate):
                layer, out = _after_forward(s, p)
                layer.learning_rate = rate
                layer.weights = np.ones(shape)
                return layer.backward(np.ones(np.shape(out)))

            add(
                f"weights={other}-between-forward-and-backward(lr={rate})",
                replaced_between,
                V,
                ("weights",),
                (str(other),),
            )
        if name == "BatchNorm":
            continue
        # -- initialize ---------------------------------------------------------------
        import fastlayers as fl

        for label, value, exc, given in _initializer_values() + [("None", None, T, ("None",))]:
            add(
                f"initialize(weights_initializer={label})",
                lambda s=spec, p=package, v=value: s.make(p).initialize(v, fl.Const(0.1)),
                exc,
                ("weights_initializer", "weights initializer"),
                given,
            )
            add(
                f"initialize(bias_initializer={label})",
                lambda s=spec, p=package, v=value: s.make(p).initialize(fl.He(), v),
                exc,
                ("bias_initializer", "bias initializer"),
                given,
            )
    return calls


# ---------------------------------------------------------------------------
# Initializers, NeuralNetwork, optimizers, module functions
# ---------------------------------------------------------------------------


def initializer_calls():
    import fastlayers as fl

    calls = []

    def add(cid, run, exc, owner, arg, given):
        calls.append(Call.of(f"initializers.{cid}", run, exc, owner, arg, given, "initializers"))

    for label, value, exc in RATE[:5] + [("nan", NAN, V), ("inf", INF, V)]:
        add(
            f"Const({label})",
            lambda v=value: fl.Const(v),
            exc,
            "Const",
            ("value",),
            given_tokens(value),
        )
    shapes = [
        ("None", None, T), ("str", "ab", T), ("float-in-shape", (3, 1.5), T),
        ("negative", (3, -1), V), ("huge", (3, BIG), V), ("float", 3.5, T),
        ("bool-in-shape", (3, True), T), ("nested", [[3, 4]], T),
    ]  # fmt: skip
    for init in (fl.Const(0.1), fl.UniformRandom(), fl.He(), fl.Xavier()):
        cls = type(init).__name__
        extra = [("one-dimension", (3,), V), ("zero", (0, 3), V)] if cls in ("He", "Xavier") else []
        for label, value, exc in shapes + extra:
            add(
                f"{cls}().initialize({label})",
                lambda i=init, v=value: i.initialize(v),
                exc,
                cls,
                ("weight_shape", "shape"),
                given_tokens(value),
            )
        klass = type(init)
        add(
            f"{cls}.initialize-on-the-class",
            lambda c=klass: c.initialize((2, 2)),
            T,
            cls,
            ("instance",),
            (cls,),
        )
    return calls


class _Data:
    def __init__(self, result):
        self.result = result

    def forward(self):
        return self.result


def network_calls():
    import fastlayers as fl

    calls = []
    for pkg_label, package in packages():
        net_cls = package.NeuralNetwork

        def add(
            cid, run, exc, arg, given, owner=("NeuralNetwork",), group=f"{pkg_label}.NeuralNetwork"
        ):
            calls.append(Call.of(f"{group}.{cid}", run, exc, owner, arg, given, group))

        def net(data=True, loss=True, layers=True, n=net_cls, p=package):
            network = n(fl.He(), fl.Const(0.1))
            if data:
                network.data_layer = _Data((valid_input((3, 4)), labels_for((3, 2))))
            if loss:
                network.loss_layer = p.SoftMaxCrossEntropyLoss()
            if layers:
                network.append_trainable_layer(p.FullyConnectedLayer(4, 2, 0.1))
            return network

        for label, value, exc, given in _initializer_values():
            add(
                f"__init__(weights_initializer={label})",
                lambda n=net_cls, v=value: n(v, fl.Const(0.1)),
                exc,
                ("weights_initializer",),
                given,
            )
            add(
                f"__init__(bias_initializer={label})",
                lambda n=net_cls, v=value: n(fl.He(), v),
                exc,
                ("bias_initializer",),
                given,
            )
        for label, value, exc in DTYPE:
            add(
                f"__init__(dtype={label})",
                lambda n=net_cls, v=value: n(fl.He(), fl.Const(0.1), dtype=v),
                exc,
                ("dtype",),
                given_tokens(value),
            )
        add(
            "forward-without-data_layer",
            lambda f=net: f(data=False).forward(),
            R,
            ("data_layer",),
            ("None",),
        )
        add(
            "forward-without-loss_layer",
            lambda f=net: f(loss=False).forward(),
            R,
            ("loss_layer",),
            ("None",),
        )

        def with_data(result, f=net):
            network = f()
            network.data_layer = result
            return network.forward()

        add("forward-data_layer=5", lambda w=with_data: w(5), T, ("data_layer",), ("5",))
        for label, result, exc, given in [
            ("three-values", (1, 2, 3), V, ("3",)),
            ("one-value", (1,), V, ("1",)),
            ("None", None, (V, T), ("None",)),
            ("array", valid_input((3, 4)), V, ("3",)),
        ]:
            add(
                f"forward-data_layer-returns-{label}",
                lambda w=with_data, r=result: w(_Data(r)),
                exc,
                ("data_layer",),
                given,
            )
        for label, layer in [
            ("ReLU()", lambda p=package: p.ReLU()),
            ("None", lambda: None),
            ("5", lambda: 5),
        ]:
            add(
                f"append_trainable_layer({label})",
                lambda f=net, make=layer: f(layers=False).append_trainable_layer(make()),
                T,
                ("trainable layer",),
                (label.rstrip("()"),),
            )
        for label, layer in [
            ("None", lambda: None),
            ("ReLU-class", lambda p=package: p.ReLU),
            ("5", lambda: 5),
            ("str", lambda: "relu"),
        ]:
            add(
                f"append_fixed_layer({label})",
                lambda f=net, make=layer: f(layers=False).append_fixed_layer(make()),
                T,
                ("layer",),
                (label.split("-")[0] if label != "str" else "'relu'",),
            )
        add(
            "append_trainable_layer-without-initializers",
            lambda n=net_cls, p=package: n(None, None).append_trainable_layer(
                p.FullyConnectedLayer(4, 2, 0.1)
            ),
            T,
            ("weights_initializer",),
            ("None",),
        )
        for label, value, exc in ITERATIONS:
            add(
                f"train({label})",
                lambda f=net, v=value: f().train(v),
                exc,
                ("iterations",),
                given_tokens(value),
            )
        add(
            "backward-before-forward",
            lambda f=net: f().backward(),
            R,
            ("forward",),
            ("backward",),
            owner=("NeuralNetwork", "SoftMaxCrossEntropyLoss"),
        )
        add(
            "test-without-loss_layer",
            lambda f=net: f(loss=False).test(valid_input((3, 4))),
            R,
            ("loss_layer",),
            ("None",),
        )
        for label, value, exc, given in array_values((3, 4))[:7]:
            add(
                f"test(input={label})",
                lambda f=net, v=value: f().test(v),
                exc,
                ("input",),
                given,
                owner=("NeuralNetwork", "FullyConnectedLayer"),
            )
    return calls


def optimizer_calls():
    from fastlayers import optimizers as opt

    calls = []

    def add(cid, run, exc, owner, arg, given):
        calls.append(Call.of(f"optimizers.{cid}", run, exc, owner, arg, given, "optimizers"))

    for cls in (opt.SGD, opt.Adam):
        name = cls.__name__
        for label, value, exc in RATE:
            add(
                f"{name}(learning_rate={label})",
                lambda c=cls, v=value: c(learning_rate=v),
                exc,
                name,
                ("learning_rate",),
                given_tokens(value),
            )
            add(
                f"{name}(weight_decay={label})",
                lambda c=cls, v=value: c(learning_rate=0.1, weight_decay=v),
                exc,
                name,
                ("weight_decay",),
                given_tokens(value),
            )
            add(
                f"{name}().learning_rate={label}",
                lambda c=cls, v=value: setattr(c(learning_rate=0.1), "learning_rate", v),
                exc,
                name,
                ("learning_rate",),
                given_tokens(value),
            )
    for label, value, exc in MOMENTUM + [("one", 1.0, V)]:
        add(
            f"SGD(momentum={label})",
            lambda v=value: opt.SGD(0.1, momentum=v),
            exc,
            "SGD",
            ("momentum",),
            given_tokens(value),
        )
        for beta in ("beta1", "beta2"):
            add(
                f"Adam({beta}={label})",
                lambda b=beta, v=value: opt.Adam(**{b: v}),
                exc,
                "Adam",
                (beta,),
                given_tokens(value),
            )
    for label, value, exc in EPSILON:
        add(
            f"Adam(epsilon={label})",
            lambda v=value: opt.Adam(epsilon=v),
            exc,
            "Adam",
            ("epsilon",),
            given_tokens(value),
        )
    add(
        "SGD(nesterov='yes')",
        lambda: opt.SGD(0.1, momentum=0.9, nesterov="yes"),
        T,
        "SGD",
        ("nesterov",),
        ("'yes'",),
    )
    add(
        "SGD(nesterov=True, momentum=0)",
        lambda: opt.SGD(0.1, nesterov=True),
        V,
        "SGD",
        ("nesterov",),
        ("momentum",),
    )
    add(
        "Adam(decoupled='yes')",
        lambda: opt.Adam(decoupled="yes"),
        T,
        "Adam",
        ("decoupled",),
        ("'yes'",),
    )
    param = np.ones((2, 3))

    def update(name="weights", p=None, grad=None):
        o = opt.SGD(0.1)
        return o.update(
            name, param.copy() if p is None else p, np.ones((2, 3)) if grad is None else grad
        )

    read_only = np.ones((2, 3))
    read_only.flags.writeable = False
    add("update(name=5)", lambda: update(name=5), T, "SGD", ("name",), ("5",))
    add("update(param=list)", lambda: update(p=[[1.0] * 3] * 2), T, "SGD", ("weights",), ("list",))
    add(
        "update(param=int-array)",
        lambda: update(p=np.ones((2, 3), int)),
        T,
        "SGD",
        ("weights",),
        ("int64",),
    )
    add(
        "update(param=read-only)",
        lambda: update(p=read_only),
        T,
        "SGD",
        ("weights",),
        ("read-only",),
    )
    add(
        "update(grad=complex)",
        lambda: update(grad=np.ones((2, 3), complex)),
        T,
        "SGD",
        ("gradient",),
        ("complex128",),
    )
    add(
        "update(grad=object)",
        lambda: update(grad=np.ones((2, 3), object)),
        T,
        "SGD",
        ("gradient",),
        ("object",),
    )
    add("update(grad=shape)", lambda: update(grad=np.ones(3)), V, "SGD", ("gradient",), ("(3,)",))
    add(
        "update(grad=ragged)",
        lambda: update(grad=[[1.0, 2.0], [1.0]]),
        V,
        "SGD",
        ("gradient",),
        ("ragged", "inhomogeneous"),
    )

    def shared_state():
        o = opt.Adam()
        o.update("weights", np.ones((2, 3)), np.ones((2, 3)))
        o.update("weights", np.ones((4,)), np.ones((4,)))

    add("update-shared-between-shapes", shared_state, V, "Adam", ("weights",), ("(4,)",))
    import fastlayers as fl

    def net():
        network = fl.NeuralNetwork(fl.He(), fl.Const(0.1))
        network.append_trainable_layer(fl.FullyConnectedLayer(4, 2, 0.1))
        return network

    for label, value in [("int", 5), ("str", "adam"), ("class-instance-list", [1, 2])]:
        add(
            f"set_optimizer(optimizer={label})",
            lambda v=value: opt.set_optimizer(net(), v),
            T,
            "set_optimizer",
            ("optimizer", "Optimizer"),
            given_tokens(value),
        )
    add(
        "set_optimizer(net=5)",
        lambda: opt.set_optimizer(5, opt.SGD(0.1)),
        T,
        "set_optimizer",
        ("net", "layers"),
        ("5", "int"),
    )
    return calls


def module_function_calls():
    import fastlayers as fl

    calls = []

    def add(cid, run, exc, owner, arg, given):
        calls.append(Call.of(cid, run, exc, owner, arg, given, "module functions"))

    for label, value, exc in THREADS:
        add(
            f"set_num_threads({label})",
            lambda v=value: fl.set_num_threads(v),
            exc,
            "set_num_threads",
            ("thread",),
            given_tokens(value),
        )
    for label, value, exc in DTYPE + [("None", None, T)]:
        add(
            f"set_default_dtype({label})",
            lambda v=value: fl.set_default_dtype(v),
            exc,
            "set_default_dtype",
            ("dtype",),
            given_tokens(value),
        )

        def in_context(v=value):
            with fl.default_dtype(v):
                pass

        add(f"default_dtype({label})", in_context, exc, "dtype", ("dtype",), given_tokens(value))
    return calls


def functional_calls():
    """Wrong calls into :mod:`fastlayers.functional`, once it can be imported."""
    try:
        from fastlayers import functional as F
    except ImportError:
        return []
    calls = []

    def add(owner, cid, run, exc, arg, given):
        calls.append(
            Call.of(f"functional.{owner}.{cid}", run, exc, owner, arg, given, "functional")
        )

    def add_each(owner, arg, rows, call, args=None):
        # One wrong call per row (label, value, exc[, given]) of values of ``arg``;
        # a row without ``given`` expects the message to show the value itself.
        for label, value, exc, *given in rows:
            add(
                owner,
                f"{arg}={label}",
                lambda v=value: call(v),
                exc,
                args or (arg,),
                given[0] if given else given_tokens(value),
            )

    x, w, b = valid_input(X4), valid_input((3, 2, 3, 3), 1), valid_input((3,), 2)
    add_each(
        "conv2d",
        "x",
        array_values(X4)
        + [
            ("ndim", np.ones((2, 6, 7)), V, ("(2, 6, 7)",)),
            ("channels", np.ones((2, 3, 6, 7)), V, ("(2, 3, 6, 7)",)),
        ],
        lambda v: F.conv2d(v, w, b),
        args=("input", "x"),
    )
    add_each(
        "conv2d",
        "weights",
        array_values((3, 2, 3, 3))[:7]
        + [
            ("ndim", np.ones((3, 2, 3)), V, ("(3, 2, 3)",)),
        ],
        lambda v: F.conv2d(x, v, b),
    )
    add_each(
        "conv2d",
        "bias",
        [
            ("shape", np.ones(4), V, ("(4,)",)),
            ("complex", np.ones(3, complex), T, ("complex128",)),
            ("str", "abc", T, ("'abc'", "<U3")),
        ],
        lambda v: F.conv2d(x, w, v),
    )
    add_each("conv2d", "stride", PAIR, lambda v: F.conv2d(x, w, b, stride=v))
    add_each("conv2d", "padding", PADDING, lambda v: F.conv2d(x, w, b, padding=v))

    # Built inside the calls, so that building the table runs no kernel.
    def saved():
        return F.conv2d(x, w, b, return_saved=True)[1]

    add(
        "conv2d_backward",
        "saved=None",
        lambda: F.conv2d_backward(np.ones((2, 3, 6, 7)), None),
        T,
        ("saved", "Conv2dSaved"),
        ("None", "NoneType"),
    )
    add_each(
        "conv2d_backward",
        "error",
        array_values((2, 3, 6, 7))[:7]
        + [
            ("shape", np.ones((2, 3, 6, 6)), V, ("(2, 3, 6, 6)",)),
        ],
        lambda v: F.conv2d_backward(v, saved()),
    )
    x1, w1 = valid_input((2, 2, 9)), valid_input((3, 2, 3), 1)
    add_each(
        "conv1d",
        "x",
        array_values((2, 2, 9))
        + [
            ("ndim", np.ones((2, 2, 3, 9)), V, ("(2, 2, 3, 9)",)),
        ],
        lambda v: F.conv1d(v, w1),
        args=("input", "x"),
    )
    # A one-element sequence is a fair spelling of a 1-D stride: not in the table.
    add_each(
        "conv1d",
        "stride",
        [row for row in COUNT if row[0] != "list"],
        lambda v: F.conv1d(x1, w1, stride=v),
    )
    add_each("max_pool2d", "window", PAIR, lambda v: F.max_pool2d(x, v))
    # None is the default stride (the window), not a wrong one.
    add_each(
        "max_pool2d",
        "stride",
        [row for row in PAIR if row[1] is not None],
        lambda v: F.max_pool2d(x, 2, v),
    )
    add_each("avg_pool2d", "window", PAIR, lambda v: F.avg_pool2d(x, v))
    add_each("max_pool2d", "x", array_values(X4), lambda v: F.max_pool2d(v, 2), args=("input", "x"))
    add(
        "max_pool2d",
        "window-larger-than-input",
        lambda: F.max_pool2d(x, 7),
        V,
        ("window",),
        ("7", "(7, 7)"),
    )
    add_each("max_pool2d", "ties", TIES, lambda v: F.max_pool2d(x, 2, ties=v))
    out = np.ones((2, 2, 3, 3))
    # Flat indices y * w + x of the first element of each 2x2 window, as
    # max_pool2d returns them for this input shape.
    idx = np.broadcast_to((np.arange(3)[:, None] * 2 * 7 + np.arange(3) * 2), out.shape).astype(
        np.intp
    )
    bad_idx = idx.copy()
    bad_idx.flat[0] = 10**6  # would write far outside dx in the kernel
    neg_idx = idx.copy()
    neg_idx.flat[0] = -5
    add_each(
        "max_pool2d_backward",
        "indices",
        [
            ("out-of-range", bad_idx, V, ("1000000", "indices")),
            ("negative", neg_idx, V, ("-5", "indices")),
            ("float", idx.astype(float), T, ("float64",)),
            ("shape", idx[:, :, :2], V, (str(idx[:, :, :2].shape),)),
            ("None", None, T, ("None",)),
        ],
        lambda v: F.max_pool2d_backward(out, v, X4),
    )
    add_each(
        "max_pool2d_backward",
        "input_shape",
        [
            ("None", None, T, ("None",)),
            ("three", (2, 2, 6), T, ("(2, 2, 6)",)),
            ("float", (2, 2, 6, 7.0), T, ("7.0",)),
            ("mismatch", (2, 2, 2, 2), V, ("(2, 2, 2, 2)",)),
            ("huge", (2, 2, 6, BIG), V, (str(BIG),)),
        ],
        lambda v: F.max_pool2d_backward(out, idx, v),
    )
    add(
        "max_pool2d_backward",
        "ties=all-without-x",
        lambda: F.max_pool2d_backward(out, idx, X4, ties="all"),
        (V, T),
        ("x",),
        ("None",),
    )
    add_each(
        "max_pool2d_backward",
        "error",
        array_values(out.shape)[:7],
        lambda v: F.max_pool2d_backward(v, idx, X4),
    )
    aout = np.ones((2, 2, 3, 3))
    # An input_shape that does not fit the error may be reported as either's fault.
    add_each(
        "avg_pool2d_backward",
        "input_shape",
        [
            ("None", None, T, ("None",)),
            ("mismatch", (2, 2, 2, 2), V, ("(2, 2, 2, 2)", "(2, 2, 3, 3)")),
        ],
        lambda v: F.avg_pool2d_backward(aout, v, 2),
        args=("input_shape", "error"),
    )
    xl, wl = valid_input((3, 4)), valid_input((4, 5), 1)
    add_each(
        "linear",
        "x",
        array_values((3, 4))
        + [
            ("features", np.ones((3, 5)), V, ("(3, 5)",)),
        ],
        lambda v: F.linear(v, wl),
        args=("input", "x"),
    )
    add(
        "linear",
        "weights=shape",
        lambda: F.linear(xl, np.ones((5, 5))),
        V,
        ("weights",),
        ("(5, 5)",),
    )
    add("linear", "bias=shape", lambda: F.linear(xl, wl, np.ones(4)), V, ("bias",), ("(4,)",))
    add(
        "linear_backward",
        "error=shape",
        lambda: F.linear_backward(np.ones((3, 4)), xl, wl),
        V,
        ("error",),
        ("(3, 4)",),
    )
    add_each("relu", "x", array_values((3, 4))[:7], lambda v: F.relu(v), args=("input", "x"))
    add(
        "relu_backward",
        "shape-mismatch",
        lambda: F.relu_backward(np.ones((3, 4)), np.ones((3, 5))),
        V,
        ("error", "y"),
        ("(3, 5)", "(3, 4)"),
    )
    add_each("downsample_strided", "stride", PAIR, lambda v: F.downsample_strided(x, v))
    add_each("upsample_strided", "stride", PAIR, lambda v: F.upsample_strided(x, v, (12, 14)))
    add_each(
        "upsample_strided",
        "size",
        [
            ("None", None, T),
            ("too-small", (1, 1), V),
            ("huge", (BIG, BIG), V),
            ("float", (12.0, 14), T),
            ("one", (12,), T),
        ],
        lambda v: F.upsample_strided(x, 2, v),
    )
    return calls


def bad_calls():
    """Every generated wrong call, in a fixed order."""
    return (
        layer_calls()
        + initializer_calls()
        + network_calls()
        + optimizer_calls()
        + module_function_calls()
        + functional_calls()
    )


# ---------------------------------------------------------------------------
# Empty inputs and aliasing: checks that must pass
# ---------------------------------------------------------------------------


def _backward(spec, layer, error, labels):
    if spec.name == "SoftMaxCrossEntropyLoss":
        return layer.backward(labels)
    return layer.backward(error)


def _empty_batch(spec, package):
    """An empty batch gives correctly shaped empty results and zero gradients."""
    shape = (0,) + spec.shape[1:]
    out_shape = (0,) + (spec.out_shape or spec.shape)[1:]
    np.random.seed(0)
    layer = spec.make(package)
    out = forward(spec, layer, np.zeros(shape))
    if spec.name == "SoftMaxCrossEntropyLoss":
        assert isinstance(out, float) and out == 0.0, f"loss of an empty batch: {out!r}"
    else:
        assert isinstance(out, np.ndarray), f"forward returned {type(out).__name__}"
        assert out.shape == out_shape, f"forward: shape {out.shape}, expected {out_shape}"
        assert out.dtype in (np.float32, np.float64), f"forward: dtype {out.dtype}"
    dx = _backward(spec, layer, np.zeros(out_shape), np.zeros(shape))
    assert isinstance(dx, np.ndarray), f"backward returned {type(dx).__name__}"
    assert dx.shape == shape, f"backward: shape {dx.shape}, expected {shape}"
    if spec.trainable and hasattr(layer, "get_gradient_weights"):
        for what in ("weights", "bias"):
            grad = getattr(layer, f"get_gradient_{what}")()
            param = getattr(layer, what)
            assert grad is not None, f"no gradient for {what} after an empty batch"
            grad = np.asarray(grad)
            assert grad.shape == np.shape(param), (
                f"gradient of {what}: shape {grad.shape}, expected {np.shape(param)}"
            )
            assert np.all(grad == 0), f"gradient of {what} of an empty batch is not 0: {grad}"
    for attr in ("running_mean", "running_var"):
        value = getattr(layer, attr, None)
        if value is not None:
            assert np.all(np.isfinite(value)), f"{attr} after an empty batch: {value}"
    if spec.name == "DropOut":
        return  # its mask draws random numbers even for an empty batch
    # The empty batch left the layer as it was: a real batch now gives what
    # it gives on a fresh layer.
    np.random.seed(1)
    fresh = spec.make(package)
    np.random.seed(1)
    layer = spec.make(package)
    forward(spec, layer, np.zeros(shape))
    _backward(spec, layer, np.zeros(out_shape), np.zeros(shape))
    x = valid_input(spec.shape)
    np.testing.assert_array_equal(forward(spec, layer, x), forward(spec, fresh, x))


def _empty_other_axis(spec, package, axis):
    """A zero-length axis other than the batch: ValueError naming the class."""
    shape = list(spec.shape)
    shape[axis] = 0
    shape = tuple(shape)
    layer = spec.make(package)
    try:
        result = forward(spec, layer, np.zeros(shape))
    except ValueError as exc:
        assert spec.name in str(exc), f"ValueError without the class name: {exc}"
        assert any(token in str(exc) for token in shape_tokens(shape)), (
            f"ValueError without the shape {shape}: {exc}"
        )
        return
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__} instead of ValueError: {exc}") from None
    raise AssertionError(f"input of shape {shape} returned {describe_result(result)}")


def describe_result(result):
    if isinstance(result, np.ndarray):
        return f"an array of shape {result.shape}"
    return repr(result)[:100]


def empty_probes():
    probes = []
    for pkg_label, package, spec in layer_specs():
        base = f"{pkg_label}.{spec.name}"
        probes.append(
            Probe(f"{base}.empty-batch", lambda s=spec, p=package: _empty_batch(s, p), base)
        )
        for axis in range(1, len(spec.shape)):
            probes.append(
                Probe(
                    f"{base}.empty-axis-{axis}",
                    lambda s=spec, p=package, a=axis: _empty_other_axis(s, p, a),
                    base,
                )
            )
    return probes


def _scrub(arr):
    """Overwrite ``arr`` as a careless user might; read-only results are fine."""
    if isinstance(arr, np.ndarray) and arr.flags.writeable:
        arr[...] = 123.0


def _session(spec, package, scribble):
    """Two forward/backward rounds; with ``scribble`` every array handed over is overwritten."""
    out_shape = spec.out_shape or spec.shape
    np.random.seed(0)
    layer = spec.make(package)
    record = {}
    kept = {}
    for step, seed in ((1, 10), (2, 20)):
        x = valid_input(spec.shape, seed)
        error = valid_input(out_shape, seed + 1)
        labels = labels_for(spec.shape, seed + 2)
        if spec.name == "SoftMaxCrossEntropyLoss":
            y = layer.forward(x, labels)
        else:
            y = layer.forward(x)
        record[f"forward {step}"] = np.array(y, copy=True)
        kept[f"forward {step}"] = y
        if scribble:
            _scrub(y)
            _scrub(x)
            _scrub(labels)
            labels = labels_for(spec.shape, seed + 2)
        dx = _backward(spec, layer, error, labels)
        record[f"backward {step}"] = np.array(dx, copy=True)
        kept[f"backward {step}"] = dx
        if scribble:
            _scrub(dx)
            _scrub(error)
        if spec.trainable and hasattr(layer, "get_gradient_weights"):
            record[f"gradient of the weights {step}"] = np.array(layer.get_gradient_weights())
            record[f"weights after step {step}"] = np.array(layer.weights, copy=True)
            record[f"bias after step {step}"] = np.array(layer.bias, copy=True)
    if not scribble:
        # Results the caller holds stay as they were returned.
        for key, value in kept.items():
            np.testing.assert_array_equal(
                value, record[key], err_msg=f"{key}: changed by a later call of the layer"
            )
    return record


def _aliasing(spec, package):
    clean = _session(spec, package, scribble=False)
    dirty = _session(spec, package, scribble=True)
    for key, value in clean.items():
        np.testing.assert_array_equal(
            dirty[key],
            value,
            err_msg=f"{key}: differs after writing into the arrays given to or returned by "
            f"the layer",
        )


def aliasing_probes():
    probes = []
    for pkg_label, package, spec in layer_specs():
        probes.append(
            Probe(
                f"{pkg_label}.{spec.name}.aliasing",
                lambda s=spec, p=package: _aliasing(s, p),
                f"{pkg_label}.{spec.name}",
            )
        )
    return probes


# ---------------------------------------------------------------------------
# Running in child processes
# ---------------------------------------------------------------------------

REGISTRIES = {"bad_calls": "bad_calls", "empty": "empty_probes", "aliasing": "aliasing_probes"}


def registry(name):
    """The calls or probes of one registry, by id."""
    if name == "selftest":
        return {p.id: p for p in selftest_probes()}
    if name == "bad_calls":
        items = bad_calls()
    else:
        items = globals()[REGISTRIES[name]]()
    return {item.id: item for item in items}


def selftest_probes():
    """Probes that crash, hang, raise and return: the runner must tell them apart."""

    def crash():
        os.abort()

    def hang():
        time.sleep(3600)

    def fail():
        raise ValueError("selftest: expected nothing, got something")

    return [
        Probe("selftest.return", lambda: None),
        Probe("selftest.crash", crash),
        Probe("selftest.hang", hang),
        Probe("selftest.raise", fail),
        Probe("selftest.after", lambda: 42),
    ]


def _execute(item):
    import fastlayers

    np.random.seed(0)
    try:
        result = item.run()
    except Exception as exc:  # every exception is a result here
        return {
            "outcome": "raised",
            "types": [k.__name__ for k in type(exc).__mro__],
            "message": str(exc)[:2000],
        }
    finally:
        # A wrong call that slipped through must not change the next one.
        fastlayers.set_default_dtype(np.float64)
    return {"outcome": "returned", "repr": repr(result)[:300]}


def child_main(registry_name, ids_path, out_path):
    """Run the ids listed in ``ids_path``, writing a start and a result line each."""
    items = registry(registry_name)
    with open(ids_path) as f:
        ids = json.load(f)
    with open(out_path, "a") as out:
        for cid in ids:
            out.write(json.dumps({"start": cid}) + "\n")
            out.flush()
            record = _execute(items[cid])
            record["id"] = cid
            out.write(json.dumps(record) + "\n")
            out.flush()


def _read(path):
    started, results = [], {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
                if "start" in record:
                    started.append(record["start"])
                else:
                    results[record["id"]] = record
    return started, results


def outcomes_fixture(registry_name, entries):
    """A module-scoped pytest fixture: :func:`run` of every entry of ``entries``, once."""
    import pytest  # not at the top: the children that run the calls have no use for it

    @pytest.fixture(scope="module")
    def outcomes():
        return run(registry_name, [entry.id for entry in entries])

    return outcomes


def check_returned(record):
    """Fail unless a probe's ``record`` says that it returned; say how it ended if not."""
    assert record["outcome"] == "returned", f"{record['outcome']}: {record.get('message')}"


def run(registry_name, ids, workers=2, stall=120.0):
    """Run ``ids`` of a registry in child processes; return ``{id: record}``.

    The ids are split into ``workers`` batches run at the same time.  A
    child that dies marks the call it was running as a crash, one that
    makes no progress for ``stall`` seconds (the first call may compile
    kernels) as a hang; either way the rest of its batch goes on in a new
    child.
    """
    env = dict(os.environ)
    env.setdefault("NUMBA_NUM_THREADS", "1")
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    results = {}
    tmp = tempfile.mkdtemp(prefix="bad_calls_")
    size = max(1, math.ceil(len(ids) / workers))
    pending = [list(ids[i : i + size]) for i in range(0, len(ids), size)]
    active = []
    counter = 0

    def launch(batch):
        nonlocal counter
        counter += 1
        ids_path = os.path.join(tmp, f"ids{counter}.json")
        out_path = os.path.join(tmp, f"out{counter}.jsonl")
        err_path = os.path.join(tmp, f"err{counter}.txt")
        with open(ids_path, "w") as f:
            json.dump(batch, f)
        # stderr goes to a file: a pipe nobody reads while the child runs
        # would block a child that writes much (warnings) and look like a hang.
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--child",
                    registry_name,
                    ids_path,
                    out_path,
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        active.append(
            {
                "proc": proc,
                "batch": batch,
                "out": out_path,
                "err": err_path,
                "lines": 0,
                "progress": time.monotonic(),
            }
        )

    for batch in pending:
        launch(batch)
    while active:
        time.sleep(0.05)
        for job in list(active):
            proc = job["proc"]
            started, done = _read(job["out"])
            if len(started) + len(done) != job["lines"]:
                job["lines"] = len(started) + len(done)
                job["progress"] = time.monotonic()
            finished = proc.poll() is not None
            hung = not finished and time.monotonic() - job["progress"] > stall
            if not (finished or hung):
                continue
            if hung:
                proc.kill()
                proc.wait()
            with open(job["err"], "rb") as err:
                stderr = err.read().decode(errors="replace")[-2000:]
            active.remove(job)
            results.update(done)
            unfinished = [cid for cid in started if cid not in done]
            if unfinished:
                culprit = unfinished[0]
                results[culprit] = {
                    "id": culprit,
                    "outcome": "hang" if hung else "crash",
                    "message": f"return code {proc.returncode}; {stderr}",
                }
            elif hung or (proc.returncode != 0 and not started):
                # Not pinned on a call: retrying would loop forever.
                shutil.rmtree(tmp, ignore_errors=True)
                raise RuntimeError(
                    f"bad-call runner: a child {'hung' if hung else 'failed'} outside any call "
                    f"(return code {proc.returncode}):\n{stderr}"
                )
            rest = [cid for cid in job["batch"] if cid not in results]
            if rest:
                launch(rest)
    shutil.rmtree(tmp, ignore_errors=True)
    return results


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------


def classify(item, record):
    """Return ``(verdict, detail)`` for a call's ``record``; verdict in :data:`VERDICTS`."""
    outcome = record["outcome"]
    if outcome in ("crash", "hang"):
        return outcome, record["message"]
    if outcome == "returned":
        return "silent", f"returned {record['repr']}"
    message = record["message"]
    types = record["types"]
    if not any(expected in types for expected in item.expected):
        return "wrong type", f"{types[0]}: {message}"
    missing = [
        f"{what} {alternatives}"
        for what, alternatives in (
            ("owner", item.owner),
            ("argument", item.arg),
            ("given", item.given),
        )
        if alternatives and not any(token in message for token in alternatives)
    ]
    if missing:
        return "unnamed message", f"{types[0]}: {message} (missing {'; '.join(missing)})"
    return "clear", message


def summary(results, items):
    """Counts per verdict and the failing calls, as printable text."""
    counts = {verdict: 0 for verdict in VERDICTS}
    failing = {}
    for item in items:
        verdict, detail = classify(item, results[item.id])
        counts[verdict] += 1
        if verdict != "clear":
            failing.setdefault((item.group, verdict), []).append((item.id, detail))
    lines = [f"{len(items)} wrong calls: " + ", ".join(f"{counts[v]} {v}" for v in VERDICTS)]
    for (group, verdict), entries in sorted(failing.items()):
        lines.append(f"\n## {group}: {verdict} ({len(entries)})")
        for cid, detail in entries:
            lines.append(f"- {cid}: {detail[:300]}")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        child_main(*sys.argv[2:5])
    elif sys.argv[1] == "--summary":
        calls = bad_calls()
        start = time.monotonic()
        outcomes = run("bad_calls", [c.id for c in calls])
        print(summary(outcomes, calls))
        print(f"\n({time.monotonic() - start:.1f} s)")
