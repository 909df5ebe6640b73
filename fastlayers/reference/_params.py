"""Helpers for the trainable reference layers: parameter storage and dtypes.

:class:`TrainableReference` is the base of the reference layers that own
``weights`` and ``bias``; the functions below are the checks and
conversions it and the layers use.
"""

import numpy as np

from .._validation import as_float_array
from ..base import BaseLayer
from ..dtypes import float_dtype, get_default_dtype


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


def with_doc(prop, doc):
    """Return the property ``prop`` with the docstring ``doc``.

    For a subclass that keeps an inherited property's behaviour but
    documents what it holds in that layer (``weights`` are a convolution's
    kernels, a batch norm's ``gamma``).
    """
    return property(prop.fget, prop.fset, prop.fdel, doc)


class TrainableReference(BaseLayer):
    """Base of the reference layers with parameters: storage, dtype and the SGD step.

    Parameters
    ----------
    learning_rate : float
        Step size of the SGD update; stored as given.
    dtype : {None, numpy.float32, numpy.float64}
        Parameter dtype; ``None`` takes :func:`fastlayers.dtypes.get_default_dtype`.

    Notes
    -----
    ``weights`` and ``bias`` are stored as ``_weights`` and ``_bias``;
    assigning either stores a copy in the layer's ``dtype``
    (:func:`to_param`).  A subclass's ``backward`` stores the gradients in
    ``_gradient_weights`` and ``_gradient_bias`` and then calls
    :meth:`_sgd_step`.
    """

    # Attributes holding arrays in the layer's dtype; assigning ``dtype``
    # converts those that are not None, in this order.
    _dtype_attrs = ("_weights", "_bias")

    def __init__(self, learning_rate, dtype):
        super().__init__()
        self.learning_rate = learning_rate
        self._dtype = float_dtype(get_default_dtype() if dtype is None else dtype, self.name)
        self._weights = None
        self._bias = None
        self._gradient_weights = None
        self._gradient_bias = None

    @property
    def dtype(self):
        """Dtype of the parameters; assigning converts them."""
        return self._dtype

    @dtype.setter
    def dtype(self, value):
        self._dtype = float_dtype(value, self.name)
        for attr in self._dtype_attrs:
            arr = getattr(self, attr)
            if arr is not None:
                setattr(self, attr, arr.astype(self._dtype))

    def astype(self, dtype):
        """Convert the parameters to ``dtype`` and return the layer."""
        self.dtype = dtype
        return self

    @property
    def weights(self):
        """The weights; assigning stores a copy in the layer's ``dtype``."""
        return self._weights

    @weights.setter
    def weights(self, value):
        self._weights = to_param(value, self._dtype, self.name, "weights")

    @property
    def bias(self):
        """The bias; assigning stores a copy in the layer's ``dtype``."""
        return self._bias

    @bias.setter
    def bias(self, value):
        self._bias = to_param(value, self._dtype, self.name, "bias")

    def get_gradient_weights(self):
        """Gradient w.r.t. ``weights`` from the last backward, summed over the batch."""
        return self._gradient_weights

    def get_gradient_bias(self):
        """Gradient w.r.t. ``bias`` from the last backward, summed over the batch."""
        return self._gradient_bias

    def _sgd_step(self):
        """Replace the parameters by one SGD step on the stored gradients.

        Builds new arrays (see :func:`sgd_step`).  The bias is stepped only
        if it has a gradient of its own: a layer that keeps its bias inside
        the weights leaves ``_gradient_bias`` None.
        """
        self._weights = sgd_step(
            self._weights, self._gradient_weights, self.learning_rate, self._dtype
        )
        if self._gradient_bias is not None:
            self._bias = sgd_step(self._bias, self._gradient_bias, self.learning_rate, self._dtype)
