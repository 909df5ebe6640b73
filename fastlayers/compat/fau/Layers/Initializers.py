"""Initializers with the exercise's ``initialize(weights_shape, fan_in, fan_out)``.

The random ones draw from NumPy's global random state, so that
``np.random.seed`` makes them reproducible.
"""

import numpy as np

__all__ = ["Constant", "UniformRandom", "Xavier", "He"]


def _fan(value, owner, name):
    if value is None or value <= 0:
        raise ValueError(f"{owner}: expected a positive {name}, got {value!r}")
    return value


class Constant:
    """Every weight set to ``value`` (default 0.1)."""

    def __init__(self, value=0.1):
        self.value = value

    def initialize(self, weights_shape, fan_in=None, fan_out=None):
        return np.full(weights_shape, self.value, dtype=np.float64)


class UniformRandom:
    """Uniform on [0, 1)."""

    def initialize(self, weights_shape, fan_in=None, fan_out=None):
        return np.random.uniform(0.0, 1.0, weights_shape)


class Xavier:
    """Normal with standard deviation ``sqrt(2 / (fan_in + fan_out))``."""

    def initialize(self, weights_shape, fan_in, fan_out):
        scale = np.sqrt(
            2.0 / (_fan(fan_in, "Xavier", "fan_in") + _fan(fan_out, "Xavier", "fan_out"))
        )
        return np.random.normal(0.0, scale, weights_shape)


class He:
    """Normal with standard deviation ``sqrt(2 / fan_in)``."""

    def initialize(self, weights_shape, fan_in, fan_out=None):
        return np.random.normal(0.0, np.sqrt(2.0 / _fan(fan_in, "He", "fan_in")), weights_shape)
