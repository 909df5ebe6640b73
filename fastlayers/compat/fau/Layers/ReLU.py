"""``ReLU``."""

from .... import functional as F
from .Base import KeepingLayer

__all__ = ["ReLU"]


class ReLU(KeepingLayer):
    """``max(x, 0)``; the error passes where the output is positive."""

    name = "ReLU"
    kept = "_output"

    def _forward(self, x):
        y = F.relu(x, caller=self.name)
        return y, y

    def error_shape(self, kept):
        return kept.shape

    def _backward(self, error, kept):
        return F.relu_backward(error, kept, caller=self.name)
