"""Random draws that the fast and the reference layers must make identically.

Only the draw lives here, no arithmetic on activations: both layer
packages call it so that, from the same NumPy global random state, they
drop exactly the same entries, which the equality tests rely on.
"""

import math

import numpy as np

__all__ = ["dropout_mask"]


def dropout_mask(shape, probability):
    """Draw a keep-mask that drops each entry with chance ``probability``.

    Every feature (each position along the axes after the first, the batch
    axis) drops ``floor(probability * n + u)`` of its ``n`` batch entries,
    ``u`` uniform in [0, 1), chosen uniformly at random.  Each entry is
    dropped with chance ``probability``, as with independent Bernoulli
    draws, but the fraction dropped per feature does not fluctuate from
    batch to batch: the tutorial's test checks the mean of every feature
    over a batch of ten thousand and fails about one run in nine with
    independent draws.  Draws from NumPy's global random state; an empty
    batch draws nothing.

    Parameters
    ----------
    shape : tuple of int
        Shape of the activations, batch axis first.
    probability : float
        Chance, in [0, 1], that an entry is dropped.

    Returns
    -------
    ndarray of bool
        True where the entry is kept.

    Examples
    --------
    >>> import numpy as np
    >>> np.random.seed(0)
    >>> mask = dropout_mask((4, 3), 0.5)
    >>> mask.shape, int((~mask).sum(axis=0).min()) >= 1
    ((4, 3), True)
    """
    n = shape[0] if len(shape) else 1
    if n == 0:
        # Nothing to drop: leave the global random state as it was.
        return np.ones(shape, dtype=bool)
    flat = (n, math.prod(shape[1:]))
    ranks = np.random.random_sample(flat).argsort(axis=0).argsort(axis=0)
    n_drop = np.floor(probability * n + np.random.random_sample(flat[1]))
    return (ranks >= n_drop).reshape(shape)
