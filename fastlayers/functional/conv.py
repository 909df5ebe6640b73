"""Convolution (cross-correlation) of NCHW and NCL arrays, and its gradients."""

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .. import kernels
from .._validation import check_empty_axes, check_ndim, check_shape, kernel_ready, pair
from ..parallel import launch
from ._common import (
    SERIAL_MACS,
    IntOrPair,
    Padding,
    compute_dtype,
    float_input,
    nchw_input,
    output,
    resolve_padding,
    resolve_padding_1d,
)
from ._conv_choice import use_blocked
from ._layout import empty, nchw_view, padded_copy, to_batch_innermost, to_nchw


@dataclass(frozen=True)
class Conv2dSaved:
    """What :func:`conv2d` keeps for :func:`conv2d_backward`.

    Attributes
    ----------
    padded : ndarray, shape (c, h + top + bottom, w + left + right, b)
        The zero-padded input in the batch-innermost layout of the kernels:
        the weight gradient reads it as it is, without padding again.
    weights : ndarray, shape (k, c, m, n)
        The weights of the forward pass, in the compute dtype.
    input_shape : tuple
        (b, c, h, w) of the input.
    stride : (int, int)
    padding : (int, int, int, int)
        (top, bottom, left, right).
    """

    padded: np.ndarray
    weights: np.ndarray
    input_shape: tuple
    stride: tuple
    padding: tuple

    @property
    def output_shape(self):
        """(b, k, oh, ow) of the forward pass's output."""
        b = self.input_shape[0]
        k, _, m, n = self.weights.shape
        sy, sx = self.stride
        hp, wp = self.padded.shape[1], self.padded.shape[2]
        return b, k, (hp - m) // sy + 1, (wp - n) // sx + 1


@dataclass(frozen=True)
class Conv1dSaved:
    """What :func:`conv1d` keeps for :func:`conv1d_backward`: a 2-D record."""

    saved2d: Conv2dSaved


def _check_weights(weights, x, bias, caller):
    weights = float_input(weights, caller, "weights")
    check_ndim(weights, 4, caller, "weights", "(kernels, channels, rows, columns)")
    if min(weights.shape) < 1:
        raise ValueError(f"{caller}: expected non-empty weights, got shape {weights.shape}")
    if x.shape[1] != weights.shape[1]:
        raise ValueError(
            f"{caller}: expected input with {weights.shape[1]} channels "
            f"(weights of shape {weights.shape}), got shape {x.shape}"
        )
    if bias is not None:
        bias = float_input(bias, caller, "bias")
        check_shape(bias, (weights.shape[0],), caller, "bias")
    return weights, bias


def _conv2d(x, weights, bias, stride, padding, out, caller):
    """conv2d with checks, returning (output, saved)."""
    x = nchw_input(x, caller)
    weights, bias = _check_weights(weights, x, bias, caller)
    check_empty_axes(x, caller)
    sy, sx = pair(stride, caller, "stride")
    k, c, m, n = weights.shape
    top, bottom, left, right = resolve_padding(padding, (m, n), caller)
    b, _, h, w = x.shape
    hp, wp = h + top + bottom, w + left + right
    if hp < m or wp < n:
        raise ValueError(
            f"{caller}: expected an input at least as large as the {m}x{n} kernel after "
            f"padding {(top, bottom, left, right)}, got spatial size {(h, w)}"
        )
    dtype = compute_dtype(x, weights, bias)
    out_shape = (b, k, (hp - m) // sy + 1, (wp - n) // sx + 1)
    if out is not None:
        output(out, out_shape, dtype, caller)
    weights = kernel_ready(weights, dtype)
    bias = np.zeros(k, dtype) if bias is None else kernel_ready(bias, dtype)
    # A new copy even without padding: backward reads it after the caller
    # may have changed x.
    if b:
        padded = to_batch_innermost(x, dtype, top, bottom, left, right, copy=True)
    else:
        padded = np.empty((c, hp, wp, 0), dtype)
    saved = Conv2dSaved(padded, weights, (b, c, h, w), (sy, sx), (top, bottom, left, right))
    if b == 0:
        return (np.empty(out_shape, dtype) if out is None else out), saved
    out_t = empty((k, out_shape[2], out_shape[3], b), dtype)
    macs = out_t.size * c * m * n
    if use_blocked(k, c, m, n, b, dtype, sx):
        # Tiles of outputs kept in registers over all taps (see use_blocked).
        args = (padded, weights, bias, sy, sx, out_t)
        launch(kernels.conv2d_forward_blocked, macs < SERIAL_MACS, *args)
    elif b == 1 and (sy, sx) == (1, 1):
        # One image (inference): inner loops over whole planes, one thread.
        launch(kernels.conv2d_forward_single, False, padded, weights, bias, out_t)
    else:
        launch(kernels.conv2d_forward, macs < SERIAL_MACS, padded, weights, bias, sy, sx, out_t)
    if out is not None:
        return to_nchw(out_t, out), saved
    return nchw_view(out_t), saved


def conv2d(
    x: ArrayLike,
    weights: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntOrPair = 1,
    padding: Padding = "same",
    *,
    out: np.ndarray | None = None,
    return_saved: bool = False,
    caller: str = "conv2d",
) -> np.ndarray | tuple[np.ndarray, Conv2dSaved]:
    """2-D cross-correlation of a batch of images with a bank of filters.

    ``y[b, k, oy, ox] = bias[k] + sum_{c, i, j} weights[k, c, i, j]
    * xpad[b, c, oy * sy + i, ox * sx + j]`` where ``xpad`` is ``x`` with
    zero padding; as in deep-learning frameworks, the kernel is not
    flipped.

    Parameters
    ----------
    x : array_like, shape (b, c, h, w)
        Input images.  The batch may be empty.
    weights : array_like, shape (k, c, m, n)
        ``k`` filters of ``c`` channels and ``m`` by ``n`` taps.
    bias : array_like, shape (k,), optional
        Added to every output pixel of each filter; none by default.
    stride : int or (int, int), default 1
        Step (sy, sx) between output pixels.
    padding : {"same", "valid"} or int or tuple, default "same"
        ``"same"`` pads ``m // 2`` before and ``(m - 1) // 2`` after each
        axis (as ``scipy.signal.correlate(mode="same")``), keeping the size
        at stride 1; ``"valid"`` pads nothing; an int pads every side; a
        pair ``(py, px)`` pads rows and columns; four ints give ``(top,
        bottom, left, right)``.
    out : ndarray, optional
        C-contiguous array of the output's shape and dtype to write into.
    return_saved : bool, default False
        Also return the :class:`Conv2dSaved` record that
        :func:`conv2d_backward` needs.
    caller : str, default "conv2d"
        Name that error messages start with; a layer passes its class name.

    Returns
    -------
    y : ndarray, shape (b, k, (h + top + bottom - m) // sy + 1, (w + left + right - n) // sx + 1)
        float32 when ``x``, ``weights`` and ``bias`` are all float32,
        float64 otherwise.  Without ``out``, an NCHW-shaped view of a new
        batch-innermost array (``y.transpose(1, 2, 3, 0)`` is C-contiguous):
        the next convolution, ReLU or max pooling reads it without a layout
        conversion; NumPy sees an ordinary NCHW array with other strides.
    saved : Conv2dSaved
        Only with ``return_saved=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> x = np.ones((2, 3, 8, 8))
    >>> w = np.ones((4, 3, 3, 3))
    >>> F.conv2d(x, w, stride=2).shape
    (2, 4, 4, 4)
    >>> float(F.conv2d(x, w, padding="valid")[0, 0, 0, 0])
    27.0
    """
    result, saved = _conv2d(x, weights, bias, stride, padding, out, caller)
    return (result, saved) if return_saved else result


def conv2d_backward(
    error: ArrayLike,
    saved: Conv2dSaved,
    *,
    input_gradient: bool = True,
    caller: str = "conv2d_backward",
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d` from the error with respect to its output.

    Parameters
    ----------
    error : array_like, shape (b, k, oh, ow)
        Gradient of the loss with respect to the output of :func:`conv2d`.
    saved : Conv2dSaved
        As returned by ``conv2d(..., return_saved=True)``.
    input_gradient : bool, default True
        Whether to compute the gradient with respect to the input (the
        first layer of a network does not need it).
    caller : str, default "conv2d_backward"
        Name that error messages start with.

    Returns
    -------
    dx : ndarray of shape (b, c, h, w), or None
        Gradient with respect to ``x``; None with ``input_gradient=False``.
        A batch-innermost view, as the output of :func:`conv2d`.
    dw : ndarray, shape (k, c, m, n)
        Gradient with respect to ``weights``, summed over the batch.
    db : ndarray, shape (k,)
        Gradient with respect to ``bias``, summed over the batch.

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> x, w = np.ones((2, 3, 8, 8)), np.ones((4, 3, 3, 3))
    >>> y, saved = F.conv2d(x, w, return_saved=True)
    >>> dx, dw, db = F.conv2d_backward(np.ones_like(y), saved)
    >>> dx.shape, dw.shape, db.tolist()
    ((2, 3, 8, 8), (4, 3, 3, 3), [128.0, 128.0, 128.0, 128.0])
    """
    if not isinstance(saved, Conv2dSaved):
        raise TypeError(
            f"{caller}: expected the Conv2dSaved record of conv2d(..., return_saved=True), "
            f"got {type(saved).__name__}"
        )
    error = float_input(error, caller, "error")
    out_shape = saved.output_shape
    check_shape(error, out_shape, caller, "error")
    padded, weights = saved.padded, saved.weights
    dtype = padded.dtype
    b, c, h, w = saved.input_shape
    k, _, m, n = weights.shape
    sy, sx = saved.stride
    top, bottom, left, right = saved.padding
    grad_w = np.empty(weights.shape, dtype)
    grad_b = np.empty(k, dtype)
    if b == 0:
        grad_w[...] = 0
        grad_b[...] = 0
        return (np.zeros(saved.input_shape, dtype) if input_gradient else None), grad_w, grad_b
    # No copy when the error is the batch-innermost view a layer handed on.
    err_t = to_batch_innermost(error, dtype)
    macs = err_t.size * c * m * n
    serial = macs < SERIAL_MACS
    grad_weights = (
        kernels.conv2d_grad_weights_blocked
        if use_blocked(k, c, m, n, b, dtype, sx)
        else kernels.conv2d_grad_weights
    )
    launch(grad_weights, serial, padded, err_t, sy, sx, grad_w, grad_b)
    if not input_gradient:
        return None, grad_w, grad_b
    dx_t = empty((c, h, w, b), dtype)
    if (sy, sx) != (1, 1) or max(top, bottom) >= m or max(left, right) >= n:
        launch(kernels.conv2d_grad_input, serial, err_t, weights, sy, sx, top, left, dx_t)
    else:
        # At stride 1 the input gradient is the error, padded by the kernel
        # size minus the forward padding, correlated with the flipped
        # kernels with input and output channels swapped: the forward
        # kernel computes it at full speed.
        err_p = padded_copy(err_t, m - 1 - top, m - 1 - bottom, n - 1 - left, n - 1 - right)
        flipped = np.ascontiguousarray(weights[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        # Channels swapped: the correlation has c outputs and k inputs.
        forward = (
            kernels.conv2d_forward_blocked
            if use_blocked(c, k, m, n, b, dtype)
            else kernels.conv2d_forward
        )
        launch(forward, serial, err_p, flipped, np.zeros(c, dtype), 1, 1, dx_t)
    return nchw_view(dx_t), grad_w, grad_b


def conv1d(
    x: ArrayLike,
    weights: ArrayLike,
    bias: ArrayLike | None = None,
    stride: int = 1,
    padding: Padding = "same",
    *,
    return_saved: bool = False,
    caller: str = "conv1d",
) -> np.ndarray | tuple[np.ndarray, Conv1dSaved]:
    """1-D cross-correlation of a batch of signals with a bank of filters.

    ``y[b, k, o] = bias[k] + sum_{c, i} weights[k, c, i] * xpad[b, c, o * s + i]``.

    Parameters
    ----------
    x : array_like, shape (b, c, l)
        Input signals.  The batch may be empty.
    weights : array_like, shape (k, c, m)
    bias : array_like, shape (k,), optional
    stride : int, default 1
    padding : {"same", "valid"} or int or (int, int), default "same"
        ``"same"`` pads ``m // 2`` before and ``(m - 1) // 2`` after; an
        int pads both ends; a pair gives ``(before, after)``.
    return_saved : bool, default False
        Also return the record :func:`conv1d_backward` needs.
    caller : str, default "conv1d"
        Name that error messages start with.

    Returns
    -------
    y : ndarray, shape (b, k, (l + before + after - m) // s + 1)
    saved : Conv1dSaved
        Only with ``return_saved=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> F.conv1d(np.arange(5.0)[None, None], np.ones((1, 1, 3)), padding="valid")
    array([[[3., 6., 9.]]])
    """
    x = float_input(x, caller)
    check_ndim(x, 3, caller, "input", "(batch, channels, length)")
    check_empty_axes(x, caller)
    weights = float_input(weights, caller, "weights")
    check_ndim(weights, 3, caller, "weights", "(kernels, channels, length)")
    if isinstance(stride, (tuple, list)) or (isinstance(stride, np.ndarray) and stride.ndim):
        if len(stride) != 1:
            raise TypeError(f"{caller}: expected stride as an int, got {stride!r}")
        stride = stride[0]
    (s, _) = pair(stride, caller, "stride")
    before, after = resolve_padding_1d(padding, weights.shape[2], caller)
    y, saved = _conv2d(
        x[..., None], weights[..., None], bias, (s, 1), (before, after, 0, 0), None, caller
    )
    y = y.reshape(y.shape[:3])
    return (y, Conv1dSaved(saved)) if return_saved else y


def conv1d_backward(
    error: ArrayLike,
    saved: Conv1dSaved,
    *,
    input_gradient: bool = True,
    caller: str = "conv1d_backward",
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv1d` from the error with respect to its output.

    Parameters
    ----------
    error : array_like, shape (b, k, ol)
    saved : Conv1dSaved
        As returned by ``conv1d(..., return_saved=True)``.
    input_gradient : bool, default True
    caller : str, default "conv1d_backward"

    Returns
    -------
    dx : ndarray of shape (b, c, l), or None
    dw : ndarray, shape (k, c, m)
    db : ndarray, shape (k,)

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> y, saved = F.conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 3)), return_saved=True)
    >>> F.conv1d_backward(np.ones_like(y), saved)[0]
    array([[[2., 3., 3., 3., 2.]]])
    """
    if not isinstance(saved, Conv1dSaved):
        raise TypeError(
            f"{caller}: expected the Conv1dSaved record of conv1d(..., return_saved=True), "
            f"got {type(saved).__name__}"
        )
    error = float_input(error, caller, "error")
    check_ndim(error, 3, caller, "error", "(batch, kernels, length)")
    dx, dw, db = conv2d_backward(
        error[..., None], saved.saved2d, input_gradient=input_gradient, caller=caller
    )
    dx = None if dx is None else dx.reshape(dx.shape[:3])
    return dx, dw.reshape(dw.shape[:3]), db
