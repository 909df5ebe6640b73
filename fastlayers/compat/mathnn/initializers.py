"""Weight initializers of the sheet: ``ffun`` for filter banks, ``wfun`` for dense layers."""

import numpy as np

__all__ = ["RandnAverage"]


class RandnAverage:
    """Normal weights of variance ``2 / (n_in + n_out)``: the average of fan-in and fan-out.

    Draws from NumPy's global random state.  A filter bank (m, c, fh, fw)
    has ``n_in = c * fh * fw`` and ``n_out = m * fh * fw``.
    """

    def ffun(self, m, c, fh, fw):
        """Filter bank of shape (m, c, fh, fw)."""
        n_in, n_out = c * fh * fw, m * fh * fw
        return np.random.randn(m, c, fh, fw) * np.sqrt(2.0 / (n_in + n_out))

    def wfun(self, n_in, n_out):
        """Dense weights of shape (n_in, n_out)."""
        return np.random.randn(n_in, n_out) * np.sqrt(2.0 / (n_in + n_out))

    def bfun(self, n_out):
        """Bias: zeros."""
        return np.zeros(n_out)
