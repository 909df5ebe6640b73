"""L1 and L2 weight regularizers (``calculate_gradient`` for the update, ``norm`` for the loss)."""

import numpy as np

__all__ = ["L1_Regularizer", "L2_Regularizer"]


class _Regularizer:
    """``alpha * sum(penalty(w))``, with the gradient ``alpha * derivative(w)``."""

    def __init__(self, alpha):
        self.alpha = alpha

    def calculate_gradient(self, weights):
        return self.alpha * self._derivative(weights)

    def norm(self, weights):
        return self.alpha * np.sum(self._penalty(weights))


class L2_Regularizer(_Regularizer):
    """``alpha * sum(w**2)``; its gradient as the exercise defines it is ``alpha * w``."""

    _penalty = staticmethod(np.square)
    _derivative = staticmethod(np.asarray)


class L1_Regularizer(_Regularizer):
    """``alpha * sum(|w|)``; gradient ``alpha * sign(w)``."""

    _penalty = staticmethod(np.abs)
    _derivative = staticmethod(np.sign)
