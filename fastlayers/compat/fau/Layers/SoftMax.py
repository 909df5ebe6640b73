"""``SoftMax``."""

import numpy as np

from .Base import KeepingLayer

__all__ = ["SoftMax"]


class SoftMax(KeepingLayer):
    """Row-wise softmax of (batch, classes) scores, shifted by the row maximum."""

    name = "SoftMax"
    kept = "prediction"

    def _forward(self, x):
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        y = e / np.sum(e, axis=-1, keepdims=True)
        return y, y

    def _backward(self, error, y):
        """``y * (E - sum(E * y))`` row by row."""
        return y * (error - np.sum(error * y, axis=-1, keepdims=True))
