"""Optimizers with the exercise's ``calculate_update(weight_tensor, gradient_tensor)``.

Each returns the updated tensor (a new array; scalars work too).  With a
regularizer added, its gradient at the weights *before* the step, times the
learning rate, is subtracted as well.
"""

import numbers

import numpy as np

__all__ = ["Optimizer", "Sgd", "SgdWithMomentum", "Adam"]


def _rate(value, owner, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: expected {name} as a number, got {value!r}")
    return value


class Optimizer:
    """Base class: holds an optional ``regularizer`` (see :meth:`add_regularizer`)."""

    def __init__(self):
        self.regularizer = None

    def add_regularizer(self, regularizer):
        """Use ``regularizer`` (an object with ``calculate_gradient`` and ``norm``)."""
        self.regularizer = regularizer

    def _shrinkage(self, weight_tensor):
        if self.regularizer is None:
            return 0.0
        return self.learning_rate * self.regularizer.calculate_gradient(weight_tensor)

    def calculate_update(self, weight_tensor, gradient_tensor):
        raise NotImplementedError("Optimizer: calculate_update is implemented by the subclasses")


class Sgd(Optimizer):
    """``w - learning_rate * g``."""

    def __init__(self, learning_rate):
        super().__init__()
        self.learning_rate = _rate(learning_rate, "Sgd", "learning_rate")

    def calculate_update(self, weight_tensor, gradient_tensor):
        w = np.asarray(weight_tensor)
        return w - self.learning_rate * np.asarray(gradient_tensor) - self._shrinkage(w)


class SgdWithMomentum(Optimizer):
    """``v = momentum_rate * v - learning_rate * g``; ``w + v`` (v starts at 0)."""

    def __init__(self, learning_rate, momentum_rate):
        super().__init__()
        self.learning_rate = _rate(learning_rate, "SgdWithMomentum", "learning_rate")
        self.momentum_rate = _rate(momentum_rate, "SgdWithMomentum", "momentum_rate")
        self.v = 0.0

    def calculate_update(self, weight_tensor, gradient_tensor):
        w = np.asarray(weight_tensor)
        self.v = self.momentum_rate * self.v - self.learning_rate * np.asarray(gradient_tensor)
        return w + self.v - self._shrinkage(w)


class Adam(Optimizer):
    """Adam with bias correction: ``mu`` and ``rho`` are beta1 and beta2, eps = 1e-8."""

    def __init__(self, learning_rate, mu, rho):
        super().__init__()
        self.learning_rate = _rate(learning_rate, "Adam", "learning_rate")
        self.mu = _rate(mu, "Adam", "mu")
        self.rho = _rate(rho, "Adam", "rho")
        self.eps = 1e-8
        self.v = 0.0
        self.r = 0.0
        self.k = 0

    def calculate_update(self, weight_tensor, gradient_tensor):
        w = np.asarray(weight_tensor)
        g = np.asarray(gradient_tensor)
        self.k += 1
        self.v = self.mu * self.v + (1.0 - self.mu) * g
        self.r = self.rho * self.r + (1.0 - self.rho) * g * g
        v_hat = self.v / (1.0 - self.mu**self.k)
        r_hat = self.r / (1.0 - self.rho**self.k)
        return w - self.learning_rate * v_hat / (np.sqrt(r_hat) + self.eps) - self._shrinkage(w)
