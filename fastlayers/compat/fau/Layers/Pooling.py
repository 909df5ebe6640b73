"""``Pooling``: 2-D max pooling without padding."""

from .... import functional as F
from ... import _common
from .Base import BaseLayer

__all__ = ["Pooling"]


class Pooling(BaseLayer):
    """Max pooling of (batch, c, y, x) over ``pooling_shape`` windows every ``stride_shape``.

    Parameters
    ----------
    stride_shape : int or (int, int)
        Comes first, as in the exercise.
    pooling_shape : int or (int, int)

    Notes
    -----
    "Valid" windows only: ``floor((y - py) / sy) + 1`` output rows.  The
    error goes back to the first maximum of each window; where windows
    overlap the contributions add up.
    """

    def __init__(self, stride_shape, pooling_shape):
        super().__init__()
        self.stride_shape = _common.int_tuple(stride_shape, 2, "Pooling", "stride_shape")
        self.pooling_shape = _common.int_tuple(pooling_shape, 2, "Pooling", "pooling_shape")
        self._indices = None
        self._input_shape = None

    def forward(self, input_tensor):
        x = _common.as_float(input_tensor, "Pooling")
        _common.check_ndim(x, 4, "Pooling", "input", "(batch, channels, y, x)")
        py, px = self.pooling_shape
        if x.shape[2] < py or x.shape[3] < px:
            raise ValueError(
                f"Pooling: expected an input at least as large as the {py}x{px} window, "
                f"got shape {x.shape}"
            )
        out, self._indices = F.max_pool2d(
            x, self.pooling_shape, self.stride_shape, caller="Pooling"
        )
        self._input_shape = x.shape
        return out

    def backward(self, error_tensor):
        shape = None if self._indices is None else self._indices.shape
        error = _common.checked_error(error_tensor, self._indices, "Pooling", shape)
        return F.max_pool2d_backward(error, self._indices, self._input_shape, caller="Pooling")
