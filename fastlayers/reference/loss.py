"""Softmax followed by cross-entropy, as one loss layer."""

import numpy as np

from .._validation import as_float_array, called_before, check_empty_axes, check_ndim, check_shape
from ..base import BaseLayer


class SoftMaxCrossEntropyLoss(BaseLayer):
    """Cross-entropy of the row-wise softmax, summed over the batch.

    Labels are one-hot rows of the same shape as the input.  An empty batch
    ``(0, classes)`` has loss 0.0 and an empty gradient.
    """

    def __init__(self):
        super().__init__()
        self._prediction = None

    def forward(self, x, labels):
        """Return ``sum_b -log softmax(x)[b, true class]`` as a float."""
        x = self._logits(x)
        labels = self._labels(labels, x)
        shifted = x - np.max(x, axis=1, keepdims=True)
        # log-softmax instead of log(softmax + eps): no epsilon bias, and
        # no -inf when the true class's probability underflows.
        log_prob = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        self._prediction = np.exp(log_prob)
        # 0.0 - sum rather than -sum: an empty batch costs +0.0, not -0.0.
        return float(0.0 - np.sum(labels * log_prob))

    def backward(self, labels):
        """Return ``softmax(x) - labels`` (gradient of the summed loss)."""
        called_before(self._prediction, self.name)
        labels = self._labels(labels, self._prediction)
        return self._prediction - labels

    def predict(self, x):
        """Return the row-wise softmax of ``x``."""
        x = self._logits(x)
        e = np.exp(x - np.max(x, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)

    def _logits(self, x):
        x = as_float_array(x, self.name)
        check_ndim(x, 2, self.name, "input", "(batch, classes)")
        check_empty_axes(x, self.name)
        return x

    def _labels(self, labels, like):
        labels = as_float_array(labels, self.name, "labels")
        check_shape(labels, like.shape, self.name, "labels")
        return labels
