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
        if self._output is None:
            raise RuntimeError("ReLU: backward called before forward")
        error = _common.as_float(error_tensor, "ReLU", "error_tensor")
        if error.shape != self._output.shape:
            raise ValueError(
                f"ReLU: expected error_tensor of shape {self._output.shape}, "
                f"got shape {error.shape}"
            )
        return F.relu_backward(error, self._output, caller="ReLU")
