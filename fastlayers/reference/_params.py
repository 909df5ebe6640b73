"""Helpers for the trainable reference layers: parameter storage and dtypes."""

import numpy as np

from .._validation import as_float_array


def to_param(value, dtype, layer, what):
    """Return ``value`` as a new array of the layer's ``dtype``.

    A copy is taken on purpose: the layer never shares memory with an array
    the caller still holds, so neither side can change the other's values.

    Raises
    ------
    TypeError
        If ``value`` is not real numeric data.
    """
    arr = as_float_array(value, layer, what)
    return np.array(arr, dtype=dtype, copy=True)


def initialized(initializer, shape, layer, what):
    """Call ``initializer.initialize(shape)`` and return a float array.

    ``initializer`` may be an instance or a class with a static
    ``initialize`` (the tutorial's tests pass both).
    """
    if not hasattr(initializer, "initialize"):
        raise TypeError(
            f"{layer}: expected a {what} initializer with an initialize(shape) method, "
            f"got {initializer!r}"
        )
    return as_float_array(initializer.initialize(tuple(shape)), layer, what)


def compute_dtype(*arrays):
    """The dtype NumPy promotion gives for ``arrays`` (float32 or float64)."""
    return np.result_type(*arrays)


def sgd_step(param, grad, learning_rate, dtype):
    """Return ``param - learning_rate * grad`` as a new array of ``dtype``.

    A new array rather than an in-place update, so that an array the caller
    assigned (and may still hold) is never modified behind its back.
    """
    return np.asarray(param - float(learning_rate) * grad, dtype=dtype)


def positive_int(value, layer, name):
    """Return ``value`` as an int >= 1 (bools are rejected)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{layer}: expected {name} as a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{layer}: expected {name} of at least 1, got {value!r}")
    return int(value)
