"""``BatchNormalization`` over the channels of (batch, C) or (batch, C, H, W) inputs."""

import numpy as np

from ... import _common
from .Base import TrainableLayer, gradient, parameter

__all__ = ["BatchNormalization"]


class BatchNormalization(TrainableLayer):
    """Normalise each channel by the batch statistics, then scale by gamma and shift by beta.

    Parameters
    ----------
    channels : int

    Attributes
    ----------
    weights, bias : ndarray, shape (channels,)
        gamma (ones) and beta (zeros).
    running_mean, running_var : ndarray or None
        Set by the first training batch, then a moving average with
        ``momentum`` (0.8) of the batch statistics; used in the testing phase.
    epsilon : float
        1e-11, added to the variance.
    """

    name = "BatchNormalization"
    weights = parameter("weights")
    bias = parameter("bias")
    gradient_weights = gradient("gradient_weights")
    gradient_bias = gradient("gradient_bias")

    def __init__(self, channels):
        super().__init__()
        self.channels = _common.positive_int(channels, "BatchNormalization", "channels")
        self.momentum = 0.8
        self.epsilon = 1e-11
        self._weights = np.ones(self.channels)
        self._bias = np.zeros(self.channels)
        self._gradient_weights = None
        self._gradient_bias = None
        self.running_mean = None
        self.running_var = None
        self._image_shape = None
        self._cache = None

    def initialize(self, weights_initializer=None, bias_initializer=None):
        """Reset gamma to ones and beta to zeros (the initializers are not used)."""
        self._weights = np.ones(self.channels)
        self._bias = np.zeros(self.channels)

    def reformat(self, tensor):
        """(b, C, H, W) to (b*H*W, C), and (b*H*W, C) back to the last 4-D shape seen."""
        t = np.asarray(tensor)
        if t.ndim == 4:
            self._image_shape = t.shape
            b, c, h, w = t.shape
            return t.transpose(0, 2, 3, 1).reshape(b * h * w, c)
        if t.ndim == 2:
            if self._image_shape is None:
                raise ValueError(
                    "BatchNormalization: expected a 4-D tensor before reformatting a 2-D one back"
                )
            b, c, h, w = self._image_shape
            if t.shape != (b * h * w, c):
                raise ValueError(
                    f"BatchNormalization: expected a tensor of shape {(b * h * w, c)} to reformat, "
                    f"got shape {t.shape}"
                )
            return np.ascontiguousarray(t.reshape(b, h, w, c).transpose(0, 3, 1, 2))
        raise ValueError(f"BatchNormalization: expected a 2-D or 4-D tensor, got shape {t.shape}")

    def _vectors(self, tensor, name):
        t = _common.as_float(tensor, "BatchNormalization", name)
        if t.ndim == 4:
            image = True
            v = self.reformat(t)
        elif t.ndim == 2:
            image = False
            v = t
        else:
            raise ValueError(
                f"BatchNormalization: expected {name} of shape (batch, C) or (batch, C, H, W), "
                f"got shape {t.shape}"
            )
        if v.shape[1] != self.channels:
            raise ValueError(
                f"BatchNormalization: expected {name} with {self.channels} channels, "
                f"got shape {t.shape}"
            )
        return v, image

    def forward(self, input_tensor):
        x, image = self._vectors(input_tensor, "input")
        if self.testing_phase and self.running_mean is not None:
            mean, var = self.running_mean, self.running_var
        else:
            mean, var = x.mean(axis=0), x.var(axis=0)
        if not self.testing_phase:
            if self.running_mean is None:
                self.running_mean, self.running_var = mean.copy(), var.copy()
            else:
                self.running_mean = self.momentum * self.running_mean + (1.0 - self.momentum) * mean
                self.running_var = self.momentum * self.running_var + (1.0 - self.momentum) * var
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        x_hat = (x - mean) * inv_std
        self._cache = (x_hat, inv_std, self.testing_phase)
        y = self._weights * x_hat + self._bias
        return self.reformat(y) if image else y

    def backward(self, error_tensor):
        """Error w.r.t. the input (through the batch statistics in the training phase)."""
        if self._cache is None:
            raise RuntimeError("BatchNormalization: backward called before forward")
        error, image = self._vectors(error_tensor, "error_tensor")
        x_hat, inv_std, testing = self._cache
        if error.shape != x_hat.shape:
            raise ValueError(
                f"BatchNormalization: expected error_tensor with {x_hat.shape[0]} vectors, "
                f"got shape {error.shape}"
            )
        self._gradient_weights = np.sum(error * x_hat, axis=0)
        self._gradient_bias = np.sum(error, axis=0)
        g = error * self._weights
        if testing:
            dx = g * inv_std
        else:
            n = g.shape[0]
            dx = (inv_std / n) * (n * g - g.sum(axis=0) - x_hat * np.sum(g * x_hat, axis=0))
        self._step("weights", self._gradient_weights)
        self._step("bias", self._gradient_bias)
        return self.reformat(dx) if image else dx
