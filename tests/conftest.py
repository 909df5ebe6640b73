"""Fixtures shared by the test modules.

Helpers live in :mod:`tests.helpers`, brute-force oracles in
:mod:`tests.naive` and the table of layer cases in :mod:`tests.registry`.
"""

import numpy as np
import pytest

import fastlayers

GLOBAL_SEED = 20240611


@pytest.fixture
def rng():
    """A freshly seeded ``numpy.random.Generator`` for test data."""
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _isolate_global_state():
    """Seed NumPy's global random state and restore the default dtype.

    The initializers and ``DropOut`` draw from the global state, so seeding
    it makes every test reproducible on its own; a test that changes the
    default dtype must not leak it into the next one.
    """
    np.random.seed(GLOBAL_SEED)
    previous = fastlayers.get_default_dtype()
    yield
    fastlayers.set_default_dtype(previous)
