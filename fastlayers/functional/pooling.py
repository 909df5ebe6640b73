"""Max and average pooling of NCHW arrays, and their gradients."""

import numpy as np
from numpy.typing import ArrayLike

from .. import kernels
from .._validation import TIES as TIES  # the tie policies, exported by fastlayers.functional
from .._validation import check_empty_axes, check_shape, kernel_ready
from .._validation import ties as check_ties
from ..parallel import launch
from ._common import (
    SERIAL_ELEMENTS,
    IntOrPair,
    float_input,
    nchw_input,
    output,
    pool_output_shape,
    shape_tuple,
    window_and_stride,
)
from ._layout import batch_innermost, nchw_view, to_batch_innermost, to_nchw

_NO_TIES = object()


def _pool_input(x, window, stride, out, caller, ties=_NO_TIES):
    """Check a pooling's arguments; return the input, window, stride and output shape.

    ``ties`` (max pooling only) is checked after the window and stride, so
    that errors come in the order of the signature.
    """
    x = nchw_input(x, caller)
    check_empty_axes(x, caller)
    window, stride = window_and_stride(window, stride, caller)
    if ties is not _NO_TIES:
        check_ties(ties, caller)
    out_shape = pool_output_shape(x.shape, window, stride, caller)
    if out is not None:
        output(out, out_shape, x.dtype, caller)
    return x, window, stride, out_shape


def _check_index_range(indices, input_shape, caller):
    """The scattering kernels index with ``indices`` without bounds checks."""
    plane = input_shape[2] * input_shape[3]
    low, high = indices.min(), indices.max()
    if low < 0 or high >= plane:
        raise ValueError(
            f"{caller}: expected indices from 0 to {plane - 1} (input_shape {input_shape}), "
            f"got values from {low} to {high}"
        )


def max_pool2d(
    x: ArrayLike,
    window: IntOrPair,
    stride: IntOrPair | None = None,
    *,
    ties: str = "first",
    out: np.ndarray | None = None,
    caller: str = "max_pool2d",
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum over windows of a batch of images, and where each came from.

    Parameters
    ----------
    x : array_like, shape (b, c, h, w)
        Input images.  The batch may be empty.
    window : int or (int, int)
        Window size (py, px).
    stride : int or (int, int), optional
        Step (sy, sx) between windows; the window size by default.  A
        stride smaller than the window gives overlapping windows.
    ties : {"first", "all", "split"}, default "first"
        Checked here so that a wrong value fails early; only
        :func:`max_pool2d_backward` acts on it.
    out : ndarray, optional
        C-contiguous array of the output's shape and dtype to write into.
    caller : str, default "max_pool2d"
        Name that error messages start with.

    Returns
    -------
    y : ndarray, shape (b, c, (h - py) // sy + 1, (w - px) // sx + 1)
        No padding: rows and columns that no window covers are ignored.
        When ``x`` is a batch-innermost view (the output of
        :func:`conv2d`, :func:`relu` or this function), ``y`` and
        ``indices`` are batch-innermost views too (see :func:`conv2d`).
    indices : ndarray of intp, shape of ``y``
        Flat index ``row * w + column`` within its (h, w) plane of the
        element each maximum was taken from: the first maximum in
        row-major order (as ``numpy.argmax``).  A NaN in a window is its
        maximum, so NaN propagates.

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> x = np.array([[[[1., 5., 2., 0.], [3., 4., 7., 7.]]]])
    >>> y, idx = F.max_pool2d(x, 2)
    >>> y.tolist(), idx.tolist()
    ([[[[5.0, 7.0]]]], [[[[1, 6]]]])
    """
    x, window, stride, out_shape = _pool_input(x, window, stride, out, caller, ties)
    b, c, oh, ow = out_shape
    if b == 0:
        return (np.empty(out_shape, x.dtype) if out is None else out), np.empty(out_shape, np.intp)
    t = batch_innermost(x, x.dtype)
    if t is not None:
        # The output of a convolution, ReLU or pooling of this tier: pool
        # in its batch-innermost layout and hand on the same layout.
        y_t = np.empty((c, oh, ow, b), x.dtype)
        where_t = np.empty((c, oh, ow, b), np.intp)
        serial = t.size < SERIAL_ELEMENTS
        launch(kernels.maxpool2d_forward_chwb, serial, t, *window, *stride, y_t, where_t)
        y = nchw_view(y_t) if out is None else to_nchw(y_t, out)
        return y, nchw_view(where_t)
    result = np.empty(out_shape, x.dtype) if out is None else out
    indices = np.empty(out_shape, np.intp)
    x = kernel_ready(x, x.dtype)
    launch(
        kernels.maxpool2d_forward, x.size < SERIAL_ELEMENTS, x, *window, *stride, result, indices
    )
    return result, indices


def max_pool2d_backward(
    error: ArrayLike,
    indices: np.ndarray,
    input_shape: tuple[int, int, int, int],
    *,
    ties: str = "first",
    x: ArrayLike | None = None,
    window: IntOrPair | None = None,
    stride: IntOrPair | None = None,
    caller: str = "max_pool2d_backward",
) -> np.ndarray:
    """Route the error of each window of :func:`max_pool2d` to its maximum.

    Parameters
    ----------
    error : array_like, shape (b, c, oh, ow)
        Gradient of the loss with respect to the pooled output.
    indices : ndarray of int, shape (b, c, oh, ow)
        As returned by :func:`max_pool2d`.
    input_shape : tuple of 4 ints
        (b, c, h, w) of the pooled input.
    ties : {"first", "all", "split"}, default "first"
        Which elements of a window whose maximum occurs more than once
        receive its error: ``"first"`` only the first maximum (the
        recorded index), ``"all"`` every tied maximum the full error,
        ``"split"`` every tied maximum an equal share.  A NaN maximum ties
        with nothing.
    x : array_like, shape (b, c, h, w), optional
        The pooled input; needed to find the ties for ``"all"`` and
        ``"split"``.
    window, stride : int or (int, int), optional
        As given to :func:`max_pool2d`; needed for ``"all"`` and ``"split"``.
    caller : str, default "max_pool2d_backward"
        Name that error messages start with.

    Returns
    -------
    dx : ndarray, shape ``input_shape``
        Where windows overlap, the errors that reach an element are summed.
        A batch-innermost view when ``indices`` is one and ``ties`` is
        ``"first"``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> x = np.array([[[[1., 1.], [0., 1.]]]])
    >>> y, idx = F.max_pool2d(x, 2)
    >>> F.max_pool2d_backward(np.ones_like(y), idx, x.shape).tolist()
    [[[[1.0, 0.0], [0.0, 0.0]]]]
    >>> F.max_pool2d_backward(np.ones_like(y), idx, x.shape, ties="split", x=x,
    ...                       window=2).round(3).tolist()
    [[[[0.333, 0.333], [0.0, 0.333]]]]
    """
    ties = check_ties(ties, caller)
    input_shape = shape_tuple(input_shape, 4, caller, "input_shape")
    error = float_input(error, caller, "error")
    if not isinstance(indices, np.ndarray) or indices.dtype.kind not in "iu":
        got = (
            f"dtype {indices.dtype}" if isinstance(indices, np.ndarray) else type(indices).__name__
        )
        raise TypeError(
            f"{caller}: expected indices as an integer array from max_pool2d, got {got}"
        )
    check_shape(error, indices.shape, caller, "error (the shape of indices)")
    if error.ndim != 4 or error.shape[:2] != input_shape[:2]:
        raise ValueError(
            f"{caller}: expected error of shape (b, c, oh, ow) with (b, c) = {input_shape[:2]}, "
            f"got shape {error.shape}"
        )
    b, c, h, w = input_shape
    plane = h * w
    dtype = error.dtype
    if error.size == 0:
        return np.zeros(input_shape, dtype)
    _check_index_range(indices, input_shape, caller)
    serial = b * c * plane < SERIAL_ELEMENTS
    where_t = batch_innermost(indices, np.intp)
    if ties == "first" and where_t is not None:
        # Indices from the batch-innermost path of max_pool2d: route there.
        dx_t = np.empty((c, h, w, b), dtype)
        err_t = to_batch_innermost(error, dtype)
        launch(kernels.maxpool2d_backward_chwb, serial, err_t, where_t, dx_t)
        return nchw_view(dx_t)
    dx = np.empty(input_shape, dtype)
    indices = kernel_ready(indices, np.intp)
    error = kernel_ready(error, dtype)
    if ties == "first":
        launch(kernels.maxpool2d_backward, serial, error, indices, dx)
        return dx
    if x is None or window is None:
        raise ValueError(
            f"{caller}: expected x and window for ties={ties!r}, "
            f"got x={type(x).__name__} and window={window!r}"
        )
    window, stride = window_and_stride(window, stride, caller)
    x = nchw_input(x, caller, "x")
    check_shape(x, input_shape, caller, "x")
    out_shape = pool_output_shape(input_shape, window, stride, caller)
    check_shape(error, out_shape, caller, "error")
    x = kernel_ready(x, x.dtype)
    launch(
        kernels.maxpool2d_backward_ties,
        serial,
        x,
        indices,
        error,
        *window,
        *stride,
        ties == "split",
        dx,
    )
    return dx


def avg_pool2d(
    x: ArrayLike,
    window: IntOrPair,
    stride: IntOrPair | None = None,
    *,
    out: np.ndarray | None = None,
    caller: str = "avg_pool2d",
) -> np.ndarray:
    """Mean over windows of a batch of images.

    Parameters
    ----------
    x, window, stride
        As for :func:`max_pool2d`: images (b, c, h, w), whose batch may be
        empty; the window size (py, px); the step (sy, sx) between windows,
        the window size by default.
    out : ndarray, optional
        C-contiguous array of the output's shape and dtype to write into.
    caller : str, default "avg_pool2d"
        Name that error messages start with.

    Returns
    -------
    y : ndarray, shape (b, c, (h - py) // sy + 1, (w - px) // sx + 1)

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> F.avg_pool2d(np.arange(8.0).reshape(1, 1, 2, 4), 2).tolist()
    [[[[2.5, 4.5]]]]
    """
    x, window, stride, out_shape = _pool_input(x, window, stride, out, caller)
    result = np.empty(out_shape, x.dtype) if out is None else out
    if x.shape[0] == 0:
        return result
    x = kernel_ready(x, x.dtype)
    launch(kernels.avgpool2d_forward, x.size < SERIAL_ELEMENTS, x, *window, *stride, result)
    return result


def avg_pool2d_backward(
    error: ArrayLike,
    input_shape: tuple[int, int, int, int],
    window: IntOrPair,
    stride: IntOrPair | None = None,
    *,
    caller: str = "avg_pool2d_backward",
) -> np.ndarray:
    """Spread the error of each window of :func:`avg_pool2d` evenly over it.

    Parameters
    ----------
    error, input_shape, caller
        As for :func:`max_pool2d_backward`: the gradient (b, c, oh, ow)
        with respect to the pooled output, the (b, c, h, w) of the pooled
        input, the name that error messages start with.
    window, stride : int or (int, int)
        As given to :func:`avg_pool2d`.

    Returns
    -------
    dx : ndarray, shape ``input_shape``
        Each window's error divided among its elements; where windows
        overlap, the shares that reach an element are summed.

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> F.avg_pool2d_backward(np.ones((1, 1, 1, 2)), (1, 1, 2, 4), 2).tolist()
    [[[[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]]]]
    """
    input_shape = shape_tuple(input_shape, 4, caller, "input_shape")
    window, stride = window_and_stride(window, stride, caller)
    error = float_input(error, caller, "error")
    out_shape = pool_output_shape(input_shape, window, stride, caller)
    check_shape(error, out_shape, caller, "error")
    dx = np.empty(input_shape, error.dtype)
    if error.size == 0:
        dx[...] = 0
        return dx
    error = kernel_ready(error, error.dtype)
    launch(kernels.avgpool2d_backward, dx.size < SERIAL_ELEMENTS, error, *window, *stride, dx)
    return dx
