"""Weight initializers with the tutorial's ``initialize(weight_shape)`` API.

Random initializers draw from NumPy's global random state
(``np.random.seed`` makes them reproducible), as the tutorial's tests
expect.  They return float64 arrays; layers convert them to their dtype.
"""

import numpy as np


class Initializer:
    """Base class: ``initialize(weight_shape)`` returns a new array."""

    def initialize(self, weight_shape):
        """Return a new array of shape ``weight_shape``."""
        raise NotImplementedError("Method is not implemented")

    def __repr__(self):
        return f"{type(self).__name__}()"


def _fans(weight_shape, name):
    shape = tuple(int(s) for s in weight_shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(
            f"{name}: expected a weight shape of at least 2 positive dimensions "
            f"(fan_out, fan_in, ...), got {weight_shape!r}"
        )
    return shape[0], shape[1]


class Const(Initializer):
    """Every weight set to ``value``.

    Parameters
    ----------
    value : float
    """

    def __init__(self, value):
        self.value = float(value)

    def initialize(self, weight_shape):
        return np.full(weight_shape, self.value, dtype=np.float64)

    def __repr__(self):
        return f"Const({self.value!r})"


class UniformRandom(Initializer):
    """Weights drawn uniformly from [0, 1)."""

    def initialize(self, weight_shape):
        return np.random.random_sample(weight_shape)


class He(Initializer):
    """He et al. (2015): normal with standard deviation ``sqrt(2 / fan_in)``.

    As in the tutorial, the second dimension of ``weight_shape`` is the
    number of inputs (fan-in); the layers ask for shapes laid out that way.
    """

    def initialize(self, weight_shape):
        _, fan_in = _fans(weight_shape, "He")
        return np.random.normal(0.0, np.sqrt(2.0 / fan_in), weight_shape)


class Xavier(Initializer):
    """Glorot and Bengio (2010): normal, std ``sqrt(2 / (fan_in + fan_out))``.

    ``weight_shape`` is laid out as (fan_out, fan_in, ...), as for :class:`He`.
    """

    def initialize(self, weight_shape):
        fan_out, fan_in = _fans(weight_shape, "Xavier")
        return np.random.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), weight_shape)


Glorot = Xavier
