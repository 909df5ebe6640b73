"""Element-wise activations on the kernels."""

import numpy as np
from numpy.typing import ArrayLike

from .. import kernels
from .._validation import check_shape, kernel_ready
from ..parallel import launch
from ._common import SERIAL_ELEMENTS, float_input, output
from ._layout import batch_innermost, nchw_view


def _elementwise(serial_kernel, parallel_kernel, *arrays):
    """Run an element-wise kernel on the C-contiguous ``arrays`` (the output last), flattened.

    Large arrays (a conv layer's output) split over the threads; small ones
    run on the calling thread without entering the pool.
    """
    flat = [a.reshape(-1) for a in arrays]
    if arrays[-1].size >= SERIAL_ELEMENTS:
        launch(parallel_kernel, False, *flat)
    else:
        # Through launch as well, which keeps every kernel call in one place;
        # a kernel without parallel loops needs no thread count set.
        launch(serial_kernel, False, *flat)


def relu(
    x: ArrayLike,
    *,
    out: np.ndarray | None = None,
    return_mask: bool = False,
    caller: str = "relu",
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Rectified linear unit ``max(x, 0)``, element-wise; NaN stays NaN.

    Parameters
    ----------
    x : array_like
        Any shape.
    out : ndarray, optional
        C-contiguous array of ``x``'s shape and dtype to write into.
    return_mask : bool, default False
        Also return the boolean array ``y > 0``, written in the same pass:
        all that :func:`relu_backward` needs.
    caller : str, default "relu"
        Name that error messages start with.

    Returns
    -------
    y : ndarray, shape of ``x``
        In the memory order of ``x`` when that is a batch-innermost view
        (see :func:`conv2d`), C-contiguous otherwise.
    mask : ndarray of bool, shape of ``x``
        Only with ``return_mask=True``; in the memory order of ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> F.relu(np.array([-1.0, 0.0, 2.0])).tolist()
    [0.0, 0.0, 2.0]
    >>> F.relu(np.array([-1.0, 3.0]), return_mask=True)[1].tolist()
    [False, True]
    """
    x = float_input(x, caller)
    view = None
    if out is None:
        t = batch_innermost(x, x.dtype)
        if t is not None and not x.flags.c_contiguous:
            # A convolution's or pooling's output: keep its layout.
            x, view = t, nchw_view
    x = kernel_ready(x, x.dtype)
    result = output(out, x.shape, x.dtype, caller)
    if return_mask:
        mask = np.empty(x.shape, np.bool_)
        kernel_pair = (kernels.relu_forward_mask, kernels.relu_forward_mask_parallel)
        _elementwise(*kernel_pair, x, result, mask)
    else:
        _elementwise(kernels.relu_forward, kernels.relu_forward_parallel, x, result)
    if view is not None:
        result = view(result)
        mask = view(mask) if return_mask else None
    return (result, mask) if return_mask else result


def relu_backward(
    error: ArrayLike,
    y: ArrayLike,
    *,
    out: np.ndarray | None = None,
    caller: str = "relu_backward",
) -> np.ndarray:
    """Gradient of :func:`relu`: ``error`` where ``y > 0``, else 0.

    Parameters
    ----------
    error : array_like
        Gradient of the loss with respect to the output of :func:`relu`.
    y : array_like, shape of ``error``
        The output of :func:`relu` (or its input, or a boolean mask: only
        where it is positive matters).  The subgradient at 0 is 0.
    out : ndarray, optional
        C-contiguous array to write into.
    caller : str, default "relu_backward"
        Name that error messages start with.

    Returns
    -------
    dx : ndarray, shape of ``error``

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> F.relu_backward(np.ones(3), np.array([0.0, 0.0, 2.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    error = float_input(error, caller, "error")
    y = np.asarray(y)
    if y.dtype != np.bool_:
        y = float_input(y, caller, "y")
    check_shape(error, y.shape, caller, "error (the shape of y)")
    if out is None and not (error.flags.c_contiguous and y.flags.c_contiguous):
        error_t = batch_innermost(error, error.dtype)
        y_t = batch_innermost(y, y.dtype)
        if error_t is not None and y_t is not None:
            # Both in the batch-innermost layout of the layers: keep it.
            result_t = np.empty_like(error_t)
            kernel_pair = (kernels.relu_backward, kernels.relu_backward_parallel)
            _elementwise(*kernel_pair, y_t, error_t, result_t)
            return nchw_view(result_t)
    error = kernel_ready(error, error.dtype)
    y = kernel_ready(y, y.dtype)
    result = output(out, error.shape, error.dtype, caller)
    _elementwise(kernels.relu_backward, kernels.relu_backward_parallel, y, error, result)
    return result
