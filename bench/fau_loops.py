"""The FAU exercise's Conv and Pooling layers written the way students write them.

A typical exercise-2 solution loops in Python over the batch, the kernels
and the input channels and calls ``scipy.signal.correlate`` (forward,
weight gradient) and ``scipy.signal.convolve`` (input gradient) on each
2-D slice; the stride is a subsampling of the "same" result in forward and
a zero-upsampling of the error in backward; pooling loops over every window
and keeps the position of its maximum.  :class:`LoopConv` and
:class:`LoopPooling` do exactly that, with the exercise's interface
(``Conv(stride_shape, convolution_shape, num_kernels)``,
``Pooling(stride_shape, pooling_shape)``, ``forward``, ``backward``,
``weights``, ``bias``, ``gradient_weights``, ``gradient_bias``,
``optimizer``), so that they can stand in for
:mod:`fastlayers.compat.fau` classes in an exercise network.

:func:`time_conv` times forward + backward of the exercise-2 conv layer on
both and checks that they agree; :func:`time_lenet` times a training
iteration of the exercise's LeNet built with either.
"""

import copy
import time

import numpy as np
from scipy import signal

from fastlayers.compat.fau import NeuralNetwork
from fastlayers.compat.fau.Layers import Flatten, FullyConnected, Initializers, ReLU, SoftMax
from fastlayers.compat.fau.Layers.Conv import Conv as CompatConv
from fastlayers.compat.fau.Layers.Pooling import Pooling as CompatPooling
from fastlayers.compat.fau.Optimization import Constraints, Loss, Optimizers

__all__ = ["LoopConv", "LoopPooling", "lenet", "time_conv", "time_lenet"]


def _pads(size):
    # "same" padding of the exercise: m // 2 before, (m - 1) // 2 after.
    return [(m // 2, (m - 1) // 2) for m in size]


class LoopConv:
    """Exercise-2 convolution (1-D or 2-D, "same", stride) with scipy.signal loops."""

    def __init__(self, stride_shape, convolution_shape, num_kernels):
        self.trainable = True
        self.testing_phase = False
        self.convolution_shape = tuple(convolution_shape)
        spatial = len(self.convolution_shape) - 1
        stride = (stride_shape,) if np.isscalar(stride_shape) else tuple(stride_shape)
        self.stride_shape = stride * spatial if len(stride) == 1 else stride
        self.num_kernels = num_kernels
        self.weights = np.random.uniform(0, 1, (num_kernels, *self.convolution_shape))
        self.bias = np.random.uniform(0, 1, num_kernels)
        self.gradient_weights = None
        self.gradient_bias = None
        self._optimizer = None
        self._bias_optimizer = None

    @property
    def optimizer(self):
        return self._optimizer

    @optimizer.setter
    def optimizer(self, value):
        self._optimizer = value
        self._bias_optimizer = copy.deepcopy(value)

    def initialize(self, weights_initializer, bias_initializer):
        c = self.convolution_shape[0]
        area = int(np.prod(self.convolution_shape[1:]))
        shape = (self.num_kernels, *self.convolution_shape)
        self.weights = weights_initializer.initialize(shape, c * area, self.num_kernels * area)
        self.bias = bias_initializer.initialize(
            (self.num_kernels,), c * area, self.num_kernels * area
        )

    def forward(self, input_tensor):
        self.input_tensor = input_tensor
        batch, channels = input_tensor.shape[:2]
        pads = [(0, 0), (0, 0)] + _pads(self.convolution_shape[1:])
        self.padded = np.pad(input_tensor, pads)
        sub = tuple(slice(None, None, s) for s in self.stride_shape)
        out = None
        for b in range(batch):
            for k in range(self.num_kernels):
                acc = 0
                for c in range(channels):
                    acc = acc + signal.correlate(
                        self.padded[b, c], self.weights[k, c], mode="valid"
                    )
                acc = acc[sub] + self.bias[k]
                if out is None:
                    out = np.zeros((batch, self.num_kernels, *acc.shape))
                out[b, k] = acc
        return out

    def backward(self, error_tensor):
        batch, channels = self.input_tensor.shape[:2]
        spatial = self.input_tensor.shape[2:]
        upsampled = np.zeros((batch, self.num_kernels, *spatial))
        sub = tuple(slice(None, None, s) for s in self.stride_shape)
        upsampled[(slice(None), slice(None)) + sub] = error_tensor
        pads = _pads(self.convolution_shape[1:])
        crop = tuple(slice(before, before + n) for (before, _), n in zip(pads, spatial))
        grad_input = np.zeros(self.input_tensor.shape)
        grad_weights = np.zeros(self.weights.shape)
        for b in range(batch):
            for c in range(channels):
                acc = 0
                for k in range(self.num_kernels):
                    acc = acc + signal.convolve(upsampled[b, k], self.weights[k, c], mode="full")
                    grad_weights[k, c] += signal.correlate(
                        self.padded[b, c], upsampled[b, k], mode="valid"
                    )
                grad_input[b, c] = acc[crop]
        self.gradient_weights = grad_weights
        self.gradient_bias = error_tensor.sum(
            axis=tuple(i for i in range(error_tensor.ndim) if i != 1)
        )
        if self._optimizer is not None:
            self.weights = self._optimizer.calculate_update(self.weights, self.gradient_weights)
            self.bias = self._bias_optimizer.calculate_update(self.bias, self.gradient_bias)
        return grad_input


class LoopPooling:
    """Exercise-2 max pooling with a Python loop over every window."""

    def __init__(self, stride_shape, pooling_shape):
        self.trainable = False
        self.testing_phase = False
        self.stride_shape = tuple(stride_shape)
        self.pooling_shape = tuple(pooling_shape)

    def forward(self, input_tensor):
        self.input_shape = input_tensor.shape
        b, c, h, w = input_tensor.shape
        (sy, sx), (py, px) = self.stride_shape, self.pooling_shape
        oh, ow = (h - py) // sy + 1, (w - px) // sx + 1
        out = np.zeros((b, c, oh, ow))
        self.argmax = np.zeros((b, c, oh, ow, 2), dtype=int)
        for i in range(b):
            for j in range(c):
                for y in range(oh):
                    for x in range(ow):
                        window = input_tensor[i, j, y * sy : y * sy + py, x * sx : x * sx + px]
                        u, v = np.unravel_index(np.argmax(window), window.shape)
                        out[i, j, y, x] = window[u, v]
                        self.argmax[i, j, y, x] = (y * sy + u, x * sx + v)
        return out

    def backward(self, error_tensor):
        grad = np.zeros(self.input_shape)
        b, c, oh, ow = error_tensor.shape
        for i in range(b):
            for j in range(c):
                for y in range(oh):
                    for x in range(ow):
                        u, v = self.argmax[i, j, y, x]
                        grad[i, j, u, v] += error_tensor[i, j, y, x]
        return grad


def _best_of(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def time_conv(
    batch=16,
    channels=3,
    size=(28, 28),
    num_kernels=8,
    kernel=(3, 3),
    stride=(1, 1),
    repeats=5,
    seed=0,
):
    """Time one forward + backward of the exercise-2 Conv: student loops vs fastlayers.compat.fau.

    Both layers get the same weights, input and error; their outputs and
    gradients are checked to agree (relative 1e-10) before timing.  The two
    sides are timed in alternation, best of ``repeats`` each.

    Returns
    -------
    dict
        ``loops_s`` and ``compat_s`` (seconds per forward + backward) and
        ``speedup`` (loops / compat), with the shape settings.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, *size))
    loops = LoopConv(stride, (channels, *kernel), num_kernels)
    compat = CompatConv(stride, (channels, *kernel), num_kernels)
    compat.weights, compat.bias = loops.weights.copy(), loops.bias.copy()
    y = compat.forward(x)
    error = rng.standard_normal(y.shape)
    expected = (y, compat.backward(error), compat.gradient_weights, compat.gradient_bias)
    got = (loops.forward(x), loops.backward(error), loops.gradient_weights, loops.gradient_bias)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())

    def step(layer):
        return lambda: layer.backward(error) if layer.forward(x) is not None else None

    loop_times, compat_times = [], []
    for _ in range(repeats):
        loop_times.append(_best_of(step(loops), 1))
        compat_times.append(_best_of(step(compat), 3))
    loops_s, compat_s = min(loop_times), min(compat_times)
    return {
        "batch": batch,
        "channels": channels,
        "size": tuple(size),
        "num_kernels": num_kernels,
        "kernel": tuple(kernel),
        "stride": tuple(stride),
        "loops_s": loops_s,
        "compat_s": compat_s,
        "speedup": loops_s / compat_s,
    }


class _RandomDigits:
    """Batches of random 28x28 images and one-hot labels (timing needs no real data)."""

    def __init__(self, batch, seed):
        rng = np.random.default_rng(seed)
        self.x = rng.random((8 * batch, 1, 28, 28))
        self.y = np.eye(10)[rng.integers(0, 10, 8 * batch)]
        self.batch, self.i = batch, 0

    def next(self):
        j = self.i
        self.i = (self.i + self.batch) % (len(self.x) - self.batch)
        return self.x[j : j + self.batch], self.y[j : j + self.batch]


def lenet(conv=CompatConv, pool=CompatPooling, batch=50, seed=0):
    """The exercise's LeNet (as its TrainLeNet.py trains it) built from ``conv`` and ``pool`` classes.

    Conv 1->6 5x5, ReLU, 2x2 max pool, Conv 6->16 5x5, ReLU, 2x2 max pool,
    FC 784-120-84-10 with ReLUs, SoftMax, cross-entropy; Adam(5e-4, 0.98,
    0.999) with an L2 regularizer of 4e-4; He / Constant(0.1).
    """
    np.random.seed(seed)
    optimizer = Optimizers.Adam(5e-4, 0.98, 0.999)
    optimizer.add_regularizer(Constraints.L2_Regularizer(4e-4))
    net = NeuralNetwork.NeuralNetwork(optimizer, Initializers.He(), Initializers.Constant(0.1))
    net.data_layer = _RandomDigits(batch, seed)
    net.loss_layer = Loss.CrossEntropyLoss()
    for layer in [
        conv((1, 1), (1, 5, 5), 6),
        ReLU.ReLU(),
        pool((2, 2), (2, 2)),
        conv((1, 1), (6, 5, 5), 16),
        ReLU.ReLU(),
        pool((2, 2), (2, 2)),
        Flatten.Flatten(),
        FullyConnected.FullyConnected(16 * 7 * 7, 120),
        ReLU.ReLU(),
        FullyConnected.FullyConnected(120, 84),
        ReLU.ReLU(),
        FullyConnected.FullyConnected(84, 10),
        SoftMax.SoftMax(),
    ]:
        net.append_layer(layer)
    return net


def time_lenet(batch=50, loop_iterations=2, compat_iterations=20):
    """Seconds per training iteration of :func:`lenet`: student loops vs fastlayers.compat.fau.

    Both networks start from the same weights and data; after one untimed
    iteration each, their losses are checked to agree (relative 1e-9).

    Returns
    -------
    dict
        ``loops_s``, ``compat_s`` and ``speedup``.
    """
    loops, compat = lenet(LoopConv, LoopPooling, batch), lenet(batch=batch)
    loops.train(1)
    compat.train(1)
    np.testing.assert_allclose(loops.loss[0], compat.loss[0], rtol=1e-9)
    start = time.perf_counter()
    loops.train(loop_iterations)
    loops_s = (time.perf_counter() - start) / loop_iterations
    start = time.perf_counter()
    compat.train(compat_iterations)
    compat_s = (time.perf_counter() - start) / compat_iterations
    return {"batch": batch, "loops_s": loops_s, "compat_s": compat_s, "speedup": loops_s / compat_s}


if __name__ == "__main__":
    for spec in [
        dict(),
        dict(batch=200, channels=1, size=(8, 8), num_kernels=4),
        dict(stride=(2, 2)),
    ]:
        r = time_conv(**spec)
        print(
            f"{r['batch']}x{r['channels']}x{r['size']} k={r['num_kernels']} {r['kernel']} s={r['stride']}: "
            f"loops {r['loops_s'] * 1e3:.1f} ms, compat {r['compat_s'] * 1e3:.3f} ms, {r['speedup']:.0f}x"
        )
    r = time_lenet()
    print(
        f"LeNet iteration, batch {r['batch']}: loops {r['loops_s'] * 1e3:.0f} ms, "
        f"compat {r['compat_s'] * 1e3:.1f} ms, {r['speedup']:.0f}x"
    )
