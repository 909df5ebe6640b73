"""L1 and L2 weight regularizers (``calculate_gradient`` for the update, ``norm`` for the loss)."""

import numpy as np

__all__ = ["L1_Regularizer", "L2_Regularizer"]


class L2_Regularizer:
    """``alpha * sum(w**2)``; its gradient as the exercise defines it is ``alpha * w``."""

    def __init__(self, alpha):
        self.alpha = alpha

    def calculate_gradient(self, weights):
        return self.alpha * np.asarray(weights)

    def norm(self, weights):
        return self.alpha * np.sum(np.square(weights))


class L1_Regularizer:
    """``alpha * sum(|w|)``; gradient ``alpha * sign(w)``."""

    def __init__(self, alpha):
        self.alpha = alpha

    def calculate_gradient(self, weights):
        return self.alpha * np.sign(weights)

    def norm(self, weights):
        return self.alpha * np.sum(np.abs(weights))
