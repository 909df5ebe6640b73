"""Optimizers for the trainable layers: SGD, SGD with momentum, and Adam.

A layer with parameters takes a gradient step at the end of ``backward``.
By default that is the tutorial's plain step ``p -= learning_rate * grad``
with the layer's own ``learning_rate``.  Assigning an optimizer replaces
it::

    from fastlayers.optimizers import Adam, set_optimizer

    set_optimizer(net, Adam(1e-3))      # every trainable layer gets its own copy
    layer.optimizer = Adam(1e-3)        # or one layer at a time
    set_optimizer(net, None)            # back to the tutorial's plain step

An optimizer keeps state (momentum, moment estimates) per parameter name
(``"weights"``, ``"bias"``), so each layer needs an instance of its own:
:func:`set_optimizer` hands out copies (:meth:`Optimizer.copy`), and an
instance refuses parameters whose shape differs from the state it holds.

Learning rate and batch size
----------------------------
The layers compute gradients of the loss *summed* over the batch, the
tutorial's convention.  An optimizer applies its learning rate to
whatever gradient it receives.  :class:`fastlayers.training.Trainer`
divides the loss gradient by the batch size by default
(``reduction="mean"``), so with the trainer the learning rates below are
per-sample-mean learning rates, as in most deep-learning libraries, and do
not need retuning when the batch size changes.  With the tutorial's own
``NeuralNetwork.train`` the gradient is the batch sum, so the effective
step grows with the batch size.

The fast layers (:mod:`fastlayers.layers`) and the reference layers
(:mod:`fastlayers.reference`) share this hook: both call an assigned
optimizer at the end of ``backward``
(:class:`fastlayers.parameters.TrainableLayer`).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._validation import as_array, checked_property, describe
from .parameters import TrainableLayer

__all__ = [
    "Adam",
    "Optimizer",
    "SGD",
    "check_optimizer_hooks",
    "set_optimizer",
    "trainable_layers",
]


def _real(owner, name, value, *, minimum=None, below=None, above=None):
    """Validate a real hyperparameter and return it as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: expected {name} as a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: expected a finite {name}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: expected {name} >= {minimum}, got {value!r}")
    if above is not None and value <= above:
        raise ValueError(f"{owner}: expected {name} > {above}, got {value!r}")
    if below is not None and value >= below:
        raise ValueError(f"{owner}: expected {name} < {below}, got {value!r}")
    return value


class Optimizer:
    """Base class: updates parameters in place from their gradients.

    Subclasses implement :meth:`_step`; :meth:`update` validates the
    arrays and manages the per-parameter state.

    Parameters
    ----------
    learning_rate : float
        Step size, at least 0.
    weight_decay : float, default 0
        L2 penalty coefficient, at least 0: ``weight_decay * param`` is
        added to the gradient.  It applies to every parameter, biases
        included (the fully connected layer stores its bias as a row of
        its weights).

    Attributes
    ----------
    state : dict
        Per parameter name, a dict of the arrays and counters the method
        keeps.  Empty until the first :meth:`update`.
    """

    def __init__(self, learning_rate, weight_decay=0.0):
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.state = {}

    learning_rate = checked_property(
        "learning_rate",
        lambda self, value: _real(self._owner, "learning_rate", value, minimum=0.0),
        "Step size; may be changed between updates (e.g. a schedule).",
    )
    weight_decay = checked_property(
        "weight_decay",
        lambda self, value: _real(self._owner, "weight_decay", value, minimum=0.0),
        "L2 penalty coefficient.",
    )

    @property
    def _owner(self):
        return type(self).__name__

    # The keyword arguments of the constructor, in its order.
    _config_names = ("learning_rate", "weight_decay")

    def get_config(self):
        """Return the hyperparameters as a dict of keyword arguments."""
        return {name: getattr(self, name) for name in self._config_names}

    def copy(self):
        """Return a new optimizer with the same hyperparameters and no state."""
        return type(self)(**self.get_config())

    def reset(self):
        """Forget all state, as if no update had happened."""
        self.state = {}

    def update(self, name, param, grad):
        """Update ``param`` in place from ``grad``.

        Parameters
        ----------
        name : str
            Name of the parameter within its layer (``"weights"``,
            ``"bias"``); state is kept per name.
        param : numpy.ndarray
            Writeable float array, changed in place.
        grad : array_like
            Gradient of the same shape; converted to ``param``'s dtype.

        Raises
        ------
        TypeError
            If ``param`` is not a writeable float array.
        ValueError
            If the shapes differ, or the state held for ``name`` belongs to
            a parameter of another shape (one instance shared by several
            layers: give each its own with :meth:`copy`).
        """
        if not isinstance(name, str):
            raise TypeError(f"{self._owner}: expected the parameter name as a str, got {name!r}")
        if not isinstance(param, np.ndarray) or param.dtype.kind != "f":
            raise TypeError(
                f"{self._owner}: expected {name!r} as a float numpy array, "
                f"got {type(param).__name__}"
                + (f" of dtype {param.dtype}" if isinstance(param, np.ndarray) else "")
            )
        if not param.flags.writeable:
            raise TypeError(
                f"{self._owner}: parameter {name!r} is read-only; cannot update it in place"
            )
        if type(grad) is not np.ndarray:  # an array needs no conversion, nor its message
            grad = as_array(
                grad,
                f"{self._owner}: expected the gradient of {name!r} as an array, "
                "got a ragged nested sequence",
            )
        if grad.dtype.kind not in "fiu":
            raise TypeError(
                f"{self._owner}: expected a real gradient for {name!r}, got dtype {grad.dtype}"
            )
        if grad.shape != param.shape:
            raise ValueError(
                f"{self._owner}: gradient of {name!r} has shape {grad.shape}, "
                f"expected the parameter's shape {param.shape}"
            )
        state = self.state.get(name)
        if state is None:
            state = self.state[name] = {"shape": param.shape, "step": 0}
        elif state["shape"] != param.shape:
            raise ValueError(
                f"{self._owner}: holds state for a {name!r} of shape {state['shape']}, "
                f"got one of shape {param.shape}; each layer needs its own optimizer "
                f"(use optimizer.copy() or fastlayers.optimizers.set_optimizer)"
            )
        state["step"] += 1
        self._step(state, param, grad.astype(param.dtype, copy=False))

    def _step(self, state, param, grad):
        raise NotImplementedError

    def _decayed(self, param, grad):
        if self.weight_decay:
            return grad + self.weight_decay * param
        return grad

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self._owner}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    With no momentum and no weight decay the update is exactly the
    tutorial's ``param -= learning_rate * grad``.  Momentum follows the
    common formulation (as in PyTorch)::

        g = grad + weight_decay * param
        v = momentum * v + g            (v = g at the first step)
        param -= learning_rate * (g + momentum * v  if nesterov else  v)

    Parameters
    ----------
    learning_rate : float
        Step size, at least 0.
    momentum : float, default 0
        In ``[0, 1)``.
    weight_decay : float, default 0
        L2 penalty coefficient, at least 0.
    nesterov : bool, default False
        Use Nesterov momentum; requires ``momentum > 0``.
    """

    def __init__(self, learning_rate, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(learning_rate, weight_decay)
        self.momentum = _real("SGD", "momentum", momentum, minimum=0.0, below=1.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: expected nesterov as a bool, got {nesterov!r}")
        if nesterov and self.momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")
        self.nesterov = bool(nesterov)

    _config_names = ("learning_rate", "momentum", "weight_decay", "nesterov")

    def _step(self, state, param, grad):
        grad = self._decayed(param, grad)
        if self.momentum:
            velocity = state.get("velocity")
            if velocity is None:
                velocity = state["velocity"] = grad.copy()
            else:
                velocity *= self.momentum
                velocity += grad
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        param -= self.learning_rate * grad


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with bias-corrected moment estimates.

    ::

        g = grad + weight_decay * param          (unless decoupled)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        param -= learning_rate * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + epsilon)

    With ``decoupled=True`` the weight decay is applied to the parameter
    directly, ``param -= learning_rate * weight_decay * param``, before the
    Adam step (AdamW, Loshchilov & Hutter, 2019).

    Parameters
    ----------
    learning_rate : float, default 1e-3
    beta1 : float, default 0.9
        In ``[0, 1)``.
    beta2 : float, default 0.999
        In ``[0, 1)``.
    epsilon : float, default 1e-8
        Greater than 0.
    weight_decay : float, default 0
        At least 0.
    decoupled : bool, default False
        Decoupled weight decay (AdamW) instead of an L2 term in the gradient.
    """

    def __init__(
        self,
        learning_rate=1e-3,
        beta1=0.9,
        beta2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        decoupled=False,
    ):
        super().__init__(learning_rate, weight_decay)
        self.beta1 = _real("Adam", "beta1", beta1, minimum=0.0, below=1.0)
        self.beta2 = _real("Adam", "beta2", beta2, minimum=0.0, below=1.0)
        self.epsilon = _real("Adam", "epsilon", epsilon, above=0.0)
        if not isinstance(decoupled, (bool, np.bool_)):
            raise TypeError(f"Adam: expected decoupled as a bool, got {decoupled!r}")
        self.decoupled = bool(decoupled)

    _config_names = ("learning_rate", "beta1", "beta2", "epsilon", "weight_decay", "decoupled")

    def _step(self, state, param, grad):
        if self.decoupled:
            if self.weight_decay:
                param *= 1.0 - self.learning_rate * self.weight_decay
        else:
            grad = self._decayed(param, grad)
        m = state.get("m")
        if m is None:
            m = state["m"] = np.zeros_like(param)
            state["v"] = np.zeros_like(param)
        v = state["v"]
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        v += (1.0 - self.beta2) * (grad * grad)
        t = state["step"]
        m_hat = m / (1.0 - self.beta1**t)
        v_hat = v / (1.0 - self.beta2**t)
        param -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)


def trainable_layers(net_or_layers, owner="trainable_layers"):
    """Return the layers with parameters of a network, a list of layers or one layer.

    A layer counts as trainable if it has ``weights`` and
    ``get_gradient_weights()``, the tutorial's interface.

    Raises
    ------
    TypeError
        If ``net_or_layers`` is none of the three (a number, None, ...).
    """
    layers = getattr(net_or_layers, "layers", net_or_layers)
    if isinstance(layers, (str, bytes)):
        layers = None
    elif callable(getattr(layers, "forward", None)):
        layers = [layers]
    else:
        try:
            layers = list(layers)
        except TypeError:
            layers = None
    if layers is None:
        raise TypeError(
            f"{owner}: expected net_or_layers as a NeuralNetwork, an iterable of layers or "
            f"a layer, got {describe(net_or_layers)}"
        )
    return [
        layer
        for layer in layers
        if hasattr(layer, "weights") and callable(getattr(layer, "get_gradient_weights", None))
    ]


def set_optimizer(net_or_layers, optimizer):
    """Give every trainable layer its own copy of ``optimizer``.

    Parameters
    ----------
    net_or_layers : NeuralNetwork or iterable of layers
    optimizer : Optimizer, callable or None
        An :class:`Optimizer` is copied for each layer (:meth:`Optimizer.copy`);
        a callable is called once per layer with no arguments and must
        return a fresh optimizer; None restores the tutorial's plain SGD
        step with each layer's ``learning_rate``.

    Returns
    -------
    list
        The layers that were given an optimizer.

    Raises
    ------
    TypeError
        If ``optimizer`` is none of the above, or a layer with the
        tutorial's parameter interface is not a
        :class:`fastlayers.parameters.TrainableLayer` (a layer class of your
        own), which would ignore the optimizer.
    """
    factory = _factory(optimizer, "set_optimizer")
    layers = trainable_layers(net_or_layers, "set_optimizer")
    check_optimizer_hooks(layers, "set_optimizer")
    for layer in layers:
        layer.optimizer = factory()
    return layers


def check_optimizer_hooks(layers, owner):
    """Raise ``TypeError`` unless every layer of ``layers`` applies ``layer.optimizer``.

    The hook is that of :class:`fastlayers.parameters.TrainableLayer`, the
    base of every fastlayers layer with parameters; a layer class of one's
    own with ``weights`` and ``get_gradient_weights`` but another base
    would silently keep its own update.
    """
    for layer in layers:
        if not isinstance(layer, TrainableLayer):
            raise TypeError(
                f"{owner}: expected layers with the optimizer hook of "
                "fastlayers.parameters.TrainableLayer, got "
                f"{type(layer).__module__}.{type(layer).__name__}, which would ignore "
                "the optimizer (derive it from TrainableLayer)"
            )


def _factory(optimizer, owner):
    """Return a zero-argument callable producing a fresh optimizer (or None)."""
    if optimizer is None:
        return lambda: None
    if isinstance(optimizer, Optimizer):
        return optimizer.copy
    if callable(optimizer) and not hasattr(optimizer, "update"):

        def make():
            made = optimizer()
            if not hasattr(made, "update"):
                raise TypeError(
                    f"{owner}: the optimizer factory returned {made!r}, "
                    "which has no update(name, param, grad) method"
                )
            return made

        return make
    if hasattr(optimizer, "update") and hasattr(optimizer, "copy"):
        return optimizer.copy
    raise TypeError(
        f"{owner}: expected an Optimizer, a callable returning one, or None, got {optimizer!r}"
    )
