"""Element-wise activation kernels.

``relu_forward`` and ``relu_backward`` run on one thread: for small arrays
a parallel region costs more (a thread-pool round trip, about 1-2
microseconds) than the work.  The ``_parallel`` versions split a large
array into chunks of ``CHUNK`` elements, each running the one-thread loop,
so every chunk still vectorises; :mod:`fastlayers.functional` decides
which of the two to call.
"""

from numba import prange

from ._jit import kernel

CHUNK = 1 << 14


@kernel
def relu_forward(x, out):
    """``out = max(x, 0)`` on flat arrays; NaN stays NaN."""
    for i in range(x.size):
        v = x[i]
        out[i] = v if (v > 0) | (v != v) else 0


@kernel
def relu_forward_mask(x, out, mask):
    """:func:`relu_forward` that also writes ``mask = out > 0`` in the same pass."""
    for i in range(x.size):
        v = x[i]
        positive = v > 0
        out[i] = v if positive | (v != v) else 0
        mask[i] = positive


@kernel
def relu_backward(y, err, out):
    """``out = err`` where the ReLU output ``y`` is positive, else 0."""
    for i in range(y.size):
        out[i] = err[i] if y[i] > 0 else 0


@kernel(parallel=True)
def relu_forward_parallel(x, out):
    """:func:`relu_forward` over chunks of ``CHUNK`` elements in parallel."""
    n = x.size
    for chunk in prange((n + CHUNK - 1) // CHUNK):
        lo = chunk * CHUNK
        hi = min(n, lo + CHUNK)
        relu_forward(x[lo:hi], out[lo:hi])


@kernel(parallel=True)
def relu_backward_parallel(y, err, out):
    """:func:`relu_backward` over chunks of ``CHUNK`` elements in parallel."""
    n = y.size
    for chunk in prange((n + CHUNK - 1) // CHUNK):
        lo = chunk * CHUNK
        hi = min(n, lo + CHUNK)
        relu_backward(y[lo:hi], err[lo:hi], out[lo:hi])


@kernel(parallel=True)
def relu_forward_mask_parallel(x, out, mask):
    """:func:`relu_forward_mask` over chunks of ``CHUNK`` elements in parallel."""
    n = x.size
    for chunk in prange((n + CHUNK - 1) // CHUNK):
        lo = chunk * CHUNK
        hi = min(n, lo + CHUNK)
        relu_forward_mask(x[lo:hi], out[lo:hi], mask[lo:hi])
