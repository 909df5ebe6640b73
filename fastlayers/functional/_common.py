"""What every function of the functional tier shares: checks and policy.

The kernels check nothing, so every argument is checked here before a
kernel runs.  ``caller`` is the name that error messages start with: the
public function's own name, or the class of a layer that calls it.
"""

import numpy as np

from .._validation import (
    INDEX_LIMIT,
    as_float_array,
    check_ndim,
    integer,
    integers_of,
    items_of,
    pair,
)

# Below these amounts of work a kernel runs on the calling thread (see
# fastlayers.parallel.launch).  One multiply-add of a convolution or matrix
# product costs well under a nanosecond vectorised; 2**18 of them take
# 20-60 us on one core, about what a parallel region costs to start on a
# loaded machine.  Element-wise kernels do a load and a store per element.
SERIAL_MACS = 1 << 18
SERIAL_ELEMENTS = 1 << 15

# Argument types of the public functions.
IntOrPair = int | tuple[int, int]
Padding = str | int | tuple[int, ...]


def float_input(x, caller, what="input"):
    """``x`` as a float32 or float64 array (see ``as_float_array``)."""
    return as_float_array(x, caller, what)


def nchw_input(x, caller, what="input"):
    """``x`` as a float array of 4 dimensions (batch, channels, rows, columns)."""
    x = as_float_array(x, caller, what)
    check_ndim(x, 4, caller, what, "(batch, channels, rows, columns)")
    return x


def compute_dtype(*arrays):
    """float32 when every array is float32, float64 otherwise (NumPy promotion)."""
    first = arrays[0].dtype
    for a in arrays:
        if a is not None and a.dtype is not first:
            return np.result_type(*[a.dtype for a in arrays if a is not None])
    return first


def output(out, shape, dtype, caller, what="out"):
    """Return ``out`` after checking it can hold the result, or a new array."""
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{caller}: expected {what} as a NumPy array, got {type(out).__name__}")
    if out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"{caller}: expected {what} of shape {tuple(shape)} and dtype {dtype}, "
            f"got shape {out.shape} and dtype {out.dtype}"
        )
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"{caller}: expected {what} C-contiguous and writeable")
    return out


def window_and_stride(window, stride, caller):
    """Window and stride as pairs of ints >= 1; the stride defaults to the window."""
    window = pair(window, caller, "window")
    stride = window if stride is None else pair(stride, caller, "stride")
    return window, stride


def pool_output_shape(input_shape, window, stride, caller):
    """(b, c, oh, ow) of a pooling without padding, after checking the input fits."""
    b, c, h, w = input_shape
    (py, px), (sy, sx) = window, stride
    if h < py or w < px:
        raise ValueError(
            f"{caller}: expected an input at least as large as the {py}x{px} window, "
            f"got spatial size {(h, w)}"
        )
    return b, c, (h - py) // sy + 1, (w - px) // sx + 1


def shape_tuple(shape, ndim, caller, what):
    """``shape`` as a tuple of ``ndim`` non-negative ints."""
    try:
        items = tuple(shape)
    except TypeError:
        items = ()
    if len(items) != ndim:
        raise TypeError(f"{caller}: expected {what} as {ndim} non-negative ints, got {shape!r}")
    return tuple(integer(v, caller, what, minimum=0) for v in items)


def resolve_padding(padding, kernel_hw, caller):
    """Return ``(top, bottom, left, right)`` zero padding of a 2-D convolution.

    ``"same"`` pads ``m // 2`` before and ``(m - 1) // 2`` after (as
    ``scipy.signal.correlate(..., mode="same")`` does), ``"valid"`` pads
    nothing, an int pads every side, a pair ``(py, px)`` pads top and bottom
    by ``py`` and left and right by ``px``, and four ints give each side.
    """
    m, n = kernel_hw
    if type(padding) is tuple and len(padding) == 4:
        # What the layers pass on every call, resolved once: four plain ints.
        top, bottom, left, right = padding
        if (
            type(top) is int
            and type(bottom) is int
            and type(left) is int
            and type(right) is int
            and min(padding) >= 0
            and max(padding) <= INDEX_LIMIT
        ):
            return padding
    if isinstance(padding, str):
        if padding == "same":
            return m // 2, (m - 1) // 2, n // 2, (n - 1) // 2
        if padding == "valid":
            return 0, 0, 0, 0
        raise ValueError(
            f"{caller}: expected padding 'same', 'valid', an int, a pair or four ints, "
            f"got {padding!r}"
        )
    if isinstance(padding, (int, np.integer)) or (
        hasattr(padding, "__len__") and len(padding) == 2
    ):
        py, px = pair(padding, caller, "padding", minimum=0)
        return py, py, px, px
    sides = items_of(
        padding,
        4,
        f"{caller}: expected padding 'same', 'valid', an int, a pair or four ints, got {padding!r}",
    )
    return integers_of(sides, padding, caller, "padding", "padding", minimum=0)


def resolve_padding_1d(padding, length, caller):
    """Return ``(before, after)`` zero padding of a 1-D convolution.

    ``"same"`` pads ``m // 2`` before and ``(m - 1) // 2`` after,
    ``"valid"`` nothing, an int both ends, a pair each end.
    """
    if isinstance(padding, str):
        if padding == "same":
            return length // 2, (length - 1) // 2
        if padding == "valid":
            return 0, 0
        raise ValueError(
            f"{caller}: expected padding 'same', 'valid', an int or a pair, got {padding!r}"
        )
    return pair(padding, caller, "padding", minimum=0)
