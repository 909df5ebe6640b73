"""Stateless layer functions on NCHW arrays, over the compiled kernels.

What a layer does besides keeping state lives here: argument and shape
checks with clear errors, padding, the batch-innermost layout the
convolution kernels work in, allocation, and the choice of kernel (one
thread for small work, the thread pool for large).  Any class can call
these; the layers of :mod:`fastlayers` do::

    from fastlayers import functional as F

    y, saved = F.conv2d(x, weights, bias, stride=2, return_saved=True)
    dx, dw, db = F.conv2d_backward(error, saved)

Inputs may be any real array_like; float32 computes in float32 when every
array is float32 and float64 otherwise (NumPy's promotion); integers and
booleans compute as float64.  Every result is a new array the caller owns,
unless written into ``out=``.  An empty batch gives empty results; any
other empty axis is an error.  Each function takes a keyword ``caller``,
the name its error messages start with, so a class of one's own can have
its errors speak of itself.
"""

from ._common import resolve_padding
from .activation import relu, relu_backward
from .conv import Conv1dSaved, Conv2dSaved, conv1d, conv1d_backward, conv2d, conv2d_backward
from .dense import linear, linear_backward
from .pooling import TIES, avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from .sampling import downsample_strided, upsample_strided

__all__ = [
    "TIES",
    "Conv1dSaved",
    "Conv2dSaved",
    "avg_pool2d",
    "avg_pool2d_backward",
    "conv1d",
    "conv1d_backward",
    "conv2d",
    "conv2d_backward",
    "downsample_strided",
    "linear",
    "linear_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "relu",
    "relu_backward",
    "resolve_padding",
    "upsample_strided",
]
