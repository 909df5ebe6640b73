"""Fixtures and helpers shared by the test modules."""

import numpy as np
import pytest

import fastlayers

# Relative tolerances by dtype: float64 results agree with an independent
# computation to rounding of a handful of operations, float32 ones to ~1e-7
# per operation accumulated over short sums.
RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}

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


def tolerance(dtype):
    """Return the relative tolerance used for results of ``dtype``."""
    return RTOL[np.dtype(dtype)]


def assert_close(actual, expected, dtype=np.float64):
    """Assert ``actual`` equals ``expected`` up to the tolerance of ``dtype``.

    The absolute tolerance is the relative one times the largest magnitude
    in ``expected``, so entries that cancel to near zero are judged on the
    scale of the whole array rather than on their own.

    Parameters
    ----------
    actual, expected : array_like
    dtype : dtype
        float32 or float64: the precision ``actual`` was computed in.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    rtol = tolerance(dtype)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def numerical_gradient(f, x, eps=1e-6, indices=None):
    """Central-difference gradient of a scalar function.

    Parameters
    ----------
    f : callable
        ``f(array) -> float``; called with perturbed float64 copies of ``x``.
    x : ndarray
        Point at which to differentiate; not modified.
    eps : float
        Step of the central difference.
    indices : iterable of tuple, optional
        Multi-indices to differentiate along; all of ``x`` by default.

    Returns
    -------
    ndarray
        Array of ``x``'s shape (float64); entries not in ``indices`` are 0.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    if indices is None:
        indices = np.ndindex(*x.shape)
    for index in indices:
        index = tuple(index)
        original = x[index]
        x[index] = original + eps
        upper = f(x.copy())
        x[index] = original - eps
        lower = f(x.copy())
        x[index] = original
        grad[index] = (upper - lower) / (2 * eps)
    return grad


def relative_error(actual, expected):
    """Return ``||actual - expected|| / ||expected||`` (Frobenius norms)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


def one_hot(labels, classes):
    """Return float64 one-hot rows for integer ``labels``."""
    out = np.zeros((len(labels), classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out
