"""``SoftMax``."""

import numpy as np

from ... import _common
from .Base import BaseLayer

__all__ = ["SoftMax"]


class SoftMax(BaseLayer):
    """Row-wise softmax of (batch, classes) scores, shifted by the row maximum."""

    def __init__(self):
        super().__init__()
        self.prediction = None

    def forward(self, input_tensor):
        x = _common.as_float(input_tensor, "SoftMax")
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        self.prediction = e / np.sum(e, axis=-1, keepdims=True)
        return self.prediction

    def backward(self, error_tensor):
        """``y * (E - sum(E * y))`` row by row."""
        error = _common.checked_error(error_tensor, self.prediction, "SoftMax")
        y = self.prediction
        return y * (error - np.sum(error * y, axis=-1, keepdims=True))
