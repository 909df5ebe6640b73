"""Helpers shared by the test modules (and importable from ``bench``).

One table of tolerances, one array comparison, and the small utilities the
comparisons need: memory layouts, reproducible seeds, one-hot labels.
"""

import zlib

import numpy as np

F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)
DTYPES = (F64, F32)

# Relative tolerances, by the kind of comparison and the dtype computed in.
# "result": one computation against an independent one; float64 agrees to
# the rounding of a handful of operations, float32 to ~1e-7 per operation
# accumulated over short sums.
# "training": several SGD steps of a whole network, where each step's
# rounding is carried into the parameters of the next.
# "finite_difference": an analytic gradient against central differences
# (step 1e-6, float64): the relative Frobenius error of the whole array.
# "benchmark": the benchmark shapes, whose sums run over thousands of terms
# and whose peers (PyTorch, im2col) round in their own order.
TOLERANCES = {
    "result": {F64: 1e-10, F32: 1e-4},
    "training": {F64: 1e-9, F32: 1e-4},
    "finite_difference": {F64: 1e-6},
    "benchmark": {F64: 1e-9, F32: 1e-3},
}


def tolerance(dtype, kind="result"):
    """Return the relative tolerance of ``kind`` for results of ``dtype``.

    Parameters
    ----------
    dtype : dtype-like
        float32 or float64 (a name such as ``"float32"`` works too).
    kind : str
        A key of :data:`TOLERANCES`.
    """
    return TOLERANCES[kind][np.dtype(dtype)]


def assert_close(actual, expected, dtype=F64, what="", rtol=None, kind="result"):
    """Assert ``actual`` equals ``expected`` up to the tolerance of ``dtype``.

    The absolute tolerance is the relative one times the largest magnitude
    in ``expected``, so entries that cancel to near zero are judged on the
    scale of the whole array rather than on their own.  The scale is at
    least the smallest normal number of ``dtype``: an expected array whose
    every entry underflows in float32 (a softmax gradient of 1e-93, say) is
    matched by float32 zeros.

    Parameters
    ----------
    actual, expected : array_like
    dtype : dtype
        float32 or float64: the precision ``actual`` was computed in.
    what : str
        What is compared, for the failure message.
    rtol : float, optional
        Overrides the tolerance of ``dtype`` and ``kind``.
    kind : str
        A key of :data:`TOLERANCES`.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    rtol = tolerance(dtype, kind) if rtol is None else rtol
    tiny = float(np.finfo(dtype).tiny)
    scale = max(float(np.max(np.abs(expected))), tiny) if expected.size else tiny
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def relative_error(actual, expected):
    """Return ``||actual - expected|| / ||expected||`` (Frobenius norms)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


def assert_gradient(analytic, numeric, tol=None):
    """Assert the relative error of a whole gradient array is below ``tol``.

    ``tol`` defaults to the ``"finite_difference"`` tolerance.  A numerical
    gradient that is zero everywhere would make the check meaningless, so
    it fails the test.
    """
    tol = tolerance(F64, "finite_difference") if tol is None else tol
    assert analytic.shape == numeric.shape
    assert np.linalg.norm(numeric) > 0, "degenerate check: zero gradient"
    error = relative_error(analytic, numeric)
    assert error < tol, f"relative gradient error {error:.3e}"


def one_hot(labels, classes):
    """Return float64 one-hot rows for integer ``labels``."""
    out = np.zeros((len(labels), classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out


def seed_of(*parts):
    """A seed derived from ``parts``, the same in every process (unlike ``hash``)."""
    return zlib.crc32(repr(parts).encode())


def balanced(values, n, seed):
    """``n`` picks from ``values``, each about equally often, in a fixed shuffled order."""
    values = list(values)
    seq = values * (-(-n // len(values)))
    order = np.random.default_rng(seed).permutation(len(seq))
    return [seq[i] for i in order[:n]]


LAYOUTS = (
    "contiguous",
    "transposed",
    "sliced",
    "reversed",
    "fortran",
    "readonly",
    "readonly_transposed",
    "batch_innermost",
    "readonly_batch_innermost",
)


def network_step(layers, loss_layer, x, labels):
    """Run ``x`` forward through ``layers`` and the loss, then back; return the input's error.

    The interface of the tutorial and of the FAU exercise:
    ``layer.forward(x)``, ``loss_layer.forward(output, labels)``,
    ``loss_layer.backward(labels)`` and ``layer.backward(error)``.
    """
    out = x
    for layer in layers:
        out = layer.forward(out)
    loss_layer.forward(out, labels)
    error = loss_layer.backward(labels)
    for layer in reversed(layers):
        error = layer.backward(error)
    return error


def with_layout(arr, layout):
    """Return a new array with the values of ``arr`` in the memory layout ``layout``.

    ``sliced`` is a view into a larger NaN-filled buffer (every other batch
    entry, every other column), so a kernel that ignored the strides would
    produce NaNs.  ``batch_innermost`` is the layout in which the
    convolution, ReLU and max pooling layers return their outputs.
    """
    arr = np.asarray(arr)
    if layout == "contiguous":
        return np.array(arr, order="C", copy=True)
    if layout in ("transposed", "readonly_transposed"):
        out = np.ascontiguousarray(np.swapaxes(arr, -1, -2)).swapaxes(-1, -2)
    elif layout == "sliced":
        big_shape = (2 * arr.shape[0], *arr.shape[1:-1], 2 * arr.shape[-1] + 1)
        big = np.full(big_shape, np.nan, arr.dtype)
        big[::2, ..., 1::2] = arr
        out = big[::2, ..., 1::2]
    elif layout == "reversed":
        out = np.ascontiguousarray(arr[..., ::-1])[..., ::-1]
    elif layout == "fortran":
        out = np.asfortranarray(arr)
    elif layout in ("batch_innermost", "readonly_batch_innermost"):
        # The layout the convolution and pooling layers hand on: the batch
        # axis innermost in memory, the shape unchanged.
        out = np.moveaxis(np.ascontiguousarray(np.moveaxis(arr, 0, -1)), -1, 0)
    elif layout == "readonly":
        out = np.array(arr, copy=True)
    else:
        raise ValueError(layout)
    if layout.startswith("readonly"):
        out.flags.writeable = False
    np.testing.assert_array_equal(out, arr)
    return out


def nan_array(shape, dtype):
    """An output buffer full of NaN: a kernel that skips an element leaves a NaN."""
    return np.full(shape, np.nan, dtype=dtype)
