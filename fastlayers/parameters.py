"""What every layer with parameters shares, fast or reference.

:class:`TrainableLayer` is the one base of the layers that own arrays:
the fast layers of :mod:`fastlayers.layers` and the reference layers of
:mod:`fastlayers.reference` both subclass it.  It holds no arithmetic on
activations, so the reference layers stay an independent check of the
fast ones; what it does own is

* storage: ``weights`` and ``bias`` as private copies, converted when they
  are assigned;
* the dtype policy (see below);
* the gradient getters of the tutorial's interface;
* the update at the end of ``backward``: the tutorial's plain step
  ``p -= learning_rate * grad`` or, once an optimizer is assigned,
  ``optimizer.update(name, p, grad)`` (:mod:`fastlayers.optimizers`);
* the declared list of arrays that make up the layer's state
  (:attr:`TrainableLayer.state_names`), which
  :mod:`fastlayers.serialization` saves and loads.

Dtypes
------
A layer's dtype is *explicit* when it was given: ``dtype=`` in the
constructor, :meth:`TrainableLayer.astype` or assigning ``dtype`` (which
``NeuralNetwork(dtype=...)`` does), or a float32 default from
:func:`fastlayers.set_default_dtype` / :func:`fastlayers.default_dtype` at
construction.  Every array assigned to an explicit-dtype layer is
converted to that dtype once, when it is assigned.  Otherwise the layer
follows the data: an assigned float32 or float64 array keeps its dtype
(float16 becomes float32, integers and booleans float64), and the layer
computes in NumPy's promotion of its input and its parameters, so float32
weights and bias with a float32 input compute in float32.
"""

import numpy as np

from ._validation import as_float_array, checked_property, real
from .base import BaseLayer
from .dtypes import float_dtype, get_default_dtype

__all__ = ["TrainableLayer"]

_FLOAT64 = np.dtype(np.float64)


def _explicit_default():
    """The default dtype if it was chosen, else None (the layer follows the data).

    float64 is the library's own default, so only another default counts
    as chosen by the user.
    """
    default = get_default_dtype()
    return None if default == _FLOAT64 else default


def _parameter(name, doc):
    """The property of parameter ``name``, stored as ``_<name>``.

    Assigning stores a converted copy (:meth:`TrainableLayer._as_param`)
    and updates the layer's dtype.
    """
    private = "_" + name

    def get(self):
        return getattr(self, private)

    def set(self, value):
        setattr(self, private, self._as_param(value, name))
        self._refresh_dtype()

    return property(get, set, doc=doc)


class TrainableLayer(BaseLayer):
    """Base of the layers that own ``weights`` and ``bias``.

    Parameters
    ----------
    learning_rate : float
        Step size of the plain gradient step taken at the end of
        ``backward``; a finite real number, at least 0.
    dtype : {None, numpy.float32, numpy.float64}, optional
        Explicit parameter dtype.  None: the float32 default when one was
        set (:func:`fastlayers.set_default_dtype`), otherwise the dtype of
        the arrays assigned (see the module notes).

    Attributes
    ----------
    buffer_names : tuple of str
        Arrays of the state that are not trained (BatchNorm's running
        statistics): saved, loaded and converted by ``dtype`` like the
        parameters, but never given to the optimizer.

    Notes
    -----
    For subclasses: parameter ``name`` is stored as ``_<name>`` and its
    gradient as ``_gradient_<name>``, for every name of
    ``_parameter_names``; ``_parameters()`` lists them as
    ``(name, array, gradient)`` and may be overridden (a layer that keeps
    its bias inside its weights lists the weights alone).  A subclass
    implements ``_backward(error, input_gradient)``: compute the gradients,
    call :meth:`_update`, and return the error with respect to the input,
    or None when ``input_gradient`` is False.
    """

    _parameter_names = ("weights", "bias")
    buffer_names = ()

    def __init__(self, learning_rate, dtype=None):
        super().__init__()
        self.learning_rate = learning_rate
        self._explicit = _explicit_default() if dtype is None else float_dtype(dtype, self.name)
        self._dtype = _FLOAT64 if self._explicit is None else self._explicit
        self._weights = None
        self._bias = None
        self._gradient_weights = None
        self._gradient_bias = None
        self._optimizer = None

    # -- hyperparameters ---------------------------------------------------

    learning_rate = checked_property(
        "learning_rate",
        lambda self, value: real(value, self.name, "learning_rate", low=0.0),
        "Step size of the plain gradient step (unused once an optimizer is set).",
    )

    @property
    def optimizer(self):
        """The optimizer applied at the end of ``backward``, or None for the plain step."""
        return self._optimizer

    @optimizer.setter
    def optimizer(self, value):
        if value is not None and not callable(getattr(value, "update", None)):
            raise TypeError(
                f"{self.name}: expected optimizer as an object with an "
                f"update(name, param, grad) method or None, got {value!r}"
            )
        self._optimizer = value

    # -- dtype -------------------------------------------------------------

    @property
    def dtype(self):
        """The float dtype of the parameters; assigning converts them and fixes it."""
        return self._dtype

    @dtype.setter
    def dtype(self, value):
        self._explicit = float_dtype(value, self.name)
        self._dtype = self._explicit
        for name in self.state_names:
            attr = self._storage(name)
            arr = getattr(self, attr, None)
            if arr is not None and arr.dtype != self._dtype:
                setattr(self, attr, arr.astype(self._dtype))

    def astype(self, dtype):
        """Convert the parameters to ``dtype`` in place and return the layer."""
        self.dtype = dtype
        return self

    def _storage(self, name):
        # Parameters live behind properties (``weights`` -> ``_weights``);
        # buffers are plain attributes.
        return name if name in self.buffer_names else "_" + name

    def _as_param(self, value, what):
        """``value`` as a new C-contiguous float array in the dtype it is stored in.

        A copy, so that the layer never shares memory with an array the
        caller still holds.
        """
        arr = as_float_array(value, self.name, what)
        dtype = arr.dtype if self._explicit is None else self._explicit
        return np.array(arr, dtype=dtype, order="C", copy=True)

    def _as_buffer(self, value, what):
        """``value`` as a new array in the layer's dtype (buffers follow the parameters)."""
        return np.array(as_float_array(value, self.name, what), dtype=self._dtype, copy=True)

    def _refresh_dtype(self):
        # Called after every assignment: a layer that follows the data
        # takes NumPy's promotion of its parameters' dtypes.
        if self._explicit is not None:
            self._dtype = self._explicit
            return
        arrays = [arr for _, arr, _ in self._parameters() if arr is not None]
        self._dtype = np.result_type(*arrays) if arrays else _FLOAT64

    def _compute_dtype(self, x):
        """The dtype of a pass on ``x``: NumPy's promotion of input and parameters."""
        return np.result_type(x.dtype, self._dtype)

    # -- parameters --------------------------------------------------------

    weights = _parameter("weights", "The weights; assigning stores a converted copy.")
    bias = _parameter("bias", "The bias; assigning stores a converted copy.")

    def get_gradient_weights(self):
        """Gradient w.r.t. the weights from the last ``backward`` (batch sum)."""
        return self._gradient_weights

    def get_gradient_bias(self):
        """Gradient w.r.t. the bias from the last ``backward`` (batch sum)."""
        return self._gradient_bias

    @property
    def gradient_weights(self):
        """Same as :meth:`get_gradient_weights`."""
        return self.get_gradient_weights()

    @property
    def gradient_bias(self):
        """Same as :meth:`get_gradient_bias`."""
        return self.get_gradient_bias()

    def _parameters(self):
        """(name, parameter, gradient) of every trainable array."""
        return tuple(
            (name, getattr(self, "_" + name), getattr(self, "_gradient_" + name))
            for name in self._parameter_names
        )

    # -- state ---------------------------------------------------------------

    @property
    def parameter_names(self):
        """Names of the trainable arrays, as the optimizer sees them."""
        return tuple(name for name, _, _ in self._parameters())

    @property
    def state_names(self):
        """Names of every array that defines the layer: parameters, then buffers."""
        return self.parameter_names + tuple(self.buffer_names)

    def state_arrays(self):
        """Return ``{name: array}`` of the state arrays that are set (not None).

        The arrays themselves, not copies.
        """
        arrays = {}
        for name in self.state_names:
            arr = getattr(self, self._storage(name))
            if arr is not None:
                arrays[name] = arr
        return arrays

    def set_state_array(self, name, value):
        """Assign one state array by name, converted as an assignment would.

        Raises
        ------
        ValueError
            If ``name`` is not one of :attr:`state_names`.
        """
        if name not in self.state_names:
            raise ValueError(
                f"{self.name}: expected a state array name in {self.state_names}, got {name!r}"
            )
        if name in self.buffer_names:
            setattr(self, name, self._as_buffer(value, name))
        else:
            setattr(self, name, value)

    # -- backward and the update ---------------------------------------------

    def backward(self, error):
        """Return the error w.r.t. the input and take a gradient step."""
        return self._backward(error, input_gradient=True)

    def backward_parameters(self, error):
        """Like :meth:`backward` but skip the error w.r.t. the input.

        For the first layer of a network, whose input needs no gradient;
        :class:`~fastlayers.NeuralNetwork` calls it there.  Returns None.
        """
        self._backward(error, input_gradient=False)

    def _backward(self, error, input_gradient):
        """Compute the gradients, update, and return the input error or None."""
        raise NotImplementedError("Base class - method is not implemented")

    def _update(self):
        """Apply the optimizer, or the plain step, to every parameter in place.

        Raises
        ------
        ValueError
            If a parameter was replaced by an array of another shape between
            ``forward`` and ``backward`` (checked whatever the learning rate).
        """
        for name, param, grad in self._parameters():
            if grad is not None and (param is None or param.shape != grad.shape):
                got = "None" if param is None else f"shape {param.shape}"
                raise ValueError(
                    f"{self.name}: expected {name} of shape {grad.shape}, the shape of the "
                    f"last forward, got {name} of {got} (assigned between forward and backward)"
                )
        optimizer = self._optimizer
        if optimizer is not None:
            for name, param, grad in self._parameters():
                if grad is not None:
                    optimizer.update(name, param, grad)
        elif self._learning_rate != 0.0:
            for _, param, grad in self._parameters():
                if grad is not None:
                    param -= self._learning_rate * grad
