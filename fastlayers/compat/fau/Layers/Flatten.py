"""``Flatten``."""

from .Base import KeepingLayer

__all__ = ["Flatten"]


class Flatten(KeepingLayer):
    """(batch, ...) to (batch, product of the rest); ``backward`` restores the shape."""

    name = "Flatten"
    kept = "_shape"

    def _forward(self, x):
        if x.ndim < 1:
            raise ValueError(f"Flatten: expected an input with a batch axis, got shape {x.shape}")
        return x.reshape(x.shape[0], -1), x.shape

    def _backward(self, error, shape):
        return error.reshape(shape)
