"""The tutorial's layer base class and phase enumeration."""


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
