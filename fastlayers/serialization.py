"""Saving, loading and describing a network's parameters.

:func:`save_weights` and :func:`load_weights` store and restore the state
of any tutorial-style network in a ``.npz`` file; :func:`load_model`
rebuilds a saved :func:`fastlayers.models.lenet`::

    from fastlayers.models import lenet
    from fastlayers.serialization import load_model, save_weights

    net = lenet(seed=0)
    ...                                 # train it
    save_weights(net, "lenet.npz")
    net = load_model("lenet.npz")       # the same network, trained

What is saved of a layer is what it declares: the arrays named by its
``state_names`` (:class:`fastlayers.parameters.TrainableLayer` lists its
parameters, then its ``buffer_names`` such as BatchNorm's running
statistics).  Layers without ``state_names`` have no state.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "describe",
    "layer_arrays",
    "load_model",
    "load_weights",
    "save_weights",
]

_FORMAT = "fastlayers-weights"
_FORMAT_VERSION = 1
_META_KEY = "__fastlayers_meta__"


def _layers_of(net, owner):
    layers = getattr(net, "layers", None)
    if layers is None:
        raise TypeError(
            f"{owner}: expected a NeuralNetwork (an object with a 'layers' list), "
            f"got {type(net).__name__}"
        )
    return list(layers)


def _state_names(layer):
    return tuple(getattr(layer, "state_names", ()))


def _buffer_names(layer):
    return tuple(getattr(layer, "buffer_names", ()))


def layer_arrays(layer):
    """Return ``{name: array}`` of the state a layer declares, where set.

    That is every name of ``layer.state_names`` whose array is not None:
    ``weights`` and ``bias`` (only ``weights`` for the fully connected
    layer, whose bias is folded in), plus the running statistics of batch
    normalization once it has seen training data.  Layers without
    ``state_names`` give an empty dict.
    """
    if hasattr(layer, "state_arrays"):
        return {name: np.asarray(arr) for name, arr in layer.state_arrays().items()}
    arrays = {}
    for name in _state_names(layer):
        value = getattr(layer, name, None)
        if value is not None:
            arrays[name] = np.asarray(value)
    return arrays


def describe(net):
    """Return the architecture of ``net`` as a JSON-serialisable list.

    One entry per layer: its class name and the shapes and dtypes of its
    state arrays.  :func:`load_weights` compares it with the file's.
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
    """Save the state of ``net`` to a ``.npz`` file.

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
        raise ValueError(
            f"{owner}: {path} is not a readable .npz weights file ({error})"
        ) from error
    if not hasattr(loaded, "files"):
        raise ValueError(f"{owner}: {path} is a single .npy array, not a .npz weights file")
    try:
        with loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except Exception as error:
        raise ValueError(
            f"{owner}: {path} is not a readable .npz weights file ({error})"
        ) from error
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


def _assign(layer, name, arr):
    """Store one loaded array in ``layer``, converted as an assignment would be."""
    if hasattr(layer, "set_state_array"):
        layer.set_state_array(name, arr)
    else:
        setattr(layer, name, arr)


def load_weights(net, path, *, cast=True):
    """Load the state saved by :func:`save_weights` into ``net``.

    Everything is checked before anything is assigned, so a failed load
    leaves ``net`` unchanged.  Files are interchangeable between the fast
    and the reference layers (they have the same class names and shapes).

    Parameters
    ----------
    net : NeuralNetwork
        A network of the same architecture as the saved one.
    path : str or os.PathLike
    cast : bool, default True
        Convert stored float32/float64 arrays to the dtype of the array
        each replaces.  If False a dtype mismatch is an error.

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
        declared = _state_names(layer)
        buffers = _buffer_names(layer)
        stored_names = sorted(
            key.split(".", 1)[1] for key in arrays if key.split(".", 1)[0] == str(index)
        )
        # Buffers (running statistics) exist only once a layer has trained;
        # a file may carry them for a fresh layer, and a trained layer may
        # load a file written before its first training batch.
        needed = sorted(name for name in expected if name not in buffers)
        missing = [name for name in needed if name not in stored_names]
        if missing:
            raise ValueError(
                f"{owner}: {path} lacks {', '.join(missing)} of layer {index} ({entry['type']})"
            )
        for name in stored_names:
            arr = arrays[f"{index}.{name}"]
            # A declared array the layer has not created yet (BatchNorm's
            # parameters before its first forward) is taken as stored.
            if name not in declared:
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
        _assign(layer, name, arr)
    return meta


def load_model(path, *, backend="fast", dtype=None):
    """Rebuild a network saved with :func:`save_weights` and load its state.

    Works for networks built by :func:`fastlayers.models.lenet` (the file
    records its arguments).  For other networks build the architecture
    yourself and call :func:`load_weights`.

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
    # Imported here: models re-exports this module's functions.
    from .models import _backend_module, lenet

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
