"""The affine map of a fully connected layer, and its gradients."""

import numpy as np
from numpy.typing import ArrayLike

from .. import kernels
from .._validation import check_ndim, check_shape, kernel_ready
from ..parallel import launch
from ._common import SERIAL_MACS, compute_dtype, float_input, output


def _check(x, weights, bias, caller):
    x = float_input(x, caller)
    check_ndim(x, 2, caller, "input", "(batch, features)")
    weights = float_input(weights, caller, "weights")
    check_ndim(weights, 2, caller, "weights", "(in_features, out_features)")
    if min(weights.shape) < 1:
        raise ValueError(f"{caller}: expected non-empty weights, got shape {weights.shape}")
    if x.shape[1] != weights.shape[0]:
        raise ValueError(
            f"{caller}: expected input of shape (batch, {weights.shape[0]}) "
            f"(weights of shape {weights.shape}), got shape {x.shape}"
        )
    if bias is not None:
        bias = float_input(bias, caller, "bias")
        check_shape(bias, (weights.shape[1],), caller, "bias")
    return x, weights, bias


def linear(
    x: ArrayLike,
    weights: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    out: np.ndarray | None = None,
    caller: str = "linear",
) -> np.ndarray:
    """Affine map ``x @ weights + bias`` of a batch of vectors.

    Parameters
    ----------
    x : array_like, shape (b, n)
        Input vectors.  The batch may be empty.
    weights : array_like, shape (n, m)
        Note the order: ``x @ weights``, as in the tutorial's layer (PyTorch
        stores the transpose).
    bias : array_like, shape (m,), optional
    out : ndarray, optional
        C-contiguous array of the output's shape and dtype to write into.
    caller : str, default "linear"
        Name that error messages start with.

    Returns
    -------
    y : ndarray, shape (b, m)

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> F.linear(np.ones((2, 3)), np.ones((3, 4)), np.arange(4.0)).tolist()
    [[3.0, 4.0, 5.0, 6.0], [3.0, 4.0, 5.0, 6.0]]
    """
    x, weights, bias = _check(x, weights, bias, caller)
    dtype = compute_dtype(x, weights, bias)
    result = output(out, (x.shape[0], weights.shape[1]), dtype, caller)
    if x.shape[0] == 0:
        return result
    x = kernel_ready(x, dtype)
    weights = kernel_ready(weights, dtype)
    launch(kernels.matmul, x.size * weights.shape[1] < SERIAL_MACS, x, weights, False, result)
    if bias is not None:
        result += bias
    return result


def linear_backward(
    error: ArrayLike,
    x: ArrayLike,
    weights: ArrayLike,
    *,
    input_gradient: bool = True,
    out: tuple | None = None,
    caller: str = "linear_backward",
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`linear` from the error with respect to its output.

    Parameters
    ----------
    error : array_like, shape (b, m)
    x : array_like, shape (b, n)
        The input of the forward pass.
    weights : array_like, shape (n, m)
        The weights of the forward pass.
    input_gradient : bool, default True
        Whether to compute the gradient with respect to ``x``.
    out : tuple of 3 ndarrays or None, optional
        Arrays to write ``dx``, ``dw`` and ``db`` into (each may be None).
    caller : str, default "linear_backward"
        Name that error messages start with.

    Returns
    -------
    dx : ndarray of shape (b, n), or None
        ``error @ weights.T``; None with ``input_gradient=False``.
    dw : ndarray, shape (n, m)
        ``x.T @ error``.
    db : ndarray, shape (m,)
        ``error`` summed over the batch.

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> dx, dw, db = F.linear_backward(np.ones((2, 4)), np.ones((2, 3)), np.ones((3, 4)))
    >>> dx.tolist(), dw.shape, db.tolist()
    ([[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]], (3, 4), [2.0, 2.0, 2.0, 2.0])
    """
    x, weights, _ = _check(x, weights, None, caller)
    error = float_input(error, caller, "error")
    check_shape(error, (x.shape[0], weights.shape[1]), caller, "error")
    dtype = compute_dtype(x, weights)
    out_dx, out_dw, out_db = (None, None, None) if out is None else out
    n, m = weights.shape
    dw = output(out_dw, (n, m), dtype, caller, "out[1]")
    db = output(out_db, (m,), dtype, caller, "out[2]")
    dx = output(out_dx, x.shape, dtype, caller, "out[0]") if input_gradient else None
    if x.shape[0] == 0:
        dw[...] = 0
        db[...] = 0
        return dx, dw, db
    x = kernel_ready(x, dtype)
    error = kernel_ready(error, dtype)
    serial = x.size * m < SERIAL_MACS
    launch(kernels.matmul, serial, x, error, True, dw)
    np.sum(error, axis=0, out=db)
    if input_gradient:
        launch(kernels.matmul_nt, serial, error, kernel_ready(weights, dtype), dx)
    return dx, dw, db
