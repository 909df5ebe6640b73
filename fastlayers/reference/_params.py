"""Argument helpers of the reference layers.

Parameter storage, dtypes and the update are those of every layer with
parameters (:class:`fastlayers.parameters.TrainableLayer`); what is left
here are the checks and conversions only the reference layers use.
"""

import numpy as np

from .._validation import as_float_array, integer
from ..initializers import check_initializer


def initialized(initializer, shape, layer, what):
    """Call ``initializer.initialize(shape)`` and return a float array.

    ``initializer`` may be an instance or a class with a static
    ``initialize`` (the tutorial's tests pass both); anything else, a
    class such as ``He`` without its parentheses included, is a
    ``TypeError`` naming the layer and the argument ``<what>_initializer``.
    """
    check_initializer(initializer, layer, f"{what}_initializer")
    return as_float_array(initializer.initialize(tuple(shape)), layer, what)


def compute_dtype(*arrays):
    """The dtype NumPy promotion gives for ``arrays`` (float32 or float64)."""
    return np.result_type(*arrays)


def positive_int(value, layer, name):
    """Return ``value`` as an int from 1 to the largest size the layers accept."""
    return integer(value, layer, name, minimum=1)


def with_doc(prop, doc):
    """Return the property ``prop`` with the docstring ``doc``.

    For a subclass that keeps an inherited property's behaviour but
    documents what it holds in that layer (``weights`` are a convolution's
    kernels, a batch norm's ``gamma``).
    """
    return property(prop.fget, prop.fset, prop.fdel, doc)
