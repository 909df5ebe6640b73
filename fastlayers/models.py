"""Ready-made networks, and saving and loading a network's parameters.

:func:`lenet` builds the LeNet of the tutorial's last section on the fast
layers or on the reference layers; :func:`save_weights` and
:func:`load_weights` store and restore the parameters of any tutorial-style
network in a ``.npz`` file; :func:`load_model` rebuilds a saved LeNet::

    from fastlayers.models import lenet, save_weights, load_model

    net = lenet(seed=0)                 # float64, fast layers
    ...                                 # train it
    save_weights(net, "lenet.npz")
    net = load_model("lenet.npz")       # the same network, trained
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .dtypes import float_dtype
from .initializers import Const, He

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

_FORMAT = "fastlayers-weights"
_FORMAT_VERSION = 1
_META_KEY = "__fastlayers_meta__"
# Arrays besides weights and bias that a layer needs at test time.
_BUFFERS = ("running_mean", "running_var")


def _backend_module(backend, owner):
    if backend == "fast":
        import fastlayers

        return fastlayers
    if backend == "reference":
        from . import reference

        return reference
    raise ValueError(f"{owner}: expected backend 'fast' or 'reference', got {backend!r}")


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
        Seed for the random initial parameters.  The initializers draw from
        NumPy's global random state; with a seed it is seeded for the build
        and restored afterwards.  Without one the global state is used (and
        advanced) as it is.

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
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3:
        raise TypeError(
            f"{owner}: expected input_shape as (channels, height, width), got {input_shape!r}"
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

    saved_state = None
    if seed is not None:
        saved_state = np.random.get_state()
        np.random.seed(seed)
    try:
        net = module.NeuralNetwork(weights_initializer, bias_initializer, dtype=dtype)
        lr = learning_rate
        net.append_trainable_layer(
            module.ConvolutionalLayer((1, 1), (channels, 5, 5), 6, lr, dtype=dtype)
        )
        net.append_fixed_layer(module.ReLU())
        net.append_fixed_layer(module.MaxPoolLayer(neighborhood=(2, 2), stride=(2, 2)))
        net.append_trainable_layer(module.ConvolutionalLayer((1, 1), (6, 5, 5), 10, lr, dtype=dtype))
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
    finally:
        if saved_state is not None:
            np.random.set_state(saved_state)
    net.spec = {
        "model": "lenet",
        "n_classes": n_classes,
        "input_shape": [channels, height, width],
        "backend": backend,
        "dtype": dtype.name,
    }
    return net


# --------------------------------------------------------------------------
# Saving and loading parameters


def _layers_of(net, owner):
    layers = getattr(net, "layers", None)
    if layers is None:
        raise TypeError(
            f"{owner}: expected a NeuralNetwork (an object with a 'layers' list), "
            f"got {type(net).__name__}"
        )
    return list(layers)


def _bias_folded(layer):
    """True for the fully connected layers, whose bias is their weights' last row."""
    weights = getattr(layer, "weights", None)
    return (
        hasattr(layer, "input_size")
        and hasattr(layer, "output_size")
        and isinstance(weights, np.ndarray)
        and weights.shape == (layer.input_size + 1, layer.output_size)
    )


def layer_arrays(layer):
    """Return ``{name: array}`` of what defines a layer's state.

    That is ``weights`` and ``bias`` (only ``weights`` for the fully
    connected layer, whose bias is folded in) plus the running statistics
    of batch normalization once it has seen training data.  Layers without
    parameters give an empty dict.
    """
    arrays = {}
    if not (hasattr(layer, "weights") and hasattr(layer, "get_gradient_weights")):
        return arrays
    weights = layer.weights
    if weights is not None:
        arrays["weights"] = np.asarray(weights)
    if not _bias_folded(layer):
        bias = getattr(layer, "bias", None)
        if bias is not None:
            arrays["bias"] = np.asarray(bias)
    for name in _BUFFERS:
        value = getattr(layer, name, None)
        if value is not None:
            arrays[name] = np.asarray(value)
    return arrays


def describe(net):
    """Return the architecture of ``net`` as a JSON-serialisable list.

    One entry per layer: its class name and the shapes and dtypes of its
    parameters.  :func:`load_weights` compares it with the file's.
    """
    description = []
    for layer in _layers_of(net, "describe"):
        arrays = layer_arrays(layer)
        description.append(
            {
                "type": type(layer).__name__,
                "arrays": {
                    name: {"shape": list(arr.shape), "dtype": arr.dtype.name}
                    for name, arr in arrays.items()
                },
            }
        )
    return description


def save_weights(net, path):
    """Save the parameters of ``net`` to a ``.npz`` file.

    The file holds every layer's arrays (see :func:`layer_arrays`) under
    ``"<layer index>.<name>"`` and a JSON description of the architecture
    (layer types, array shapes and dtypes, and ``net.spec`` if present), so
    that loading into a different network fails with a clear message.  It
    is written to a temporary file first and then renamed, so an existing
    file is never left half-written.

    Parameters
    ----------
    net : NeuralNetwork
    path : str or os.PathLike
        Destination, used exactly as given (no suffix is appended).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    from . import __version__

    layers = _layers_of(net, "save_weights")
    path = Path(path)
    arrays = {}
    for index, layer in enumerate(layers):
        for name, arr in layer_arrays(layer).items():
            arrays[f"{index}.{name}"] = arr
    meta = {
        "format": _FORMAT,
        "version": _FORMAT_VERSION,
        "fastlayers_version": __version__,
        "layers": describe(net),
        "loss_layer": None if net.loss_layer is None else type(net.loss_layer).__name__,
        "spec": getattr(net, "spec", None),
    }
    arrays[_META_KEY] = np.array(json.dumps(meta))
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _read(path, owner):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{owner}: no weights file at {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as error:  # zipfile.BadZipFile, ValueError, OSError, EOFError...
        raise ValueError(f"{owner}: {path} is not a readable .npz weights file ({error})") from error
    if not hasattr(loaded, "files"):
        raise ValueError(f"{owner}: {path} is a single .npy array, not a .npz weights file")
    try:
        with loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except Exception as error:
        raise ValueError(f"{owner}: {path} is not a readable .npz weights file ({error})") from error
    meta_raw = arrays.pop(_META_KEY, None)
    if meta_raw is None:
        raise ValueError(
            f"{owner}: {path} has no fastlayers metadata; it was not written by save_weights"
        )
    try:
        meta = json.loads(str(meta_raw[()]))
    except (ValueError, TypeError) as error:
        raise ValueError(f"{owner}: {path} has unreadable metadata ({error})") from error
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{owner}: {path} is not a fastlayers weights file")
    if meta.get("version") != _FORMAT_VERSION:
        raise ValueError(
            f"{owner}: {path} uses weights format version {meta.get('version')!r}; "
            f"this fastlayers reads version {_FORMAT_VERSION}"
        )
    return meta, arrays


def _summary(layers):
    return ", ".join(entry["type"] for entry in layers)


def load_weights(net, path, *, cast=True):
    """Load parameters saved by :func:`save_weights` into ``net``.

    Everything is checked before anything is assigned, so a failed load
    leaves ``net`` unchanged.  Files are interchangeable between the fast
    and the reference layers (they have the same class names and shapes).

    Parameters
    ----------
    net : NeuralNetwork
        A network of the same architecture as the saved one.
    path : str or os.PathLike
    cast : bool, default True
        Convert stored float32/float64 arrays to each layer's dtype.  If
        False a dtype mismatch is an error.

    Returns
    -------
    dict
        The file's metadata (``layers``, ``spec``, ``fastlayers_version``...).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a fastlayers weights file, or its layer types,
        array names, shapes or dtypes do not match ``net``.
    """
    owner = "load_weights"
    layers = _layers_of(net, owner)
    meta, arrays = _read(path, owner)
    saved = meta.get("layers", [])
    current = describe(net)
    if [entry.get("type") for entry in saved] != [entry["type"] for entry in current]:
        raise ValueError(
            f"{owner}: {path} holds a network of {len(saved)} layers ({_summary(saved)}); "
            f"the network to load into has {len(current)} layers ({_summary(current)})"
        )
    assignments = []
    for index, (layer, entry) in enumerate(zip(layers, current)):
        expected = entry["arrays"]
        stored_names = sorted(
            key.split(".", 1)[1] for key in arrays if key.split(".", 1)[0] == str(index)
        )
        # Running statistics exist only once a layer has trained; a file may
        # carry them for a fresh layer, and a trained layer may load a file
        # written before its first training batch.
        needed = sorted(name for name in expected if name not in _BUFFERS)
        missing = [name for name in needed if name not in stored_names]
        if missing:
            raise ValueError(
                f"{owner}: {path} lacks {', '.join(missing)} of layer {index} "
                f"({entry['type']})"
            )
        for name in stored_names:
            arr = arrays[f"{index}.{name}"]
            # Parameters created on the first forward (BatchNorm) may be absent
            # from a fresh layer; they are then taken as stored.
            lazy = name in ("weights", "bias") and getattr(layer, name, None) is None
            if name not in expected and name not in _BUFFERS and not lazy:
                raise ValueError(
                    f"{owner}: {path} holds {name!r} for layer {index} ({entry['type']}), "
                    "which has no such parameter"
                )
            if arr.dtype.kind != "f":
                raise ValueError(
                    f"{owner}: {name} of layer {index} ({entry['type']}) in {path} has dtype "
                    f"{arr.dtype}; expected float32 or float64"
                )
            if name in expected:
                want_shape = tuple(expected[name]["shape"])
                want_dtype = np.dtype(expected[name]["dtype"])
                if arr.shape != want_shape:
                    raise ValueError(
                        f"{owner}: {name} of layer {index} ({entry['type']}) has shape "
                        f"{arr.shape} in {path}, but the network's has shape {want_shape}"
                    )
                if not cast and arr.dtype != want_dtype:
                    raise ValueError(
                        f"{owner}: {name} of layer {index} ({entry['type']}) is {arr.dtype} in "
                        f"{path}, but the network's is {want_dtype} (pass cast=True to convert)"
                    )
                arr = arr.astype(want_dtype, copy=True)
            assignments.append((layer, name, arr))
    for layer, name, arr in assignments:
        if name in _BUFFERS or getattr(layer, name, None) is None:
            layer_dtype = getattr(layer, "dtype", arr.dtype)
            arr = arr.astype(layer_dtype, copy=False)
            setattr(layer, name, arr if name in _BUFFERS else arr.copy())
        else:
            setattr(layer, name, arr)
    return meta


def load_model(path, *, backend="fast", dtype=None):
    """Rebuild a network saved with :func:`save_weights` and load its parameters.

    Works for networks built by :func:`lenet` (the file records its
    arguments).  For other networks build the architecture yourself and
    call :func:`load_weights`.

    Parameters
    ----------
    path : str or os.PathLike
    backend : {"fast", "reference"}, default "fast"
    dtype : float32 or float64, optional
        Default: the dtype the network was saved in.

    Returns
    -------
    NeuralNetwork
    """
    owner = "load_model"
    _backend_module(backend, owner)
    meta, _ = _read(path, owner)
    spec = meta.get("spec")
    if not isinstance(spec, dict) or spec.get("model") != "lenet":
        raise ValueError(
            f"{owner}: {path} does not record a network built by fastlayers.models.lenet; "
            "build the network yourself and use load_weights"
        )
    net = lenet(
        spec["n_classes"],
        backend=backend,
        dtype=spec["dtype"] if dtype is None else dtype,
        input_shape=tuple(spec["input_shape"]),
        seed=0,
    )
    load_weights(net, path)
    return net
