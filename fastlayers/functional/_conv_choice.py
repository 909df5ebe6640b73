"""Which convolution kernels a call runs: the direct ones or the register-blocked ones.

The blocked kernels of :mod:`fastlayers.kernels.conv_blocked` keep tiles of
up to six output channels times several vectors of outputs in registers.
With many channels on either side they win at any batch size; with the
few channels of LeNet-sized layers they win once the batch fills whole
vectors (16 float32 or 8 float64 images), and for fewer images the direct
kernels of :mod:`fastlayers.kernels.conv` run.  Both need AVX-512: on
narrower vectors the tiles' sums would not fit in the registers.
"""

import functools

import numpy as np

# Least number of channels, on the input or the output side, for which the
# blocked kernels run whatever the batch size.
MANY_CHANNELS = 16
# Bytes of one vector of the blocked kernels' tiles.
_VECTOR_BYTES = 64


@functools.cache
def wide_vectors():
    """Whether numba compiles for a CPU with AVX-512 (32 registers of 64 bytes).

    The blocked kernels' tiles hold up to 24 sums of 64 bytes in registers;
    with narrower vectors LLVM splits each into several registers, more
    than the CPU has, and the sums spill to memory.  So elsewhere the
    direct kernels run.
    """
    from llvmlite import binding
    from numba.core import config

    if config.CPU_NAME is not None and config.CPU_NAME != "host":
        features = config.CPU_FEATURES or ""
    else:
        features = config.CPU_FEATURES or binding.get_host_cpu_features().flatten()
    return "+avx512f" in features.split(",")


def use_blocked(k, c, m, n, b, dtype, stride_x=1):
    """Whether a convolution should run on the register-blocked kernels.

    Parameters
    ----------
    k, c : int
        Output and input channels of the correlation the kernel computes
        (for an input gradient computed as a forward correlation of the
        error, ``k`` is the layer's input channels and ``c`` its output
        channels).
    m, n : int
        Kernel rows and columns.
    b : int
        Batch size.
    dtype : dtype-like
        float32 or float64.
    stride_x : int, default 1
        Column stride.  Above 1 the blocked kernels' vectors run along the
        batch of one output pixel, so the batch must fill at least one.

    Returns
    -------
    bool
        False, too, on CPUs without AVX-512 (:func:`wide_vectors`).

    Examples
    --------
    >>> import numpy as np
    >>> use_blocked(64, 32, 3, 3, 64, np.float32) == wide_vectors()
    True
    >>> use_blocked(10, 6, 5, 5, 1, np.float64)
    False
    """
    if not wide_vectors():
        return False
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        return False
    full_vectors = b * dtype.itemsize >= _VECTOR_BYTES
    if max(k, c) < MANY_CHANNELS:
        # Few channels (LeNet): the tiles win only when the batch fills
        # whole vectors (1.2-1.9x at batch 32 and 64); for a few images the
        # direct kernels, running along output rows, are faster.
        return full_vectors
    return stride_x == 1 or full_vectors
