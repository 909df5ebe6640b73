"""``BaseLayer``, and what the layers share.

:class:`KeepingLayer` serves the activations and ``Flatten``; the parameter
and optimizer handling serves the trainable layers.
"""

import copy

import numpy as np

from ... import _common

__all__ = ["BaseLayer"]


class BaseLayer:
    """Base of every layer: ``trainable`` and ``testing_phase`` start False."""

    def __init__(self):
        self.trainable = False
        self.testing_phase = False


class KeepingLayer(BaseLayer):
    """Base of the layers without parameters whose ``backward`` needs one thing from ``forward``.

    A subclass sets ``name`` (the start of its error messages) and ``kept``
    (the attribute that holds what ``forward`` keeps: the exercise's tests
    read ``activation`` and ``prediction``), and implements
    ``_forward(x) -> (output, kept)`` and ``_backward(error, kept)``.
    ``error_shape(kept)`` is the shape the error must have, None for any.
    """

    name = "KeepingLayer"
    kept = "_kept"

    def __init__(self):
        super().__init__()
        setattr(self, self.kept, None)

    def forward(self, input_tensor):
        output, kept = self._forward(_common.as_float(input_tensor, self.name))
        setattr(self, self.kept, kept)
        return output

    def backward(self, error_tensor):
        kept = getattr(self, self.kept)
        shape = None if kept is None else self.error_shape(kept)
        return self._backward(_common.checked_error(error_tensor, kept, self.name, shape), kept)

    def error_shape(self, kept):
        return None

    def _forward(self, x):
        raise NotImplementedError(f"{self.name}: forward is not implemented")

    def _backward(self, error, kept):
        raise NotImplementedError(f"{self.name}: backward is not implemented")


def parameter(attribute, doc=None):
    """A property over ``self._<attribute>`` whose setter converts to a float array.

    Any shape is accepted when assigned: the layer checks it when it runs.
    """
    private = "_" + attribute

    def get(self):
        return getattr(self, private)

    def set(self, value):
        setattr(self, private, _common.as_float(value, self.name, attribute))

    return property(get, set, doc=doc)


def gradient(attribute, doc=None, settable=True):
    """A property over ``self._<attribute>``, a gradient the last ``backward`` computed."""
    private = "_" + attribute

    def get(self):
        return getattr(self, private)

    def set(self, value):
        setattr(self, private, value)

    return property(get, set if settable else None, doc=doc)


def dense_weights(weights_initializer, bias_initializer, n_in, n_out):
    """Draw (n_in, n_out) weights (fans n_in and n_out) with the bias as an extra last row."""
    weights = np.asarray(
        weights_initializer.initialize((n_in, n_out), n_in, n_out), dtype=np.float64
    )
    bias = np.asarray(bias_initializer.initialize((1, n_out), 1, n_out), dtype=np.float64)
    return np.concatenate([weights.reshape(n_in, n_out), bias.reshape(1, n_out)], axis=0)


class TrainableLayer(BaseLayer):
    """A layer whose parameters an optimizer updates after each ``backward``.

    ``optimizer`` is the object assigned (None: ``backward`` computes the
    gradients but updates nothing).  Each parameter is updated by its own deep
    copy of it, taken at the parameter's first update, so that the state of
    Adam or momentum is never shared between parameters or layers, and a
    regularizer added to the assigned optimizer before training still counts.

    A subclass sets ``name`` (the start of its error messages) and either
    overrides ``backward`` or implements ``_backward(error_tensor,
    input_gradient)``, which may skip the error w.r.t. the input.
    """

    name = "TrainableLayer"

    def __init__(self):
        super().__init__()
        self.trainable = True
        self._optimizer = None
        self._parameter_optimizers = {}

    @property
    def optimizer(self):
        """The optimizer assigned to this layer, or None."""
        return self._optimizer

    @optimizer.setter
    def optimizer(self, value):
        self._optimizer = value
        self._parameter_optimizers = {}

    def backward(self, error_tensor):
        """Return the error w.r.t. the input; set the gradients, update if an optimizer is set."""
        return self._backward(error_tensor, True)

    def _backward(self, error_tensor, input_gradient):
        raise NotImplementedError(f"{self.name}: backward is not implemented")

    def _backward_parameters(self, error_tensor):
        # What NeuralNetwork.backward calls on its first layer: the error
        # w.r.t. the network's input is never used, so it is not computed.
        # A layer with a backward of its own must have it run as it is.
        if type(self).backward is not TrainableLayer.backward:
            self.backward(error_tensor)
        else:
            self._backward(error_tensor, False)

    def _updated(self, name, value, gradient):
        """Return ``value`` after one step of ``name``'s optimizer copy (unchanged without one)."""
        if self._optimizer is None:
            return value
        optimizer = self._parameter_optimizers.get(name)
        if optimizer is None:
            optimizer = copy.deepcopy(self._optimizer)
            self._parameter_optimizers[name] = optimizer
        return optimizer.calculate_update(value, gradient)

    def _step(self, attribute, gradient, value=None):
        """Replace ``self._<attribute>`` (or ``value``, its reshaped form) by its updated value."""
        private = "_" + attribute
        current = getattr(self, private) if value is None else value
        setattr(self, private, self._updated(attribute, current, gradient))

    def _check_shape(self, attribute, expected):
        """Raise ValueError unless the assigned ``attribute`` has the ``expected`` shape."""
        actual = getattr(self, "_" + attribute).shape
        if actual != expected:
            raise ValueError(
                f"{self.name}: expected {attribute} of shape {expected}, got shape {actual}"
            )

    def _rows(self, input_tensor, axis):
        """Return ``input_tensor`` as a float (``axis``, input_size) array."""
        x = _common.as_float(input_tensor, self.name)
        layout = f"({axis}, {self.input_size})"
        _common.check_ndim(x, 2, self.name, "input", layout)
        if x.shape[1] != self.input_size:
            raise ValueError(f"{self.name}: expected input of shape {layout}, got shape {x.shape}")
        return x

    def _row_error(self, error_tensor, x):
        """The error for the (rows, output_size) output of a forward on ``x`` (None: no forward)."""
        shape = None if x is None else (x.shape[0], self.output_size)
        return _common.checked_error(error_tensor, x, self.name, shape)

    def _regularization(self, *parameters):
        regularizer = getattr(self._optimizer, "regularizer", None)
        if regularizer is None:
            return 0.0
        return sum(regularizer.norm(p) for p in parameters)

    def calculate_regularization_loss(self):
        """The regularizer's norm of the weights (0 without a regularizer)."""
        return self._regularization(self.weights)
