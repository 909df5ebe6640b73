"""Ready-made networks: the tutorial's LeNet.

:func:`lenet` builds the LeNet of the tutorial's last section on the fast
layers or on the reference layers::

    from fastlayers.models import lenet

    net = lenet(seed=0)                 # float64, fast layers

Saving and loading live in :mod:`fastlayers.serialization`;
:func:`save_weights`, :func:`load_weights`, :func:`load_model`,
:func:`describe` and :func:`layer_arrays` are importable from here too.
"""

from __future__ import annotations

import numpy as np

from ._validation import items_of
from .dtypes import float_dtype
from .initializers import Const, He, UniformRandom, Xavier
from .serialization import describe, layer_arrays, load_model, load_weights, save_weights

__all__ = [
    "BACKENDS",
    "describe",
    "layer_arrays",
    "lenet",
    "load_model",
    "load_weights",
    "save_weights",
]

#: Names accepted by the ``backend`` argument.
BACKENDS = ("fast", "reference")


def _backend_module(backend, owner):
    if backend == "fast":
        import fastlayers

        return fastlayers
    if backend == "reference":
        from . import reference

        return reference
    raise ValueError(f"{owner}: expected backend 'fast' or 'reference', got {backend!r}")


class _Drawn:
    """An initializer's draw, made from a ``numpy.random.Generator``.

    The initializers draw from NumPy's global random state, because the
    tutorial's tests reseed it; a seeded build must not touch that shared
    state (another thread may be drawing from it), so the distributions of
    the built-in initializers are drawn here from a generator of its own.
    """

    def __init__(self, template, rng, name):
        if type(template) not in (Const, UniformRandom, He, Xavier):
            raise TypeError(
                f"lenet: expected {name} Const, UniformRandom, He or Xavier with a seed "
                f"(their draws are made from numpy.random.default_rng(seed)), got {template!r}; "
                "pass seed=None to use another initializer"
            )
        self.template = template
        self.rng = rng

    def initialize(self, weight_shape):
        shape = tuple(weight_shape)
        kind = type(self.template)
        if kind is Const:
            return np.full(shape, self.template.value, dtype=np.float64)
        if kind is UniformRandom:
            return self.rng.random(shape)
        # He and Xavier read (fan_out, fan_in, ...), as the layers ask for.
        fan_out, fan_in = shape[0], shape[1]
        variance = 2.0 / fan_in if kind is He else 2.0 / (fan_in + fan_out)
        return self.rng.normal(0.0, np.sqrt(variance), shape)


def _positive_int(value, owner, name, minimum=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: expected {name} as an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: expected {name} of at least {minimum}, got {value!r}")
    return int(value)


def lenet(
    n_classes=10,
    *,
    backend="fast",
    dtype=np.float64,
    learning_rate=0.001,
    weights_initializer=None,
    bias_initializer=None,
    input_shape=(1, 28, 28),
    seed=None,
):
    """Build the tutorial's LeNet.

    Two convolutions with 5x5 kernels ("same" padding) and 6 and 10
    filters, each followed by ReLU and 2x2 max pooling with stride 2;
    then fully connected layers of 120, 84 and ``n_classes`` outputs, the
    first two followed by ReLU; loss :class:`~fastlayers.SoftMaxCrossEntropyLoss`.
    The network is assembled the way the tutorial's ``build()`` does it,
    with ``append_trainable_layer`` / ``append_fixed_layer``.

    Parameters
    ----------
    n_classes : int, default 10
        Number of outputs.
    backend : {"fast", "reference"}, default "fast"
        Build on :mod:`fastlayers.layers` (numba kernels) or on
        :mod:`fastlayers.reference` (SciPy loops, slow).  The network is
        the backend's ``NeuralNetwork``.  With the same ``seed`` both
        backends start from identical parameters.
    dtype : float32 or float64, default float64
        Dtype of the parameters; feed inputs of the same dtype to compute
        in it.
    learning_rate : float, default 0.001
        Each layer's learning rate for the tutorial's plain SGD step (the
        tutorial's value).  Unused once an optimizer is assigned.
    weights_initializer, bias_initializer : Initializer, optional
        Default :class:`~fastlayers.He` and ``Const(0.1)``, as in the tutorial.
    input_shape : (int, int, int), default (1, 28, 28)
        Channels, height and width of one input image; height and width
        at least 4.
    seed : int, optional
        Seed for the random initial parameters, drawn from a
        ``numpy.random.default_rng(seed)`` of this call alone: the same
        seed gives the same network, also when several threads build at
        once, whatever NumPy's global random state holds.  The
        initializers must then be ``Const``, ``UniformRandom``, ``He`` or
        ``Xavier`` (their draws are made from that generator).  Without a
        seed the initializers draw from NumPy's global random state, as in
        the tutorial.  Either way, constructing the fully connected layers
        advances the global state (their constructor fills the weights
        before the network initializes them).

    Returns
    -------
    NeuralNetwork
        With ``loss_layer`` set and ``data_layer`` None.  Its ``spec``
        attribute records the arguments, so :func:`save_weights` can store
        them and :func:`load_model` rebuild the network.
    """
    owner = "lenet"
    module = _backend_module(backend, owner)
    n_classes = _positive_int(n_classes, owner, "n_classes")
    dtype = float_dtype(dtype, owner)
    shape = items_of(
        input_shape,
        3,
        f"{owner}: expected input_shape as (channels, height, width), got {input_shape!r}",
    )
    channels = _positive_int(shape[0], owner, "input_shape[0] (channels)")
    height = _positive_int(shape[1], owner, "input_shape[1] (height)", minimum=4)
    width = _positive_int(shape[2], owner, "input_shape[2] (width)", minimum=4)
    if isinstance(learning_rate, (bool, np.bool_)) or not isinstance(
        learning_rate, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{owner}: expected learning_rate as a number, got {learning_rate!r}")
    learning_rate = float(learning_rate)
    if seed is not None:
        _positive_int(seed, owner, "seed", minimum=0)
    weights_initializer = He() if weights_initializer is None else weights_initializer
    bias_initializer = Const(0.1) if bias_initializer is None else bias_initializer

    if seed is None:
        draw_weights, draw_bias = weights_initializer, bias_initializer
        # The constructor's own fill is replaced when the layer is appended.
        conv_init = {}
    else:
        rng = np.random.default_rng(seed)
        draw_weights = _Drawn(weights_initializer, rng, "weights_initializer")
        draw_bias = _Drawn(bias_initializer, rng, "bias_initializer")
        # A constant fill: the constructor draws nothing from the global state.
        conv_init = {"weights_initializer": Const(0.0), "bias_initializer": Const(0.0)}
    net = module.NeuralNetwork(draw_weights, draw_bias, dtype=dtype)
    lr = learning_rate
    net.append_trainable_layer(
        module.ConvolutionalLayer((1, 1), (channels, 5, 5), 6, lr, dtype=dtype, **conv_init)
    )
    net.append_fixed_layer(module.ReLU())
    net.append_fixed_layer(module.MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2)))
    net.append_trainable_layer(
        module.ConvolutionalLayer((1, 1), (6, 5, 5), 10, lr, dtype=dtype, **conv_init)
    )
    net.append_fixed_layer(module.ReLU())
    net.append_fixed_layer(module.MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2)))
    net.append_fixed_layer(module.FlattenLayer())
    flat = 10 * (height // 2 // 2) * (width // 2 // 2)
    net.append_trainable_layer(module.FullyConnectedLayer(flat, 120, lr, dtype=dtype))
    net.append_fixed_layer(module.ReLU())
    net.append_trainable_layer(module.FullyConnectedLayer(120, 84, lr, dtype=dtype))
    net.append_fixed_layer(module.ReLU())
    net.append_trainable_layer(module.FullyConnectedLayer(84, n_classes, lr, dtype=dtype))
    net.loss_layer = module.SoftMaxCrossEntropyLoss()
    # Layers appended later are initialized as the caller asked, not from the generator.
    net.weights_initializer = weights_initializer
    net.bias_initializer = bias_initializer
    net.spec = {
        "model": "lenet",
        "n_classes": n_classes,
        "input_shape": [channels, height, width],
        "backend": backend,
        "dtype": dtype.name,
    }
    return net
