"""``BaseLayer``, and the optimizer handling shared by the trainable layers."""

import copy

__all__ = ["BaseLayer"]


class BaseLayer:
    """Base of every layer: ``trainable`` and ``testing_phase`` start False."""

    def __init__(self):
        self.trainable = False
        self.testing_phase = False


class TrainableLayer(BaseLayer):
    """A layer whose parameters an optimizer updates after each ``backward``.

    ``optimizer`` is the object assigned (None: ``backward`` computes the
    gradients but updates nothing).  Each parameter is updated by its own deep
    copy of it, taken at the parameter's first update, so that the state of
    Adam or momentum is never shared between parameters or layers, and a
    regularizer added to the assigned optimizer before training still counts.
    """

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

    def _updated(self, name, value, gradient):
        """Return ``value`` after one step of ``name``'s optimizer copy (unchanged without one)."""
        if self._optimizer is None:
            return value
        optimizer = self._parameter_optimizers.get(name)
        if optimizer is None:
            optimizer = copy.deepcopy(self._optimizer)
            self._parameter_optimizers[name] = optimizer
        return optimizer.calculate_update(value, gradient)

    def _regularization(self, *parameters):
        regularizer = getattr(self._optimizer, "regularizer", None)
        if regularizer is None:
            return 0.0
        return sum(regularizer.norm(p) for p in parameters)

    def calculate_regularization_loss(self):
        """The regularizer's norm of the weights (0 without a regularizer)."""
        return self._regularization(self.weights)
