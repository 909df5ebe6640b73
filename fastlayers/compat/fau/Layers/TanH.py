"""``TanH``."""

import numpy as np

from ... import _common
from .Base import BaseLayer

__all__ = ["TanH"]


class TanH(BaseLayer):
    """``tanh(x)``; keeps its output as ``activation`` for the backward pass."""

    def __init__(self):
        super().__init__()
        self.activation = None

    def forward(self, input_tensor):
        self.activation = np.tanh(_common.as_float(input_tensor, "TanH"))
        return self.activation

    def backward(self, error_tensor):
        error = _common.checked_error(error_tensor, self.activation, "TanH")
        return error * (1.0 - self.activation**2)
