"""``Flatten``."""

from ... import _common
from .Base import BaseLayer

__all__ = ["Flatten"]


class Flatten(BaseLayer):
    """(batch, ...) to (batch, product of the rest); ``backward`` restores the shape."""

    def __init__(self):
        super().__init__()
        self._shape = None

    def forward(self, input_tensor):
        x = _common.as_float(input_tensor, "Flatten")
        if x.ndim < 1:
            raise ValueError(f"Flatten: expected an input with a batch axis, got shape {x.shape}")
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, error_tensor):
        return _common.checked_error(error_tensor, self._shape, "Flatten").reshape(self._shape)
