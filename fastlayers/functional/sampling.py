"""Strided upsampling (zero insertion) and its inverse."""

import numpy as np
from numpy.typing import ArrayLike

from .. import kernels
from .._validation import kernel_ready, pair
from ..parallel import launch
from ._common import SERIAL_ELEMENTS, IntOrPair, nchw_input, shape_tuple


def upsample_strided(
    x: ArrayLike, stride: IntOrPair, size: tuple[int, int], *, caller: str = "upsample_strided"
) -> np.ndarray:
    """Spread ``x`` onto a finer grid with zeros between its pixels.

    ``up[b, c, oy * sy, ox * sx] = x[b, c, oy, ox]``, every other element 0:
    the error of a strided convolution brought back to the resolution of
    its input.

    Parameters
    ----------
    x : array_like, shape (b, c, oh, ow)
    stride : int or (int, int)
    size : (int, int)
        (h, w) of the result; ``(oh - 1) * sy < h <= oh * sy`` (likewise
        for the columns), so that every pixel of ``x`` lands inside and
        :func:`downsample_strided` inverts it.
    caller : str, default "upsample_strided"
        Name that error messages start with.

    Returns
    -------
    up : ndarray, shape (b, c, h, w)

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> F.upsample_strided(np.ones((1, 1, 2, 2)), 2, (3, 4))[0, 0].tolist()
    [[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]]
    """
    x = nchw_input(x, caller)
    sy, sx = pair(stride, caller, "stride")
    h, w = shape_tuple(size, 2, caller, "size")
    b, c, oh, ow = x.shape
    if not ((oh - 1) * sy < h <= oh * sy and (ow - 1) * sx < w <= ow * sx):
        raise ValueError(
            f"{caller}: expected size with {(oh - 1) * sy} < h <= {oh * sy} and "
            f"{(ow - 1) * sx} < w <= {ow * sx} for input shape {x.shape} and stride {(sy, sx)}, "
            f"got size {(h, w)}"
        )
    up = np.empty((b, c, h, w), x.dtype)
    if up.size == 0:
        return up
    launch(
        kernels.upsample_strided, up.size < SERIAL_ELEMENTS, kernel_ready(x, x.dtype), sy, sx, up
    )
    return up


def downsample_strided(
    x: ArrayLike, stride: IntOrPair, *, caller: str = "downsample_strided"
) -> np.ndarray:
    """Keep every ``stride``-th pixel: the inverse of :func:`upsample_strided`.

    Parameters
    ----------
    x : array_like, shape (b, c, h, w)
    stride : int or (int, int)
    caller : str, default "downsample_strided"
        Name that error messages start with.

    Returns
    -------
    down : ndarray, shape (b, c, ceil(h / sy), ceil(w / sx))
        ``down[b, c, oy, ox] = x[b, c, oy * sy, ox * sx]``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastlayers import functional as F
    >>> F.downsample_strided(np.arange(12.0).reshape(1, 1, 3, 4), 2)[0, 0].tolist()
    [[0.0, 2.0], [8.0, 10.0]]
    """
    x = nchw_input(x, caller)
    sy, sx = pair(stride, caller, "stride")
    b, c, h, w = x.shape
    down = np.empty((b, c, -(-h // sy), -(-w // sx)), x.dtype)
    if down.size == 0:
        return down
    launch(
        kernels.downsample_strided, x.size < SERIAL_ELEMENTS, kernel_ready(x, x.dtype), sy, sx, down
    )
    return down
