"""Optimizers updating lists of parameter arrays in place: ``update(params, grads)``."""

import numpy as np

__all__ = ["SGD", "Adam"]


def _pairs(params, grads, owner):
    params, grads = list(params), list(grads)
    if len(params) != len(grads):
        raise ValueError(
            f"{owner}: expected as many gradients as parameters, got {len(grads)} and {len(params)}"
        )
    for p, g in zip(params, grads):
        if not isinstance(p, np.ndarray) or np.shape(g) != p.shape:
            raise ValueError(
                f"{owner}: expected parameter arrays and gradients of the same shape, "
                f"got {np.shape(p)} and {np.shape(g)}"
            )
    return zip(params, grads)


class SGD:
    """``p -= eta * g``."""

    def __init__(self, eta=0.01):
        self.eta = eta

    def update(self, params, grads):
        for p, g in _pairs(params, grads, "SGD"):
            p -= self.eta * g


class Adam:
    """Adam (Kingma and Ba) with bias correction; one state per parameter array."""

    def __init__(self, eta=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.eta = eta
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        # Keyed by the identity of the parameter array (updates are in place,
        # so it keeps it) and holding the array, so that the id cannot be
        # reused by another: one optimizer may serve several layers.
        self._state = {}

    def update(self, params, grads):
        for p, g in _pairs(params, grads, "Adam"):
            _, m, v, t = self._state.get(id(p), (p, 0.0, 0.0, 0))
            t += 1
            m = self.beta1 * m + (1.0 - self.beta1) * g
            v = self.beta2 * v + (1.0 - self.beta2) * g * g
            self._state[id(p)] = (p, m, v, t)
            m_hat = m / (1.0 - self.beta1**t)
            v_hat = v / (1.0 - self.beta2**t)
            p -= self.eta * m_hat / (np.sqrt(v_hat) + self.eps)
