"""Numba-compiled loop kernels: pure functions, arrays in, arrays out.

Every kernel writes its result into arrays that the caller allocates and
checks nothing: shapes, dtypes and contiguity are the caller's duty (the
layers in :mod:`fastlayers.layers` validate before they call).  Each kernel
is compiled lazily, once per dtype, and cached on disk.
"""

from .activation import (
    relu_backward,
    relu_backward_parallel,
    relu_forward,
    relu_forward_mask,
    relu_forward_mask_parallel,
    relu_forward_parallel,
)
from .conv import conv2d_forward, conv2d_forward_single, conv2d_grad_input, conv2d_grad_weights
from .conv_blocked import conv2d_forward_blocked, conv2d_grad_weights_blocked
from .dense import matmul, matmul_nt
from .layout import chwb_to_nchw, nchw_to_chwb, pad_chwb
from .pool import (
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_backward_chwb,
    maxpool2d_backward_ties,
    maxpool2d_forward,
    maxpool2d_forward_chwb,
)
from .upsample import downsample_strided, upsample_strided

__all__ = [
    "avgpool2d_backward",
    "avgpool2d_forward",
    "chwb_to_nchw",
    "conv2d_forward",
    "conv2d_forward_blocked",
    "conv2d_forward_single",
    "conv2d_grad_input",
    "conv2d_grad_weights",
    "conv2d_grad_weights_blocked",
    "downsample_strided",
    "matmul",
    "matmul_nt",
    "maxpool2d_backward",
    "maxpool2d_backward_chwb",
    "maxpool2d_backward_ties",
    "maxpool2d_forward",
    "maxpool2d_forward_chwb",
    "nchw_to_chwb",
    "pad_chwb",
    "relu_backward",
    "relu_backward_parallel",
    "relu_forward",
    "relu_forward_mask",
    "relu_forward_mask_parallel",
    "relu_forward_parallel",
    "upsample_strided",
]
