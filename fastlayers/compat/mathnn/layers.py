"""``Conv2DLayer``, ``Pool2DLayer``, ``FlattenLayer`` and ``DenseLayer`` of the sheet."""

import numpy as np

from ... import functional as F
from .._common import as_float, check_ndim, int_tuple, positive_int
from .activations import ReLU
from .initializers import RandnAverage
from .optimizers import SGD

__all__ = ["Conv2DLayer", "Pool2DLayer", "FlattenLayer", "DenseLayer"]


class Conv2DLayer:
    """``Z(i, j) = b(j) + sum_k A(i, k) * F(j, k)`` ("valid" convolution), ``A_new = afun(Z)``.

    Parameters
    ----------
    tensor : (c, h, w)
        Channels, height and width of the input images.
    fshape : (m, fh, fw)
        ``m`` filters of ``fh`` by ``fw``.
    afun : activation, default ReLU()
    optim : optimizer, default SGD()
    initializer : default RandnAverage()

    Attributes
    ----------
    f : ndarray, shape (m, c, fh, fw)
        The filter bank: ``initializer.ffun(m, c, fh, fw) * afun.factor``.
    b : ndarray, shape (m,)
        Zeros at first.
    df, db : ndarray
        Gradients of the last ``backprop`` (sums over the batch).

    Notes
    -----
    ``*`` is ``scipy.signal.convolve2d(..., mode="valid")``: a true
    convolution, the kernel flipped in both axes.  The fast kernels
    cross-correlate, so they get the flipped filter bank and their weight
    gradient is flipped back.  ``df`` is the gradient of the last
    ``backprop`` alone (the sheet's listing adds into ``df`` without ever
    resetting it, so that its ``df`` grows over the iterations).
    """

    def __init__(self, tensor, fshape, afun=None, optim=None, initializer=None):
        self.afun = ReLU() if afun is None else afun
        self.optim = SGD() if optim is None else optim
        self.initializer = RandnAverage() if initializer is None else initializer
        self.tensor = int_tuple(tensor, 3, "Conv2DLayer", "tensor")
        self.fshape = int_tuple(fshape, 3, "Conv2DLayer", "fshape")
        m, fh, fw = self.fshape
        c, h, w = self.tensor
        if fh > h or fw > w:
            raise ValueError(
                f"Conv2DLayer: expected filters no larger than the {h}x{w} images, "
                f"got fshape {fshape}"
            )
        self.f = (
            np.asarray(self.initializer.ffun(m, c, fh, fw), dtype=np.float64) * self.afun.factor
        )
        self.b = np.zeros(m)
        self.__a = None
        self.__z = None
        self.__saved = None
        self.df = np.zeros_like(self.f)
        self.db = np.zeros_like(self.b)

    def evaluate(self, a):
        """``afun(z)``, shape (n, m, h - fh + 1, w - fw + 1), for ``a`` of shape (n, c, h, w)."""
        a = as_float(a, "Conv2DLayer", "a")
        check_ndim(a, 4, "Conv2DLayer", "a", "(n, c, h, w)")
        if a.shape[1:] != self.tensor:
            raise ValueError(
                f"Conv2DLayer: expected a of shape (n, {', '.join(map(str, self.tensor))}), "
                f"got shape {a.shape}"
            )
        self.__a = a
        self.__z, self.__saved = F.conv2d(
            a,
            self.f[:, :, ::-1, ::-1],
            self.b,
            padding="valid",
            return_saved=True,
            caller="Conv2DLayer",
        )
        return self.afun.evaluate(self.__z)

    def backprop(self, delta):
        """Set ``df``, ``db`` from ``delta`` (w.r.t. the output); return the delta w.r.t. ``a``."""
        return self._backprop(delta, True)

    def _backprop_parameters(self, delta):
        # What SequentialNet calls on its first layer: the delta w.r.t. the
        # network's input is never used, so it is not computed; unless a
        # subclass has its own backprop, which must then run as it is.
        if type(self).backprop is not Conv2DLayer.backprop:
            self.backprop(delta)
        else:
            self._backprop(delta, False)

    def _backprop(self, delta, input_gradient):
        if self.__saved is None:
            raise RuntimeError("Conv2DLayer: backprop called before evaluate")
        delta = self.afun.backprop(delta)
        if np.shape(delta) != self.__z.shape:
            raise ValueError(
                f"Conv2DLayer: expected delta of shape {self.__z.shape}, "
                f"got shape {np.shape(delta)}"
            )
        da, dw, db = F.conv2d_backward(
            delta, self.__saved, input_gradient=input_gradient, caller="Conv2DLayer"
        )
        self.df = np.ascontiguousarray(dw[:, :, ::-1, ::-1])
        self.db = db
        return da

    def update(self):
        """Update the filter bank and the bias with the optimizer."""
        self.optim.update([self.f, self.b], [self.df, self.db])


class Pool2DLayer:
    """Max pooling over non-overlapping ``area`` windows; a remainder fitting none is dropped.

    Parameters
    ----------
    area : (ph, pw)
    strict : bool, default False
        How ``backprop`` treats a window with several maxima: False gives
        each of them the whole delta, True divides it evenly among them.

    Attributes
    ----------
    shape : tuple or None
        (n, c, h, w) of the last input.
    mask : ndarray of bool or None
        Which input entries won their window in the last ``evaluate``
        (shape (n, c, h, w); the dropped remainder is False).
    """

    def __init__(self, area, strict=False):
        self.area = int_tuple(area, 2, "Pool2DLayer", "area")
        self.strict = bool(strict)
        self.shape = None
        self._a = None
        self._indices = None
        self._mask = None

    @property
    def _ties(self):
        return "split" if self.strict else "all"

    def evaluate(self, a):
        a = as_float(a, "Pool2DLayer", "a")
        check_ndim(a, 4, "Pool2DLayer", "a", "(n, c, h, w)")
        self.shape = a.shape
        self._a = a
        self._mask = None
        z, self._indices = F.max_pool2d(a, self.area, self.area, caller="Pool2DLayer")
        self._z = z
        return z

    @property
    def mask(self):
        if self._a is None:
            return None
        if self._mask is None:
            n, c, h, w = self.shape
            ph, pw = self.area
            nh, nw = h // ph, w // pw
            mask = np.zeros(self.shape, dtype=bool)
            blocks = self._a[:, :, : nh * ph, : nw * pw].reshape(n, c, nh, ph, nw, pw)
            hit = blocks == self._z[:, :, :, None, :, None]
            mask[:, :, : nh * ph, : nw * pw] = hit.reshape(n, c, nh * ph, nw * pw)
            self._mask = mask
        return self._mask

    def backprop(self, delta):
        if self._indices is None:
            raise RuntimeError("Pool2DLayer: backprop called before evaluate")
        delta = as_float(delta, "Pool2DLayer", "delta")
        if delta.shape != self._indices.shape:
            raise ValueError(
                f"Pool2DLayer: expected delta of shape {self._indices.shape}, "
                f"got shape {delta.shape}"
            )
        return F.max_pool2d_backward(
            delta,
            self._indices,
            self.shape,
            ties=self._ties,
            x=self._a,
            window=self.area,
            stride=self.area,
            caller="Pool2DLayer",
        )

    def update(self):
        """Nothing to update: pooling has no parameters."""


class FlattenLayer:
    """(n, c, h, w) to (n, c*h*w), the row layout of :class:`DenseLayer`."""

    def __init__(self):
        self.shape = None

    def evaluate(self, a):
        a = as_float(a, "FlattenLayer", "a")
        self.shape = a.shape
        return a.reshape(a.shape[0], -1)

    def backprop(self, delta):
        if self.shape is None:
            raise RuntimeError("FlattenLayer: backprop called before evaluate")
        return as_float(delta, "FlattenLayer", "delta").reshape(self.shape)

    def update(self):
        """Nothing to update: flattening has no parameters."""


class DenseLayer:
    """``A_new = afun(A @ W + b)`` for rows ``A`` of shape (n, n_in).

    Parameters
    ----------
    n_in, n_out : int
    afun : activation, default ReLU()
    optim : optimizer, default SGD()
    initializer : default RandnAverage()

    Attributes
    ----------
    W : ndarray, shape (n_in, n_out)
        ``initializer.wfun(n_in, n_out) * afun.factor``.
    b : ndarray, shape (n_out,)
    dW, db : ndarray
        Gradients of the last ``backprop``.
    """

    def __init__(self, n_in, n_out, afun=None, optim=None, initializer=None):
        self.n_in = positive_int(n_in, "DenseLayer", "n_in")
        self.n_out = positive_int(n_out, "DenseLayer", "n_out")
        self.afun = ReLU() if afun is None else afun
        self.optim = SGD() if optim is None else optim
        self.initializer = RandnAverage() if initializer is None else initializer
        self.W = (
            np.asarray(self.initializer.wfun(self.n_in, self.n_out), dtype=np.float64)
            * self.afun.factor
        )
        self.b = np.zeros(self.n_out)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self._a = None

    def evaluate(self, a):
        a = as_float(a, "DenseLayer", "a")
        check_ndim(a, 2, "DenseLayer", "a", f"(n, {self.n_in})")
        self._a = a
        return self.afun.evaluate(F.linear(a, self.W, self.b, caller="DenseLayer"))

    def backprop(self, delta):
        if self._a is None:
            raise RuntimeError("DenseLayer: backprop called before evaluate")
        delta = self.afun.backprop(delta)
        da, self.dW, self.db = F.linear_backward(delta, self._a, self.W, caller="DenseLayer")
        return da

    def update(self):
        self.optim.update([self.W, self.b], [self.dW, self.db])
