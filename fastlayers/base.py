"""The tutorial's layer base class and phase enumeration, and the base of the pooling layers."""

from ._validation import neighborhood_and_stride


def _enum(*sequential, **named):
    # The tutorial's own enum helper: Phase.train == 0, Phase.test == 1, ...
    # Kept as is so that code comparing against integers keeps working.
    enums = dict(zip(sequential, range(len(sequential))), **named)
    return type("Enum", (), enums)


Phase = _enum("train", "test", "validation")
"""Phase a layer is in: ``Phase.train``, ``Phase.test`` or ``Phase.validation``."""


class BaseLayer:
    """Base class of every layer: ``forward(x)`` and ``backward(error)``.

    ``forward`` computes the layer's output and keeps what ``backward``
    needs; ``backward`` receives the error with respect to the output,
    updates the layer's parameters (if any) and returns the error with
    respect to the input.
    """

    def __init__(self):
        self.phase = Phase.train

    def forward(self, x):
        """Return the output of the layer for input ``x``."""
        raise NotImplementedError("Base class - method is not implemented")

    def backward(self, error):
        """Update parameters and return the error with respect to the input."""
        raise NotImplementedError("Base class - method is not implemented")

    @property
    def name(self):
        """The class name, used in error messages."""
        return type(self).__name__


class PoolingLayer(BaseLayer):
    """Base of the pooling layers, fast and reference: their arguments and output shape.

    ``neighborhood`` and ``stride`` are checked as pairs of positive ints;
    ``_cache`` holds what ``forward`` keeps for ``backward`` (None before
    the first ``forward``).  No arithmetic on activations lives here, so
    the reference layers stay an independent check of the fast ones.
    """

    def __init__(self, neighborhood, stride):
        super().__init__()
        self.neighborhood, self.stride = neighborhood_and_stride(neighborhood, stride, self.name)
        self._cache = None

    def output_shape(self, input_shape):
        """Return the output shape ``(b, c, oh, ow)`` for an input of shape ``(b, c, h, w)``."""
        b, c, h, w = input_shape
        (py, px), (sy, sx) = self.neighborhood, self.stride
        return (b, c, (h - py) // sy + 1, (w - px) // sx + 1)
