"""``ReLU``."""

from .... import functional as F
from ... import _common
from .Base import BaseLayer

__all__ = ["ReLU"]


class ReLU(BaseLayer):
    """``max(x, 0)``; the error passes where the output is positive."""

    def __init__(self):
        super().__init__()
        self._output = None

    def forward(self, input_tensor):
        self._output = F.relu(_common.as_float(input_tensor, "ReLU"), caller="ReLU")
        return self._output

    def backward(self, error_tensor):
        shape = None if self._output is None else self._output.shape
        error = _common.checked_error(error_tensor, self._output, "ReLU", shape)
        return F.relu_backward(error, self._output, caller="ReLU")
