"""Argument checks shared by the compat packages."""

import numbers

import numpy as np

from .._validation import describe


def as_float(value, owner, name="input"):
    """Return ``value`` as a float array: float32/float64 kept, ints and bools as float64.

    Raises
    ------
    TypeError
        For complex, object, string or otherwise non-real data.
    """
    array = np.asarray(value)
    if array.dtype.kind in "biu":
        return array.astype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError(f"{owner}: expected {name} as a real array, got {describe(value)}")
    if array.dtype not in (np.float32, np.float64):
        return array.astype(np.float64)
    return array


def check_ndim(array, ndim, owner, name, layout):
    """Raise ValueError unless ``array`` has ``ndim`` dimensions."""
    if array.ndim != ndim:
        raise ValueError(f"{owner}: expected {name} of shape {layout}, got shape {array.shape}")


def checked_error(error_tensor, saved, owner, shape=None):
    """Return ``error_tensor`` as a float array for a layer's backward pass.

    ``saved`` is what the forward pass kept (None: no forward has run yet);
    ``shape``, when given, is the shape the error must have.

    Raises
    ------
    RuntimeError
        Before any forward pass.
    ValueError
        For an error of another shape than ``shape``.
    """
    if saved is None:
        raise RuntimeError(f"{owner}: backward called before forward")
    error = as_float(error_tensor, owner, "error_tensor")
    if shape is not None and error.shape != tuple(shape):
        raise ValueError(
            f"{owner}: expected error_tensor of shape {tuple(shape)}, got shape {error.shape}"
        )
    return error


def propagate_back(layers, error, method, first_method):
    """Pass ``error`` back through ``layers``, last to first, with each one's ``method``.

    The error w.r.t. the network's input is discarded, so the first layer
    is called through ``first_method`` (parameter gradients only) when it
    has one.
    """
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        if index == 0 and hasattr(layer, first_method):
            getattr(layer, first_method)(error)
        else:
            error = getattr(layer, method)(error)


def positive_int(value, owner, name):
    """Return ``value`` as an int of at least 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: expected {name} as an int, got {describe(value)}")
    if value < 1:
        raise ValueError(f"{owner}: expected {name} of at least 1, got {value}")
    return int(value)


def _ints(length):
    return (
        "an int or a sequence of one int"
        if length == 1
        else f"an int or a sequence of {length} ints"
    )


def int_tuple(value, length, owner, name):
    """Return ``value`` (an int or a sequence of ints) as a tuple of ``length`` positive ints.

    An int, or a sequence holding a single int, is repeated ``length`` times.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        items = (value,) * length
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(
                f"{owner}: expected {name} as {_ints(length)}, got {describe(value)}"
            ) from None
        if len(items) == 1:
            items = items * length
    if len(items) != length or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items
    ):
        raise TypeError(f"{owner}: expected {name} as {_ints(length)}, got {describe(value)}")
    if min(items) < 1:
        raise ValueError(f"{owner}: expected {name} entries of at least 1, got {describe(value)}")
    return tuple(int(v) for v in items)
