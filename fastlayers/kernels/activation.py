"""Element-wise activation kernels.

These run on one thread: they are memory-bound, so a second thread gains
little, and a parallel region would cost a thread-pool round trip on
every call.
"""

from ._jit import kernel


@kernel
def relu_forward(x, out):
    """``out = max(x, 0)`` on flat arrays; NaN stays NaN."""
    for i in range(x.size):
        v = x[i]
        out[i] = v if (v > 0) | (v != v) else 0


@kernel
def relu_backward(y, err, out):
    """``out = err`` where the ReLU output ``y`` is positive, else 0."""
    for i in range(y.size):
        out[i] = err[i] if y[i] > 0 else 0
