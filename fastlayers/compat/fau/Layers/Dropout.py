"""``Dropout`` with the exercise's *keep* probability (inverted dropout)."""

import numbers

import numpy as np

from ... import _common
from .Base import BaseLayer

__all__ = ["Dropout"]


class Dropout(BaseLayer):
    """Keep each activation with ``probability`` and scale the kept ones by ``1 / probability``.

    The mask comes from NumPy's global random state.  In the testing phase
    both passes are the identity.
    """

    def __init__(self, probability):
        super().__init__()
        if isinstance(probability, bool) or not isinstance(probability, numbers.Real):
            raise TypeError(f"Dropout: expected probability as a number, got {probability!r}")
        if not 0.0 < probability <= 1.0:
            raise ValueError(f"Dropout: expected a keep probability in (0, 1], got {probability!r}")
        self.probability = probability
        self._mask = None

    def forward(self, input_tensor):
        x = _common.as_float(input_tensor, "Dropout")
        if self.testing_phase:
            self._mask = None
            return x
        self._mask = np.random.random_sample(x.shape) < self.probability
        return x * self._mask / self.probability

    def backward(self, error_tensor):
        error = _common.as_float(error_tensor, "Dropout", "error_tensor")
        if self.testing_phase or self._mask is None:
            return error
        return error * self._mask / self.probability
