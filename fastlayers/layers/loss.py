"""Softmax combined with the cross-entropy loss."""

import numpy as np

from .._validation import (
    as_float_array,
    called_before,
    check_empty_axes,
    check_ndim,
    check_shape,
)
from ..base import BaseLayer


class SoftMaxCrossEntropyLoss(BaseLayer):
    """Softmax over the last axis followed by the cross-entropy loss.

    ``forward(x, labels)`` returns the loss summed over the batch (the
    tutorial's convention; divide by the batch size for a mean), with
    ``labels`` one-hot of the same shape as ``x``.  ``backward(labels)``
    returns ``softmax(x) - labels``, the exact gradient of that sum.  An
    empty batch (0, k) has loss 0.0 and an empty gradient; zero classes are
    an error.
    """

    def __init__(self):
        super().__init__()
        self._prediction = None

    def _check(self, x, what):
        x = as_float_array(x, self.name, what)
        check_ndim(x, 2, self.name, what, "(batch, classes)")
        check_empty_axes(x, self.name, what)
        return x

    def predict(self, x):
        """Row-wise softmax of ``x`` (b, k)."""
        x = self._check(x, "input")
        shifted = x - x.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)

    def forward(self, x, labels):
        """Return the summed cross-entropy of ``softmax(x)`` against ``labels``."""
        x = self._check(x, "input")
        labels = self._check(labels, "labels")
        check_shape(labels, x.shape, self.name, "labels")
        shifted = x - x.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        self._prediction = exp / total
        # log-softmax instead of log(softmax): no epsilon is needed and a
        # confident wrong answer still costs its full loss.
        log_prob = shifted - np.log(total)
        # A wrong class at -inf has probability 0 and costs nothing; without
        # the where, its 0 * -inf would make the loss NaN.
        # 0.0 - sum rather than -sum: an empty batch costs +0.0, not -0.0.
        return float(0.0 - np.sum(labels * np.where(labels != 0, log_prob, 0.0)))

    def backward(self, labels):
        """Return ``softmax(x) - labels`` for the ``x`` of the last forward."""
        called_before(self._prediction, self.name)
        labels = self._check(labels, "labels")
        check_shape(labels, self._prediction.shape, self.name, "labels")
        return self._prediction - labels
